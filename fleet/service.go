package fleet

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/edgesync/edgesync/protocol"
)

// Service applies edgesync's sync rules. It is safe for concurrent use and
// meant to be built once per process (per Lambda container) and reused: it
// caches immutable connection bindings.
type Service struct {
	store  Store
	pusher Pusher
	cfg    Config
	now    func() time.Time
	newID  func() string

	conns     sync.Map // connection id → terminal id (bindings never change)
	connCount int64
	connMu    sync.Mutex
	touched   sync.Map // connection id → time.Time of the last Touch written
	live      sync.Map // terminal id → livePush: the last live hint this process sent
	metrics   Metrics
}

// Option customises a Service.
type Option func(*Service)

// WithClock makes the service read time from now (tests, simulations).
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithIDs makes the service draw request ids from newID.
func WithIDs(newID func() string) Option { return func(s *Service) { s.newID = newID } }

// NewService returns a Service over store and pusher. cfg must be valid
// (see Config.Validate); a zero Config is replaced by DefaultConfig.
func NewService(store Store, pusher Pusher, cfg Config, opts ...Option) *Service {
	if cfg == (Config{}) {
		cfg = DefaultConfig()
	}
	s := &Service{store: store, pusher: pusher, cfg: cfg, now: time.Now, newID: randomID, metrics: noMetrics{}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Config returns the service's configuration.
func (s *Service) Config() Config { return s.cfg }

// Store returns the store the service uses.
func (s *Service) Store() Store { return s.store }

func randomID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ConnectRequest is what a terminal presents at $connect.
type ConnectRequest struct {
	ConnectionID string
	TerminalID   string
	Token        string
	SourceIP     string
	// ConnectedAt is when API Gateway opened the connection (zero: now).
	// Two reconnects racing through $connect are ordered by it, so the
	// newer connection stays current whichever handler finishes last.
	ConnectedAt time.Time
}

// Connect authenticates a terminal and binds the connection to it. It
// returns ErrUnauthenticated when the id or token is missing, ErrInvalid for
// a malformed id, and ErrForbidden for an unknown terminal or a token that
// is wrong, revoked or expired (the two are not told apart). It counts
// accepted and refused connections (MetricConnects, MetricConnectRefused).
func (s *Service) Connect(ctx context.Context, r ConnectRequest) error {
	err := s.connect(ctx, r)
	if err == nil {
		s.count(MetricConnects)
	} else if errors.Is(err, ErrUnauthenticated) || errors.Is(err, ErrForbidden) || errors.Is(err, ErrInvalid) {
		s.count(MetricConnectRefused)
	}
	return err
}

// connect does Connect's work.
func (s *Service) connect(ctx context.Context, r ConnectRequest) error {
	now := s.now()
	switch {
	case r.TerminalID == "":
		return fmt.Errorf("connect: no terminal id (query parameter terminal_id or header X-Terminal-Id): %w", ErrUnauthenticated)
	case r.Token == "":
		return fmt.Errorf("connect %s: no token (Authorization: Bearer or query parameter token): %w", r.TerminalID, ErrUnauthenticated)
	case !protocol.ValidID(r.TerminalID):
		return fmt.Errorf("connect: terminal id is malformed: %w", ErrInvalid)
	case r.ConnectionID == "":
		return fmt.Errorf("connect %s: no connection id", r.TerminalID)
	}
	t, err := s.store.Terminal(ctx, r.TerminalID)
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("connect %s: unknown terminal: %w", r.TerminalID, ErrForbidden)
	}
	if err != nil {
		return fmt.Errorf("connect %s: %w", r.TerminalID, err)
	}
	if !Accepts(t.Credentials, r.Token, now) {
		return fmt.Errorf("connect %s: token not accepted: %w", r.TerminalID, ErrForbidden)
	}
	at := r.ConnectedAt
	if at.IsZero() || at.After(now) {
		at = now
	}
	c := Connection{ID: r.ConnectionID, TerminalID: t.ID, ConnectedAt: at, SourceIP: r.SourceIP, ExpiresAt: at.Add(s.cfg.ConnectionTTL)}
	if err := s.store.PutConnection(ctx, c); err != nil {
		return fmt.Errorf("connect %s: record connection: %w", t.ID, err)
	}
	if err := s.store.MarkOnline(ctx, t.ID, r.ConnectionID, at); err != nil {
		return fmt.Errorf("connect %s: mark online: %w", t.ID, err)
	}
	s.remember(r.ConnectionID, t.ID)
	slog.InfoContext(ctx, "terminal connected", "terminal", t.ID, "connection", r.ConnectionID, "sourceIp", r.SourceIP)
	return nil
}

// Disconnect ends a connection: the terminal goes offline with reason,
// unless a newer connection of the same terminal is already current.
// Idempotent: an unknown connection is not an error.
func (s *Service) Disconnect(ctx context.Context, connID, reason string) error {
	now := s.now()
	defer s.forget(connID)
	c, err := s.store.Connection(ctx, connID, now)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("disconnect %s: %w", connID, err)
	}
	return s.endConnection(ctx, c.TerminalID, connID, reason)
}

