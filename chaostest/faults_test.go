package chaostest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgesync/edgesync/fleet"
)

// lockedRand is a seeded random source shared by goroutines.
type lockedRand struct {
	mu  sync.Mutex
	rnd *rand.Rand
}

func newLockedRand(seed uint64) *lockedRand {
	return &lockedRand{rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

func (r *lockedRand) Float64() float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rnd.Float64()
}

func (r *lockedRand) IntN(n int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rnd.IntN(n)
}

// storeFaults decides, per store call, whether to inject a fault, and counts
// what it injected. It is shared by every faultStore of a run (one per
// gateway start).
type storeFaults struct {
	rnd *lockedRand
	on  atomic.Bool
	// burstUntil (unix nanos) is the end of a throttling burst, in which
	// every other call is throttled.
	burstUntil atomic.Int64

	// Probabilities per call, while on.
	throttle  float64 // fleet.ErrThrottled before acting
	fail      float64 // a plain error before acting
	failAfter float64 // act, then report a plain error (the answer was lost)

	throttled, failed, failedAfter atomic.Int64
}

// errInjected is the plain failure the store reports.
var errInjected = errors.New("injected store failure")

type fault int

const (
	noFault fault = iota
	throttleFault
	failFault
	failAfterFault
)

// pick draws the fault for one call; writes may also fail after acting.
func (f *storeFaults) pick(write bool) fault {
	if !f.on.Load() {
		return noFault
	}
	x := f.rnd.Float64()
	if time.Now().UnixNano() < f.burstUntil.Load() && x < 0.5 {
		f.throttled.Add(1)
		return throttleFault
	}
	switch {
	case x < f.throttle:
		f.throttled.Add(1)
		return throttleFault
	case x < f.throttle+f.fail:
		f.failed.Add(1)
		return failFault
	case write && x < f.throttle+f.fail+f.failAfter:
		f.failedAfter.Add(1)
		return failAfterFault
	}
	return noFault
}

func (f *storeFaults) before(op string, ft fault) error {
	switch ft {
	case throttleFault:
		return fmt.Errorf("%s: injected: %w", op, fleet.ErrThrottled)
	case failFault:
		return fmt.Errorf("%s: %w", op, errInjected)
	}
	return nil
}

func (f *storeFaults) after(op string, ft fault, err error) error {
	if err == nil && ft == failAfterFault {
		return fmt.Errorf("%s (after it was applied): %w", op, errInjected)
	}
	return err
}

// faultStore is a fleet.Store that injects faults into the calls the
// WebSocket message path makes. Other calls pass through.
type faultStore struct {
	fleet.Store
	f *storeFaults
}

func (s faultStore) write(op string, do func() error) error {
	ft := s.f.pick(true)
	if err := s.f.before(op, ft); err != nil {
		return err
	}
	return s.f.after(op, ft, do())
}

func (s faultStore) read(op string) error { return s.f.before(op, s.f.pick(false)) }

func (s faultStore) PutLogChunk(ctx context.Context, c fleet.LogChunk, dropped uint64) error {
	return s.write("put log chunk", func() error { return s.Store.PutLogChunk(ctx, c, dropped) })
}

func (s faultStore) Touch(ctx context.Context, id string, at time.Time, agentVersion string) error {
	return s.write("touch", func() error { return s.Store.Touch(ctx, id, at, agentVersion) })
}

func (s faultStore) PutStatus(ctx context.Context, id string, snap fleet.Snapshot, expiresAt time.Time) error {
	return s.write("put status", func() error { return s.Store.PutStatus(ctx, id, snap, expiresAt) })
}

func (s faultStore) PutConfig(ctx context.Context, id string, snap fleet.Snapshot) error {
	return s.write("put config", func() error { return s.Store.PutConfig(ctx, id, snap) })
}

func (s faultStore) PutCommands(ctx context.Context, cmds ...fleet.Command) error {
	return s.write("put commands", func() error { return s.Store.PutCommands(ctx, cmds...) })
}

func (s faultStore) CompleteCommand(ctx context.Context, terminalID, requestID string, c fleet.Completion) error {
	return s.write("complete command", func() error { return s.Store.CompleteCommand(ctx, terminalID, requestID, c) })
}

func (s faultStore) PutConnection(ctx context.Context, c fleet.Connection) error {
	return s.write("put connection", func() error { return s.Store.PutConnection(ctx, c) })
}

func (s faultStore) MarkOnline(ctx context.Context, id, connID string, at time.Time) error {
	return s.write("mark online", func() error { return s.Store.MarkOnline(ctx, id, connID, at) })
}

func (s faultStore) Connection(ctx context.Context, connID string, now time.Time) (fleet.Connection, error) {
	if err := s.read("read connection"); err != nil {
		return fleet.Connection{}, err
	}
	return s.Store.Connection(ctx, connID, now)
}

func (s faultStore) Terminal(ctx context.Context, id string) (fleet.Terminal, error) {
	if err := s.read("read terminal"); err != nil {
		return fleet.Terminal{}, err
	}
	return s.Store.Terminal(ctx, id)
}

func (s faultStore) Command(ctx context.Context, terminalID, requestID string, now time.Time) (fleet.Command, error) {
	if err := s.read("read command"); err != nil {
		return fleet.Command{}, err
	}
	return s.Store.Command(ctx, terminalID, requestID, now)
}

// netProxy forwards TCP connections to a target that can change (a
// restarted gateway listens on a new port) and drops connections on demand,
// as a flaky network does: both sides just see the socket close.
type netProxy struct {
	ln net.Listener

	mu     sync.Mutex
	target string
	conns  map[int]*proxied
	next   int
	closed bool
	wg     sync.WaitGroup

	accepted, dropped, refused atomic.Int64
}

type proxied struct{ client, server net.Conn }

func (p *proxied) close() {
	p.client.Close()
	p.server.Close()
}

func newNetProxy(target string) (*netProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("proxy listen: %w", err)
	}
	p := &netProxy{ln: ln, target: target, conns: map[int]*proxied{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

func (p *netProxy) Addr() string { return p.ln.Addr().String() }

func (p *netProxy) setTarget(target string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.target = target
}

func (p *netProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		target := p.target
		p.mu.Unlock()
		s, err := net.DialTimeout("tcp", target, 5*time.Second)
		if err != nil {
			p.refused.Add(1)
			c.Close()
			continue
		}
		p.accepted.Add(1)
		pc := &proxied{client: c, server: s}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			pc.close()
			return
		}
		id := p.next
		p.next++
		p.conns[id] = pc
		p.mu.Unlock()
		p.wg.Add(2)
		pipe := func(dst, src net.Conn) {
			defer p.wg.Done()
			_, _ = io.Copy(dst, src)
			pc.close()
			p.mu.Lock()
			delete(p.conns, id)
			p.mu.Unlock()
		}
		go pipe(s, c)
		go pipe(c, s)
	}
}

// dropRandom closes one open connection, if any; it reports whether it did.
func (p *netProxy) dropRandom(rnd *lockedRand) bool {
	p.mu.Lock()
	ids := make([]int, 0, len(p.conns))
	for id := range p.conns {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var victim *proxied
	if len(ids) > 0 {
		victim = p.conns[ids[rnd.IntN(len(ids))]]
	}
	p.mu.Unlock()
	if victim == nil {
		return false
	}
	p.dropped.Add(1)
	victim.close()
	return true
}

func (p *netProxy) Close() {
	p.mu.Lock()
	p.closed = true
	conns := make([]*proxied, 0, len(p.conns))
	for _, c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	p.ln.Close()
	for _, c := range conns {
		c.close()
	}
	p.wg.Wait()
}
