package agenttest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/edgesync/edgesync/protocol"
)

// Batch records one logs message received.
type Batch struct {
	FirstSeq, LastSeq uint64
	Lines             int
	Gzip              bool
	Bytes             int // size of the message as received
	Dropped           uint64
	Conn              int // index of the connection it came on
	// Status is true when the message carried a status report.
	Status bool
	// At is when the server received it.
	At time.Time
}

// DropMode says what the server does with the logs message on which it
// drops the connection.
type DropMode int

// Drop modes.
const (
	// DropBeforeStore closes the connection without storing the batch.
	DropBeforeStore DropMode = iota
	// DropAfterStore stores the batch and closes without acknowledging it.
	DropAfterStore
)

// Server is a fake edgesync server. Its zero value is not usable; call
// NewServer. All methods are safe for concurrent use.
type Server struct {
	// URL is the ws:// URL to configure as server_url.
	URL        string
	TerminalID string
	Token      string

	srv *httptest.Server

	mu          sync.Mutex
	changed     chan struct{}
	refuse      int
	refuseAll   bool
	dials       []time.Time
	auths       []string
	conns       []*websocket.Conn
	closes      []websocket.StatusCode
	lines       map[uint64]protocol.LogEntry
	conflicts   []string
	acks        map[uint64]int
	batches     []Batch
	hellos      []protocol.Hello
	statuses    []json.RawMessage
	carried     int  // status reports that came in logs messages
	oldServer   bool // ignore status reports in logs messages, as servers before them did
	heartbeats  int
	responses   map[string]protocol.CommandResponse
	decodeErrs  []string
	oversized   []int
	withhold    int // acks still to withhold; -1 withholds all
	withholdIf  func(Batch) bool
	reverse     int // buffer this many acks and send them in reverse order
	held        []protocol.Ack
	dropAt      int // drop the connection on this logs message (1-based, counted over the server's life); 0 never
	dropMode    DropMode
	logsSeen    int
	reject      func([]protocol.LogEntry) *protocol.ErrorMessage
	noEcho      bool
	rejectedMsg []Batch
}

// NewServer starts a server for one terminal and token. Close it when done.
func NewServer(terminalID, token string) *Server {
	s := newServer(terminalID, token)
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = "ws://" + s.srv.Listener.Addr().String() + "/prod"
	return s
}

// NewTLSServer starts a server on wss:// with a certificate of its own
// (valid for 127.0.0.1, ::1 and example.com; see CertificatePEM). With
// clientCAs set, it requires a client certificate signed by one of them.
func NewTLSServer(terminalID, token string, clientCAs *x509.CertPool) *Server {
	s := newServer(terminalID, token)
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	if clientCAs != nil {
		s.srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientCAs}
	}
	s.srv.StartTLS()
	s.URL = "wss://" + s.srv.Listener.Addr().String() + "/prod"
	return s
}

func newServer(terminalID, token string) *Server {
	return &Server{
		TerminalID: terminalID,
		Token:      token,
		changed:    make(chan struct{}),
		lines:      map[uint64]protocol.LogEntry{},
		acks:       map[uint64]int{},
		responses:  map[string]protocol.CommandResponse{},
	}
}

// CertificatePEM returns the certificate of a server started with
// NewTLSServer, PEM-encoded (what a terminal's ca_file holds).
func (s *Server) CertificatePEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw})
}

// Addr returns the server's host:port.
func (s *Server) Addr() string { return s.srv.Listener.Addr().String() }