func (s *Service) endConnection(ctx context.Context, terminalID, connID, reason string) error {
	now := s.now()
	current, err := s.store.MarkOffline(ctx, terminalID, connID, now, reason)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("disconnect %s: mark offline: %w", terminalID, err)
	}
	if err := s.store.DeleteConnection(ctx, connID); err != nil {
		return fmt.Errorf("disconnect %s: delete connection %s: %w", terminalID, connID, err)
	}
	s.forget(connID)
	s.count(MetricDisconnects)
	slog.InfoContext(ctx, "terminal disconnected", "terminal", terminalID, "connection", connID, "reason", reason, "wasCurrent", current)
	return nil
}

const maxCachedConns = 50000

func (s *Service) remember(connID, terminalID string) {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if s.connCount >= maxCachedConns {
		s.conns.Clear()
		s.connCount = 0
	}
	if _, loaded := s.conns.LoadOrStore(connID, terminalID); !loaded {
		s.connCount++
	}
}

func (s *Service) forget(connID string) {
	s.conns.Delete(connID)
	s.touched.Delete(connID)
}

// terminalOf returns the terminal bound to connID.
func (s *Service) terminalOf(ctx context.Context, connID string, now time.Time) (string, error) {
	if id, ok := s.conns.Load(connID); ok {
		return id.(string), nil
	}
	c, err := s.store.Connection(ctx, connID, now)
	if err != nil {
		return "", err
	}
	s.remember(connID, c.TerminalID)
	return c.TerminalID, nil
}

// HandleMessage processes one message a terminal sent on connID. Protocol
// violations are answered with an error message to the sender and are not
// returned; the returned error means the service itself failed (the
// terminal has been told to retry).
func (s *Service) HandleMessage(ctx context.Context, connID string, body []byte) error {
	now := s.now()
	terminalID, err := s.terminalOf(ctx, connID, now)
	if errors.Is(err, ErrNotFound) {
		s.replyError(ctx, connID, &protocol.Error{Code: protocol.CodeForbidden, Message: "connection is not registered; reconnect"}, "")
		return nil
	}
	if err != nil {
		s.replyError(ctx, connID, err, "")
		return fmt.Errorf("message on %s: look up connection: %w", connID, err)
	}
	msg, err := protocol.Decode(body)
	if err != nil {
		s.count(MetricProtocolErrors)
		slog.WarnContext(ctx, "rejected message", "terminal", terminalID, "connection", connID, "error", err)
		s.replyError(ctx, connID, err, requestIDOf(body))
		return nil
	}
	in := inbound{terminalID: terminalID, connID: connID, now: now}
	switch m := msg.(type) {
	case *protocol.Hello:
		err = s.hello(ctx, in, m)
	case *protocol.CommandResponse:
		err = s.commandResponse(ctx, in, m)
	case *protocol.Logs:
		err = s.logs(ctx, in, m)
	case *protocol.Status:
		err = s.status(ctx, in, m.Status)
	case *protocol.Heartbeat:
		err = s.touch(ctx, in, "")
	}
	if err == nil {
		return nil
	}
	var perr *protocol.Error
	if errors.As(err, &perr) {
		s.count(MetricProtocolErrors)
		slog.WarnContext(ctx, "rejected message", "terminal", terminalID, "connection", connID, "error", err)
		s.replyError(ctx, connID, err, requestIDOf(body))
		return nil
	}
	if errors.Is(err, ErrGone) {
		return nil // cleaned up where it was seen
	}
	s.replyError(ctx, connID, err, requestIDOf(body))
	return fmt.Errorf("message from %s: %w", terminalID, err)
}

type inbound struct {
	terminalID string
	connID     string
	now        time.Time
}

