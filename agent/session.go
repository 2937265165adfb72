package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/coder/websocket"

	"github.com/edgesync/edgesync/agent/batch"
	"github.com/edgesync/edgesync/protocol"
)

type endReason int

const (
	endLost    endReason = iota // the connection failed
	endRecycle                  // closed on purpose to reconnect at once
	endStopped                  // closed by Shutdown
)

type sessionEnd struct {
	reason  endReason
	err     error
	healthy bool
}

// flight is a logs message awaiting its ack.
type flight struct {
	first, last uint64
	sentAt      time.Time
	// suspect: in flight when the server rejected an unidentified message
	// as invalid; it will be resent alone to find out.
	suspect bool
	// solo: sent alone, so an unidentified rejection is about it.
	solo bool
	// status: the message carries a status report (Logs.Status).
	status bool
}

// span is a range of sequence numbers to send again.
type span struct {
	first, last uint64
	suspect     bool
}

// session is one connection's state. Only its own goroutine touches it.
type session struct {
	a    *Agent
	conn *websocket.Conn
	cfg  Config
	log  *slog.Logger

	inflight map[uint64]*flight // by first seq
	resend   []span
	nextSend uint64 // lowest seq never sent on this connection

	// unsentSince is when unsent lines were first noticed (zero: none).
	unsentSince time.Time
	window      *time.Timer
	windowDue   time.Time // when window fires
	flushedMark int64     // a.appended at the last send of new lines
	// flushNow sends unsent lines whatever their window (a status report
	// falling due, a live hint).
	flushNow bool

	// Status reports: every StatusInterval, riding in a logs message when
	// lines are waiting (or in the last quarter of the interval) and the
	// server stores them there, on their own otherwise.
	statusTimer  *time.Timer
	lastStatus   time.Time
	wantStatus   bool // a report is due: the next new-lines message carries it
	statusInLogs statusSupport

	healthy   bool
	started   time.Time
	lastWrite time.Time

	closing *closing
}

// closing is a session winding down: it stops when nothing is in flight
// (and, when draining, nothing is left to send) or at the deadline.
type closing struct {
	reason   endReason
	why      string
	drain    bool // send everything first (Shutdown)
	deadline <-chan time.Time
	ctxDone  <-chan struct{}
}

// statusSupport is what the agent knows of the server's handling of a
// status report inside a logs message.
type statusSupport int

const (
	statusUntried    statusSupport = iota // not tried on this connection
	statusCarried                         // acked with status: stored
	statusNotCarried                      // acked without: an older server
)

// errServerClosed wraps the close frame of a connection the server closed.
var errServerClosed = errors.New("server closed the connection")

func (a *Agent) runSession(ctx context.Context, conn *websocket.Conn, cfg Config) sessionEnd {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a.sessions.Add(1)
	a.connected.Store(true)
	a.prog.connectedSince.Store(time.Now().UnixNano())
	a.mark(&a.prog.moved)
	a.setLastError(nil)
	defer func() {
		a.connected.Store(false)
		a.prog.connectedSince.Store(0)
	}()

	st := a.spool.Stats()
	s := &session{
		a:        a,
		conn:     conn,
		cfg:      cfg,
		log:      a.log,
		inflight: map[uint64]*flight{},
		nextSend: st.NextSeq,
		started:  time.Now(),
	}
	if st.FirstSeq != 0 {
		// Everything held is unacknowledged: send it all again now.
		s.nextSend = st.FirstSeq
		s.unsentSince = time.Unix(0, 0)
	}
	s.flushedMark = a.appended.Load()

	msgs := make(chan []byte)
	readErr := make(chan error, 1)
	go func() {
		for {
			typ, data, err := conn.Read(sctx)
			if err != nil {
				readErr <- err
				return
			}
			if typ != websocket.MessageText {
				continue
			}
			select {
			case msgs <- data:
			case <-sctx.Done():
				return
			}
		}
	}()

	end := s.loop(sctx, msgs, readErr)
	end.healthy = end.healthy || s.healthy || time.Since(s.started) >= HealthyAfter
	if end.reason == endLost {
		conn.CloseNow()
	}
	return end
}