// Close stops the server and its connections.
func (s *Server) Close() {
	s.mu.Lock()
	for _, c := range s.conns {
		c.CloseNow()
	}
	s.mu.Unlock()
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// signal wakes WaitFor callers. s.mu is held.
func (s *Server) signal() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Refuse makes the next n handshakes fail with HTTP 503.
func (s *Server) Refuse(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuse = n
}

// RefuseAll makes every handshake fail with HTTP 503 while on is true.
func (s *Server) RefuseAll(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuseAll = on
}

// WithholdAcks makes the server store but not acknowledge the next n logs
// batches (all of them with n < 0; none with 0).
func (s *Server) WithholdAcks(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.withhold = n
}

// WithholdAcksIf makes the server store but not acknowledge the batches
// for which fn returns true (nil: acknowledge them all).
func (s *Server) WithholdAcksIf(fn func(Batch) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.withholdIf = fn
}

// ReverseAcks holds acks until n are pending and sends them newest first.
func (s *Server) ReverseAcks(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reverse = n
}

// DropOnLogs closes the connection abruptly (no close frame) when the nth
// logs message (counted from the server's start, 1-based) arrives.
func (s *Server) DropOnLogs(n int, mode DropMode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropAt, s.dropMode = n, mode
}

// Reject makes the server answer a logs batch for which fn returns an
// error message with that message instead of storing and acknowledging it.
func (s *Server) Reject(fn func([]protocol.LogEntry) *protocol.ErrorMessage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reject = fn
}

// IgnoreStatusInLogs makes the server behave as servers did before
// status reports could ride in logs messages: it ignores Logs.Status and
// acks without Status.
func (s *Server) IgnoreStatusInLogs(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oldServer = on
}

// EchoRequestIDs sets whether error messages carry the request_id of the
// message they reject, as the edgesync server does (the default).
func (s *Server) EchoRequestIDs(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noEcho = !on
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.dials = append(s.dials, time.Now())
	s.auths = append(s.auths, r.Header.Get("Authorization"))
	refuse := s.refuseAll || s.refuse > 0
	if s.refuse > 0 {
		s.refuse--
	}
	s.signal()
	s.mu.Unlock()
	if refuse {
		http.Error(w, "refused by test", http.StatusServiceUnavailable)
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+s.Token {
		http.Error(w, "bad token", http.StatusUnauthorized)
		return
	}
	if r.URL.Query().Get("terminal_id") != s.TerminalID {
		http.Error(w, "unknown terminal", http.StatusForbidden)
		return
	}
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	c.SetReadLimit(protocol.MaxMessageBytes)
	s.mu.Lock()
	idx := len(s.conns)
	s.conns = append(s.conns, c)
	s.held = nil
	s.signal()
	s.mu.Unlock()
	defer c.CloseNow()
	ctx := r.Context()
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			s.mu.Lock()
			s.closes = append(s.closes, websocket.CloseStatus(err))
			s.signal()
			s.mu.Unlock()
			return
		}
		if !s.receive(ctx, c, idx, data) {
			return
		}
	}
}

