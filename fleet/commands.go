package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/edgesync/edgesync/protocol"
)

// SendCommand records a command for an online terminal and pushes it. The
// call returns at once with the pending command; its outcome is read with
// Command. name must be one of protocol.Commands other than set_config
// (config changes go through SetConfig) and params a JSON object or empty;
// timeout 0 means CommandTimeout (at most 5 minutes). ErrOffline when the
// terminal has no live connection. It needs the operator role, is audited,
// and returns the command as p sees it.
func (s *Service) SendCommand(ctx context.Context, p Principal, id, name string, params json.RawMessage, timeout time.Duration) (c Command, err error) {
	if err := s.allow(ctx, p, opSendCommand, id); err != nil {
		return Command{}, err
	}
	if name == protocol.CommandSetConfig {
		return Command{}, fmt.Errorf("change config with PUT /terminals/{id}/config: it is validated, versioned and audited: %w", ErrInvalid)
	}
	t, err := s.visible(ctx, p, opSendCommand, id)
	if err != nil {
		return Command{}, err
	}
	err = s.audited(ctx, p, AuditCommand, t.ID, map[string]any{"command": name, "params": params}, func() error {
		c, err = s.sendCommand(ctx, t, name, params, p.Subject, timeout)
		return err
	})
	return p.command(c), err
}

// sendCommand validates and sends a command to t for actor.
func (s *Service) sendCommand(ctx context.Context, t Terminal, name string, params json.RawMessage, actor string, timeout time.Duration) (Command, error) {
	if !knownCommand(name) {
		return Command{}, fmt.Errorf("command %q: must be one of %v: %w", truncate(name, 64), protocol.Commands, ErrInvalid)
	}
	if len(params) > 0 && string(params) != "null" && !protocol.IsObject(params) {
		return Command{}, fmt.Errorf("params: must be a JSON object: %w", ErrInvalid)
	}
	if timeout < 0 || timeout > 5*time.Minute {
		return Command{}, fmt.Errorf("timeout %v: must be from 0 to 5m: %w", timeout, ErrInvalid)
	}
	if len(params) > 0 {
		params = compact(params)
	}
	now := s.now()
	if !s.online(t, now) {
		return Command{}, fmt.Errorf("command %s for %s: %w", name, t.ID, ErrOffline)
	}
	c := s.newCommand(t.ID, name, params, actor, now, timeout)
	if err := s.store.PutCommands(ctx, c); err != nil {
		return Command{}, fmt.Errorf("record command %s for %s: %w", name, t.ID, err)
	}
	if err := s.send(ctx, t.ID, t.ConnectionID, c.message()); err != nil {
		if errors.Is(err, ErrGone) {
			return Command{}, fmt.Errorf("command %s for %s: %w", name, t.ID, ErrOffline)
		}
		return Command{}, err
	}
	return c, nil
}

func knownCommand(name string) bool {
	for _, c := range protocol.Commands {
		if c == name {
			return true
		}
	}
	return false
}

// Command returns a command with its effective state, as p sees it.
// ErrNotFound if unknown.
func (s *Service) Command(ctx context.Context, p Principal, id, requestID string) (Command, error) {
	t, err := s.access(ctx, p, opReadCommand, id)
	if err != nil {
		return Command{}, err
	}
	if !protocol.ValidID(requestID) {
		return Command{}, fmt.Errorf("request id %q: %w", truncate(requestID, 64), ErrInvalid)
	}
	now := s.now()
	c, err := s.store.Command(ctx, t.ID, requestID, now)
	if err != nil {
		return Command{}, fmt.Errorf("command %s of %s: %w", requestID, t.ID, err)
	}
	return p.command(c.Effective(now)), nil
}

// Sync pushes a fresh pull (status, config, logs since what is stored) to an
// online terminal and returns the pending commands. ErrOffline otherwise.
// It needs the operator role and is audited.
func (s *Service) Sync(ctx context.Context, p Principal, id string) (cmds []Command, err error) {
	t, err := s.access(ctx, p, opSync, id)
	if err != nil {
		return nil, err
	}
	err = s.audited(ctx, p, AuditSync, t.ID, nil, func() error {
		if !s.online(t, s.now()) {
			return fmt.Errorf("sync %s: %w", t.ID, ErrOffline)
		}
		cmds, err = s.pull(ctx, t.ID, t.ConnectionID, p.Subject, t.LastSeq)
		if errors.Is(err, ErrGone) {
			return fmt.Errorf("sync %s: %w", t.ID, ErrOffline)
		}
		return err
	})
	return p.commands(cmds), err
}

