package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/edgesync/edgesync/agent"
	"github.com/edgesync/edgesync/agent/sysinfo"
	"github.com/edgesync/edgesync/protocol"
)

// perLine is a terminal sending each log line as its own logs message
// (one entry, no compression) the moment it is written, so its own
// invocation and its own stored item; a status report every 30 s; a
// heartbeat only when nothing else went out for 30 s. It answers the pulls
// after hello and ignores what it does not know (acks are counted).
//
// As the seed-literal baseline (seed set) it is the source system's design
// transplanted literally: no acknowledgement (each logs message says
// "ack":"deferred", which the server honours: no ack, no terminal record
// update, one chunk item), a status message stored every 30 s, and the
// pulls on connect answered as the seed's terminal answers them (get_logs
// with the newest count lines it logged, whatever since_seq says). As the
// per-line client in the project's protocol (seed unset) every line is
// acknowledged and moves the terminal record, as a terminal of the first
// protocol version sending one line per message costs.
type perLine struct {
	id     string
	seed   bool
	conn   *websocket.Conn
	wmu    sync.Mutex
	seq    uint64
	start  time.Time
	recent []protocol.LogEntry // the newest lines, for get_logs (seed)
	sentAt map[uint64]time.Time

	lastWrite atomic.Int64 // unix nanoseconds
	acked     atomic.Uint64
	rejected  atomic.Int64
	done      chan struct{}
}

func dialPerLine(ctx context.Context, wsURL, id, token string, seed bool) (*perLine, error) {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(dctx, wsURL+"?terminal_id="+id, &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer " + token}},
	})
	if err != nil {
		return nil, fmt.Errorf("per-line terminal %s: connect: %w", id, err)
	}
	conn.SetReadLimit(protocol.MaxMessageBytes)
	c := &perLine{id: id, seed: seed, conn: conn, start: time.Now(), done: make(chan struct{}), sentAt: map[uint64]time.Time{}}
	version := "per-line"
	if seed {
		version = "seed"
		// A reconnecting terminal holds its newest lines, which the seed's
		// get_logs pull returns: as if it had run for a while.
		for n := uint64(1); n <= 100; n++ {
			l := lineFor(id, 1_000_000+n)
			c.recent = append(c.recent, protocol.LogEntry{Seq: n, Time: c.start.Add(time.Duration(n-101) * time.Second).UTC(), Level: l.level, Message: l.msg, Source: l.source})
		}
		c.seq = 100
	}
	if err := c.send(ctx, protocol.Hello{Type: protocol.TypeHello, TerminalID: id, AgentVersion: version}); err != nil {
		conn.CloseNow()
		return nil, err
	}
	return c, nil
}

// run answers the server and sends status reports and heartbeats until ctx
// ends or the connection fails.
func (c *perLine) run(ctx context.Context, statusEvery, heartbeatEvery time.Duration) {
	defer close(c.done)
	go func() {
		status := time.NewTicker(statusEvery)
		defer status.Stop()
		heartbeat := time.NewTicker(heartbeatEvery)
		defer heartbeat.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-status.C:
				_ = c.send(ctx, protocol.Status{Type: protocol.TypeStatus, Status: c.status()})
			case <-heartbeat.C:
				if time.Since(time.Unix(0, c.lastWrite.Load())) >= heartbeatEvery {
					_ = c.send(ctx, protocol.Heartbeat{Type: protocol.TypeHeartbeat})
				}
			}
		}
	}()
	for {
		_, data, err := c.conn.Read(ctx)
		if err != nil {
			return
		}
		var env struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(data, &env) != nil {
			continue
		}
		switch env.Type {
		case protocol.TypeAck:
			var a protocol.Ack
			if json.Unmarshal(data, &a) == nil && a.LastSeq >= a.FirstSeq {
				c.acked.Add(a.LastSeq - a.FirstSeq + 1)
			}
		case protocol.TypeError:
			c.rejected.Add(1)
		case protocol.TypeCommand:
			var cmd protocol.Command
			if json.Unmarshal(data, &cmd) != nil {
				continue
			}
			resp := protocol.CommandResponse{Type: protocol.TypeCommandResponse, RequestID: cmd.RequestID, Command: cmd.Command, Success: true}
			switch cmd.Command {
			case protocol.CommandGetStatus:
				resp.Result = c.status()
			case protocol.CommandGetConfig:
				resp.Result = json.RawMessage(`{"terminal_id":"` + c.id + `","websocket_timeout":30,"reconnect_attempts":10}`)
			case protocol.CommandGetLogs:
				resp.Result = c.getLogs(cmd.Params)
			case protocol.CommandPing:
				resp.Result = json.RawMessage(`{}`)
			default:
				resp.Success, resp.Error = false, "unknown command "+cmd.Command
			}
			_ = c.send(ctx, resp)
		}
	}
}

