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

// perLine is the literal per-line baseline: a terminal speaking the
// protocol as the source system sends its data. Every log line is its own
// logs message (one entry, no compression) the moment it is written, so
// its own invocation and its own stored item; a status report every 30 s;
// a heartbeat only when nothing else went out for 30 s. It answers the
// pulls after hello and ignores what it does not know (acks are counted).
type perLine struct {
	id    string
	conn  *websocket.Conn
	wmu   sync.Mutex
	seq   uint64
	start time.Time

	lastWrite atomic.Int64 // unix nanoseconds
	acked     atomic.Uint64
	rejected  atomic.Int64
	done      chan struct{}
}

func dialPerLine(ctx context.Context, wsURL, id, token string) (*perLine, error) {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(dctx, wsURL+"?terminal_id="+id, &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer " + token}},
	})
	if err != nil {
		return nil, fmt.Errorf("per-line terminal %s: connect: %w", id, err)
	}
	conn.SetReadLimit(protocol.MaxMessageBytes)
	c := &perLine{id: id, conn: conn, start: time.Now(), done: make(chan struct{})}
	if err := c.send(ctx, protocol.Hello{Type: protocol.TypeHello, TerminalID: id, AgentVersion: "per-line"}); err != nil {
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
				resp.Result = json.RawMessage(`{"entries":[]}`)
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
	c.wmu.Lock()
	c.seq++
	seq := c.seq
	c.wmu.Unlock()
	return c.send(ctx, protocol.Logs{Type: protocol.TypeLogs, Entries: []protocol.LogEntry{{
		Seq: seq, Time: time.Now().UTC(), Level: l.level, Message: l.msg, Source: l.source,
	}}})
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