// receive handles one message; false means drop the connection.
func (s *Server) receive(ctx context.Context, c *websocket.Conn, idx int, data []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.signal()
	if len(data) > protocol.MaxFrameBytes {
		s.oversized = append(s.oversized, len(data))
	}
	msg, err := protocol.Decode(data)
	if err != nil {
		s.decodeErrs = append(s.decodeErrs, err.Error())
		s.write(ctx, c, protocol.NewError(err, s.requestIDOf(data)))
		return true
	}
	switch m := msg.(type) {
	case *protocol.Hello:
		s.hellos = append(s.hellos, *m)
	case *protocol.Heartbeat:
		s.heartbeats++
	case *protocol.Status:
		s.statuses = append(s.statuses, m.Status)
	case *protocol.CommandResponse:
		s.responses[m.RequestID] = *m
	case *protocol.Logs:
		var raw struct {
			Encoding string `json:"encoding"`
		}
		_ = json.Unmarshal(data, &raw)
		b := Batch{
			FirstSeq: m.Entries[0].Seq, LastSeq: m.Entries[len(m.Entries)-1].Seq, Lines: len(m.Entries),
			Gzip: raw.Encoding == protocol.EncodingGzip, Bytes: len(data), Dropped: m.Dropped, Conn: idx,
			Status: m.Status != nil, At: time.Now(),
		}
		s.logsSeen++
		if s.logsSeen == s.dropAt && s.dropMode == DropBeforeStore {
			c.CloseNow()
			return false
		}
		if s.reject != nil {
			if e := s.reject(m.Entries); e != nil {
				s.rejectedMsg = append(s.rejectedMsg, b)
				e.Type, e.RequestID = protocol.TypeError, s.requestIDOf(data)
				s.write(ctx, c, *e)
				return true
			}
		}
		s.batches = append(s.batches, b)
		for _, e := range m.Entries {
			if old, ok := s.lines[e.Seq]; ok && !sameEntry(old, e) {
				s.conflicts = append(s.conflicts, fmt.Sprintf("seq %d: stored %q, received %q", e.Seq, old.Message, e.Message))
				continue
			}
			s.lines[e.Seq] = e
		}
		if s.logsSeen == s.dropAt {
			c.CloseNow()
			return false
		}
		if s.withhold != 0 {
			if s.withhold > 0 {
				s.withhold--
			}
			return true
		}
		if s.withholdIf != nil && s.withholdIf(b) {
			return true
		}
		ack := protocol.Ack{Type: protocol.TypeAck, Of: protocol.TypeLogs, FirstSeq: b.FirstSeq, LastSeq: b.LastSeq}
		if m.Status != nil && !s.oldServer {
			s.statuses = append(s.statuses, m.Status)
			s.carried++
			ack.Status = true
		}
		if s.reverse > 1 {
			s.held = append(s.held, ack)
			if len(s.held) < s.reverse {
				return true
			}
			for i := len(s.held) - 1; i >= 0; i-- {
				s.sendAck(ctx, c, s.held[i])
			}
			s.held = nil
			return true
		}
		s.sendAck(ctx, c, ack)
	}
	return true
}

// requestIDOf returns the message's request_id to echo in an error; s.mu
// is held.
func (s *Server) requestIDOf(data []byte) string {
	var v struct {
		RequestID string `json:"request_id"`
	}
	if s.noEcho || json.Unmarshal(data, &v) != nil || !protocol.ValidID(v.RequestID) {
		return ""
	}
	return v.RequestID
}

func sameEntry(a, b protocol.LogEntry) bool {
	return a.Seq == b.Seq && a.Message == b.Message && a.Level == b.Level && a.Source == b.Source &&
		a.Time.Equal(b.Time) && reflect.DeepEqual(a.Attrs, b.Attrs)
}

func (s *Server) sendAck(ctx context.Context, c *websocket.Conn, ack protocol.Ack) {
	for seq := ack.FirstSeq; seq <= ack.LastSeq; seq++ {
		if _, ok := s.lines[seq]; ok {
			s.acks[seq]++
		}
	}
	s.write(ctx, c, ack)
}

// write sends a message; s.mu is held (messages to a connection are
// written in order).
func (s *Server) write(ctx context.Context, c *websocket.Conn, msg any) {
	body, err := protocol.Encode(msg)
	if err != nil {
		return
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_ = c.Write(wctx, websocket.MessageText, body)
}

// Command sends a command on the newest connection and waits for the
// terminal's response.
func (s *Server) Command(ctx context.Context, name string, params any) (protocol.CommandResponse, error) {
	var raw json.RawMessage
	if params != nil {
		var err error
		if raw, err = json.Marshal(params); err != nil {
			return protocol.CommandResponse{}, err
		}
	}
	s.mu.Lock()
	if len(s.conns) == 0 {
		s.mu.Unlock()
		return protocol.CommandResponse{}, errors.New("no connection")
	}
	c := s.conns[len(s.conns)-1]
	id := fmt.Sprintf("req-%d-%d", len(s.responses), time.Now().UnixNano())
	s.write(ctx, c, protocol.Command{Type: protocol.TypeCommand, RequestID: id, Command: name, Params: raw})
	s.mu.Unlock()
	var resp protocol.CommandResponse
	err := s.WaitFor(ctx, func(v View) bool {
		r, ok := v.s.responses[id]
		resp = r
		return ok
	})
	return resp, err
}

// Send writes an arbitrary message on the newest connection.
func (s *Server) Send(ctx context.Context, msg any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.conns) == 0 {
		return errors.New("no connection")
	}
	s.write(ctx, s.conns[len(s.conns)-1], msg)
	return nil
}