// pull records and pushes get_status, get_config and get_logs (count
// PullLogCount, since_seq = what is already stored) to connID, or only the
// commands named.
func (s *Service) pull(ctx context.Context, terminalID, connID, actor string, lastSeq uint64, names ...string) ([]Command, error) {
	if len(names) == 0 {
		names = []string{protocol.CommandGetStatus, protocol.CommandGetConfig, protocol.CommandGetLogs}
	}
	now := s.now()
	var cmds []Command
	for _, name := range names {
		var params json.RawMessage
		if name == protocol.CommandGetLogs {
			params, _ = json.Marshal(protocol.GetLogsParams{Count: s.cfg.PullLogCount, SinceSeq: lastSeq})
		}
		cmds = append(cmds, s.newCommand(terminalID, name, params, actor, now, 0))
	}
	if err := s.store.PutCommands(ctx, cmds...); err != nil {
		return nil, fmt.Errorf("record pull commands: %w", err)
	}
	for _, c := range cmds {
		if err := s.send(ctx, terminalID, connID, c.message()); err != nil {
			return cmds, err
		}
	}
	return cmds, nil
}

func (s *Service) newCommand(terminalID, name string, params json.RawMessage, actor string, now time.Time, timeout time.Duration) Command {
	if timeout <= 0 {
		timeout = s.cfg.CommandTimeout
	}
	return Command{
		TerminalID: terminalID, RequestID: s.newID(), Name: name, Params: params,
		State: CommandPending, CreatedAt: now, Deadline: now.Add(timeout), Actor: actor,
		ExpiresAt: now.Add(s.cfg.CommandRetention),
	}
}

func (c Command) message() protocol.Command {
	return protocol.Command{Type: protocol.TypeCommand, RequestID: c.RequestID, Command: c.Name, Params: c.Params}
}

func (s *Service) commandResponse(ctx context.Context, in inbound, m *protocol.CommandResponse) error {
	cmd, err := s.store.Command(ctx, in.terminalID, m.RequestID, in.now)
	if errors.Is(err, ErrNotFound) {
		return &protocol.Error{Code: protocol.CodeInvalid, Message: fmt.Sprintf("unknown request_id %q", m.RequestID)}
	}
	if err != nil {
		return fmt.Errorf("command response %s: %w", m.RequestID, err)
	}
	if cmd.Name != m.Command {
		return &protocol.Error{Code: protocol.CodeInvalid, Message: fmt.Sprintf("request_id %q was a %s command, not %s", m.RequestID, cmd.Name, m.Command)}
	}
	s.millis(MetricSyncLatency, in.now.Sub(cmd.CreatedAt))
	completion := Completion{State: CommandSucceeded, Result: m.Result, At: in.now}
	var dataErr error
	if m.Success {
		var summary json.RawMessage
		summary, dataErr = s.storeResult(ctx, in, cmd, m.Result)
		var perr *protocol.Error
		if errors.As(dataErr, &perr) {
			completion = Completion{State: CommandFailed, Error: "invalid result: " + perr.Message, At: in.now}
		} else if dataErr != nil {
			return dataErr
		}
		if summary != nil {
			completion.Result = summary
		}
	} else {
		completion = Completion{State: CommandFailed, Error: m.Error, Result: m.Result, At: in.now}
		if completion.Error == "" {
			completion.Error = "terminal reported failure"
		}
	}
	if cmd.Name == protocol.CommandGetLogs && completion.State == CommandFailed {
		// A failed get_logs keeps no result: it may hold log lines in a
		// form (base64 gzip) the masking of reads cannot see into.
		completion.Result = nil
	}
	if len(completion.Result) > maxResultBytes {
		completion.Result = nil // the data itself is stored where it belongs; keep the record small
	}
	err = s.store.CompleteCommand(ctx, in.terminalID, m.RequestID, completion)
	switch {
	case errors.Is(err, ErrConflict):
		slog.InfoContext(ctx, "late or repeated command response", "terminal", in.terminalID, "request", m.RequestID, "command", m.Command)
	case err != nil:
		return fmt.Errorf("complete command %s: %w", m.RequestID, err)
	default:
		s.rolloutAnswered(ctx, in, cmd, completion) // a rollout's set_config (rolloutanswers.go)
	}
	return dataErr
}

