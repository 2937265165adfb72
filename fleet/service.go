package fleet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/edgesync/edgesync/protocol"
)

// Service applies edgesync's sync rules. It is safe for concurrent use and
// meant to be built once per process (per Lambda container) and reused.
//
// It keeps no connection binding in memory: every message reads its
// binding from the store (one strongly consistent read), so a binding that
// expired, or that a revocation or a deletion removed in another process,
// stops the very next message (see HandleMessage).
type Service struct {
	store  Store
	pusher Pusher
	closer ConnectionCloser // nil when the pusher cannot close connections
	cfg    Config
	now    func() time.Time
	newID  func() string

	touched sync.Map // connection id → time.Time of the last Touch written
	// recorded: connection id → time.Time this process last had a status
	// report go to the terminal record (see recordDue).
	recorded sync.Map
	live     sync.Map // terminal id → livePush: the last live hint this process sent
	denials  recentDenials
	metrics  Metrics

	alertPub AlertPublisher // nil: alerts are stored and shown, not delivered
	alerts   alertCache     // the write path's view of rules (alerteval.go)
	pace     RolloutPace    // rolloutpace.go: zero fields are DefaultRolloutPace's
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
	s.closer, _ = pusher.(ConnectionCloser)
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

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
