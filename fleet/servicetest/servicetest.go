// Package servicetest is the suite of fleet.Service's rules — connecting,
// messages, commands, documents with freshness, logs, credentials, and who
// may do and see what — run against a fleet.Store. fleet's own tests run
// it on the embedded store (Go alone); infra/dynamo runs it on DynamoDB
// (dynalite), so the rules are shown to hold on both.
//
//	func TestService(t *testing.T) {
//		servicetest.Run(t, func(t *testing.T) fleet.Store { return newEmptyStore(t) })
//	}
//
// newStore must return an empty store for each call: the tests use fixed
// terminal ids ("t1", "t2") and list the whole fleet.
package servicetest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/protocol"
)

// admin is the caller of the suite's reads and commands where the test is
// not about access: the system, which may do and see everything.
var admin = fleet.System("test")

// Run runs the suite as parallel subtests of t, each on a store newStore
// returns (called inside the subtest, so t.TempDir and t.Cleanup belong to it).
func Run(t *testing.T, newStore func(t *testing.T) fleet.Store) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, e *env)
	}{
		{"ConnectAuthentication", testConnectAuthentication},
		{"DisconnectAfterReconnectKeepsTerminalOnline", testDisconnectAfterReconnectKeepsTerminalOnline},
		{"ReconnectRaceKeepsNewerConnection", testReconnectRaceKeepsNewerConnection},
		{"GoneConnectionIsCleanedUp", testGoneConnectionIsCleanedUp},
		{"InactiveTerminalReadsOffline", testInactiveTerminalReadsOffline},
		{"HelloPullsStatusConfigLogs", testHelloPullsStatusConfigLogs},
		{"HelloForAnotherTerminalIsRefused", testHelloForAnotherTerminalIsRefused},
		{"MalformedMessagesAnswered", testMalformedMessagesAnswered},
		{"LogsRedeliveredStoredOnceAndAcked", testLogsRedeliveredStoredOnceAndAcked},
		{"LogsCarryingStatus", testLogsCarryingStatus},
		{"SyncedDataFreshnessAndFallback", testSyncedDataFreshnessAndFallback},
		{"LogFilters", testLogFilters},
		{"ReadingLogsGoesLive", testReadingLogsGoesLive},
		{"CommandLifecycle", testCommandLifecycle},
		{"RotateAndRevoke", testRotateAndRevoke},
		{"Security/RevokeEndsConnections", testRevokeEndsConnections},
		{"Security/RotationWithoutOverlapEndsOldConnections", testRotationWithoutOverlap},
		{"Security/ConcurrentRotateRevoke", testConcurrentRotateRevoke},
		{"Security/DeleteTerminal", testDeleteTerminal},
		{"Security/ExpiredBindingRefused", testExpiredBindingRefused},
		{"Security/OperatorCannotChangeConnectionSettings", testOperatorCannotChangeConnectionSettings},
		{"Security/ConfigVersionHidesSecrets", testConfigVersionHidesSecrets},
		{"Security/GetLogsResultKeepsNoLines", testGetLogsResultKeepsNoLines},
		{"Security/DenialsCoalesced", testDenialsCoalesced},
		{"Access/RolesPerOperation", testRolesPerOperation},
		{"Access/OutsideGroupsIsAbsent", testOutsideGroupsIsAbsent},
		{"Access/SecretsMaskedForNonAdmins", testSecretsMaskedForNonAdmins},
		{"Access/OperationsAreAudited", testOperationsAreAudited},
		{"Listing/GroupPagesAreFull", testGroupPagesAreFull},
		{"Listing/TerminalInSeveralGroupsListedOnce", testTerminalInSeveralGroupsListedOnce},
		{"Listing/AdminsListTheFleet", testAdminsListTheFleet},
		{"Listing/Filters", testFilters},
		{"Rollout/AbortsAndRollsBack", testRolloutAbortsAndRollsBack},
		{"Rollout/OfflineCatchesUpOnReconnect", testRolloutOfflineCatchesUp},
		{"Rollout/WithdrawnWhenCancelled", testRolloutWithdrawnWhenCancelled},
		{"Rollout/PauseResumeCancel", testRolloutPauseResumeCancel},
		{"Rollout/TimeoutCounts", testRolloutTimeoutCounts},
		{"Rollout/ConcurrentCompletionsAdvanceOnce", testRolloutConcurrentCompletions},
		{"Rollout/AccessAndPrecedence", testRolloutAccessAndPrecedence},
		{"Rollout/PacedSendingAndRollback", testRolloutPaced},
		{"Rollout/ClaimedButUnsentFails", testRolloutClaimedButUnsentFails},
		{"Rollout/CatchUpYieldsToRollback", testRolloutCatchUpYieldsToRollback},
	}
	tests = append(tests, searchAndAlertTests()...)
	tests = append(tests, syncTests...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := newStore(t)
			e := &env{store: st, push: newRecorder(), clock: &clock{now: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)}}
			e.svc = fleet.NewService(st, e.push, fleet.DefaultConfig(), fleet.WithClock(e.clock.Now))
			tt.run(t, e)
		})
	}
}

