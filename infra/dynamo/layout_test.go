package dynamo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/protocol"
)

// t0 has a sub-second part, so rounding of TTL seconds shows.
var t0 = time.Date(2099, time.January, 2, 3, 4, 5, 678_000_000, time.UTC)

// runs numbers test runs, so that ids stay unique in the shared table
// under -count.
var runs atomic.Int64

// testIDs returns a function making ids unique to this run of the test
// within the shared table: the same suffix gives the same id.
func testIDs(t *testing.T) func(suffix string) string {
	prefix := strings.NewReplacer("/", ":", " ", "_").Replace(t.Name()) + "." + strconv.FormatInt(runs.Add(1), 10) + "."
	return func(suffix string) string { return prefix + suffix }
}

// rawItem reads an item straight from dynalite, bypassing the Store.
func rawItem(t *testing.T, table, pk, sk string) map[string]types.AttributeValue {
	t.Helper()
	out, err := client.GetItem(t.Context(), &dynamodb.GetItemInput{
		TableName:      aws.String(table),
		Key:            key(pk, sk),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		t.Fatalf("GetItem(%s, %s): %v", pk, sk, err)
	}
	if out.Item == nil {
		t.Fatalf("GetItem(%s, %s): no item", pk, sk)
	}
	return out.Item
}

func numberAttr(t *testing.T, it map[string]types.AttributeValue, name string) int64 {
	t.Helper()
	n, ok := it[name].(*types.AttributeValueMemberN)
	if !ok {
		t.Fatalf("attribute %s = %#v, want a number", name, it[name])
	}
	v, err := strconv.ParseInt(n.Value, 10, 64)
	if err != nil {
		t.Fatalf("attribute %s = %q: %v", name, n.Value, err)
	}
	return v
}

func stringAttr(t *testing.T, it map[string]types.AttributeValue, name string) string {
	t.Helper()
	s, ok := it[name].(*types.AttributeValueMemberS)
	if !ok {
		t.Fatalf("attribute %s = %#v, want a string", name, it[name])
	}
	return s.Value
}

// newTableStore creates a table of the test's own and a Store on it, using
// db (nil: the dynalite client).
func newTableStore(t *testing.T, db itemAPI) *Store {
	t.Helper()
	table := tableName(t)
	if err := CreateTable(t.Context(), client, table); err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	if db == nil {
		db = client
	}
	return newStore(db, table)
}

// tableName returns a table name unique to the test and this run: the
// test's name in the characters DynamoDB allows, and the time.
func tableName(t *testing.T) string {
	name := []byte(t.Name())
	for i, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			name[i] = '-'
		}
	}
	table := string(name) + "-t" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if len(table) > 200 {
		table = table[len(table)-200:]
	}
	return table
}

