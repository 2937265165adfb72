package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
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
	// deferred: sent to a server acknowledging on request, without an ack
	// of its own: a cumulative ack (ackRequest) confirms it.
	deferred bool
}

// ackRequest is an ack the session asked for (Logs.AckFrom or
// Heartbeat.AckFrom) and awaits.
type ackRequest struct {
	id     string
	from   uint64
	sentAt time.Time
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
	// idleFlush: the idle window of the unsent lines closed; they carry
	// the status report.
	idleFlush bool

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

	// What the server's welcome said (protocol.Welcome): nothing is sent
	// but the hello until it comes or welcomeWait passes (an older server
	// sends none), so a reconnect resends only what the welcome's ack
	// does not cover.
	welcomed bool
	accepts  map[string]bool
	holding  *time.Timer // fires when the wait for a welcome ends

	// Whether the server answered the last hello (answersHello), how
	// many were said on the connection, and helloRetry, which fires to
	// say it again (HelloTimeout, HelloBackoff).
	helloAnswered bool
	hellos        int
	helloRetry    *time.Timer
	// answerSent is when the last command answer went out: an error frame
	// of API Gateway soon after may be about it (see onGatewayError).
	answerSent time.Time
	// rehello is set when a lost answer calls for the hello again though
	// the first was answered; resendDue when an error frame brought the
	// next hello forward.
	rehello   bool
	resendDue bool
	// Acknowledgements on request: the ack asked for and awaited, the
	// batches sent since the last request, a request wanted as soon as
	// possible, and when to ask again for batches the last ack did not
	// cover.
	ackReq      *ackRequest
	sinceAckReq int
	wantAck     bool
	askAgainAt  time.Time
	ackSeq      uint64 // numbers heartbeat ack requests

	closing *closing
}

// welcomeWait bounds the wait for a welcome after the hello, when the
// server welcomed the connection before.
func welcomeWait(cfg Config) time.Duration {
	return min(cfg.AckTimeout.Duration(), 5*time.Second)
}

