package dynamo

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/protocol"
)

// conditionRecorder passes every call through and, for each failed
// condition whose request asked for the old item (ALL_OLD), tallies
// whether the server returned it; when it did not, it reads the item:
// DynamoDB returns the item whenever it exists, so an existing item is a
// deviation.
type conditionRecorder struct {
	itemAPI
	table string
	tally *conditionTally
}

// conditionTally adds up what conditionRecorders saw.
type conditionTally struct {
	mu       sync.Mutex
	returned int
	absent   int
	withheld []string
}

func (c *conditionTally) counts() (returned, absent int, withheld []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.returned, c.absent, c.withheld
}

func (r *conditionRecorder) record(ctx context.Context, op string, k map[string]types.AttributeValue, asked types.ReturnValuesOnConditionCheckFailure, err error) {
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) || asked != types.ReturnValuesOnConditionCheckFailureAllOld {
		return
	}
	c := r.tally
	if ccf.Item != nil {
		c.mu.Lock()
		c.returned++
		c.mu.Unlock()
		return
	}
	out, getErr := r.itemAPI.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(r.table), Key: k, ConsistentRead: aws.Bool(true)})
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case getErr != nil:
		c.withheld = append(c.withheld, fmt.Sprintf("%s %v: read it back: %v", op, k, getErr))
	case out.Item != nil:
		c.withheld = append(c.withheld, fmt.Sprintf("%s of an existing item (pk %v, sk %v)", op, k[attrPK], k[attrSK]))
	default:
		c.absent++
	}
}

func (r *conditionRecorder) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	out, err := r.itemAPI.UpdateItem(ctx, in, opts...)
	r.record(ctx, "UpdateItem", in.Key, in.ReturnValuesOnConditionCheckFailure, err)
	return out, err
}

func (r *conditionRecorder) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	out, err := r.itemAPI.PutItem(ctx, in, opts...)
	k := map[string]types.AttributeValue{attrPK: in.Item[attrPK], attrSK: in.Item[attrSK]}
	r.record(ctx, "PutItem", k, in.ReturnValuesOnConditionCheckFailure, err)
	return out, err
}

// getCounter counts GetItem calls: the reads a Store makes after a failed
// condition when the server did not return the old item.
type getCounter struct {
	itemAPI
	gets atomic.Int32
}

func (g *getCounter) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	g.gets.Add(1)
	return g.itemAPI.GetItem(ctx, in, opts...)
}

// TestFailedConditionReturnsOldItem proves which path each server takes
// when a conditional write fails and the Store must tell "a newer value is
// stored" from "no such item": on moto, as on DynamoDB, the failure carries
// the old item (ReturnValuesOnConditionCheckFailure ALL_OLD) and the Store
// reads nothing more; dynalite ignores the parameter, so the Store falls
// back to one GetItem. Both must give the same answer.
func TestFailedConditionReturnsOldItem(t *testing.T) {
	t.Parallel()
	later := t0.Add(time.Minute)
	chunk := func(id string, first, last uint64) fleet.LogChunk {
		c := fleet.LogChunk{TerminalID: id, FirstSeq: first, LastSeq: last, StoredAt: t0, ExpiresAt: t0.Add(time.Hour)}
		for q := first; q <= last; q++ {
			c.Entries = append(c.Entries, protocol.LogEntry{Seq: q, Time: t0, Level: protocol.LevelInfo, Message: "x"})
		}
		return c
	}
	cmd := func(id string) fleet.Command {
		return fleet.Command{TerminalID: id, RequestID: "r1", Name: "ping", State: fleet.CommandPending, CreatedAt: t0, Deadline: later, ExpiresAt: later}
	}
	done := fleet.Completion{State: fleet.CommandSucceeded, At: t0.Add(time.Second)}
	creds := []fleet.Credential{{ID: "k1", Hash: []byte("hash-1"), CreatedAt: t0}}
	tests := []struct {
		name    string
		prepare func(ctx context.Context, s *Store, id string) error // on the plain store
		fail    func(ctx context.Context, s *Store, id string) error // the write whose condition fails
		wantErr error
	}{
		{"Touch with an older time",
			func(ctx context.Context, s *Store, id string) error { return s.Touch(ctx, id, later, "") },
			func(ctx context.Context, s *Store, id string) error { return s.Touch(ctx, id, t0, "") }, nil},
		{"MarkOnline of an older connection",
			func(ctx context.Context, s *Store, id string) error { return s.MarkOnline(ctx, id, "c2=", later) },
			func(ctx context.Context, s *Store, id string) error { return s.MarkOnline(ctx, id, "c1=", t0) }, nil},
		{"ClaimRefresh already claimed",
			func(ctx context.Context, s *Store, id string) error {
				_, err := s.ClaimRefresh(ctx, id, "config", later, t0)
				return err
			},
			func(ctx context.Context, s *Store, id string) error {
				won, err := s.ClaimRefresh(ctx, id, "config", later, t0)
				if err == nil && won {
					return errors.New("second claim won")
				}
				return err
			}, nil},
		{"PutLogChunk below LastSeq",
			func(ctx context.Context, s *Store, id string) error { return s.PutLogChunk(ctx, chunk(id, 1, 10), 0) },
			func(ctx context.Context, s *Store, id string) error { return s.PutLogChunk(ctx, chunk(id, 1, 5), 0) }, nil},
		{"CompleteCommand twice",
			func(ctx context.Context, s *Store, id string) error {
				if err := s.PutCommands(ctx, cmd(id)); err != nil {
					return err
				}
				return s.CompleteCommand(ctx, id, "r1", done)
			},
			func(ctx context.Context, s *Store, id string) error { return s.CompleteCommand(ctx, id, "r1", done) }, fleet.ErrConflict},
		{"CreateTerminal sent again by the SDK",
			func(ctx context.Context, s *Store, id string) error { return nil },
			func(ctx context.Context, s *Store, id string) error {
				return s.CreateTerminal(ctx, fleet.Terminal{ID: id, CreatedAt: t0, Credentials: creds})
			}, nil},
	}
	servers := []struct {
		name     string
		client   func(t *testing.T) *dynamodb.Client
		wantGets int32
	}{
		{"moto returns the old item", motoFor, 0},
		{"dynalite falls back to a read", func(*testing.T) *dynamodb.Client { return client }, 1},
	}
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			t.Parallel()
			db := srv.client(t)
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					ctx := t.Context()
					id := testIDs(t)("a")
					plain := newStore(db, sharedTable)
					if err := plain.CreateTerminal(ctx, fleet.Terminal{ID: id, CreatedAt: t0, Credentials: creds}); err != nil {
						t.Fatal(err)
					}
					if err := tt.prepare(ctx, plain, id); err != nil {
						t.Fatalf("prepare: %v", err)
					}
					counted := &getCounter{itemAPI: db}
					err := tt.fail(ctx, newStore(counted, sharedTable), id)
					if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
						t.Errorf("error: %v, want %v", err, tt.wantErr)
					}
					if got := counted.gets.Load(); got != srv.wantGets {
						t.Errorf("GetItem calls after the failed condition: %d, want %d", got, srv.wantGets)
					}
				})
			}
		})
	}
}
