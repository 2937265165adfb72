package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/edgesync/edgesync/protocol"
)

// HandleMessage processes one message a terminal sent on connID. Protocol
// violations are answered with an error message to the sender and are not
// returned; the returned error means the service itself failed (the
// terminal has been told to retry).
//
// The message acts for the terminal its connection is bound to, read from
// the store for every message: a connection whose binding expired
// (ConnectionTTL, or the end of its credential) or was deleted (a revoked
// credential, a deleted terminal) is answered forbidden ("reconnect") and
// closed, and nothing it sent is stored.
func (s *Service) HandleMessage(ctx context.Context, connID string, body []byte) error {
	now := s.now()
	terminalID, err := s.terminalOf(ctx, connID, now)
	if errors.Is(err, ErrNotFound) {
		s.count(MetricProtocolErrors)
		slog.WarnContext(ctx, "message on a connection without a binding; closing it", "connection", connID)
		s.replyError(ctx, connID, &protocol.Error{Code: protocol.CodeForbidden, Message: "connection is not registered; reconnect"}, "")
		s.forget(connID)
		s.closeConnection(ctx, "", connID, "no binding")
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
	in := inbound{from: TerminalPrincipal(terminalID), terminalID: terminalID, connID: connID, now: now}
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

// inbound is one message being handled: who sent it (the terminal bound
// to the connection) and when.
type inbound struct {
	from       Principal
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

func (s *Service) hello(ctx context.Context, in inbound, m *protocol.Hello) error {
	if m.TerminalID != "" && !in.from.Sees(Terminal{ID: m.TerminalID}) {
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
	if _, err = s.pull(ctx, t.ID, in.connID, "system:hello", t.LastSeq); err != nil {
		return err
	}
	s.rolloutCatchUp(ctx, in, t) // desired vs reported: what a rollout owes it (rolloutengine.go)
	return nil
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
	s.alertOnErrors(ctx, in, m.Entries) // alerteval.go: no cost without error lines
	if m.Status != nil {
		return nil
	}
	return s.touch(ctx, in, "")
}

func (s *Service) storeLogs(ctx context.Context, in inbound, entries []protocol.LogEntry, dropped uint64) error {
	chunk := s.chunk(in, entries)
	if err := s.store.PutLogChunk(ctx, chunk, dropped); err != nil {
		return chunkError(in, chunk, err)
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
		return chunkError(in, chunk, err)
	}
	s.logsStored(in, m.Entries)
	s.touched.Store(in.connID, in.now)
	return nil
}

// chunkError is the error of a failed PutLogChunk. The entries were
// validated before, so a chunk the store refuses as invalid is one it
// cannot hold (the DynamoDB store's 400 KB item limit): the terminal is
// told too_large, a permanent answer on which it resends the batch in
// halves, instead of internal (retry the same batch forever).
func chunkError(in inbound, chunk LogChunk, err error) error {
	if errors.Is(err, ErrInvalid) {
		slog.Warn("log chunk refused by the store", "terminal", in.terminalID, "firstSeq", chunk.FirstSeq, "lastSeq", chunk.LastSeq, "error", err)
		return &protocol.Error{Code: protocol.CodeTooLarge, Message: fmt.Sprintf(
			"entries %d..%d are too large to store as one chunk: send fewer lines per batch", chunk.FirstSeq, chunk.LastSeq)}
	}
	return fmt.Errorf("store logs %d..%d for %s: %w", chunk.FirstSeq, chunk.LastSeq, in.terminalID, err)
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