func TestItemLayout(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := New(client, sharedTable)
	testID := testIDs(t)
	id := testID("term")
	if err := st.CreateTerminal(ctx, fleet.Terminal{ID: id, Name: "layout", CreatedAt: t0}); err != nil {
		t.Fatalf("CreateTerminal: %v", err)
	}
	cfg := fleet.Snapshot{Data: json.RawMessage(`{"threshold":0.5}`), SyncedAt: t0, Version: "v1"}
	if err := st.PutConfig(ctx, id, cfg); err != nil {
		t.Fatalf("PutConfig: %v", err)
	}
	expires := t0.Add(time.Hour) // .678 s: TTL seconds round up
	if err := st.PutStatus(ctx, id, fleet.Snapshot{Data: json.RawMessage(`{"cpu_percent":1}`), SyncedAt: t0}, expires); err != nil {
		t.Fatalf("PutStatus: %v", err)
	}
	connID := testID("conn") + "="
	if err := st.PutConnection(ctx, fleet.Connection{ID: connID, TerminalID: id, ConnectedAt: t0, ExpiresAt: expires}); err != nil {
		t.Fatalf("PutConnection: %v", err)
	}
	if err := st.PutCommands(ctx, fleet.Command{TerminalID: id, RequestID: "req-1", Name: "ping", State: fleet.CommandPending,
		CreatedAt: t0, Deadline: t0.Add(10 * time.Second), ExpiresAt: expires}); err != nil {
		t.Fatalf("PutCommands: %v", err)
	}
	chunk := repetitiveChunk(id, 7, 206, expires)
	if err := st.PutLogChunk(ctx, chunk, 0); err != nil {
		t.Fatalf("PutLogChunk: %v", err)
	}

	wantTTL := t0.Unix() + 3600 + 1
	tests := []struct {
		name    string
		pk, sk  string
		expires bool
	}{
		{"status sample", "T#" + id, fmt.Sprintf("S#%015d", t0.UnixMilli()), true},
		{"log chunk", "T#" + id, "L#00000000000000000206", true},
		{"connection", "C#" + connID, "META", true},
		{"command", "T#" + id, "CMD#req-1", true},
		{"terminal record", "T#" + id, "META", false},
		{"config", "T#" + id, "META#config", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			it := rawItem(t, sharedTable, tt.pk, tt.sk)
			_, hasTTL := it[attrExpiresAt]
			if hasTTL != tt.expires {
				t.Fatalf("has expiresAt = %v, want %v", hasTTL, tt.expires)
			}
			if !tt.expires {
				return
			}
			if got := numberAttr(t, it, attrExpiresAt); got != wantTTL {
				t.Errorf("expiresAt = %d, want %d (epoch seconds of %v, rounded up)", got, wantTTL, expires)
			}
			if got, want := numberAttr(t, it, attrExpiresAtMs), expires.UnixMilli(); got != want {
				t.Errorf("expiresAtMs = %d, want %d", got, want)
			}
		})
	}

	t.Run("terminal record carries the index keys and no config", func(t *testing.T) {
		it := rawItem(t, sharedTable, "T#"+id, "META")
		if got := stringAttr(t, it, attrTPK); got != "terminal" {
			t.Errorf("tpk = %q, want %q", got, "terminal")
		}
		if got := stringAttr(t, it, attrTSK); got != id {
			t.Errorf("tsk = %q, want %q", got, id)
		}
		if _, ok := it[attrData]; ok {
			t.Errorf("terminal record holds config data; want it in META#config only")
		}
		if got := numberAttr(t, it, attrCreatedAt); got != t0.UnixMilli() {
			t.Errorf("createdAt = %d, want %d (epoch ms)", got, t0.UnixMilli())
		}
	})
	t.Run("log entries are stored in columns, zstd-compressed", func(t *testing.T) {
		it := rawItem(t, sharedTable, "T#"+id, "L#00000000000000000206")
		b, ok := it[attrEntries].(*types.AttributeValueMemberB)
		if !ok {
			t.Fatalf("entries = %T, want binary", it[attrEntries])
		}
		if !bytes.HasPrefix(b.Value, []byte{0x28, 0xb5, 0x2f, 0xfd}) {
			t.Errorf("entries start % x, want the zstd magic 28 b5 2f fd", b.Value[:min(4, len(b.Value))])
		}
		raw, _ := json.Marshal(chunk.Entries)
		gz, _ := protocol.CompressEntries(chunk.Entries)
		if len(b.Value)*8 > len(raw) || len(b.Value) >= len(gz) {
			t.Errorf("entries stored in %d bytes, JSON is %d, gzip %d: want at least 8x smaller than JSON and smaller than gzip", len(b.Value), len(raw), len(gz))
		}
		got, err := decodeEntries(b.Value, 7)
		if err != nil {
			t.Fatalf("decodeEntries: %v", err)
		}
		if len(got) != len(chunk.Entries) || got[0].Seq != 7 || got[len(got)-1].Seq != 206 {
			t.Errorf("decompressed %d entries, want %d from seq 7 to 206", len(got), len(chunk.Entries))
		}
	})
}

// repetitiveChunk is a chunk of first..last with log lines as repetitive
// as real ones.
func repetitiveChunk(id string, first, last uint64, expires time.Time) fleet.LogChunk {
	c := fleet.LogChunk{TerminalID: id, FirstSeq: first, LastSeq: last, StoredAt: t0, ExpiresAt: expires}
	for seq := first; seq <= last; seq++ {
		c.Entries = append(c.Entries, protocol.LogEntry{
			Seq: seq, Time: t0.Add(time.Duration(seq) * time.Millisecond), Level: protocol.LevelInfo,
			Message: fmt.Sprintf("frame %d processed: 3 objects detected in zone north, latency 12ms", seq),
			Source:  "detector",
		})
	}
	return c
}