// maxResultBytes bounds the result kept on a command record (DynamoDB items
// are at most 400 KB; results are stored in their own items anyway).
const maxResultBytes = 64 * 1024

// storeResult stores the data a successful answer carries where it
// belongs (config, status, log chunks). It returns the result to keep on
// the command record instead of the terminal's when it must not be kept
// as sent: a get_logs answer keeps a summary (GetLogsSummary), never its
// lines, which are stored as log chunks and read through the log reads'
// masking (a gzip answer's lines are base64 no masking could see into).
// Other results are kept as sent and masked by key when read.
func (s *Service) storeResult(ctx context.Context, in inbound, cmd Command, result json.RawMessage) (json.RawMessage, error) {
	switch cmd.Name {
	case protocol.CommandGetConfig:
		if !protocol.IsObject(result) {
			return nil, &protocol.Error{Code: protocol.CodeInvalid, Message: `get_config: "result" must be a JSON object`}
		}
		snap := Snapshot{Data: compact(result), SyncedAt: in.now}
		snap.Version = ConfigVersion(snap.Data)
		if err := s.store.PutConfig(ctx, in.terminalID, snap); err != nil {
			return nil, fmt.Errorf("store config for %s: %w", in.terminalID, err)
		}
	case protocol.CommandGetStatus:
		return nil, s.status(ctx, in, result)
	case protocol.CommandGetLogs:
		return s.storeLogsResult(ctx, in, result)
	case protocol.CommandSetConfig:
		// The terminal runs a new config: pull it so the reported copy
		// follows. The set_config succeeded whatever happens to this pull
		// (a stale config read refreshes it later), so a failure here is
		// logged, never allowed to keep the command from completing.
		getConfig := s.newCommand(in.terminalID, protocol.CommandGetConfig, nil, "system:set_config", in.now, 0)
		err := s.store.PutCommands(ctx, getConfig)
		if err == nil {
			err = s.send(ctx, in.terminalID, in.connID, getConfig.message())
		}
		if err != nil {
			slog.WarnContext(ctx, "pull config after set_config", "terminal", in.terminalID, "error", err)
		}
	}
	return nil, nil
}

// GetLogsSummary is what a get_logs command record keeps of its result:
// how many lines came and their range, never the lines themselves.
type GetLogsSummary struct {
	Count    int    `json:"count"`
	FirstSeq uint64 `json:"firstSeq,omitempty"`
	LastSeq  uint64 `json:"lastSeq,omitempty"`
	Dropped  uint64 `json:"dropped,omitempty"`
}

// storeLogsResult stores the lines of a get_logs answer and returns its
// summary. A malformed answer is the *protocol.Error that says why.
func (s *Service) storeLogsResult(ctx context.Context, in inbound, result json.RawMessage) (json.RawMessage, error) {
	var r protocol.GetLogsResult
	if err := json.Unmarshal(result, &r); err != nil {
		var perr *protocol.Error
		if errors.As(err, &perr) {
			return nil, perr
		}
		return nil, &protocol.Error{Code: protocol.CodeInvalid, Message: `get_logs: "result" must be an object like {"entries": [...]}: ` + err.Error()}
	}
	entries, err := protocol.InflateEntries(r.Encoding, r.Entries, r.Data)
	if err != nil {
		return nil, err
	}
	sum := GetLogsSummary{Count: len(entries), Dropped: r.Dropped}
	if len(entries) > 0 {
		if err := protocol.ValidateEntries(entries); err != nil {
			return nil, err
		}
		sum.FirstSeq, sum.LastSeq = entries[0].Seq, entries[len(entries)-1].Seq
		if err := s.storeLogs(ctx, in, entries, r.Dropped); err != nil {
			return nil, err
		}
	}
	raw, _ := json.Marshal(sum)
	return raw, nil
}