func (s *session) loop(ctx context.Context, msgs <-chan []byte, readErr <-chan error) sessionEnd {
	a := s.a
	lost := func(err error) sessionEnd {
		if ctx.Err() != nil {
			return sessionEnd{reason: endLost, err: ctx.Err()}
		}
		if status := websocket.CloseStatus(err); status != -1 {
			err = fmt.Errorf("%w (status %d)", errServerClosed, status)
		}
		return sessionEnd{reason: endLost, err: err}
	}
	hello := protocol.Hello{
		Type:          protocol.TypeHello,
		TerminalID:    s.cfg.TerminalID,
		AgentVersion:  a.opts.version,
		Capabilities:  Capabilities,
		LastAckSeq:    a.spool.Stats().LastAckSeq,
		ConfigVersion: a.ConfigVersion(),
		RequestID:     helloRequestID,
	}
	if err := s.send(ctx, hello); err != nil {
		s.salvage(msgs, readErr)
		return lost(err)
	}
	s.log.Info("connected", "server_url", s.cfg.ServerURL, "spooled_lines", a.spool.Stats().Lines)

	s.statusTimer = time.NewTimer(s.cfg.StatusInterval.Duration())
	defer s.statusTimer.Stop()
	s.lastStatus = time.Now()
	heartbeat := time.NewTicker(s.cfg.HeartbeatInterval.Duration())
	defer heartbeat.Stop()
	ackCheck := time.NewTicker(ackCheckEvery(s.cfg))
	defer ackCheck.Stop()
	// Spread reconnects of a fleet over the last tenth of the age limit.
	age := s.cfg.MaxConnectionAge.Duration()
	maxAge := time.NewTimer(age - time.Duration(rand.Float64()*float64(age)/10))
	defer maxAge.Stop()
	defer func() {
		if s.window != nil {
			s.window.Stop()
		}
	}()

	if err := s.pump(ctx); err != nil {
		s.salvage(msgs, readErr)
		return lost(err)
	}
	stopping := a.stopping
	for {
		if s.closing != nil && s.closed() {
			return s.finish(ctx, "")
		}
		var deadline <-chan time.Time
		var ctxDone <-chan struct{}
		if s.closing != nil {
			deadline, ctxDone = s.closing.deadline, s.closing.ctxDone
		}
		var window <-chan time.Time
		if s.window != nil {
			window = s.window.C
		}
		var err error
		select {
		case <-ctx.Done():
			return sessionEnd{reason: endLost, err: ctx.Err()}
		case err = <-readErr:
			return lost(err)
		case data := <-msgs:
			s.healthy = true
			err = s.handle(ctx, data)
		case <-a.newLines:
			err = s.onNewLines(ctx)
		case <-window:
			s.window = nil
			err = s.pump(ctx)
		case <-ackCheck.C:
			err = s.checkAcks(ctx)
		case <-s.statusTimer.C:
			err = s.statusDue(ctx)
		case <-heartbeat.C:
			// Any message keeps the connection and last-seen time current;
			// a heartbeat is only needed when nothing else went out, and
			// no status report is about to.
			if time.Since(s.lastWrite) >= s.cfg.HeartbeatInterval.Duration() && !s.statusImminent() {
				err = s.send(ctx, protocol.Heartbeat{Type: protocol.TypeHeartbeat})
			}
		case <-maxAge.C:
			s.startClosing(endRecycle, "max connection age", false, nil)
		case <-stopping:
			stopping = nil
			s.startClosing(endStopped, "agent shutting down", true, a.drainCtx)
			if err = a.Sync(a.drainCtx); err == nil {
				err = s.pump(ctx)
			}
			if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				err = nil // the deadline case below ends the session
			}
		case <-a.cfgChanged:
			err = s.applyConfig()
		case <-deadline:
			return s.finish(ctx, "timed out waiting for acknowledgements")
		case <-ctxDone:
			return s.finish(ctx, "shutdown deadline reached")
		}
		if err != nil {
			if errors.Is(err, errRecycle) {
				s.startClosing(endRecycle, "configuration changed", false, nil)
				continue
			}
			s.salvage(msgs, readErr)
			return lost(err)
		}
	}
}