func TestTTLSeconds(t *testing.T) {
	t.Parallel()
	whole := time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		in   time.Time
		want int64
	}{
		{"whole second", whole, whole.Unix()},
		{"1ns past", whole.Add(time.Nanosecond), whole.Unix() + 1},
		{"1ms past", whole.Add(time.Millisecond), whole.Unix() + 1},
		{"999ms past", whole.Add(999 * time.Millisecond), whole.Unix() + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ttlSeconds(tt.in); got != tt.want {
				t.Errorf("ttlSeconds(%v) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

// partialBatchGet answers the first BatchGetItem with only part of the keys
// processed, as DynamoDB does under load, and the rest normally. With
// always set, it never processes anything.
type partialBatchGet struct {
	itemAPI
	always bool
	calls  atomic.Int32
}

func (p *partialBatchGet) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	n := p.calls.Add(1)
	if !p.always && n > 1 {
		return p.itemAPI.BatchGetItem(ctx, in, opts...)
	}
	out := &dynamodb.BatchGetItemOutput{Responses: map[string][]map[string]types.AttributeValue{}, UnprocessedKeys: map[string]types.KeysAndAttributes{}}
	for table, ka := range in.RequestItems {
		half := len(ka.Keys) / 2
		if p.always {
			half = 0
		}
		done, left := ka.Keys[:half], ka.Keys[half:]
		if len(done) > 0 {
			part, err := p.itemAPI.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{table: {Keys: done}}}, opts...)
			if err != nil {
				return nil, err
			}
			out.Responses[table] = part.Responses[table]
		}
		out.UnprocessedKeys[table] = types.KeysAndAttributes{Keys: left}
	}
	return out, nil
}

func TestTerminalsRetriesUnprocessedKeys(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := &partialBatchGet{itemAPI: client}
	st := newTableStore(t, db)
	var want []string
	for i := range 7 {
		id := fmt.Sprintf("term-%d", i)
		want = append(want, id)
		if err := st.CreateTerminal(ctx, fleet.Terminal{ID: id, Name: "n" + id, CreatedAt: t0}); err != nil {
			t.Fatalf("CreateTerminal: %v", err)
		}
		if err := st.PutConfig(ctx, id, fleet.Snapshot{Data: json.RawMessage(`{"i":1}`), SyncedAt: t0}); err != nil {
			t.Fatalf("PutConfig: %v", err)
		}
	}
	terms, next, err := st.Terminals(ctx, "", 100)
	if err != nil {
		t.Fatalf("Terminals: %v", err)
	}
	var got []string
	for _, term := range terms {
		got = append(got, term.ID)
		if term.Name != "n"+term.ID || len(term.Config.Data) == 0 {
			t.Errorf("terminal %s: Name %q, Config %s; want the full record with config", term.ID, term.Name, term.Config.Data)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || next != "" {
		t.Errorf("Terminals = %v, next %q; want %v, \"\"", got, next, want)
	}
	if n := db.calls.Load(); n != 2 {
		t.Errorf("BatchGetItem calls = %d, want 2 (one partial answer, one retry)", n)
	}
}

func TestTerminalsGivesUpAsThrottled(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := &partialBatchGet{itemAPI: client, always: true}
	st := newTableStore(t, db)
	st.batchBackoff = time.Microsecond
	if err := st.CreateTerminal(ctx, fleet.Terminal{ID: "term", CreatedAt: t0}); err != nil {
		t.Fatalf("CreateTerminal: %v", err)
	}
	_, _, err := st.Terminals(ctx, "", 10)
	if !errors.Is(err, fleet.ErrThrottled) {
		t.Errorf("Terminals with keys never processed: error %v, want ErrThrottled", err)
	}
	if n := db.calls.Load(); n != maxBatchAttempts {
		t.Errorf("BatchGetItem calls = %d, want %d", n, maxBatchAttempts)
	}
}

// failingUpdate fails every UpdateItem with err.
type failingUpdate struct {
	itemAPI
	err error
}

func (f failingUpdate) UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return nil, f.err
}

func TestCapacityErrorsAreErrThrottled(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		err       error
		throttled bool
	}{
		{"provisioned throughput exceeded", &types.ProvisionedThroughputExceededException{Message: aws.String("slow down")}, true},
		{"throttling", &types.ThrottlingException{Message: aws.String("slow down")}, true},
		{"request limit exceeded", &types.RequestLimitExceeded{Message: aws.String("slow down")}, true},
		{"generic throttling code", &smithy.GenericAPIError{Code: "ThrottlingException"}, true},
		{"validation", &smithy.GenericAPIError{Code: "ValidationException"}, false},
		{"internal server error", &types.InternalServerError{Message: aws.String("oops")}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := newStore(failingUpdate{itemAPI: client, err: tt.err}, sharedTable)
			err := st.Touch(t.Context(), "any", t0, "")
			if err == nil {
				t.Fatal("Touch succeeded, want an error")
			}
			if got := errors.Is(err, fleet.ErrThrottled); got != tt.throttled {
				t.Errorf("Touch error %v: errors.Is ErrThrottled = %v, want %v", err, got, tt.throttled)
			}
			if !errors.Is(err, tt.err) {
				t.Errorf("Touch error %v does not wrap the SDK error", err)
			}
		})
	}
}

