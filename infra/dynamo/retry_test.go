package dynamo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	smithymw "github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/protocol"
)

// injection says what an attempt of an operation meets.
type injection int

const (
	pass          injection = iota
	throttle                // ProvisionedThroughputExceededException, nothing done
	lostAnswer              // applied by DynamoDB, then HTTP 500 (the answer was lost)
	serverFailed            // HTTP 500, nothing done
	truncatedBody           // answered, but the body ended early (connection dropped mid-response)
)

// injector decides per attempt; it counts attempts by operation.
type injector struct {
	mu       sync.Mutex
	attempts map[string]int
	decide   func(op string, attempt int) injection
}

func (in *injector) count(op string) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.attempts[op]
}

// faultyClient returns a DynamoDB client on the test's dynalite whose every
// attempt (the middleware sits inside the SDK's retry loop) goes through
// in. Its retryer is the SDK's standard one (exponential backoff with full
// jitter), with short delays and no retry quota so the test is quick and
// deterministic.
func faultyClient(in *injector, maxAttempts int) *dynamodb.Client {
	mw := smithymw.FinalizeMiddlewareFunc("InjectFaults", func(ctx context.Context, input smithymw.FinalizeInput, next smithymw.FinalizeHandler) (smithymw.FinalizeOutput, smithymw.Metadata, error) {
		op := smithymw.GetOperationName(ctx)
		in.mu.Lock()
		in.attempts[op]++
		n := in.attempts[op]
		in.mu.Unlock()
		serverError := &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: http.StatusInternalServerError, Header: http.Header{}}},
			Err:      errors.New("InternalServerError: injected"),
		}
		switch in.decide(op, n) {
		case throttle:
			return smithymw.FinalizeOutput{}, smithymw.Metadata{}, &types.ProvisionedThroughputExceededException{Message: aws.String("injected")}
		case serverFailed:
			return smithymw.FinalizeOutput{}, smithymw.Metadata{}, serverError
		case truncatedBody:
			_, md, err := next.HandleFinalize(ctx, input)
			if err != nil {
				return smithymw.FinalizeOutput{}, md, err
			}
			return smithymw.FinalizeOutput{}, md, &smithy.DeserializationError{Err: fmt.Errorf("failed to decode response body, %w", io.ErrUnexpectedEOF)}
		case lostAnswer:
			_, md, err := next.HandleFinalize(ctx, input)
			if err != nil {
				return smithymw.FinalizeOutput{}, md, err
			}
			return smithymw.FinalizeOutput{}, md, serverError
		}
		return next.HandleFinalize(ctx, input)
	})
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEDGESYNCTEST", "edgesync-test-secret", ""),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = maxAttempts
			o.MaxBackoff = 20 * time.Millisecond
			o.RateLimiter = ratelimit.None
		}),
		APIOptions: []func(*smithymw.Stack) error{func(s *smithymw.Stack) error {
			return s.Finalize.Insert(mw, "Retry", smithymw.After)
		}},
	})
}