// salvage processes the acks the server sent before the connection failed
// on our side (a write error): they are still true, and taking them spares
// resending those lines. It returns when the reader reports the end of the
// connection, or after a second.
func (s *session) salvage(msgs <-chan []byte, readErr <-chan error) {
	timeout := time.NewTimer(time.Second)
	defer timeout.Stop()
	for {
		select {
		case data := <-msgs:
			var ack protocol.Ack
			if json.Unmarshal(data, &ack) == nil && ack.Type == protocol.TypeAck && ack.Of == protocol.TypeLogs &&
				ack.FirstSeq > 0 && ack.LastSeq >= ack.FirstSeq {
				if n, err := s.a.spool.Ack(ack.FirstSeq, ack.LastSeq); err != nil {
					s.log.Error("record ack", "err", err)
				} else {
					s.a.acked(n)
				}
			}
		case <-readErr:
			return
		case <-timeout.C:
			return
		}
	}
}

// errRecycle asks the loop to reconnect (the connection settings changed).
var errRecycle = errors.New("reconnect required")

func ackCheckEvery(cfg Config) time.Duration {
	return min(max(cfg.AckTimeout.Duration()/4, 10*time.Millisecond), time.Second)
}

func (s *session) startClosing(reason endReason, why string, drain bool, ctx context.Context) {
	if s.closing != nil {
		if reason == endStopped {
			// Shutdown overrides a recycle in progress.
			s.closing.reason, s.closing.why, s.closing.drain = reason, why, true
			s.closing.ctxDone = ctx.Done()
		}
		return
	}
	c := &closing{reason: reason, why: why, drain: drain}
	if ctx != nil {
		c.ctxDone = ctx.Done()
	} else {
		// Give in-flight batches one ack timeout to be acknowledged.
		c.deadline = time.After(s.cfg.AckTimeout.Duration())
	}
	s.closing = c
	s.log.Info("closing connection", "reason", why)
}

// closed reports whether a closing session has nothing left to wait for.
func (s *session) closed() bool {
	if len(s.inflight) > 0 {
		return false
	}
	if !s.closing.drain {
		return true
	}
	return len(s.resend) == 0 && !s.hasUnsent()
}

// finish closes the connection normally and ends the session.
func (s *session) finish(ctx context.Context, note string) sessionEnd {
	why := s.closing.why
	if note != "" {
		why += "; " + note
		s.log.Warn("closing with lines unacknowledged; they stay in the spool", "reason", why, "spooled_lines", s.a.spool.Stats().Lines)
	}
	if err := s.conn.Close(websocket.StatusNormalClosure, truncateReason(why)); err != nil {
		s.log.Debug("close", "err", err)
	}
	return sessionEnd{reason: s.closing.reason, healthy: true}
}

func truncateReason(s string) string {
	if len(s) > 120 { // close reasons are limited to 123 bytes
		return s[:120]
	}
	return s
}

// send encodes and writes one message.
func (s *session) send(ctx context.Context, msg any) error {
	body, err := protocol.Encode(msg)
	if err != nil {
		return fmt.Errorf("encode message: %w", err)
	}
	return s.write(ctx, body)
}

func (s *session) write(ctx context.Context, body []byte) error {
	wctx, cancel := context.WithTimeout(ctx, s.cfg.WebSocketTimeout.Duration())
	defer cancel()
	if err := s.conn.Write(wctx, websocket.MessageText, body); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	s.lastWrite = time.Now()
	return nil
}

// statusDue sends the status report that fell due, and the lines waiting
// for their window: in one logs message when the server stores reports
// there, else each on its own. Lines therefore never wait longer than a
// status interval.
func (s *session) statusDue(ctx context.Context) error {
	if s.closing == nil && !s.isolating() && len(s.inflight) < s.a.opts.maxInflight && s.hasUnsent() {
		s.wantStatus, s.flushNow = true, true
		err := s.pump(ctx)
		s.flushNow = false
		if err != nil || !s.wantStatus {
			s.wantStatus = false
			return err // sent with the lines (or the connection failed)
		}
	}
	s.wantStatus = false
	return s.sendStatus(ctx)
}

// sendStatus sends a status message.
func (s *session) sendStatus(ctx context.Context) error {
	raw, err := s.statusReport(ctx)
	if err != nil {
		return err
	}
	if err := s.send(ctx, protocol.Status{Type: protocol.TypeStatus, Status: raw}); err != nil {
		return err
	}
	s.statusSent()
	return nil
}

