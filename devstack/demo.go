package devstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/edgesync/edgesync/agent"
	"github.com/edgesync/edgesync/fleet"
)

// demo runs demo terminals: real agents, connected through the emulator,
// producing log lines and status like a detecting terminal would.
type demo struct {
	terminals []DemoTerminal
	agents    []*agent.Agent
	cancel    context.CancelFunc
	wg        sync.WaitGroup
}

// startDemo registers demo-1 … demo-N (keeping their tokens in the data
// directory across restarts) and starts an agent and a log producer for each.
func startDemo(ctx context.Context, s *Stack) (*demo, error) {
	tokens, err := demoTokens(ctx, s)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	d := &demo{cancel: cancel}
	rate := s.cfg.DemoLinesPerSecond
	if rate <= 0 {
		rate = 2
	}
	statusEvery := s.cfg.DemoStatusInterval
	if statusEvery <= 0 {
		statusEvery = 5 * time.Second
	}
	for i := 1; i <= s.cfg.Demo; i++ {
		id := fmt.Sprintf("demo-%d", i)
		d.terminals = append(d.terminals, DemoTerminal{ID: id, Token: tokens[id]})
		cfg := agent.DefaultConfig()
		cfg.TerminalID = id
		cfg.ServerURL = s.WSURL
		cfg.Token = tokens[id]
		cfg.SpoolDir = filepath.Join(s.cfg.DataDir, "demo", id)
		cfg.StatusInterval = agent.Seconds(statusEvery.Seconds())
		// A newcomer should see lines as they are produced, so demo
		// terminals always send within the live window; real terminals
		// wait up to idle_batch_window_ms while nobody reads their logs.
		cfg.IdleBatchWindowMS = 0
		cfg.ReconnectAttempts = 0
		a, err := agent.New(cfg, agent.WithLogger(s.log.With("demo", id)), agent.WithAgentVersion("demo"))
		if err != nil {
			cancel()
			d.stop(context.Background())
			return nil, fmt.Errorf("demo agent %s: %w", id, err)
		}
		d.agents = append(d.agents, a)
		d.wg.Add(2)
		go func() {
			defer d.wg.Done()
			if err := a.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				s.log.Error("demo agent stopped", "terminal", id, "error", err)
			}
		}()
		go func() {
			defer d.wg.Done()
			produce(ctx, a, rate, rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano()))))
		}()
	}
	return d, nil
}

func (d *demo) stop(ctx context.Context) {
	for _, a := range d.agents {
		_ = a.Shutdown(ctx)
	}
	d.cancel()
	d.wg.Wait()
	for _, a := range d.agents {
		_ = a.Close()
	}
}

// demoTokens returns a token per demo terminal, creating the terminal or
// (when its token was lost) rotating to a new one.
func demoTokens(ctx context.Context, s *Stack) (map[string]string, error) {
	path := filepath.Join(s.cfg.DataDir, "demo-tokens.json")
	tokens := map[string]string{}
	if data, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(data, &tokens)
	}
	svc := fleet.NewService(s.store, offline{}, fleet.DefaultConfig())
	who := fleet.System("system:demo")
	changed := false
	for i := 1; i <= s.cfg.Demo; i++ {
		id := fmt.Sprintf("demo-%d", i)
		if _, err := svc.Terminal(ctx, who, id); err == nil && tokens[id] != "" {
			continue // registered before, token kept: nothing to audit
		}
		token, err := svc.CreateTerminal(ctx, who, id, fmt.Sprintf("Demo terminal %d", i), []string{"demo"})
		switch {
		case err == nil:
			tokens[id], changed = token, true
		case errors.Is(err, fleet.ErrExists):
			if token, err = svc.RotateToken(ctx, who, id, 0); err != nil {
				return nil, err
			}
			tokens[id], changed = token, true
		default:
			return nil, err
		}
	}
	if changed {
		data, _ := json.MarshalIndent(tokens, "", "  ")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return nil, fmt.Errorf("save demo tokens: %w", err)
		}
	}
	return tokens, nil
}

var demoMessages = []struct {
	level, source, format string
}{
	{"info", "vision", "camera %d: frame processed in %d ms"},
	{"info", "detector", "part %d inspected: no defect (score %d%%)"},
	{"info", "conveyor", "belt speed %d mm/s, load %d%%"},
	{"debug", "vision", "camera %d exposure adjusted to %d us"},
	{"warn", "detector", "part %d: low confidence %d%%, sent to manual check"},
	{"warn", "vision", "camera %d: frame dropped (queue %d)"},
	{"error", "detector", "part %d: defect detected, score %d%%"},
	{"error", "plc", "PLC %d did not answer within %d ms"},
}

// produce writes log lines at about rate per second, with the occasional
// burst of 20–50 lines, as a detecting terminal's logs arrive.
func produce(ctx context.Context, a *agent.Agent, rate float64, rnd *rand.Rand) {
	part := 1000
	for {
		wait := time.Duration(rnd.ExpFloat64() / rate * float64(time.Second))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		n := 1
		if rnd.IntN(100) < 3 {
			n = 20 + rnd.IntN(31)
		}
		for range n {
			m := demoMessages[weighted(rnd)]
			part++
			a.Log(m.level, fmt.Sprintf(m.format, part%8+1, 5+rnd.IntN(95)), m.source)
		}
	}
}

// weighted picks a message index: mostly info, some warnings, few errors.
func weighted(rnd *rand.Rand) int {
	switch r := rnd.IntN(100); {
	case r < 70:
		return rnd.IntN(3)
	case r < 80:
		return 3
	case r < 95:
		return 4 + rnd.IntN(2)
	default:
		return 6 + rnd.IntN(2)
	}
}