// TestSDKRetriesThrottling: the SDK's retryer retries throttled attempts,
// so a store call that is throttled fewer times than the client's attempts
// succeeds; one throttled on every attempt fails wrapping
// fleet.ErrThrottled after exactly the client's attempts.
func TestSDKRetriesThrottling(t *testing.T) {
	t.Parallel()
	id := testIDs(t)("a")
	in := &injector{attempts: map[string]int{}, decide: func(op string, n int) injection {
		if op == "UpdateItem" && n <= 2 {
			return throttle
		}
		return pass
	}}
	s := newStore(faultyClient(in, 3), sharedTable)
	ctx := context.Background()
	if err := New(client, sharedTable).CreateTerminal(ctx, fleet.Terminal{ID: id, CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if err := s.Touch(ctx, id, t0.Add(time.Minute), "1.0"); err != nil {
		t.Fatalf("Touch throttled twice with 3 attempts: %v, want success", err)
	}
	if got := in.count("UpdateItem"); got != 3 {
		t.Errorf("UpdateItem attempts: %d, want 3 (two throttled, one through)", got)
	}
	got, err := s.Terminal(ctx, id)
	if err != nil || !got.LastSeen.Equal(t0.Add(time.Minute)) {
		t.Errorf("after retried Touch: LastSeen %v (%v), want %v", got.LastSeen, err, t0.Add(time.Minute))
	}

	always := &injector{attempts: map[string]int{}, decide: func(op string, n int) injection {
		if op == "PutItem" {
			return throttle
		}
		return pass
	}}
	s = newStore(faultyClient(always, 4), sharedTable)
	err = s.PutLogChunk(ctx, fleet.LogChunk{TerminalID: id, FirstSeq: 1, LastSeq: 1, StoredAt: t0,
		Entries: []protocol.LogEntry{{Seq: 1, Time: t0, Level: "info", Message: "x"}}}, 0)
	if !errors.Is(err, fleet.ErrThrottled) {
		t.Errorf("PutLogChunk throttled on every attempt: %v, want fleet.ErrThrottled", err)
	}
	if got := always.count("PutItem"); got != 4 {
		t.Errorf("PutItem attempts: %d, want 4 (the client's maximum)", got)
	}
}

// TestWritesSurviveLostAnswers: DynamoDB applied a write but its answer was
// lost (HTTP 500), so the SDK sends it again. Every write of the message
// path must come out as if sent once: the retried conditional writes find
// their own effect and must neither fail nor double anything.
func TestWritesSurviveLostAnswers(t *testing.T) {
	t.Parallel()
	ids := testIDs(t)
	ctx := context.Background()
	plain := New(client, sharedTable)
	// Every operation's first attempt is applied and its answer lost.
	in := &injector{attempts: map[string]int{}}
	var mu sync.Mutex
	firstOf := map[string]bool{}
	in.decide = func(op string, n int) injection {
		mu.Lock()
		defer mu.Unlock()
		if !firstOf[op] {
			firstOf[op] = true
			return lostAnswer
		}
		return pass
	}
	reset := func() {
		mu.Lock()
		defer mu.Unlock()
		clear(firstOf)
	}
	s := newStore(faultyClient(in, 3), sharedTable)
	entries := func(first, last uint64) []protocol.LogEntry {
		var out []protocol.LogEntry
		for q := first; q <= last; q++ {
			out = append(out, protocol.LogEntry{Seq: q, Time: t0, Level: "info", Message: fmt.Sprint("line ", q)})
		}
		return out
	}

	id := ids("a")
	if err := plain.CreateTerminal(ctx, fleet.Terminal{ID: id, CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		do   func() error
	}{
		{"PutConnection", func() error {
			return s.PutConnection(ctx, fleet.Connection{ID: "c1=", TerminalID: id, ConnectedAt: t0, ExpiresAt: t0.Add(time.Hour)})
		}},
		{"MarkOnline", func() error { return s.MarkOnline(ctx, id, "c1=", t0) }},
		{"Touch", func() error { return s.Touch(ctx, id, t0.Add(time.Second), "2.0") }},
		{"PutLogChunk", func() error {
			return s.PutLogChunk(ctx, fleet.LogChunk{TerminalID: id, FirstSeq: 1, LastSeq: 10, Entries: entries(1, 10), StoredAt: t0, ExpiresAt: t0.Add(time.Hour)}, 2)
		}},
		{"PutStatus", func() error {
			return s.PutStatus(ctx, id, fleet.Snapshot{Data: []byte(`{"cpu":1}`), SyncedAt: t0.Add(2 * time.Second)}, t0.Add(time.Hour))
		}},
		{"PutConfig", func() error {
			return s.PutConfig(ctx, id, fleet.Snapshot{Data: []byte(`{"a":1}`), SyncedAt: t0.Add(2 * time.Second), Version: "v1"})
		}},
		{"PutCommands", func() error {
			return s.PutCommands(ctx, fleet.Command{TerminalID: id, RequestID: "r1", Name: "ping", State: fleet.CommandPending, CreatedAt: t0, Deadline: t0.Add(time.Hour), ExpiresAt: t0.Add(time.Hour)})
		}},
		{"CompleteCommand", func() error {
			err := s.CompleteCommand(ctx, id, "r1", fleet.Completion{State: fleet.CommandSucceeded, At: t0.Add(3 * time.Second)})
			if errors.Is(err, fleet.ErrConflict) {
				return nil // the retry found it completed: the service treats this as a repeat
			}
			return err
		}},
	}
	for _, st := range steps {
		reset()
		if err := st.do(); err != nil {
			t.Errorf("%s with its first answer lost: %v, want success", st.name, err)
		}
	}
	got, err := plain.Terminal(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Online || got.ConnectionID != "c1=" || got.LastSeq != 10 || got.Dropped != 2 || got.AgentVersion != "2.0" ||
		!got.Status.SyncedAt.Equal(t0.Add(2*time.Second)) || got.Config.Version != "v1" {
		t.Errorf("terminal after retried writes: %+v", got)
	}
	cmd, err := plain.Command(ctx, id, "r1", t0.Add(4*time.Second))
	if err != nil || cmd.State != fleet.CommandSucceeded {
		t.Errorf("command after retried writes: %+v %v, want succeeded", cmd, err)
	}
	var lines []uint64
	if err := plain.ScanLogChunks(ctx, id, 0, false, t0, func(c fleet.LogChunk) bool {
		for _, e := range c.Entries {
			lines = append(lines, e.Seq)
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if len(lines) != 10 {
		t.Errorf("lines stored after a retried chunk: %v, want 1..10 once", lines)
	}
}

// TestCreateTerminalSurvivesALostAnswer: the operator's create must not
// report "already exists" because the SDK retried its own successful,
// conditional PutItem (the token shown once would be lost).
func TestCreateTerminalSurvivesALostAnswer(t *testing.T) {
	t.Parallel()
	id := testIDs(t)("a")
	in := &injector{attempts: map[string]int{}, decide: func(op string, n int) injection {
		if op == "PutItem" && n == 1 {
			return lostAnswer
		}
		return pass
	}}
	s := newStore(faultyClient(in, 3), sharedTable)
	ctx := context.Background()
	creds := []fleet.Credential{{ID: "k1", Hash: []byte("hash-1"), CreatedAt: t0}}
	if err := s.CreateTerminal(ctx, fleet.Terminal{ID: id, CreatedAt: t0, Credentials: creds}); err != nil {
		t.Fatalf("CreateTerminal with its answer lost: %v, want success", err)
	}
	// A real second create, with other credentials, still finds it taken.
	other := []fleet.Credential{{ID: "k2", Hash: []byte("hash-2"), CreatedAt: t0}}
	if err := New(client, sharedTable).CreateTerminal(ctx, fleet.Terminal{ID: id, CreatedAt: t0, Credentials: other}); !errors.Is(err, fleet.ErrExists) {
		t.Errorf("second CreateTerminal: %v, want fleet.ErrExists", err)
	}
}

// partialBatchClient returns a dynalite client whose BatchGetItem calls
// are answered in part (half the keys come back as UnprocessedKeys), as
// DynamoDB does under load, while the call still has two keys or more.
// seen is called with every BatchGetItem request as the SDK sends it, the
// retries included; partials counts the partial answers.
func partialBatchClient(table string, seen func(*dynamodb.BatchGetItemInput)) (c *dynamodb.Client, partials func() int) {
	var n int
	var mu sync.Mutex
	mw := smithymw.InitializeMiddlewareFunc("PartialBatch", func(ctx context.Context, in smithymw.InitializeInput, next smithymw.InitializeHandler) (smithymw.InitializeOutput, smithymw.Metadata, error) {
		req, ok := in.Parameters.(*dynamodb.BatchGetItemInput)
		if !ok {
			return next.HandleInitialize(ctx, in)
		}
		seen(req)
		ka := req.RequestItems[table]
		if len(ka.Keys) < 2 {
			return next.HandleInitialize(ctx, in)
		}
		half := len(ka.Keys) / 2
		held := ka.Keys[half:]
		ka.Keys = ka.Keys[:half]
		req.RequestItems = map[string]types.KeysAndAttributes{table: ka}
		out, md, err := next.HandleInitialize(ctx, in)
		if err != nil {
			return out, md, err
		}
		res := out.Result.(*dynamodb.BatchGetItemOutput)
		// As DynamoDB may: the unprocessed keys alone, without the
		// request's other parameters.
		un := res.UnprocessedKeys[table]
		res.UnprocessedKeys = map[string]types.KeysAndAttributes{table: {Keys: append(un.Keys, held...)}}
		mu.Lock()
		n++
		mu.Unlock()
		return out, md, nil
	})
	c = dynamodb.New(dynamodb.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEDGESYNCTEST", "edgesync-test-secret", ""),
		APIOptions: []func(*smithymw.Stack) error{func(s *smithymw.Stack) error {
			return s.Initialize.Add(mw, smithymw.Before)
		}},
	})
	return c, func() int {
		mu.Lock()
		defer mu.Unlock()
		return n
	}
}

// TestBatchGetRetriesPartialAnswersFromTheSDK: BatchGetItem answered in
// part (UnprocessedKeys), as DynamoDB does under load, through the SDK:
// Terminals retries the rest with backoff and lists every terminal, and
// every request it sends, the retries too, reads strongly consistently
// (BatchGetItem reads eventually consistently unless asked, and the
// Store's contract is that reads of the base table see completed writes).
func TestBatchGetRetriesPartialAnswersFromTheSDK(t *testing.T) {
	t.Parallel()
	table := tableName(t) // its own table: it lists every terminal
	if err := CreateTable(context.Background(), client, table); err != nil {
		t.Fatal(err)
	}
	plain := New(client, table)
	ctx := context.Background()
	for i := range 30 {
		if err := plain.CreateTerminal(ctx, fleet.Terminal{ID: fmt.Sprintf("t%02d", i), CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	var requests, inconsistent int
	c, partials := partialBatchClient(table, func(in *dynamodb.BatchGetItemInput) {
		mu.Lock()
		defer mu.Unlock()
		requests++
		if !aws.ToBool(in.RequestItems[table].ConsistentRead) {
			inconsistent++
		}
	})
	s := newStore(c, table)
	s.batchBackoff = time.Millisecond
	ts, next, err := s.Terminals(ctx, "", 30)
	if err != nil {
		t.Fatalf("Terminals with partial batch answers: %v", err)
	}
	if len(ts) != 30 || next != "" {
		t.Errorf("Terminals: %d terminals, next %q; want all 30, no next page", len(ts), next)
	}
	if partials() < 2 {
		t.Errorf("partial answers: %d, want several (the test covers nothing)", partials())
	}
	if inconsistent != 0 {
		t.Errorf("BatchGetItem requests without ConsistentRead: %d of %d, want none", inconsistent, requests)
	}
}

// TestReadsRetryAnswersCutShort: a read whose answer's body ended early
// (the connection dropped mid-response; the SDK reports "deserialization
// failed, unexpected EOF" and does not retry) is sent again by the store; a
// write is not, as it may have applied.
func TestReadsRetryAnswersCutShort(t *testing.T) {
	t.Parallel()
	id := testIDs(t)("a")
	ctx := context.Background()
	if err := New(client, sharedTable).CreateTerminal(ctx, fleet.Terminal{ID: id, Name: "n", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	once := &injector{attempts: map[string]int{}, decide: func(op string, n int) injection {
		if n == 1 {
			return truncatedBody
		}
		return pass
	}}
	s := newStore(faultyClient(once, 3), sharedTable)
	got, err := s.Terminal(ctx, id)
	if err != nil || got.Name != "n" {
		t.Fatalf("Terminal with its first answer cut short: %+v %v, want the terminal", got, err)
	}
	if n := once.count("Query"); n != 2 {
		t.Errorf("Query sent %d times, want 2", n)
	}
	if err := s.Touch(ctx, id, t0.Add(time.Minute), ""); err == nil {
		t.Errorf("Touch with its answer cut short: no error, want the SDK's error (a write is not resent)")
	}
	if n := once.count("UpdateItem"); n != 1 {
		t.Errorf("UpdateItem sent %d times, want 1", n)
	}

	always := &injector{attempts: map[string]int{}, decide: func(op string, n int) injection { return truncatedBody }}
	s = newStore(faultyClient(always, 3), sharedTable)
	if _, err := s.Terminal(ctx, id); err == nil {
		t.Errorf("Terminal with every answer cut short: no error")
	}
	if n := always.count("Query"); n != readAttempts {
		t.Errorf("Query sent %d times, want %d", n, readAttempts)
	}
}