func (s *session) statusReport(ctx context.Context) (json.RawMessage, error) {
	raw, err := json.Marshal(s.a.Status(ctx))
	if err != nil {
		return nil, fmt.Errorf("encode status: %w", err)
	}
	return raw, nil
}

// statusImminent reports whether the next status report is due within
// the heartbeat slack: with status_interval equal to heartbeat_interval
// (both 30 s by default) the two timers meet, and the report does the
// heartbeat's work.
func (s *session) statusImminent() bool {
	return time.Until(s.lastStatus.Add(s.cfg.StatusInterval.Duration())) <= heartbeatSlack
}

// heartbeatSlack is how soon a status report must be due to replace a heartbeat.
const heartbeatSlack = time.Second

// statusSent restarts the status interval.
func (s *session) statusSent() {
	s.wantStatus = false
	s.lastStatus = time.Now()
	s.statusTimer.Reset(s.cfg.StatusInterval.Duration())
}

// carryStatus reports whether the next new-lines message should carry a
// status report: one is due, or falls due within a quarter interval, and
// the server is not known to ignore it.
func (s *session) carryStatus() bool {
	if s.statusInLogs == statusNotCarried {
		return false
	}
	interval := s.cfg.StatusInterval.Duration()
	return s.wantStatus || time.Since(s.lastStatus) >= interval-interval/4
}

// statusAcked learns from the ack of a message that carried a status
// report whether the server stored it; if not (an older server), the
// report goes on its own now and every later one too.
func (s *session) statusAcked(ctx context.Context, stored bool) error {
	if stored {
		s.statusInLogs = statusCarried
		return nil
	}
	if s.statusInLogs != statusNotCarried {
		s.log.Info("server does not store status reports sent with logs; sending them on their own")
	}
	s.statusInLogs = statusNotCarried
	return s.sendStatus(ctx)
}

// batchWindow is how long new lines gather now: the live window for a
// while after a live hint, the idle window otherwise.
func (s *session) batchWindow() time.Duration {
	live := time.Duration(s.cfg.BatchWindowMS) * time.Millisecond
	if s.a.isLive() {
		return live
	}
	return max(live, time.Duration(s.cfg.IdleBatchWindowMS)*time.Millisecond)
}

// armWindow makes the window timer fire when the unsent lines are due.
func (s *session) armWindow() {
	if s.unsentSince.IsZero() || s.closing != nil {
		return
	}
	due := s.unsentSince.Add(s.batchWindow())
	if s.window != nil {
		if s.windowDue.Equal(due) {
			return
		}
		s.window.Stop()
	}
	s.window, s.windowDue = time.NewTimer(max(time.Until(due), 0)), due
}

// onLive handles the server's live hint: lines go within the live window
// for the given time, and those waiting now go at once.
func (s *session) onLive(ctx context.Context, l protocol.Live) error {
	if l.Seconds <= 0 {
		return nil
	}
	d := time.Duration(min(l.Seconds, protocol.MaxLiveSeconds)) * time.Second
	s.a.goLive(d)
	s.log.Debug("live: an operator is reading the logs", "seconds", int(d/time.Second))
	if !s.hasUnsent() {
		return nil
	}
	s.flushNow = true
	err := s.pump(ctx)
	s.flushNow = false
	return err
}

// hasUnsent reports whether the spool holds lines never sent on this
// connection.
func (s *session) hasUnsent() bool {
	st := s.a.spool.Stats()
	return st.Lines > 0 && s.nextSend < st.NextSeq
}

// onNewLines starts the batch window, or sends at once when enough bytes
// are waiting to fill a message.
func (s *session) onNewLines(ctx context.Context) error {
	if s.unsentSince.IsZero() {
		s.unsentSince = time.Now()
	}
	window := s.batchWindow()
	if s.a.appended.Load()-s.flushedMark >= int64(s.cfg.BatchMaxBytes) || window <= 0 ||
		time.Since(s.unsentSince) >= window {
		return s.pump(ctx)
	}
	s.armWindow()
	return nil
}