func TestInvalidInputIsRejectedAndWritesNothing(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := New(client, sharedTable)
	id := testIDs(t)("term")
	if err := st.CreateTerminal(ctx, fleet.Terminal{ID: id, CreatedAt: t0}); err != nil {
		t.Fatalf("CreateTerminal: %v", err)
	}
	long := strings.Repeat("x", maxKeyPart+1)
	tests := []struct {
		name string
		call func() error
	}{
		{"empty terminal id", func() error { return st.CreateTerminal(ctx, fleet.Terminal{}) }},
		{"terminal id too long", func() error { return st.CreateTerminal(ctx, fleet.Terminal{ID: long}) }},
		{"empty connection id", func() error { return st.PutConnection(ctx, fleet.Connection{TerminalID: id}) }},
		{"chunk FirstSeq 0", func() error { return st.PutLogChunk(ctx, fleet.LogChunk{TerminalID: id, LastSeq: 3}, 0) }},
		{"chunk LastSeq before FirstSeq", func() error { return st.PutLogChunk(ctx, fleet.LogChunk{TerminalID: id, FirstSeq: 5, LastSeq: 4}, 0) }},
		{"status without SyncedAt", func() error { return st.PutStatus(ctx, id, fleet.Snapshot{Data: json.RawMessage(`{}`)}, t0) }},
		{"config without SyncedAt", func() error { return st.PutConfig(ctx, id, fleet.Snapshot{Data: json.RawMessage(`{}`)}) }},
		{"completion state pending", func() error {
			return st.CompleteCommand(ctx, id, "req", fleet.Completion{State: fleet.CommandPending, At: t0})
		}},
		{"completion without time", func() error {
			return st.CompleteCommand(ctx, id, "req", fleet.Completion{State: fleet.CommandSucceeded})
		}},
		{"claim without kind", func() error { _, err := st.ClaimRefresh(ctx, id, "", t0, t0); return err }},
		{"terminals limit 0", func() error { _, _, err := st.Terminals(ctx, "", 0); return err }},
		{"history limit 0", func() error { _, err := st.StatusHistory(ctx, id, time.Time{}, t0, 0); return err }},
		{"command with empty request id", func() error { return st.PutCommands(ctx, fleet.Command{TerminalID: id}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, fleet.ErrInvalid) {
				t.Errorf("got error %v, want ErrInvalid", err)
			}
		})
	}
	term, err := st.Terminal(ctx, id)
	if err != nil {
		t.Fatalf("Terminal: %v", err)
	}
	if term.LastSeq != 0 || len(term.Status.Data) != 0 || len(term.Config.Data) != 0 {
		t.Errorf("after rejected writes: LastSeq %d, Status %s, Config %s; want nothing stored", term.LastSeq, term.Status.Data, term.Config.Data)
	}
}

