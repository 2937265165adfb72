package dynamo

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/protocol"
)

func TestNumberSize(t *testing.T) {
	t.Parallel()
	// 1 byte, one per base-100 digit of the significant digits (aligned on
	// the decimal point), one more if negative.
	tests := []struct {
		n    string
		want int
	}{
		{"0", 1},
		{"0.000", 1},
		{"7", 2},
		{"10", 2},   // one significant digit
		{"12", 2},   // "12": one pair
		{"123", 3},  // "1" "23"
		{"1234", 3}, // "12" "34"
		{"100", 2},
		{"1000", 2},
		{"0.12", 2},  // ".12": one pair
		{"0.1", 2},   // ".1"
		{"1.2", 3},   // "1" ".2": the point splits the pair
		{"1.23", 3},  // "1" ".23"
		{"-1", 3},    // sign byte
		{"-123", 4},  //
		{"1e3", 2},   // 1000
		{"12E-1", 3}, // 1.2
		{"4102444800000", 6},
		{"18446744073709551615", 11},
		{"99999999999999999999999999999999999999", 20}, // 38 digits
	}
	for _, tt := range tests {
		if got := numberSize(tt.n); got != tt.want {
			t.Errorf("numberSize(%q) = %d, want %d", tt.n, got, tt.want)
		}
	}
}

func TestItemSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		item map[string]types.AttributeValue
		want int
	}{
		{"string counts UTF-8 bytes", map[string]types.AttributeValue{"pk": attrS("abc")}, 2 + 3},
		{"multibyte string and name", map[string]types.AttributeValue{"é": attrS("✓é")}, 2 + 3 + 2},
		{"binary counts raw bytes", map[string]types.AttributeValue{"b": attrB(make([]byte, 1000))}, 1 + 1000},
		{"number", map[string]types.AttributeValue{"n": attrN(12345)}, 1 + 4},
		{"boolean", map[string]types.AttributeValue{"ok": attrBool(true)}, 2 + 1},
		{"null", map[string]types.AttributeValue{"x": &types.AttributeValueMemberNULL{Value: true}}, 1 + 1},
		{"empty list", map[string]types.AttributeValue{"l": &types.AttributeValueMemberL{}}, 1 + 3},
		{"list: 3 bytes and 1 per element", map[string]types.AttributeValue{"groups": &types.AttributeValueMemberL{Value: []types.AttributeValue{attrS("a"), attrS("bc")}}},
			6 + 3 + (1 + 1) + (1 + 2)},
		{"map: key names count", map[string]types.AttributeValue{"m": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"id": attrS("k1"), "n": attrN(7)}}},
			1 + 3 + (1 + 2 + 2) + (1 + 1 + 2)},
		{"string set", map[string]types.AttributeValue{"ss": &types.AttributeValueMemberSS{Value: []string{"a", "bb"}}}, 2 + 3},
		{"several attributes", map[string]types.AttributeValue{"pk": attrS("T#x"), "sk": attrS("META"), "lastSeq": attrU(10)}, 2 + 3 + 2 + 4 + 7 + 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := itemSize(tt.item); got != tt.want {
				t.Errorf("itemSize = %d, want %d", got, tt.want)
			}
		})
	}
}

// sizedChunk returns a chunk of terminal idPrefix+padding whose item is
// exactly size bytes as DynamoDB counts them: entries of random text (so
// gzip cannot shrink them much) of a searched total length, then the
// terminal id padded byte by byte (it is the partition key, so each byte
// counts once).
func sizedChunk(t *testing.T, idPrefix string, size int) fleet.LogChunk {
	t.Helper()
	const line = 16000 // just under protocol.MaxMessageLength
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ."
	text := make([]byte, 700_000)
	for i := range text {
		text[i] = alphabet[rng.IntN(len(alphabet))]
	}
	build := func(id string, total int) fleet.LogChunk {
		c := fleet.LogChunk{TerminalID: id, FirstSeq: 1, StoredAt: t0, ExpiresAt: t0.Add(time.Hour)}
		for off, seq := 0, uint64(1); off < total; off, seq = off+line, seq+1 {
			c.Entries = append(c.Entries, protocol.LogEntry{Seq: seq, Time: t0, Level: protocol.LevelInfo, Message: string(text[off:min(off+line, total)])})
			c.LastSeq = seq
		}
		return c
	}
	sizeOf := func(c fleet.LogChunk) int {
		it, _, err := chunkItem(c, nil)
		if err != nil {
			t.Fatal(err)
		}
		return itemSize(it)
	}
	// The largest text whose item, with the bare prefix as id, is at most
	// size (the item grows with the text, by a few bytes at most per byte).
	lo, hi := 0, len(text)
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if sizeOf(build(idPrefix, mid)) <= size {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	c := build(idPrefix, lo)
	pad := size - sizeOf(c)
	if pad < 0 || len(idPrefix)+pad > maxKeyPart {
		t.Fatalf("cannot size a chunk to %d bytes: %d bytes of padding needed", size, pad)
	}
	c = build(idPrefix+strings.Repeat("x", pad), lo)
	if got := sizeOf(c); got != size {
		t.Fatalf("sized chunk is %d bytes, want %d", got, size)
	}
	return c
}

// putCounter counts PutItem calls.
type putCounter struct {
	itemAPI
	puts atomic.Int32
}

func (p *putCounter) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	p.puts.Add(1)
	return p.itemAPI.PutItem(ctx, in, opts...)
}