// newAllowed reports whether unsent lines may go now: their window has
// passed, a message's worth is waiting, or the session is draining.
func (s *session) newAllowed() bool {
	if s.closing != nil {
		return s.closing.drain
	}
	if s.flushNow {
		return true
	}
	if s.unsentSince.IsZero() {
		return false
	}
	return time.Since(s.unsentSince) >= s.batchWindow() || s.a.appended.Load()-s.flushedMark >= int64(s.cfg.BatchMaxBytes)
}

// isolating reports whether batches are being resent one at a time to find
// the one the server rejects.
func (s *session) isolating() bool {
	for _, f := range s.inflight {
		if f.suspect || f.solo {
			return true
		}
	}
	for _, sp := range s.resend {
		if sp.suspect {
			return true
		}
	}
	return false
}

// pump sends what may be sent: resends first, then new lines, within the
// in-flight limit; while isolating, one suspect batch at a time only.
func (s *session) pump(ctx context.Context) error {
	a := s.a
	if s.isolating() {
		if len(s.inflight) > 0 {
			return nil
		}
		for i := 0; i < len(s.resend); i++ {
			sp := s.resend[i]
			if !sp.suspect {
				continue
			}
			s.resend = slices.Delete(s.resend, i, i+1)
			sent, err := s.sendRange(ctx, sp, true)
			if err != nil || sent {
				return err
			}
			i-- // nothing left of it; look at the next one
		}
		return nil
	}
	for len(s.inflight) < a.opts.maxInflight && len(s.resend) > 0 {
		sp := s.resend[0]
		s.resend = s.resend[1:]
		if _, err := s.sendRange(ctx, sp, false); err != nil {
			return err
		}
	}
	if !s.newAllowed() {
		s.armWindow()
		return nil
	}
	if s.window != nil {
		s.window.Stop()
		s.window = nil
	}
	s.flushedMark = a.appended.Load()
	for len(s.inflight) < a.opts.maxInflight {
		st := a.spool.Stats()
		if st.Lines == 0 || s.nextSend >= st.NextSeq {
			s.unsentSince = time.Time{}
			return nil
		}
		from := max(s.nextSend, st.FirstSeq)
		entries, err := a.spool.Read(from, from+protocol.MaxBatchSpan-1, readBudget(s.cfg))
		if err != nil {
			return err
		}
		if len(entries) == 0 {
			s.nextSend = from + protocol.MaxBatchSpan
			continue
		}
		var status json.RawMessage
		if s.carryStatus() {
			if status, err = s.statusReport(ctx); err != nil {
				return err
			}
		}
		msg, err := batch.PackStatus(entries, st.Dropped, status, s.cfg.BatchMaxBytes)
		if err != nil {
			return err
		}
		if err := s.sendBatch(ctx, msg, false); err != nil {
			return err
		}
		if msg.Status {
			s.statusSent()
		}
		s.nextSend = msg.LastSeq + 1
	}
	// The in-flight limit stopped us: acks will resume (unsentSince stays).
	return nil
}

// readBudget is how many stored bytes to read for one message: enough for
// a message's worth even at a high compression ratio.
func readBudget(cfg Config) int { return cfg.BatchMaxBytes * 16 }

// sendRange sends again what the spool still holds of sp. Alone, it sends
// only the first message and puts the rest back (as suspect); otherwise it
// sends it all. It reports whether it sent anything.
func (s *session) sendRange(ctx context.Context, sp span, alone bool) (bool, error) {
	a := s.a
	entries, err := a.spool.Read(sp.first, sp.last, int(^uint(0)>>1))
	if err != nil || len(entries) == 0 {
		return false, err
	}
	msgs, err := batch.PackAll(entries, a.spool.Stats().Dropped, s.cfg.BatchMaxBytes)
	if err != nil {
		return false, err
	}
	if alone {
		if msgs[0].LastSeq < sp.last {
			s.resend = slices.Insert(s.resend, 0, span{first: msgs[0].LastSeq + 1, last: sp.last, suspect: true})
		}
		return true, s.sendBatch(ctx, msgs[0], true)
	}
	for _, m := range msgs {
		if err := s.sendBatch(ctx, m, false); err != nil {
			return true, err
		}
	}
	return true, nil
}