func requestIDOf(body []byte) string {
	var v struct {
		RequestID string `json:"request_id"`
	}
	if json.Unmarshal(body, &v) == nil && protocol.ValidID(v.RequestID) {
		return v.RequestID
	}
	return ""
}

func (s *Service) replyError(ctx context.Context, connID string, err error, requestID string) {
	s.send(ctx, "", connID, protocol.NewError(err, requestID))
}

// send pushes msg; on ErrGone it ends the connection when terminalID is known.
func (s *Service) send(ctx context.Context, terminalID, connID string, msg any) error {
	raw, err := protocol.Encode(msg)
	if err != nil {
		return fmt.Errorf("encode message: %w", err)
	}
	err = s.pusher.Push(ctx, connID, raw)
	if errors.Is(err, ErrGone) {
		s.count(MetricGone)
		if terminalID == "" {
			if id, lerr := s.terminalOf(ctx, connID, s.now()); lerr == nil {
				terminalID = id
			}
		}
		if terminalID != "" {
			if cerr := s.endConnection(ctx, terminalID, connID, "gone"); cerr != nil {
				slog.ErrorContext(ctx, "clean up gone connection", "terminal", terminalID, "connection", connID, "error", cerr)
			}
		} else {
			_ = s.store.DeleteConnection(ctx, connID)
			s.forget(connID)
		}
		return fmt.Errorf("push to %s: %w", connID, ErrGone)
	}
	if err != nil {
		slog.ErrorContext(ctx, "push failed", "connection", connID, "error", err)
		return fmt.Errorf("push to %s: %w", connID, err)
	}
	return nil
}

func (s *Service) hello(ctx context.Context, in inbound, m *protocol.Hello) error {
	if m.TerminalID != "" && m.TerminalID != in.terminalID {
		return &protocol.Error{Code: protocol.CodeForbidden, Message: fmt.Sprintf("terminal_id %q does not match the authenticated terminal %q", m.TerminalID, in.terminalID)}
	}
	if err := s.store.Touch(ctx, in.terminalID, in.now, m.AgentVersion); err != nil {
		return fmt.Errorf("hello: touch: %w", err)
	}
	s.touched.Store(in.connID, in.now)
	t, err := s.store.Terminal(ctx, in.terminalID)
	if err != nil {
		return fmt.Errorf("hello: %w", err)
	}
	_, err = s.pull(ctx, t.ID, in.connID, "system:hello", t.LastSeq)
	return err
}

// pull records and pushes get_status, get_config and get_logs (count
// PullLogCount, since_seq = what is already stored) to connID.
func (s *Service) pull(ctx context.Context, terminalID, connID, actor string, lastSeq uint64) ([]Command, error) {
	now := s.now()
	logParams, _ := json.Marshal(protocol.GetLogsParams{Count: s.cfg.PullLogCount, SinceSeq: lastSeq})
	cmds := []Command{
		s.newCommand(terminalID, protocol.CommandGetStatus, nil, actor, now, 0),
		s.newCommand(terminalID, protocol.CommandGetConfig, nil, actor, now, 0),
		s.newCommand(terminalID, protocol.CommandGetLogs, logParams, actor, now, 0),
	}
	if err := s.store.PutCommands(ctx, cmds...); err != nil {
		return nil, fmt.Errorf("record pull commands: %w", err)
	}
	for _, c := range cmds {
		if err := s.send(ctx, terminalID, connID, c.message()); err != nil {
			return cmds, err
		}
	}
	return cmds, nil
}

func (s *Service) newCommand(terminalID, name string, params json.RawMessage, actor string, now time.Time, timeout time.Duration) Command {
	if timeout <= 0 {
		timeout = s.cfg.CommandTimeout
	}
	return Command{
		TerminalID: terminalID, RequestID: s.newID(), Name: name, Params: params,
		State: CommandPending, CreatedAt: now, Deadline: now.Add(timeout), Actor: actor,
		ExpiresAt: now.Add(s.cfg.CommandRetention),
	}
}

func (c Command) message() protocol.Command {
	return protocol.Command{Type: protocol.TypeCommand, RequestID: c.RequestID, Command: c.Name, Params: c.Params}
}