// logLine sends one line as its own logs message.
func (c *perLine) logLine(ctx context.Context, l line) error {
	now := time.Now()
	c.wmu.Lock()
	c.seq++
	e := protocol.LogEntry{Seq: c.seq, Time: now.UTC(), Level: l.level, Message: l.msg, Source: l.source}
	if c.seed {
		c.recent = append(c.recent, e)
		if len(c.recent) > 100 {
			c.recent = c.recent[len(c.recent)-100:]
		}
	}
	c.sentAt[e.Seq] = now
	c.wmu.Unlock()
	m := protocol.Logs{Type: protocol.TypeLogs, Entries: []protocol.LogEntry{e}}
	if c.seed {
		m.Ack = protocol.AckDeferred
	}
	return c.send(ctx, m)
}

// getLogs answers get_logs as the seed's terminal does: the newest count
// lines (100 by default) it logged. The per-line client has none to give.
func (c *perLine) getLogs(params json.RawMessage) json.RawMessage {
	if !c.seed {
		return json.RawMessage(`{"entries":[]}`)
	}
	var p protocol.GetLogsParams
	_ = json.Unmarshal(params, &p)
	if p.Count <= 0 {
		p.Count = 100
	}
	c.wmu.Lock()
	entries := c.recent[max(0, len(c.recent)-p.Count):]
	raw, _ := json.Marshal(protocol.GetLogsResult{Entries: entries})
	c.wmu.Unlock()
	return raw
}

// handedAt returns when line seq was handed to the client.
func (c *perLine) handedAt(seq uint64) (time.Time, bool) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	t, ok := c.sentAt[seq]
	return t, ok
}

func (c *perLine) send(ctx context.Context, msg any) error {
	body, err := protocol.Encode(msg)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := c.conn.Write(wctx, websocket.MessageText, body); err != nil {
		return fmt.Errorf("per-line terminal %s: write: %w", c.id, err)
	}
	c.lastWrite.Store(time.Now().UnixNano())
	return nil
}

// status is a report of the same shape and size as the Go agent's.
func (c *perLine) status() json.RawMessage {
	c.wmu.Lock()
	seq := c.seq
	c.wmu.Unlock()
	raw, _ := json.Marshal(agent.StatusReport{
		Sample: sysinfo.Sample{
			Hostname: c.id, CPUPercent: 12.531328320802004, MemoryPercent: 41.07421875, DiskPercent: 63.20734214782715,
			DiskPath: "/var/lib/edgesync-agent", Load1: 0.41, Load5: 0.38, Load15: 0.35,
			UptimeSeconds: uint64(86400 + time.Since(c.start).Seconds()),
		},
		TerminalID: c.id, AgentVersion: "per-line", ConfigVersion: "9f2c61e0aa41", Time: time.Now().UTC(),
		Connected: true, NextSeq: seq + 1, LastAckSeq: c.acked.Load(),
	})
	return raw
}

// close ends the connection normally and waits for the reader.
func (c *perLine) close() {
	_ = c.conn.Close(websocket.StatusNormalClosure, "benchmark over")
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		c.conn.CloseNow()
	}
}
