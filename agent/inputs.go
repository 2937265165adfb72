package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/edgesync/edgesync/agent/batch"
	"github.com/edgesync/edgesync/agent/tail"
	"github.com/edgesync/edgesync/protocol"
)

// stdinInput is the log_inputs entry for standard input.
const stdinInput = "-"

// markPrefix names an input's checkpoint in the spool.
const markPrefix = "tail:"

// runInputs follows the configured log_inputs until ctx ends, restarting
// followers when set_config changes the list. Standard input, once
// started, is read to its end whatever the list says later.
func (a *Agent) runInputs(ctx context.Context) {
	type running struct {
		cancel context.CancelFunc
		done   chan struct{}
	}
	followers := map[string]running{}
	var wg sync.WaitGroup
	stdinStarted := false
	apply := func() {
		want := a.Config().LogInputs
		for path, r := range followers {
			if !slices.Contains(want, path) {
				r.cancel()
				<-r.done
				delete(followers, path)
			}
		}
		for _, path := range want {
			if path == stdinInput {
				if !stdinStarted {
					stdinStarted = true
					wg.Add(1)
					go func() {
						defer wg.Done()
						a.readStdin(ctx)
					}()
				}
				continue
			}
			if _, ok := followers[path]; ok {
				continue
			}
			fctx, cancel := context.WithCancel(ctx)
			r := running{cancel: cancel, done: make(chan struct{})}
			followers[path] = r
			go func() {
				defer close(r.done)
				a.follow(fctx, path)
			}()
		}
	}
	apply()
	for {
		select {
		case <-ctx.Done():
			for _, r := range followers {
				r.cancel()
				<-r.done
			}
			// stdin may be blocked in a read that cannot be interrupted.
			return
		case <-a.inputsChanged:
			apply()
		}
	}
}

// follow tails one file, resuming from the position stored in the spool.
func (a *Agent) follow(ctx context.Context, path string) {
	mark := markPrefix + path
	var start *tail.Position
	if raw, err := a.spool.Mark(mark); err != nil {
		a.log.Error("read input position", "input", path, "err", err)
	} else if raw != nil {
		var p tail.Position
		if err := json.Unmarshal(raw, &p); err == nil {
			start = &p
		}
	}
	source := filepath.Base(path)
	f := &tail.Follower{
		Path:  path,
		Start: start,
		Emit: func(ctx context.Context, lines []tail.Line, pos tail.Position) error {
			value, _ := json.Marshal(pos)
			return a.ingestLines(ctx, source, lines, mark, value)
		},
		Opened: func(p string, pos tail.Position) {
			a.log.Info("following log input", "input", path, "file", p, "offset", pos.Offset)
		},
		// Checked at every open, so that a symbolic link or a rename
		// made after the config was accepted cannot ship an own file.
		Check: func(p string, fi os.FileInfo) error {
			cfg := a.Config()
			for _, own := range a.ownFiles(cfg) {
				if ofi, err := os.Stat(own.path); err == nil && os.SameFile(fi, ofi) {
					return fmt.Errorf("%s is the agent's own %s; the agent never ships it", p, own.kind)
				}
			}
			if within(resolve(p), resolve(cfg.SpoolDir)) {
				return fmt.Errorf("%s is in the agent's spool directory; the agent never ships it", p)
			}
			return nil
		},
	}
	for ctx.Err() == nil {
		if err := f.Run(ctx); err != nil {
			a.log.Error("follow input; retrying", "input", path, "err", err)
			if sleepCtx(ctx, 5*time.Second) != nil {
				return
			}
			// Resume from what reached the spool.
			if raw, err := a.spool.Mark(mark); err == nil && raw != nil {
				var p tail.Position
				if json.Unmarshal(raw, &p) == nil {
					f.Start = &p
				}
			}
		}
	}
}

func (a *Agent) readStdin(ctx context.Context) {
	err := tail.Stream(ctx, os.Stdin, 0, func(ctx context.Context, lines []tail.Line) error {
		return a.ingestLines(ctx, "stdin", lines, "", nil)
	})
	if err != nil && ctx.Err() == nil {
		a.log.Error("read standard input", "err", err)
		return
	}
	a.log.Info("standard input closed")
}

// ingestLines queues lines read from an input, waiting for room, with the
// input's new position stored alongside the last one.
func (a *Agent) ingestLines(ctx context.Context, source string, lines []tail.Line, mark string, value []byte) error {
	now := time.Now()
	ps := make([]pending, 0, len(lines)+1)
	for _, l := range lines {
		if strings.TrimSpace(l.Text) == "" {
			continue
		}
		// The line's own time when it has one; else now, the time it was
		// first seen, which the spool keeps with it.
		p := tail.Parse(l.Text)
		e := protocol.LogEntry{Time: p.Time, Level: p.Level, Message: p.Message, Source: source, Attrs: typedAttrs(p.Attrs)}
		if l.Cut > 0 {
			if e.Attrs == nil {
				e.Attrs = protocol.Attrs{}
			}
			e.Attrs["truncated_bytes"] = l.Cut
		}
		e = batch.Normalize(e, now)
		ps = append(ps, pending{entry: &e, size: entrySize(e)})
	}
	if mark != "" {
		if len(ps) == 0 {
			ps = append(ps, pending{})
		}
		ps[len(ps)-1].mark, ps[len(ps)-1].markValue = mark, value
	}
	if len(ps) == 0 {
		return nil
	}
	if err := a.queue.pushWait(ctx, ps); err != nil {
		return err
	}
	a.wakeWriter()
	return nil
}

// typedAttrs keeps the parser's typed attributes as JSON scalars
// (protocol.Scalar): numbers, booleans and null stay what they are. They go
// to the cloud typed only when its welcome accepts typed attributes;
// otherwise the session renders them as strings when it sends them
// (protocol.Stringify), as terminals of the first protocol version do.
func typedAttrs(attrs map[string]any) protocol.Attrs {
	if len(attrs) == 0 {
		return nil
	}
	out := make(protocol.Attrs, len(attrs))
	for k, v := range attrs {
		out[k] = protocol.Scalar(v)
	}
	return out
}