func (s *session) sendBatch(ctx context.Context, m batch.Message, solo bool) error {
	if err := s.write(ctx, m.Body); err != nil {
		return err
	}
	s.inflight[m.FirstSeq] = &flight{first: m.FirstSeq, last: m.LastSeq, sentAt: time.Now(), solo: solo, status: m.Status}
	s.log.Debug("sent logs", "first_seq", m.FirstSeq, "last_seq", m.LastSeq, "lines", m.Lines, "bytes", len(m.Body), "gzip", m.Gzip, "status", m.Status)
	return nil
}

// checkAcks moves batches whose ack is overdue to the resend list.
func (s *session) checkAcks(ctx context.Context) error {
	timeout := s.cfg.AckTimeout.Duration()
	var expired []*flight
	for _, f := range s.inflight {
		if time.Since(f.sentAt) >= timeout {
			expired = append(expired, f)
		}
	}
	if len(expired) == 0 {
		return nil
	}
	slices.SortFunc(expired, func(x, y *flight) int { return cmpUint(x.first, y.first) })
	for _, f := range expired {
		delete(s.inflight, f.first)
		// A solo batch that timed out had its chance to be rejected.
		s.resend = append(s.resend, span{first: f.first, last: f.last, suspect: f.suspect && !f.solo})
	}
	slices.SortFunc(s.resend, func(x, y span) int { return cmpUint(x.first, y.first) })
	s.log.Info("logs not acknowledged in time; resending", "batches", len(expired), "ack_timeout", timeout)
	return s.pump(ctx)
}