// View gives read access to the server's records inside WaitFor and Inspect.
type View struct{ s *Server }

// Dials returns the times of every handshake attempt.
func (v View) Dials() []time.Time { return slices.Clone(v.s.dials) }

// Authorizations returns the Authorization header of every handshake
// attempt, in order (empty when there was none).
func (v View) Authorizations() []string { return slices.Clone(v.s.auths) }

// Connections returns how many connections were accepted.
func (v View) Connections() int { return len(v.s.conns) }

// CloseStatuses returns how each ended connection was closed by the
// terminal (-1 when it was not closed with a close frame).
func (v View) CloseStatuses() []websocket.StatusCode { return slices.Clone(v.s.closes) }

// Lines returns the stored lines by sequence number.
func (v View) Lines() map[uint64]protocol.LogEntry {
	out := make(map[uint64]protocol.LogEntry, len(v.s.lines))
	for k, e := range v.s.lines {
		out[k] = e
	}
	return out
}

// Stored reports how many distinct sequence numbers are stored.
func (v View) Stored() int { return len(v.s.lines) }

// Acks returns how many times each stored sequence number was acknowledged.
func (v View) Acks() map[uint64]int {
	out := make(map[uint64]int, len(v.s.acks))
	for k, n := range v.s.acks {
		out[k] = n
	}
	return out
}

// AllAcked reports whether every stored sequence number was acknowledged.
func (v View) AllAcked() bool {
	for seq := range v.s.lines {
		if v.s.acks[seq] == 0 {
			return false
		}
	}
	return true
}

// Conflicts lists sequence numbers received twice with different content.
func (v View) Conflicts() []string { return slices.Clone(v.s.conflicts) }

// Batches returns the logs messages stored (rejected ones excluded).
func (v View) Batches() []Batch { return slices.Clone(v.s.batches) }

// Rejected returns the logs messages answered with an error by Reject.
func (v View) Rejected() []Batch { return slices.Clone(v.s.rejectedMsg) }

// Hellos returns the hello messages received.
func (v View) Hellos() []protocol.Hello { return slices.Clone(v.s.hellos) }

// Statuses returns the status objects received, on their own or inside
// logs messages.
func (v View) Statuses() []json.RawMessage { return slices.Clone(v.s.statuses) }

// CarriedStatuses returns how many of Statuses came inside logs messages.
func (v View) CarriedStatuses() int { return v.s.carried }

// Heartbeats returns how many heartbeats were received.
func (v View) Heartbeats() int { return v.s.heartbeats }

// DecodeErrors lists messages protocol.Decode rejected.
func (v View) DecodeErrors() []string { return slices.Clone(v.s.decodeErrs) }

// Oversized lists the sizes of messages larger than protocol.MaxFrameBytes.
func (v View) Oversized() []int { return slices.Clone(v.s.oversized) }

// Inspect calls fn with the records.
func (s *Server) Inspect(fn func(View)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(View{s})
}

// WaitFor waits until cond holds (it is checked after every change) or ctx
// ends, returning ctx's error with a description of the records.
func (s *Server) WaitFor(ctx context.Context, cond func(View) bool) error {
	for {
		s.mu.Lock()
		ok := cond(View{s})
		ch := s.changed
		summary := s.summary()
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w; server state: %s", ctx.Err(), summary)
		case <-ch:
		case <-time.After(50 * time.Millisecond):
			// Conditions may also depend on the agent's state.
		}
	}
}

// summary describes the records; s.mu is held.
func (s *Server) summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "dials=%d conns=%d stored=%d batches=%d rejected=%d hellos=%d statuses=%d heartbeats=%d decode_errors=%v conflicts=%d",
		len(s.dials), len(s.conns), len(s.lines), len(s.batches), len(s.rejectedMsg), len(s.hellos), len(s.statuses), s.heartbeats, s.decodeErrs, len(s.conflicts))
	return b.String()
}