func TestLogChunkResend(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := New(client, sharedTable)
	expires := t0.Add(time.Hour)
	tests := []struct {
		name      string
		first     fleet.LogChunk
		resend    fleet.LogChunk
		wantLast  uint64
		wantLines int
	}{
		{
			name:     "resend starting later keeps the longer chunk",
			first:    repetitiveChunk("", 1, 20, expires),
			resend:   repetitiveChunk("", 11, 20, expires),
			wantLast: 20, wantLines: 20,
		},
		{
			name:     "resend starting earlier replaces",
			first:    repetitiveChunk("", 11, 20, expires),
			resend:   repetitiveChunk("", 1, 20, expires),
			wantLast: 20, wantLines: 20,
		},
		{
			name:  "expired chunk is replaced even by a shorter one",
			first: repetitiveChunk("", 1, 20, t0.Add(time.Minute)),
			resend: func() fleet.LogChunk {
				c := repetitiveChunk("", 11, 20, expires)
				c.StoredAt = t0.Add(2 * time.Minute)
				return c
			}(),
			// Read at t0: the replacement is what is stored now.
			wantLast: 20, wantLines: 10,
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			id := testIDs(t)(strconv.Itoa(i))
			if err := st.CreateTerminal(ctx, fleet.Terminal{ID: id, CreatedAt: t0}); err != nil {
				t.Fatalf("CreateTerminal: %v", err)
			}
			tt.first.TerminalID, tt.resend.TerminalID = id, id
			for _, c := range []fleet.LogChunk{tt.first, tt.resend} {
				if err := st.PutLogChunk(ctx, c, 0); err != nil {
					t.Fatalf("PutLogChunk(%d..%d): %v", c.FirstSeq, c.LastSeq, err)
				}
			}
			var got []fleet.LogChunk
			if err := st.ScanLogChunks(ctx, id, 0, false, t0, func(c fleet.LogChunk) bool { got = append(got, c); return true }); err != nil {
				t.Fatalf("ScanLogChunks: %v", err)
			}
			if len(got) != 1 || got[0].LastSeq != tt.wantLast || len(got[0].Entries) != tt.wantLines {
				t.Fatalf("got %d chunks (first %+v), want one chunk to %d with %d lines", len(got), got, tt.wantLast, tt.wantLines)
			}
			term, err := st.Terminal(ctx, id)
			if err != nil {
				t.Fatalf("Terminal: %v", err)
			}
			if term.LastSeq != 20 {
				t.Errorf("terminal LastSeq = %d, want 20 (never lowered)", term.LastSeq)
			}
		})
	}
}

func TestPutLogChunkOfAbsentTerminal(t *testing.T) {
	t.Parallel()
	st := New(client, sharedTable)
	id := testIDs(t)("absent")
	err := st.PutLogChunk(t.Context(), repetitiveChunk(id, 1, 2, t0.Add(time.Hour)), 0)
	if !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("PutLogChunk of an absent terminal: error %v, want ErrNotFound", err)
	}
	if _, err := st.Terminal(t.Context(), id); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("Terminal after PutLogChunk of an absent terminal: %v, want ErrNotFound (must not create it)", err)
	}
}

func TestCreateTable(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	table := "create-table-test-" + strconv.FormatInt(time.Now().UnixNano(), 36) // unique under -count
	for i := range 2 {
		if err := CreateTable(ctx, client, table); err != nil {
			t.Fatalf("CreateTable #%d: %v (want idempotent)", i+1, err)
		}
	}
	out, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatalf("DescribeTable: %v", err)
	}
	desc := out.Table
	keys := func(ks []types.KeySchemaElement) string {
		var parts []string
		for _, k := range ks {
			parts = append(parts, aws.ToString(k.AttributeName)+":"+string(k.KeyType))
		}
		return strings.Join(parts, ",")
	}
	if got, want := keys(desc.KeySchema), "pk:HASH,sk:RANGE"; got != want {
		t.Errorf("key schema = %s, want %s", got, want)
	}
	if got := desc.TableStatus; got != types.TableStatusActive {
		t.Errorf("status = %s, want ACTIVE", got)
	}
	wantIndexes := map[string]struct {
		keys       string
		projection types.ProjectionType
	}{
		"terminals": {"tpk:HASH,tsk:RANGE", types.ProjectionTypeKeysOnly},
		"audit":     {"apk:HASH,ask:RANGE", types.ProjectionTypeAll},
	}
	if len(desc.GlobalSecondaryIndexes) != len(wantIndexes) {
		t.Errorf("indexes = %d, want %d", len(desc.GlobalSecondaryIndexes), len(wantIndexes))
	}
	for _, gsi := range desc.GlobalSecondaryIndexes {
		name := aws.ToString(gsi.IndexName)
		want, ok := wantIndexes[name]
		if !ok {
			t.Errorf("unexpected index %q", name)
			continue
		}
		if got := keys(gsi.KeySchema); got != want.keys {
			t.Errorf("index %s key schema = %s, want %s", name, got, want.keys)
		}
		if got := gsi.Projection.ProjectionType; got != want.projection {
			t.Errorf("index %s projection = %s, want %s", name, got, want.projection)
		}
	}
}