// TestLogChunkAtTheItemSizeLimit stores a chunk whose item is exactly
// DynamoDB's 400 KB (409,600 bytes: names and values, as AWS counts them)
// and refuses one a byte larger before writing anything: DynamoDB would
// refuse that write on every retry. It runs on dynalite, which enforces
// exactly AWS's limit and counts ASCII strings, binary and numbers as AWS
// documents (TestEmulatorsAgainstAWSDocumentation), so the server shows
// the Store counts as DynamoDB does; moto refuses items above 405,000
// bytes, so the chunk at the limit would fail there.
func TestLogChunkAtTheItemSizeLimit(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	ids := testIDs(t)
	plain := New(client, sharedTable)
	counted := &putCounter{itemAPI: client}
	st := newStore(counted, sharedTable)
	tests := []struct {
		name   string
		size   int
		status bool // PutLogBatch with a status instead of PutLogChunk
		stored bool
	}{
		{"just under the limit", maxItemBytes - 1, false, true},
		{"at the limit", maxItemBytes, false, true},
		{"one byte over", maxItemBytes + 1, false, false},
		{"one byte over, with a status", maxItemBytes + 1, true, false},
		{"far over", maxItemBytes + 100_000, false, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := sizedChunk(t, ids(fmt.Sprint(i))+"-", tt.size)
			if err := plain.CreateTerminal(ctx, fleet.Terminal{ID: c.TerminalID, CreatedAt: t0}); err != nil {
				t.Fatal(err)
			}
			it, _, err := chunkItem(c, nil)
			if err != nil {
				t.Fatal(err)
			}
			// The server agrees with the count: what the Store refuses, it refuses.
			raw := newStore(client, sharedTable)
			_, serverErr := raw.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(sharedTable), Item: it})
			if got := wantValidation(serverErr) != nil; got != tt.stored {
				t.Fatalf("dynalite on the raw %d-byte item: %v; want it accepted: %v", tt.size, serverErr, tt.stored)
			}
			if _, err := client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(sharedTable), Key: key(terminalPK(c.TerminalID), logSK(c.LastSeq))}); err != nil {
				t.Fatal(err)
			}

			before := counted.puts.Load()
			snap := fleet.Snapshot{Data: []byte(`{"cpu":1}`), SyncedAt: t0}
			if tt.status {
				err = st.PutLogBatch(ctx, fleet.LogBatch{Chunk: c, Status: &snap, StatusExpiresAt: t0.Add(time.Hour), Record: true})
			} else {
				err = st.PutLogChunk(ctx, c, 0)
			}
			term, terr := plain.Terminal(ctx, c.TerminalID)
			if terr != nil {
				t.Fatal(terr)
			}
			var got []fleet.LogChunk
			if err := plain.ScanLogChunks(ctx, c.TerminalID, 0, false, t0, func(c fleet.LogChunk) bool { got = append(got, c); return true }); err != nil {
				t.Fatal(err)
			}
			if tt.stored {
				if err != nil {
					t.Fatalf("PutLogChunk of a %d-byte item: %v, want it stored", tt.size, err)
				}
				if len(got) != 1 || len(got[0].Entries) != len(c.Entries) || term.LastSeq != c.LastSeq {
					t.Errorf("after storing: %d chunks, LastSeq %d; want the chunk, LastSeq %d", len(got), term.LastSeq, c.LastSeq)
				}
				return
			}
			if !errors.Is(err, fleet.ErrInvalid) {
				t.Fatalf("PutLogChunk of a %d-byte item: %v, want fleet.ErrInvalid", tt.size, err)
			}
			wantSize := tt.size
			if tt.status {
				// The status sample rides in the chunk item, which it makes larger.
				it, _, err := chunkItem(c, &fleet.StatusSample{At: snap.SyncedAt, Data: snap.Data, ExpiresAt: t0.Add(time.Hour)})
				if err != nil {
					t.Fatal(err)
				}
				wantSize = itemSize(it)
			}
			for _, want := range []string{fmt.Sprintf("%d bytes", wantSize), fmt.Sprint(maxItemBytes)} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %q", err, want)
				}
			}
			// The service answers ErrInvalid from PutLogChunk with too_large
			// (fleet's TestChunkTheStoreRefusesIsTooLarge); the store does
			// not speak the protocol.
			var perr *protocol.Error
			if errors.As(err, &perr) {
				t.Errorf("error %v carries a protocol.Error: the mapping to the terminal's answer is the service's", err)
			}
			if n := counted.puts.Load() - before; n != 0 {
				t.Errorf("PutItem calls for a refused chunk: %d, want 0 (refused before writing)", n)
			}
			if len(got) != 0 || term.LastSeq != 0 || !term.Status.SyncedAt.IsZero() {
				t.Errorf("after the refusal: %d chunks, LastSeq %d, status at %v; want nothing written", len(got), term.LastSeq, term.Status.SyncedAt)
			}
		})
	}
}