// recorder is a fleet.Pusher and fleet.ConnectionCloser that keeps what
// was pushed and which connections were closed; connections in gone
// answer fleet.ErrGone like API Gateway's 410 (a closed one is gone).
type recorder struct {
	mu     sync.Mutex
	sent   map[string][][]byte
	gone   map[string]bool
	closed []string
}

func newRecorder() *recorder {
	return &recorder{sent: map[string][][]byte{}, gone: map[string]bool{}}
}

// Close records that connID was closed; it is gone from then on.
func (r *recorder) Close(_ context.Context, connID string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.gone[connID] {
		r.closed = append(r.closed, connID)
	}
	r.gone[connID] = true
	return nil
}

// takeClosed returns and forgets the connections closed so far.
func (r *recorder) takeClosed() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.closed
	r.closed = nil
	return out
}

func (r *recorder) Push(_ context.Context, connID string, msg []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gone[connID] {
		return fleet.ErrGone
	}
	r.sent[connID] = append(r.sent[connID], append([]byte(nil), msg...))
	return nil
}

func (r *recorder) setGone(connID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gone[connID] = true
}

// take returns and forgets the messages pushed to connID, decoded as maps.
func (r *recorder) take(t *testing.T, connID string) []map[string]any {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []map[string]any
	for _, raw := range r.sent[connID] {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("pushed message is not JSON: %s", raw)
		}
		out = append(out, m)
	}
	delete(r.sent, connID)
	return out
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is what each test gets: a service over the store under test, what
// it pushed, and its clock.
type env struct {
	svc   *fleet.Service
	store fleet.Store
	push  *recorder
	clock *clock
}

// terminal creates a terminal and returns its token.
func (e *env) terminal(t *testing.T, id string, groups ...string) string {
	t.Helper()
	token, err := e.svc.CreateTerminal(context.Background(), admin, id, "", groups)
	if err != nil {
		t.Fatalf("create terminal %s: %v", id, err)
	}
	return token
}

// terminalNamed creates terminal id with a name in groups and returns its token.
func (e *env) terminalNamed(t *testing.T, id, name string, groups ...string) string {
	t.Helper()
	token, err := e.svc.CreateTerminal(context.Background(), admin, id, name, groups)
	if err != nil {
		t.Fatalf("create terminal %s: %v", id, err)
	}
	return token
}

// connect connects a terminal on connID with token.
func (e *env) connect(t *testing.T, id, token, connID string) {
	t.Helper()
	if err := e.svc.Connect(context.Background(), fleet.ConnectRequest{ConnectionID: connID, TerminalID: id, Token: token}); err != nil {
		t.Fatalf("connect %s: %v", id, err)
	}
}

// send handles msg as sent by the terminal on connID.
func (e *env) send(t *testing.T, connID string, msg any) {
	t.Helper()
	raw, err := json.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.HandleMessage(context.Background(), connID, raw); err != nil {
		t.Fatalf("handle %s: %v", raw, err)
	}
}

func commandsIn(msgs []map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, m := range msgs {
		if m["type"] == protocol.TypeCommand {
			out[m["command"].(string)] = m
		}
	}
	return out
}

// respond answers the pushed command cmd with result (or, failing, with
// result as the error).
func respond(t *testing.T, e *env, connID string, cmd map[string]any, success bool, result any) {
	t.Helper()
	msg := map[string]any{"type": "command_response", "request_id": cmd["request_id"], "command": cmd["command"], "success": success}
	if success {
		msg["result"] = result
	} else {
		msg["error"] = fmt.Sprint(result)
	}
	e.send(t, connID, msg)
}

func entries(from, to uint64, level string) []protocol.LogEntry {
	var out []protocol.LogEntry
	for s := from; s <= to; s++ {
		out = append(out, protocol.LogEntry{Seq: s, Time: time.Date(2026, 11, 27, 9, 0, 0, int(s)*1000, time.UTC), Level: level, Message: fmt.Sprintf("line %d", s)})
	}
	return out
}

func seqs(from, to uint64) []uint64 {
	var out []uint64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}