func (s *Service) commandResponse(ctx context.Context, in inbound, m *protocol.CommandResponse) error {
	cmd, err := s.store.Command(ctx, in.terminalID, m.RequestID, in.now)
	if errors.Is(err, ErrNotFound) {
		return &protocol.Error{Code: protocol.CodeInvalid, Message: fmt.Sprintf("unknown request_id %q", m.RequestID)}
	}
	if err != nil {
		return fmt.Errorf("command response %s: %w", m.RequestID, err)
	}
	if cmd.Name != m.Command {
		return &protocol.Error{Code: protocol.CodeInvalid, Message: fmt.Sprintf("request_id %q was a %s command, not %s", m.RequestID, cmd.Name, m.Command)}
	}
	s.millis(MetricSyncLatency, in.now.Sub(cmd.CreatedAt))
	completion := Completion{State: CommandSucceeded, Result: m.Result, At: in.now}
	var dataErr error
	if m.Success {
		dataErr = s.storeResult(ctx, in, cmd, m.Result)
		var perr *protocol.Error
		if errors.As(dataErr, &perr) {
			completion = Completion{State: CommandFailed, Error: "invalid result: " + perr.Message, At: in.now}
		} else if dataErr != nil {
			return dataErr
		}
	} else {
		completion = Completion{State: CommandFailed, Error: m.Error, Result: m.Result, At: in.now}
		if completion.Error == "" {
			completion.Error = "terminal reported failure"
		}
	}
	if len(completion.Result) > maxResultBytes {
		completion.Result = nil // the data itself is stored where it belongs; keep the record small
	}
	err = s.store.CompleteCommand(ctx, in.terminalID, m.RequestID, completion)
	switch {
	case errors.Is(err, ErrConflict):
		slog.InfoContext(ctx, "late or repeated command response", "terminal", in.terminalID, "request", m.RequestID, "command", m.Command)
	case err != nil:
		return fmt.Errorf("complete command %s: %w", m.RequestID, err)
	}
	return dataErr
}

// maxResultBytes bounds the result kept on a command record (DynamoDB items
// are at most 400 KB; results are stored in their own items anyway).
const maxResultBytes = 64 * 1024

func (s *Service) storeResult(ctx context.Context, in inbound, cmd Command, result json.RawMessage) error {
	switch cmd.Name {
	case protocol.CommandGetConfig:
		if !protocol.IsObject(result) {
			return &protocol.Error{Code: protocol.CodeInvalid, Message: `get_config: "result" must be a JSON object`}
		}
		snap := Snapshot{Data: compact(result), SyncedAt: in.now}
		snap.Version = ConfigVersion(snap.Data)
		if err := s.store.PutConfig(ctx, in.terminalID, snap); err != nil {
			return fmt.Errorf("store config for %s: %w", in.terminalID, err)
		}
	case protocol.CommandGetStatus:
		return s.status(ctx, in, result)
	case protocol.CommandGetLogs:
		var r protocol.GetLogsResult
		if err := json.Unmarshal(result, &r); err != nil {
			return &protocol.Error{Code: protocol.CodeInvalid, Message: `get_logs: "result" must be {"entries": [...]}: ` + err.Error()}
		}
		entries, err := protocol.InflateEntries(r.Encoding, r.Entries, r.Data)
		if err != nil {
			return err
		}
		if len(entries) == 0 {
			return nil
		}
		if err := protocol.ValidateEntries(entries); err != nil {
			return err
		}
		return s.storeLogs(ctx, in, entries, r.Dropped)
	case protocol.CommandSetConfig:
		// The terminal runs a new config: pull it so the reported copy
		// follows. The set_config succeeded whatever happens to this pull
		// (a stale config read refreshes it later), so a failure here is
		// logged, never allowed to keep the command from completing.
		getConfig := s.newCommand(in.terminalID, protocol.CommandGetConfig, nil, "system:set_config", in.now, 0)
		err := s.store.PutCommands(ctx, getConfig)
		if err == nil {
			err = s.send(ctx, in.terminalID, in.connID, getConfig.message())
		}
		if err != nil {
			slog.WarnContext(ctx, "pull config after set_config", "terminal", in.terminalID, "error", err)
		}
	}
	return nil
}

// ConfigVersion names a config document: the first 12 hex digits of the
// SHA-256 of its compact JSON.
func ConfigVersion(doc json.RawMessage) string {
	sum := sha256.Sum256(compact(doc))
	return hex.EncodeToString(sum[:6])
}

func compact(raw json.RawMessage) json.RawMessage {
	var out bytes.Buffer
	if err := json.Compact(&out, raw); err != nil {
		return raw
	}
	return out.Bytes()
}