func cmpUint(x, y uint64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// handle processes one message from the server.
func (s *session) handle(ctx context.Context, data []byte) error {
	var env struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(data, &env); err != nil {
		s.log.Warn("ignoring malformed message from server", "err", err)
		return nil
	}
	switch env.Type {
	case protocol.TypeCommand:
		var cmd protocol.Command
		if err := json.Unmarshal(data, &cmd); err != nil {
			s.log.Warn("ignoring malformed command", "err", err)
			return nil
		}
		return s.command(ctx, cmd)
	case protocol.TypeAck:
		var ack protocol.Ack
		if err := json.Unmarshal(data, &ack); err != nil {
			s.log.Warn("ignoring malformed ack", "err", err)
			return nil
		}
		if ack.Of != protocol.TypeLogs || ack.FirstSeq == 0 || ack.LastSeq < ack.FirstSeq {
			return nil
		}
		return s.onAck(ctx, ack)
	case protocol.TypeLive:
		var l protocol.Live
		if err := json.Unmarshal(data, &l); err != nil {
			s.log.Warn("ignoring malformed live hint", "err", err)
			return nil
		}
		return s.onLive(ctx, l)
	case protocol.TypeError:
		var e protocol.ErrorMessage
		if err := json.Unmarshal(data, &e); err != nil {
			s.log.Warn("ignoring malformed error message", "err", err)
			return nil
		}
		if first, last, ok := batch.ParseRequestID(e.RequestID); ok {
			return s.onBatchError(ctx, e, first, last)
		}
		return s.onError(ctx, e)
	default:
		s.log.Debug("ignoring message of unknown type", "type", env.Type)
		return nil
	}
}

func (s *session) onAck(ctx context.Context, ack protocol.Ack) error {
	n, err := s.a.spool.Ack(ack.FirstSeq, ack.LastSeq)
	if err != nil {
		return err
	}
	s.a.acked(n)
	carried := false
	for k, f := range s.inflight {
		if f.first >= ack.FirstSeq && f.last <= ack.LastSeq {
			carried = carried || f.status
			delete(s.inflight, k)
		}
	}
	if carried {
		if err := s.statusAcked(ctx, ack.Status); err != nil {
			return err
		}
	}
	return s.pump(ctx)
}

// permanent reports whether a rejection will never change on resend.
func permanent(code string) bool {
	switch code {
	case protocol.CodeInvalid, protocol.CodeTooLarge, protocol.CodeBadJSON, protocol.CodeUnknownType:
		return true
	}
	return false
}

// helloRequestID marks the hello so that an error about it can be told
// from the others.
const helloRequestID = "hello"

// errHelloFailed ends a session whose hello the server failed to process:
// no pull will come on it, so the agent reconnects and says hello again.
var errHelloFailed = errors.New("server failed to process the hello")

// errForbidden ends a session the server refused to act on.
var errForbidden = errors.New("server refused the connection's messages (forbidden)")

// onBatchError handles an error about the batch first..last (named by the
// request_id the server echoed).
func (s *session) onBatchError(ctx context.Context, e protocol.ErrorMessage, first, last uint64) error {
	if e.Code == protocol.CodeForbidden {
		return s.onError(ctx, e)
	}
	if !permanent(e.Code) {
		s.log.Warn("server failed to store logs; they will be resent", "first_seq", first, "last_seq", last, "code", e.Code, "message", e.Message)
		return nil
	}
	return s.rejected(ctx, e, first, last)
}

// rejected handles a permanent rejection of the lines first..last: a
// single line is dropped (counted as dropped-invalid); a longer batch is
// split in two and each half resent alone, so that only the offending
// lines are finally dropped.
func (s *session) rejected(ctx context.Context, e protocol.ErrorMessage, first, last uint64) error {
	for k, f := range s.inflight {
		if f.first >= first && f.last <= last {
			delete(s.inflight, k)
		}
	}
	entries, err := s.a.spool.Read(first, last, int(^uint(0)>>1))
	if err != nil {
		return err
	}
	if len(entries) > 1 {
		mid := len(entries) / 2
		halves := []span{
			{first: entries[0].Seq, last: entries[mid-1].Seq, suspect: true},
			{first: entries[mid].Seq, last: entries[len(entries)-1].Seq, suspect: true},
		}
		s.resend = append(halves, s.resend...)
		s.log.Warn("server rejected a batch for good; resending its halves alone to find the bad lines",
			"first_seq", first, "last_seq", last, "code", e.Code, "message", e.Message)
		return s.pump(ctx)
	}
	n, err := s.a.spool.DropInvalid(first, last)
	if err != nil {
		return err
	}
	if n > 0 {
		s.log.Error("server rejected a log line for good; dropped it", "seq", entries[0].Seq, "code", e.Code, "message", e.Message)
	}
	return s.pump(ctx)
}

// onError handles an error message that does not say which message it is
// about.
func (s *session) onError(ctx context.Context, e protocol.ErrorMessage) error {
	switch {
	case e.Code == protocol.CodeForbidden:
		// Another terminal's id, or a connection the server no longer knows.
		s.log.Error("server refused a message; reconnecting", "code", e.Code, "message", e.Message)
		return fmt.Errorf("%w: %s", errForbidden, e.Message)
	case e.RequestID == helloRequestID:
		s.log.Error("server failed to process the hello; reconnecting", "code", e.Code, "message", e.Message)
		return fmt.Errorf("%w: %s", errHelloFailed, e.Message)
	case e.RequestID != "":
		s.log.Error("server rejected a command response", "request_id", e.RequestID, "code", e.Code, "message", e.Message)
		return nil
	case !permanent(e.Code):
		s.log.Warn("server failed to process a message; unacknowledged logs will be resent", "code", e.Code, "message", e.Message)
		return nil
	}
	if len(s.inflight) == 1 {
		for _, f := range s.inflight {
			if f.solo {
				return s.rejected(ctx, e, f.first, f.last)
			}
		}
	}
	if len(s.inflight) == 0 {
		s.log.Error("server rejected a message", "code", e.Code, "message", e.Message)
		return nil
	}
	for _, f := range s.inflight {
		f.suspect = true
	}
	s.log.Warn("server rejected a message; resending in-flight logs one batch at a time to find it",
		"code", e.Code, "message", e.Message, "batches", len(s.inflight))
	return nil
}

// applyConfig takes a replaced configuration into the session.
func (s *session) applyConfig() error {
	cfg := s.a.Config()
	old := s.cfg
	s.cfg = cfg
	if !old.sameConnection(cfg) || old.WebSocketTimeout != cfg.WebSocketTimeout ||
		old.StatusInterval != cfg.StatusInterval || old.HeartbeatInterval != cfg.HeartbeatInterval ||
		old.AckTimeout != cfg.AckTimeout || old.MaxConnectionAge != cfg.MaxConnectionAge {
		// Connection settings and timers take effect on a new connection.
		return errRecycle
	}
	return nil
}
