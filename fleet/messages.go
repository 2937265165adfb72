package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
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
		err = s.heartbeat(ctx, in, m)
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

// Features lists the protocol features this service accepts, as its
// welcome names them (protocol.Welcome.Accepts).
var Features = []string{
	protocol.FeatureAckRequest, protocol.FeatureTypedAttrs, protocol.FeatureHelloStatus,
	protocol.FeatureStatusInLogs, protocol.FeatureSyncIncremental,
}

// hello answers a terminal's first message: a welcome to a terminal that
// understands one (with an ack of what is stored after its last
// acknowledged line), the status report the hello carries stored, and the
// pulls the hello leaves necessary: get_status unless it carried a
// report, get_config unless an incremental terminal runs the stored
// version, get_logs unless it is incremental (it delivers its spool).
func (s *Service) hello(ctx context.Context, in inbound, m *protocol.Hello) error {
	if m.TerminalID != "" && !in.from.Sees(Terminal{ID: m.TerminalID}) {
		return &protocol.Error{Code: protocol.CodeForbidden, Message: fmt.Sprintf("terminal_id %q does not match the authenticated terminal %q", m.TerminalID, in.terminalID)}
	}
	if err := s.store.Touch(ctx, in.terminalID, in.now, m.AgentVersion); err != nil {
		return fmt.Errorf("hello: touch: %w", err)
	}
	s.touched.Store(in.connID, in.now)
	if m.Status != nil {
		if err := s.status(ctx, in, m.Status); err != nil {
			return fmt.Errorf("hello: %w", err)
		}
	}
	t, err := s.store.Terminal(ctx, in.terminalID)
	if err != nil {
		return fmt.Errorf("hello: %w", err)
	}
	if slices.Contains(m.Capabilities, protocol.CapabilityWelcome) {
		w := protocol.Welcome{Type: protocol.TypeWelcome, Accepts: Features}
		from := m.AckFrom
		if from == 0 {
			from = m.LastAckSeq + 1
		}
		if from > 0 {
			last, err := s.storedThrough(ctx, t.ID, from, in.now)
			if err != nil {
				return fmt.Errorf("hello: %w", err)
			}
			if last >= from {
				w.Ack = &protocol.Ack{Type: protocol.TypeAck, Of: protocol.TypeLogs, FirstSeq: from, LastSeq: last}
			}
		}
		if err := s.send(ctx, t.ID, in.connID, w); err != nil {
			return err
		}
	}
	incremental := slices.Contains(m.Capabilities, protocol.CapabilitySyncIncremental)
	var pulls []string
	if m.Status == nil {
		pulls = append(pulls, protocol.CommandGetStatus)
	}
	if !incremental || m.ConfigVersion == "" || m.ConfigVersion != t.Config.Version {
		pulls = append(pulls, protocol.CommandGetConfig)
	}
	if !incremental {
		pulls = append(pulls, protocol.CommandGetLogs)
	}
	if len(pulls) > 0 {
		if _, err = s.pull(ctx, t.ID, in.connID, "system:hello", t.LastSeq, pulls...); err != nil {
			return err
		}
	}
	s.rolloutCatchUp(ctx, in, t) // desired vs reported: what a rollout owes it (rolloutanswers.go)
	return nil
}

// logs stores a batch and the status report it may carry, then answers as
// the message asks (protocol.Logs.Ack, AckFrom): an ack of the batch
// (with Status set when it carried a report), none, or an ack of what the
// store holds from AckFrom on. A logs message of the first protocol
// version (no Ack, no AckFrom) moves LastSeen like a heartbeat; a newer
// terminal's report (riding here or on its own) and heartbeats do that.
func (s *Service) logs(ctx context.Context, in inbound, m *protocol.Logs) error {
	if err := s.storeBatch(ctx, in, m); err != nil {
		return err
	}
	first, last := m.Entries[0].Seq, m.Entries[len(m.Entries)-1].Seq
	switch {
	case m.AckFrom > 0:
		if err := s.ackStored(ctx, in, m.AckFrom, m.RequestID, m.Status != nil); err != nil {
			return err
		}
	case m.Ack == protocol.AckDeferred:
	default:
		ack := protocol.Ack{Type: protocol.TypeAck, Of: protocol.TypeLogs, FirstSeq: first, LastSeq: last, Status: m.Status != nil}
		if err := s.send(ctx, in.terminalID, in.connID, ack); err != nil {
			return err
		}
	}
	s.alertOnErrors(ctx, in, m.Entries) // alerteval.go: no cost without error lines
	if m.Status != nil || m.Ack != "" || m.AckFrom > 0 {
		return nil
	}
	return s.touch(ctx, in, "")
}

// heartbeat moves LastSeen and, when asked, acknowledges what is stored.
func (s *Service) heartbeat(ctx context.Context, in inbound, m *protocol.Heartbeat) error {
	if err := s.touch(ctx, in, ""); err != nil {
		return err
	}
	if m.AckFrom == 0 {
		return nil
	}
	return s.ackStored(ctx, in, m.AckFrom, m.RequestID, false)
}