// logs stores a batch and the status report it may carry, then acks it
// (with Status set when it carried one). A carried status moves LastSeen
// like a status message, so no touch is needed then.
func (s *Service) logs(ctx context.Context, in inbound, m *protocol.Logs) error {
	ack := protocol.Ack{Type: protocol.TypeAck, Of: protocol.TypeLogs, FirstSeq: m.Entries[0].Seq, LastSeq: m.Entries[len(m.Entries)-1].Seq}
	if m.Status != nil {
		if err := s.storeLogsStatus(ctx, in, m); err != nil {
			return err
		}
		ack.Status = true
	} else if err := s.storeLogs(ctx, in, m.Entries, m.Dropped); err != nil {
		return err
	}
	if err := s.send(ctx, in.terminalID, in.connID, ack); err != nil {
		return err
	}
	if m.Status != nil {
		return nil
	}
	return s.touch(ctx, in, "")
}

func (s *Service) storeLogs(ctx context.Context, in inbound, entries []protocol.LogEntry, dropped uint64) error {
	chunk := s.chunk(in, entries)
	if err := s.store.PutLogChunk(ctx, chunk, dropped); err != nil {
		return fmt.Errorf("store logs %d..%d for %s: %w", chunk.FirstSeq, chunk.LastSeq, in.terminalID, err)
	}
	s.logsStored(in, entries)
	return nil
}

// storeLogsStatus stores a batch and the status report it carries, in one
// store call when the store can (LogStatusStore).
func (s *Service) storeLogsStatus(ctx context.Context, in inbound, m *protocol.Logs) error {
	ls, ok := s.store.(LogStatusStore)
	if !ok {
		if err := s.storeLogs(ctx, in, m.Entries, m.Dropped); err != nil {
			return err
		}
		return s.status(ctx, in, m.Status)
	}
	if !protocol.IsObject(m.Status) {
		return &protocol.Error{Code: protocol.CodeInvalid, Message: "status must be a JSON object"}
	}
	chunk := s.chunk(in, m.Entries)
	snap := Snapshot{Data: compact(m.Status), SyncedAt: in.now}
	if err := ls.PutLogChunkStatus(ctx, chunk, m.Dropped, snap, in.now.Add(s.cfg.StatusRetention)); err != nil {
		return fmt.Errorf("store logs %d..%d and status for %s: %w", chunk.FirstSeq, chunk.LastSeq, in.terminalID, err)
	}
	s.logsStored(in, m.Entries)
	s.touched.Store(in.connID, in.now)
	return nil
}

func (s *Service) chunk(in inbound, entries []protocol.LogEntry) LogChunk {
	return LogChunk{
		TerminalID: in.terminalID,
		FirstSeq:   entries[0].Seq,
		LastSeq:    entries[len(entries)-1].Seq,
		Entries:    entries,
		StoredAt:   in.now,
		ExpiresAt:  in.now.Add(s.cfg.LogRetention),
	}
}

func (s *Service) logsStored(in inbound, entries []protocol.LogEntry) {
	s.metrics.Record(MetricLogLines, float64(len(entries)), UnitCount)
	// The newest line's delay stands for the batch: older ones waited for it.
	s.millis(MetricLogDelay, in.now.Sub(entries[len(entries)-1].Time))
}

func (s *Service) status(ctx context.Context, in inbound, data json.RawMessage) error {
	if !protocol.IsObject(data) {
		return &protocol.Error{Code: protocol.CodeInvalid, Message: "status must be a JSON object"}
	}
	snap := Snapshot{Data: compact(data), SyncedAt: in.now}
	if err := s.store.PutStatus(ctx, in.terminalID, snap, in.now.Add(s.cfg.StatusRetention)); err != nil {
		return fmt.Errorf("store status for %s: %w", in.terminalID, err)
	}
	s.touched.Store(in.connID, in.now)
	return nil
}

// touch moves LastSeen forward, writing at most once per half heartbeat
// interval per connection (log batches can arrive many times a second).
func (s *Service) touch(ctx context.Context, in inbound, agentVersion string) error {
	if last, ok := s.touched.Load(in.connID); ok && in.now.Sub(last.(time.Time)) < s.cfg.HeartbeatInterval/2 && agentVersion == "" {
		return nil
	}
	if err := s.store.Touch(ctx, in.terminalID, in.now, agentVersion); err != nil {
		return fmt.Errorf("touch %s: %w", in.terminalID, err)
	}
	s.touched.Store(in.connID, in.now)
	return nil
}