// ackEveryBatches is how many deferred batches go before the session asks
// for an ack.
const ackEveryBatches = 32

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
	welcome := slices.Contains(a.opts.capabilities, protocol.CapabilityWelcome)
	hello, err := s.newHello(ctx)
	if err != nil {
		return lost(err)
	}
	if err := s.send(ctx, hello); err != nil {
		s.salvage(msgs, readErr)
		return lost(err)
	}
	s.hellos = 1
	s.helloRetry = time.NewTimer(a.opts.helloTimeout + a.opts.helloBackoff.Delay(1, rand.Float64()))
	defer s.helloRetry.Stop()
	s.log.Info("connected", "server_url", s.cfg.ServerURL, "spooled_lines", a.spool.Stats().Lines)

	// The hello carried a report; the next comes after a random half to
	// whole interval, so that terminals connecting together (a restart of
	// the gateway, a fleet booting) do not report in step.
	interval := s.cfg.StatusInterval.Duration()
	first := interval/2 + time.Duration(rand.Int64N(int64(interval/2)+1))
	s.statusTimer = time.NewTimer(first)
	defer s.statusTimer.Stop()
	s.lastStatus = time.Now().Add(first - interval)
	if welcome && a.welcomed.Load() && hello.AckFrom != 0 {
		// The server welcomed the last connection: wait for this one's
		// welcome before resending, so that its ack spares the lines it
		// holds. (Otherwise nothing waits: an older server never welcomes.)
		s.holding = time.NewTimer(welcomeWait(s.cfg))
		defer s.holding.Stop()
	}
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
		var holding <-chan time.Time
		if s.holding != nil {
			holding = s.holding.C
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
			// Lines whose idle window closed carry the status report too,
			// which then restarts its interval: with the idle window and
			// the status interval alike (both profiles), one message per
			// interval instead of two out of step.
			s.idleFlush = !a.isLive()
			err = s.pump(ctx)
			s.idleFlush = false
		case <-s.helloRetry.C:
			err = s.sayHelloAgain(ctx)
		case <-holding:
			s.holding = nil
			a.welcomed.Store(false)
			s.log.Info("no welcome from the server; speaking the first protocol version")
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
				err = s.sendHeartbeat(ctx, s.ackDue())
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

// ackRequestPrefix starts the request id of an ack request (a heartbeat
// asking for an acknowledgement).
const ackRequestPrefix = "ack:"

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

// closed reports whether a closing session has nothing left to wait for:
// no batch awaiting its own ack, and when draining nothing left to send
// or to have confirmed. A deferred batch need not be waited for otherwise:
// it stays in the spool, and the next connection's welcome confirms it.
func (s *session) closed() bool {
	s.pruneFlights()
	if s.awaiting() > 0 {
		return false
	}
	if !s.closing.drain {
		return true
	}
	return len(s.resend) == 0 && !s.hasUnsent() && len(s.inflight) == 0
}

// pruneFlights forgets deferred batches whose lines the spool no longer
// holds (acknowledged, or dropped to make room): nothing is left to confirm.
func (s *session) pruneFlights() {
	st := s.a.spool.Stats()
	for k, f := range s.inflight {
		if f.deferred && (st.Lines == 0 || f.last < st.FirstSeq) {
			delete(s.inflight, k)
		}
	}
}

// awaiting is the number of batches awaiting an ack of their own (the
// first protocol version's, and batches resent alone to find a rejected
// one); the in-flight limit counts them.
func (s *session) awaiting() int {
	n := 0
	for _, f := range s.inflight {
		if !f.deferred {
			n++
		}
	}
	return n
}

// requestAcks reports whether the server acknowledges on request
// (protocol.FeatureAckRequest): batches then go deferred.
func (s *session) requestAcks() bool { return s.accepts[protocol.FeatureAckRequest] }

// outgoing is entries as the server takes them: attribute values typed
// only when its welcome accepts that (protocol.FeatureTypedAttrs).
func (s *session) outgoing(entries []protocol.LogEntry) []protocol.LogEntry {
	if s.accepts[protocol.FeatureTypedAttrs] {
		return entries
	}
	return protocol.Stringify(entries)
}

// ackDue reports whether the session should ask for an ack now: with a
// server acknowledging on request and none asked for already, when sent
// batches wait to be confirmed and one of these holds: a request is
// wanted (after a resend), ackEveryBatches went since the last, the
// oldest waited AckInterval, the spool passes an eighth of its bound, the
// session drains, or the time to ask again came.
func (s *session) ackDue() bool {
	if !s.requestAcks() || s.ackReq != nil {
		return false
	}
	s.pruneFlights()
	if s.wantAck {
		return true
	}
	var oldest time.Time
	n := 0
	for _, f := range s.inflight {
		if f.deferred {
			n++
			if oldest.IsZero() || f.sentAt.Before(oldest) {
				oldest = f.sentAt
			}
		}
	}
	if n == 0 {
		return false
	}
	switch {
	case s.sinceAckReq >= ackEveryBatches,
		time.Since(oldest) >= s.cfg.AckInterval.Duration(),
		s.a.spool.Stats().Bytes >= s.cfg.SpoolMaxBytes/8,
		s.closing != nil && s.closing.drain,
		!s.askAgainAt.IsZero() && !time.Now().Before(s.askAgainAt):
		return true
	}
	return false
}

// packOptions are the fields of the next logs message: with a server
// acknowledging on request, deferred or asking for an ack from the lowest
// line the spool holds.
func (s *session) packOptions(dropped uint64, status json.RawMessage) batch.Options {
	o := batch.Options{Dropped: dropped, Status: status}
	if !s.requestAcks() {
		return o
	}
	if s.ackDue() {
		if from := s.a.spool.Stats().FirstSeq; from > 0 {
			o.AckFrom = from
			return o
		}
	}
	o.Ack = protocol.AckDeferred
	return o
}

// sendHeartbeat sends a heartbeat, asking for an ack from the lowest line
// the spool holds when askAck is set.
func (s *session) sendHeartbeat(ctx context.Context, askAck bool) error {
	hb := protocol.Heartbeat{Type: protocol.TypeHeartbeat}
	if askAck {
		if from := s.a.spool.Stats().FirstSeq; from > 0 {
			s.ackSeq++
			hb.AckFrom, hb.RequestID = from, fmt.Sprintf("%s%d", ackRequestPrefix, s.ackSeq)
		}
	}
	if err := s.send(ctx, hb); err != nil {
		return err
	}
	if hb.AckFrom > 0 {
		s.asked(hb.RequestID, hb.AckFrom)
	}
	return nil
}

// asked records an ack request just sent.
func (s *session) asked(id string, from uint64) {
	s.ackReq = &ackRequest{id: id, from: from, sentAt: time.Now()}
	s.sinceAckReq, s.wantAck, s.askAgainAt = 0, false, time.Time{}
	s.log.Debug("asked for an ack", "from_seq", from, "request_id", id)
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
	if s.closing == nil && !s.isolating() && s.awaiting() < s.a.opts.maxInflight && s.hasUnsent() {
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
// status report: one is due, or half the interval has passed (a batch
// going early, with an urgent line or a full message, then saves a
// message of its own), and the server is not known to ignore it.
func (s *session) carryStatus() bool {
	if s.statusInLogs == statusNotCarried {
		return false
	}
	interval := s.cfg.StatusInterval.Duration()
	return s.wantStatus || time.Since(s.lastStatus) >= interval/2
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
		time.Since(s.unsentSince) >= window || s.urgentWaiting() {
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
	if s.flushNow || s.urgentWaiting() {
		return true
	}
	if s.unsentSince.IsZero() {
		return false
	}
	return time.Since(s.unsentSince) >= s.batchWindow() || s.a.appended.Load()-s.flushedMark >= int64(s.cfg.BatchMaxBytes)
}

// urgentWaiting reports whether a line at urgent_level or above is in the
// spool, never sent on this connection: it goes at once, with the lines
// before it.
func (s *session) urgentWaiting() bool {
	u := s.a.urgentSeq.Load()
	return u != 0 && u >= s.nextSend
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
	if s.holding != nil {
		return nil // waiting for the welcome
	}
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
	for s.awaiting() < a.opts.maxInflight && len(s.resend) > 0 {
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
	for s.awaiting() < a.opts.maxInflight {
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
		if s.carryStatus() || (s.idleFlush && s.statusInLogs != statusNotCarried) {
			if status, err = s.statusReport(ctx); err != nil {
				return err
			}
		}
		o := s.packOptions(st.Dropped, status)
		msg, err := batch.PackWith(s.outgoing(entries), o, s.cfg.BatchMaxBytes)
		if err != nil {
			return err
		}
		if err := s.sendBatch(ctx, msg, o, false); err != nil {
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
	entries = s.outgoing(entries)
	dropped := a.spool.Stats().Dropped
	if alone {
		// Acked on its own, so that a rejection is known to be about it.
		o := batch.Options{Dropped: dropped}
		m, err := batch.PackWith(entries, o, s.cfg.BatchMaxBytes)
		if err != nil {
			return false, err
		}
		if m.LastSeq < sp.last {
			s.resend = slices.Insert(s.resend, 0, span{first: m.LastSeq + 1, last: sp.last, suspect: true})
		}
		return true, s.sendBatch(ctx, m, o, true)
	}
	for len(entries) > 0 {
		o := s.packOptions(dropped, nil)
		m, err := batch.PackWith(entries, o, s.cfg.BatchMaxBytes)
		if err != nil {
			return true, err
		}
		if err := s.sendBatch(ctx, m, o, false); err != nil {
			return true, err
		}
		entries = entries[m.Lines:]
	}
	return true, nil
}

// sendBatch writes a packed logs message and tracks it: deferred when it
// asked for no ack of its own (o.Ack or o.AckFrom), awaiting its ack
// otherwise; a message asking for an ack is the awaited request.
func (s *session) sendBatch(ctx context.Context, m batch.Message, o batch.Options, solo bool) error {
	if err := s.write(ctx, m.Body); err != nil {
		return err
	}
	deferred := o.Ack == protocol.AckDeferred || o.AckFrom > 0
	s.inflight[m.FirstSeq] = &flight{first: m.FirstSeq, last: m.LastSeq, sentAt: time.Now(), solo: solo, status: m.Status, deferred: deferred}
	switch {
	case o.AckFrom > 0:
		s.asked(batch.RequestID(m.FirstSeq, m.LastSeq), o.AckFrom)
	case deferred:
		s.sinceAckReq++
	}
	if deferred {
		// Delivery progresses (Health, the watchdog) though the ack that
		// confirms these lines may come only after ack_interval.
		s.a.mark(&s.a.prog.moved)
	}
	s.log.Debug("sent logs", "first_seq", m.FirstSeq, "last_seq", m.LastSeq, "lines", m.Lines, "bytes", len(m.Body), "gzip", m.Gzip, "status", m.Status, "ack", o.Ack, "ack_from", o.AckFrom)
	return nil
}

// checkAcks moves batches whose ack is overdue to the resend list; with a
// server acknowledging on request, it also resends after an ack request
// that went unanswered, and asks for a due ack with a heartbeat when no
// batch is about to go that would carry the request.
func (s *session) checkAcks(ctx context.Context) error {
	timeout := s.cfg.AckTimeout.Duration()
	if s.requestAcks() {
		if s.ackReq != nil && time.Since(s.ackReq.sentAt) >= timeout {
			s.log.Info("ack request not answered in time; resending the first unconfirmed batch", "request_id", s.ackReq.id, "ack_timeout", timeout)
			from := s.ackReq.from
			s.ackReq = nil
			s.resendDeferred(from)
			s.wantAck = true
			if err := s.pump(ctx); err != nil {
				return err
			}
		}
		if s.ackDue() && (s.closing != nil || !s.hasUnsent()) && len(s.resend) == 0 {
			if err := s.sendHeartbeat(ctx, true); err != nil {
				return err
			}
		}
	}
	var expired []*flight
	for _, f := range s.inflight {
		if !f.deferred && time.Since(f.sentAt) >= timeout {
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
		Type      string  `json:"type"`
		Message   *string `json:"message"`
		RequestID string  `json:"request_id"`
	}
	if err := json.Unmarshal(data, &env); err != nil {
		s.log.Warn("ignoring malformed message from server", "err", err)
		return nil
	}
	if env.Type == "" && env.Message != nil {
		return s.onGatewayError(*env.Message)
	}
	if answersHello(env.Type, env.RequestID) {
		s.answered()
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
		// An answer to AckFrom may confirm nothing (LastSeq FirstSeq-1).
		if ack.Of != protocol.TypeLogs || ack.FirstSeq == 0 || ack.LastSeq+1 < ack.FirstSeq {
			return nil
		}
		return s.onAck(ctx, ack)
	case protocol.TypeWelcome:
		var w protocol.Welcome
		if err := json.Unmarshal(data, &w); err != nil {
			s.log.Warn("ignoring malformed welcome", "err", err)
			return nil
		}
		return s.onWelcome(ctx, w)
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
	if err := s.confirm(ack); err != nil {
		return err
	}
	carried := false
	var partial []*flight
	for k, f := range s.inflight {
		switch {
		case f.first >= ack.FirstSeq && f.last <= ack.LastSeq:
			carried = carried || (f.status && !f.deferred)
			delete(s.inflight, k)
		case f.deferred && f.first >= ack.FirstSeq && f.first <= ack.LastSeq:
			delete(s.inflight, k)
			partial = append(partial, f)
		}
	}
	for _, f := range partial {
		// Confirmed in part: the rest waits for a later ack.
		f.first = ack.LastSeq + 1
		s.inflight[f.first] = f
	}
	if carried {
		if err := s.statusAcked(ctx, ack.Status); err != nil {
			return err
		}
	}
	if s.ackReq != nil && ack.RequestID == s.ackReq.id {
		s.ackAnswered(ack)
	}
	return s.pump(ctx)
}

// confirm removes the lines an ack confirms from the spool.
func (s *session) confirm(ack protocol.Ack) error {
	if ack.LastSeq < ack.FirstSeq {
		return nil
	}
	n, err := s.a.spool.Ack(ack.FirstSeq, ack.LastSeq)
	if err != nil {
		return err
	}
	s.a.acked(n)
	return nil
}

// ackAnswered handles the answer to the ack request: the line after the
// confirmed range was not stored; its batch is resent when it went an ack
// timeout before the request (lost, not merely handled later than the
// request: the server handles messages concurrently), or asked about
// again once that long has passed.
func (s *session) ackAnswered(ack protocol.Ack) {
	req := s.ackReq
	s.ackReq = nil
	next := max(ack.LastSeq, ack.FirstSeq-1) + 1
	for _, f := range s.inflight {
		if !f.deferred || f.first > next || f.last < next {
			continue
		}
		timeout := s.cfg.AckTimeout.Duration()
		if !f.sentAt.After(req.sentAt.Add(-timeout)) {
			s.log.Info("lines sent before an ack request are not stored; resending them", "first_seq", f.first, "last_seq", f.last)
			s.resendDeferred(f.first)
			s.wantAck = true
		} else {
			s.askAgainAt = f.sentAt.Add(timeout)
		}
		return
	}
}

// resendDeferred puts the deferred batch holding line seq (or the first
// after it) on the resend list.
func (s *session) resendDeferred(seq uint64) {
	var pick *flight
	for _, f := range s.inflight {
		if f.deferred && f.last >= seq && (pick == nil || f.first < pick.first) {
			pick = f
		}
	}
	if pick == nil {
		return
	}
	delete(s.inflight, pick.first)
	s.resend = append(s.resend, span{first: pick.first, last: pick.last})
	slices.SortFunc(s.resend, func(x, y span) int { return cmpUint(x.first, y.first) })
}

// onWelcome takes the server's welcome: the features it accepts, and the
// lines its ack says are stored; then sending starts.
func (s *session) onWelcome(ctx context.Context, w protocol.Welcome) error {
	s.welcomed = true
	s.a.welcomed.Store(true)
	s.accepts = map[string]bool{}
	for _, f := range w.Accepts {
		s.accepts[f] = true
	}
	if s.accepts[protocol.FeatureStatusInLogs] {
		s.statusInLogs = statusCarried
	}
	if s.holding != nil {
		s.holding.Stop()
		s.holding = nil
	}
	if a := w.Ack; a != nil && a.FirstSeq > 0 && a.LastSeq >= a.FirstSeq {
		if err := s.confirm(*a); err != nil {
			return err
		}
		s.log.Info("the server holds lines sent before", "first_seq", a.FirstSeq, "last_seq", a.LastSeq)
	}
	s.log.Debug("welcome", "accepts", w.Accepts)
	return s.pump(ctx)
}

// newHello makes the hello as things are now: the spool's positions, the
// config version and, for a server that takes it, a fresh status report (a
// hello said again carries today's, not the connection's first).
func (s *session) newHello(ctx context.Context) (protocol.Hello, error) {
	a := s.a
	st := a.spool.Stats()
	hello := protocol.Hello{
		Type:          protocol.TypeHello,
		TerminalID:    s.cfg.TerminalID,
		AgentVersion:  a.opts.version,
		Capabilities:  a.opts.capabilities,
		LastAckSeq:    st.LastAckSeq,
		AckFrom:       st.FirstSeq,
		ConfigVersion: a.ConfigVersion(),
		RequestID:     helloRequestID,
	}
	if slices.Contains(a.opts.capabilities, protocol.CapabilityWelcome) {
		// A server accepting hello.status stores it and pulls no
		// get_status; an older one ignores it.
		report, err := s.statusReport(ctx)
		if err != nil {
			return protocol.Hello{}, err
		}
		hello.Status = report
	}
	return hello, nil
}

// answersHello reports whether a message of type typ from the server
// answers the hello: a welcome (servers that know it always send one), a
// command (an older server's pulls), or an error naming the hello. Acks
// and live hints do not: the logs sent after the hello may have got
// through when the hello itself was throttled.
func answersHello(typ, requestID string) bool {
	switch typ {
	case protocol.TypeWelcome, protocol.TypeCommand:
		return true
	case protocol.TypeError:
		return requestID == helloRequestID
	}
	return false
}

// answered notes that the server answered the hello on this connection.
func (s *session) answered() {
	if !s.helloAnswered {
		s.helloAnswered = true
		s.helloRetry.Stop()
	}
}

// sayHelloAgain resends the hello when the server answered nothing since:
// API Gateway may have throttled it (it never reached the function), and
// the next is spaced by HelloBackoff.
func (s *session) sayHelloAgain(ctx context.Context) error {
	if s.helloAnswered && !s.rehello {
		return nil
	}
	if s.rehello {
		s.log.Warn("an answer was lost; saying hello again so that the server asks again", "hellos", s.hellos)
	} else {
		s.log.Warn("no answer to the hello; saying it again", "hellos", s.hellos)
	}
	hello, err := s.newHello(ctx)
	if err != nil {
		return err
	}
	if err := s.send(ctx, hello); err != nil {
		return err
	}
	// This hello waits for its answer as the first did.
	s.helloAnswered, s.rehello, s.resendDue = false, false, false
	s.hellos++
	s.helloRetry.Reset(s.a.opts.helloTimeout + s.a.opts.helloBackoff.Delay(s.hellos, rand.Float64()))
	return nil
}

// onGatewayError takes an error frame of API Gateway itself (a JSON object
// without "type": {"message": "Too Many Requests", ...} when it throttled a
// message, "Internal server error" when the function failed): the message
// never reached the function, or its answer was lost. A hello still
// unanswered is said again after HelloBackoff; logs not acknowledged are
// resent by the ack rules; a lost command answer leaves its command to
// time out, and the server's next pull asks again.
func (s *session) onGatewayError(msg string) error {
	if !s.helloAnswered {
		if s.resendDue {
			return nil // one early hello per hello: later frames change nothing
		}
		d := s.a.opts.helloBackoff.Delay(s.hellos, rand.Float64())
		s.log.Warn("API Gateway refused a message before the hello was answered; saying hello again", "message", msg, "after", d)
		s.resendDue = true
		s.helloRetry.Reset(d)
		return nil
	}
	if !s.answerSent.IsZero() && time.Since(s.answerSent) < answerLostWindow {
		s.log.Warn("API Gateway refused a message just after a command answer", "message", msg)
		s.answerSent = time.Time{} // one frame stands for one answer
		s.answerLost()
		return nil
	}
	s.log.Warn("API Gateway refused a message", "message", msg)
	return nil
}

// answerLostWindow is how soon after a command answer an error frame of
// API Gateway is taken for that answer's: the frame comes back within the
// invocation's time (a throttle at once, a failed function within its
// timeout, 10 s).
const answerLostWindow = 10 * time.Second

// answerLost arranges the hello again, after HelloBackoff, when an answer
// to the server's pull may have been lost (refused by API Gateway, or the
// server failed to take it): the pull ends timed out and nothing else would
// bring the terminal's data up to date; the hello makes the server compare
// and pull again what differs. Several losses close together make one
// hello.
func (s *session) answerLost() {
	if s.rehello || !s.helloAnswered {
		return // a hello is already due
	}
	s.rehello = true
	s.helloRetry.Reset(s.a.opts.helloBackoff.Delay(s.hellos, rand.Float64()))
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
		if f := s.inflight[first]; f != nil && f.deferred {
			// No ack will come for it: resend it now, asking for one.
			if s.ackReq != nil && s.ackReq.id == e.RequestID {
				s.ackReq = nil
			}
			s.resendDeferred(first)
			s.wantAck = true
			return s.pump(ctx)
		}
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
	case s.ackReq != nil && e.RequestID == s.ackReq.id:
		s.log.Warn("server failed to answer an ack request; asking again", "code", e.Code, "message", e.Message)
		s.ackReq, s.wantAck = nil, true
		return nil
	case e.RequestID == helloRequestID:
		s.log.Error("server failed to process the hello; reconnecting", "code", e.Code, "message", e.Message)
		return fmt.Errorf("%w: %s", errHelloFailed, e.Message)
	case strings.HasPrefix(e.RequestID, ackRequestPrefix):
		s.log.Warn("server failed to answer an earlier ack request", "request_id", e.RequestID, "code", e.Code, "message", e.Message)
		return nil
	case e.RequestID != "":
		s.log.Error("server rejected a command response", "request_id", e.RequestID, "code", e.Code, "message", e.Message)
		if !permanent(e.Code) {
			s.answerLost()
		}
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