// ackStored sends an ack of the lines from..M the store holds without a
// gap (M = from-1 when line from is not stored).
func (s *Service) ackStored(ctx context.Context, in inbound, from uint64, requestID string, status bool) error {
	last, err := s.storedThrough(ctx, in.terminalID, from, in.now)
	if err != nil {
		return err
	}
	ack := protocol.Ack{Type: protocol.TypeAck, Of: protocol.TypeLogs, FirstSeq: from, LastSeq: last, Status: status, RequestID: requestID}
	return s.send(ctx, in.terminalID, in.connID, ack)
}

// maxAckScan bounds the chunks one acknowledgement reads: an ack then
// confirms what it found, and the terminal asks again for the rest.
const maxAckScan = 256

// storedThrough returns the highest M >= from-1 such that the store holds
// every line from..M in unexpired chunks, read from the store itself.
func (s *Service) storedThrough(ctx context.Context, terminalID string, from uint64, now time.Time) (uint64, error) {
	want, scanned := from, 0
	// Chunks come by LastSeq; one starting past want leaves a gap unless
	// a later one, starting at most MaxBatchSpan-1 below its end, covers it.
	visit := func(first, last uint64) bool {
		scanned++
		if first <= want {
			want = max(want, last+1)
		} else if last >= want+protocol.MaxBatchSpan-1 {
			return false
		}
		return scanned < maxAckScan
	}
	var err error
	if rs, ok := s.store.(LogRangeStore); ok {
		err = rs.ScanLogRanges(ctx, terminalID, from, now, visit)
	} else {
		err = s.store.ScanLogChunks(ctx, terminalID, from, false, now, func(c LogChunk) bool { return visit(c.FirstSeq, c.LastSeq) })
	}
	if err != nil {
		return 0, fmt.Errorf("find stored lines of %s from %d: %w", terminalID, from, err)
	}
	return want - 1, nil
}

// storeBatch stores a batch and the status report it may carry, in one
// store call when the store can (LogBatchStore).
func (s *Service) storeBatch(ctx context.Context, in inbound, m *protocol.Logs) error {
	bs, ok := s.store.(LogBatchStore)
	if !ok {
		if err := s.storeLogs(ctx, in, m.Entries, m.Dropped); err != nil {
			return err
		}
		if m.Status == nil {
			return nil
		}
		return s.status(ctx, in, m.Status)
	}
	b := LogBatch{Chunk: s.chunk(in, m.Entries), Dropped: m.Dropped}
	if m.Status != nil {
		if !protocol.IsObject(m.Status) {
			return &protocol.Error{Code: protocol.CodeInvalid, Message: "status must be a JSON object"}
		}
		b.Status = &Snapshot{Data: compact(m.Status), SyncedAt: in.now}
		b.StatusExpiresAt = in.now.Add(s.cfg.StatusRetention)
		b.Record = s.recordDue(in, reportInterval(b.Status.Data))
	} else if m.Ack == "" && m.AckFrom == 0 {
		// A terminal of the first protocol version has its record follow
		// every batch, as before.
		b.Record = true
	}
	if err := bs.PutLogBatch(ctx, b); err != nil {
		return chunkError(in, b.Chunk, err)
	}
	s.logsStored(in, m.Entries)
	if m.Status != nil {
		s.touched.Store(in.connID, in.now)
	}
	return nil
}

// StatusRecordEvery is about how often the terminal record's copy of a
// status reported more often is brought up to date (with LastSeq, Dropped
// and LastSeen): a report riding in a logs message is kept with its lines
// at once (readers of one terminal see it), and the record, which
// listings read, takes the first report of each half-open StatusRecordEvery
// bucket whose time in the bucket is below the reporting interval, so
// about one report a minute. A terminal reporting every StatusRecordEvery
// or less often, or saying nothing of its interval, has every report go
// to the record. See Service.StatusTTL for the promise this keeps.
const StatusRecordEvery = time.Minute

// recordDue reports whether a status report received now on in's
// connection, from a terminal reporting every interval (0: unknown), goes
// to the record: the rule of StatusRecordEvery, except that a report that
// follows one this process recorded for the connection less than
// StatusRecordEvery − interval ago does not (reports sent early, with an
// urgent line, would otherwise record twice in a bucket).
func (s *Service) recordDue(in inbound, interval time.Duration) bool {
	if interval <= 0 || interval >= StatusRecordEvery {
		return true
	}
	if in.now.Sub(in.now.Truncate(StatusRecordEvery)) >= interval {
		return false
	}
	if last, ok := s.recorded.Load(in.connID); ok && in.now.Sub(last.(time.Time)) < StatusRecordEvery-interval {
		return false
	}
	s.recorded.Store(in.connID, in.now)
	return true
}

func (s *Service) storeLogs(ctx context.Context, in inbound, entries []protocol.LogEntry, dropped uint64) error {
	chunk := s.chunk(in, entries)
	if err := s.store.PutLogChunk(ctx, chunk, dropped); err != nil {
		return chunkError(in, chunk, err)
	}
	s.logsStored(in, entries)
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
