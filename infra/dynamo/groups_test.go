package dynamo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/edgesync/edgesync/fleet"
)

// tableSeq numbers the tables tests create for themselves.
var tableSeq atomic.Int64

// newTable creates an empty table on the package's dynalite.
func newTable(t *testing.T, prefix string) string {
	t.Helper()
	table := fmt.Sprintf("%s-%d", prefix, tableSeq.Add(1))
	if err := CreateTable(t.Context(), client, table); err != nil {
		t.Fatalf("create table: %v", err)
	}
	return table
}

// countingReads counts the items the store reads from DynamoDB: those a
// Query scanned and those a BatchGetItem returned.
type countingReads struct {
	itemAPI
	queried, batchRead atomic.Int64
}

func (c *countingReads) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	out, err := c.itemAPI.Query(ctx, in, opts...)
	if err == nil {
		c.queried.Add(int64(out.ScannedCount))
	}
	return out, err
}

func (c *countingReads) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	out, err := c.itemAPI.BatchGetItem(ctx, in, opts...)
	if err == nil {
		for _, items := range out.Responses {
			c.batchRead.Add(int64(len(items)))
		}
	}
	return out, err
}

// TestGroupTerminalsReadsAPage: a page of one group's terminals reads the
// page's membership items and records on the wire, not the fleet's: 10
// terminals of a group of 30 in a 600-terminal table read at most 10
// memberships and 10 records.
func TestGroupTerminalsReadsAPage(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	table := newTable(t, "groups-count")
	const terminals, groups, limit = 600, 20, 10
	st := New(client, table)
	var wg sync.WaitGroup
	errs := make(chan error, terminals)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < terminals; i += 8 {
				term := fleet.Terminal{ID: fmt.Sprintf("t-%04d", i), Groups: []string{fmt.Sprintf("g%02d", i%groups), "all"}}
				if err := st.CreateTerminal(ctx, term); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	counter := &countingReads{itemAPI: client}
	counted := newStore(counter, table)
	after := ""
	var listed []string
	for page := 0; ; page++ {
		counter.queried.Store(0)
		counter.batchRead.Store(0)
		ts, err := counted.GroupTerminals(ctx, "g07", after, limit)
		if err != nil {
			t.Fatal(err)
		}
		if q, b := counter.queried.Load(), counter.batchRead.Load(); q > limit || b > limit {
			t.Errorf("page %d: read %d membership items and %d records of a %d-terminal table, want at most %d each", page, q, b, terminals, limit)
		}
		for _, term := range ts {
			listed = append(listed, term.ID)
			after = term.ID
		}
		if len(ts) < limit {
			break
		}
	}
	var want []string
	for i := 7; i < terminals; i += groups {
		want = append(want, fmt.Sprintf("t-%04d", i))
	}
	if !slices.Equal(listed, want) {
		t.Errorf("group g07: listed %v, want %v", listed, want)
	}
}

// TestIndexGroups: a table whose terminals have no membership items (one
// written before they existed) lists no group until IndexGroups writes
// them; running it again changes nothing.
func TestIndexGroups(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	table := newTable(t, "groups-index")
	st := New(client, table)
	for _, term := range []fleet.Terminal{{ID: "a", Groups: []string{"x", "y"}}, {ID: "b", Groups: []string{"y"}}, {ID: "c"}} {
		if err := st.CreateTerminal(ctx, term); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range []struct{ group, id string }{{"x", "a"}, {"y", "a"}, {"y", "b"}} {
		if _, err := client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: key(groupPK(m.group), m.id)}); err != nil {
			t.Fatal(err)
		}
	}
	list := func(group string) []string {
		t.Helper()
		ts, err := st.GroupTerminals(ctx, group, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, term := range ts {
			ids = append(ids, term.ID)
		}
		return ids
	}
	if got := list("y"); len(got) != 0 {
		t.Fatalf("group y before indexing: %v, want nothing (the fixture lost its memberships)", got)
	}
	for run := range 2 {
		n, err := st.IndexGroups(ctx)
		if err != nil || n != 3 {
			t.Fatalf("IndexGroups run %d: %d, %v; want 3 terminals", run+1, n, err)
		}
		if x, y := list("x"), list("y"); !slices.Equal(x, []string{"a"}) || !slices.Equal(y, []string{"a", "b"}) {
			t.Errorf("after IndexGroups run %d: x %v, y %v; want [a] and [a b]", run+1, x, y)
		}
	}
}

// TestGroupTerminalsRejectsBadInput: a limit below 1 and a group or cursor
// too long for a key are ErrInvalid; the empty group lists nothing.
func TestGroupTerminalsRejectsBadInput(t *testing.T) {
	t.Parallel()
	st := New(client, sharedTable)
	ctx := context.Background()
	long := string(make([]byte, maxKeyPart+1))
	for _, tt := range []struct {
		name, group, after string
		limit              int
	}{{"limit 0", "g", "", 0}, {"long group", long, "", 1}, {"long cursor", "g", long, 1}} {
		if _, err := st.GroupTerminals(ctx, tt.group, tt.after, tt.limit); !errors.Is(err, fleet.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", tt.name, err)
		}
	}
	if ts, err := st.GroupTerminals(ctx, "", "", 10); err != nil || len(ts) != 0 {
		t.Errorf("group \"\": %v, %v; want nothing", ts, err)
	}
}
