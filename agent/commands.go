package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/edgesync/edgesync/agent/batch"
	"github.com/edgesync/edgesync/protocol"
)

// DefaultGetLogsCount is get_logs' count when the params give none.
const DefaultGetLogsCount = 100

// command answers one command. A command without a usable request id cannot
// be answered (the server would reject the response) and is only logged.
func (s *session) command(ctx context.Context, cmd protocol.Command) error {
	if !protocol.ValidID(cmd.RequestID) {
		s.log.Warn("ignoring command with an invalid request_id", "command", cmd.Command, "request_id", cmd.RequestID)
		return nil
	}
	name := cmd.Command
	if name == "" || len(name) > 64 {
		name = "unknown"
	}
	s.log.Debug("command", "command", cmd.Command, "request_id", cmd.RequestID)
	defer func() { s.answerSent = time.Now() }()
	fail := func(err error) error {
		return s.send(ctx, protocol.CommandResponse{
			Type: protocol.TypeCommandResponse, RequestID: cmd.RequestID, Command: name,
			Success: false, Error: err.Error(),
		})
	}
	var result any
	switch cmd.Command {
	case protocol.CommandPing:
		result = map[string]any{"pong": true, "time": time.Now().UTC()}
	case protocol.CommandGetStatus:
		result = s.a.Status(ctx)
	case protocol.CommandGetConfig:
		result = s.a.Config().Document()
	case protocol.CommandSetConfig:
		var p protocol.SetConfigParams
		if err := decodeParams(cmd.Params, &p); err != nil {
			return fail(err)
		}
		if !protocol.IsObject(p.Config) {
			return fail(fmt.Errorf(`params: "config" must be a JSON object`))
		}
		version, err := s.a.SetConfig(p.Config, p.Version)
		if err != nil {
			return fail(err)
		}
		result = protocol.SetConfigResult{Version: version}
	case protocol.CommandGetLogs:
		body, err := s.getLogs(cmd)
		if err != nil {
			return fail(err)
		}
		return s.write(ctx, body)
	default:
		return fail(fmt.Errorf("unknown command %q (supported: %s)", truncateText(cmd.Command, 64), strings.Join(protocol.Commands, ", ")))
	}
	raw, err := json.Marshal(result)
	if err != nil {
		return fail(fmt.Errorf("encode result: %v", err))
	}
	body, err := protocol.Encode(protocol.CommandResponse{
		Type: protocol.TypeCommandResponse, RequestID: cmd.RequestID, Command: name, Success: true, Result: raw,
	})
	if err != nil {
		return fail(fmt.Errorf("encode response: %v", err))
	}
	if len(body) > protocol.MaxFrameBytes {
		return fail(fmt.Errorf("result is %d bytes, over the %d-byte message limit", len(body), protocol.MaxFrameBytes))
	}
	return s.write(ctx, body)
}

// getLogs answers get_logs from the ring of recent lines: the newest count
// lines with Seq > since_seq, in order, as many as fit in one message.
func (s *session) getLogs(cmd protocol.Command) ([]byte, error) {
	var p protocol.GetLogsParams
	if err := decodeParams(cmd.Params, &p); err != nil {
		return nil, err
	}
	switch {
	case p.Count < 0:
		return nil, fmt.Errorf(`params: "count" must be 0 or more, got %d`, p.Count)
	case p.Count == 0:
		p.Count = DefaultGetLogsCount
	}
	entries := s.outgoing(s.a.ring.newest(p.SinceSeq, p.Count))
	wrap := func(r protocol.GetLogsResult) ([]byte, error) {
		raw, err := json.Marshal(r)
		if err != nil {
			return nil, err
		}
		return protocol.Encode(protocol.CommandResponse{
			Type: protocol.TypeCommandResponse, RequestID: cmd.RequestID, Command: cmd.Command, Success: true, Result: raw,
		})
	}
	body, _, err := batch.Newest(entries, s.a.spool.Stats().Dropped, protocol.MaxFrameBytes, wrap)
	return body, err
}

// decodeParams decodes a command's params (absent or null means none).
func decodeParams(raw json.RawMessage, v any) error {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return nil
	}
	if err := json.Unmarshal(t, v); err != nil {
		return fmt.Errorf("params: %v", err)
	}
	return nil
}

func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
