package fleet

import (
	"encoding/json"
	"time"
)

// A rollout's records: the rollout, its waves and their counters, its
// targets (one per terminal) and the spec a user starts it with. See
// rollouts.go for what a rollout does and who may do what.

// RolloutState is where a rollout is in its life.
type RolloutState string

// Rollout states. Running, paused and rolling back rollouts are active:
// the scheduler visits them.
const (
	RolloutRunning     RolloutState = "running"
	RolloutPaused      RolloutState = "paused"
	RolloutCompleted   RolloutState = "completed"
	RolloutAborted     RolloutState = "aborted"
	RolloutCancelled   RolloutState = "cancelled"
	RolloutRollingBack RolloutState = "rolling_back"
	RolloutRolledBack  RolloutState = "rolled_back"
)

// Active reports whether the rollout has work left for the scheduler.
func (s RolloutState) Active() bool {
	return s == RolloutRunning || s == RolloutPaused || s == RolloutRollingBack
}

// WavePhase is where the current wave of a running or paused rollout is.
type WavePhase string

// Wave phases: due (it starts at NextWaveAt), sending (set_config going out
// since PhaseAt), waiting (sent; over when every terminal answered or at
// WaveDeadline).
const (
	PhaseDue     WavePhase = "due"
	PhaseSending WavePhase = "sending"
	PhaseWaiting WavePhase = "waiting"
)

// TargetState is the outcome of one terminal of a wave (and of its
// catch-up or rollback).
type TargetState string

// Target states.
const (
	TargetPending   TargetState = "pending"
	TargetSucceeded TargetState = "succeeded"
	TargetFailed    TargetState = "failed"
	TargetTimedOut  TargetState = "timed_out"
	// TargetOffline: the terminal was offline; its desired config was
	// recorded and is delivered when it reconnects.
	TargetOffline TargetState = "offline"
	// TargetSkipped: nothing was sent (Reason says why).
	TargetSkipped TargetState = "skipped"
)

// Rollout is a group config rollout.
type Rollout struct {
	ID    string `json:"id"`
	Group string `json:"group"`
	// Config is the whole desired config, or Patch a JSON merge patch
	// (RFC 7396) applied to each terminal's config: one of the two.
	Config json.RawMessage `json:"config,omitempty"`
	Patch  json.RawMessage `json:"patch,omitempty"`
	// WaveSize is the number of terminals per wave (the last may hold
	// fewer); WaveInterval the pause between a wave's end and the next
	// wave's start.
	WaveSize     int           `json:"waveSize"`
	WaveInterval time.Duration `json:"-"`
	// AbortAbove stops the rollout when more than this share of a wave's
	// reached terminals (succeeded, failed or timed out) failed or timed out.
	AbortAbove float64 `json:"abortAbove"`
	// OverrideTerminalConfig includes terminals that have their own
	// desired config (see the precedence rule).
	OverrideTerminalConfig bool `json:"overrideTerminalConfig,omitempty"`
	// Total is the number of terminals, Waves the number of waves.
	Total int `json:"total"`
	Waves int `json:"waves"`

	State RolloutState `json:"state"`
	// Wave is the current wave (0-based) and Phase where it is, since
	// PhaseAt (while sending: since its sender took the wave on).
	Wave    int       `json:"wave"`
	Phase   WavePhase `json:"phase,omitempty"`
	PhaseAt time.Time `json:"phaseAt,omitzero"`
	// WaveSent is the number of the current wave's terminals handled so
	// far, in the wave's order (sent set_config, or recorded offline or
	// skipped): a wave is sent at the service's pace over several
	// invocations.
	WaveSent     int       `json:"waveSent,omitempty"`
	NextWaveAt   time.Time `json:"nextWaveAt,omitzero"`
	WaveDeadline time.Time `json:"waveDeadline,omitzero"`
	// RollbackWaves is the number of waves a rollback restores (those
	// sent), RolledBackWaves how many it has restored.
	RollbackWaves   int `json:"rollbackWaves,omitempty"`
	RolledBackWaves int `json:"rolledBackWaves,omitempty"`
	// Reason says why the rollout stopped (an abort's figures).
	Reason string `json:"reason,omitempty"`

	CreatedAt time.Time `json:"createdAt"`
	CreatedBy string    `json:"createdBy"`
	// CreatorRole is the role of CreatedBy, named in the audit records of
	// the terminals the rollout changes.
	CreatorRole Role      `json:"-"`
	UpdatedAt   time.Time `json:"updatedAt,omitzero"`
	// Revision counts the record's writes (Store: optimistic concurrency).
	Revision uint64 `json:"revision"`
}

// waveLen is the number of terminals in wave i.
func (r Rollout) waveLen(i int) int {
	return max(0, min(r.WaveSize, r.Total-i*r.WaveSize))
}

// sentWaves is the number of waves that have sent something.
func (r Rollout) sentWaves() int {
	if r.State == RolloutCompleted {
		return r.Waves
	}
	if r.Phase == PhaseDue {
		return r.Wave
	}
	return min(r.Wave+1, r.Waves)
}

// WaveCounts are a wave's tallies: its terminals by outcome, and those of
// the catch-ups (offline terminals served when they reconnected) and of
// a rollback.
type WaveCounts struct {
	Succeeded      int `json:"succeeded"`
	Failed         int `json:"failed"`
	TimedOut       int `json:"timedOut"`
	Offline        int `json:"offline"`
	Skipped        int `json:"skipped"`
	CaughtUp       int `json:"caughtUp"`
	CatchUpFailed  int `json:"catchUpFailed"`
	RolledBack     int `json:"rolledBack"`
	RollbackFailed int `json:"rollbackFailed"`
}

// done is the number of terminals with an outcome for the wave.
func (c WaveCounts) done() int { return c.Succeeded + c.Failed + c.TimedOut + c.Offline + c.Skipped }

// add returns c plus d.
func (c WaveCounts) add(d WaveCounts) WaveCounts {
	return WaveCounts{
		Succeeded: c.Succeeded + d.Succeeded, Failed: c.Failed + d.Failed, TimedOut: c.TimedOut + d.TimedOut,
		Offline: c.Offline + d.Offline, Skipped: c.Skipped + d.Skipped,
		CaughtUp: c.CaughtUp + d.CaughtUp, CatchUpFailed: c.CatchUpFailed + d.CatchUpFailed,
		RolledBack: c.RolledBack + d.RolledBack, RollbackFailed: c.RollbackFailed + d.RollbackFailed,
	}
}

// count returns the counts of one outcome.
func count(s TargetState) WaveCounts {
	switch s {
	case TargetSucceeded:
		return WaveCounts{Succeeded: 1}
	case TargetFailed:
		return WaveCounts{Failed: 1}
	case TargetTimedOut:
		return WaveCounts{TimedOut: 1}
	case TargetOffline:
		return WaveCounts{Offline: 1}
	case TargetSkipped:
		return WaveCounts{Skipped: 1}
	}
	return WaveCounts{}
}

// Wave outcomes.
const (
	WavePassed  = "passed"
	WaveAborted = "aborted"
)

// RolloutWave is one wave of a rollout: its terminals, fixed when the
// rollout starts, and its tallies.
type RolloutWave struct {
	RolloutID string `json:"rolloutId"`
	Index     int    `json:"index"`
	// Terminals are the wave's terminals in the order they are sent to;
	// RolloutStore leaves them out (nil) where it says so, Size always
	// holding their number.
	Terminals  []string   `json:"terminals"`
	Size       int        `json:"size"`
	Counts     WaveCounts `json:"counts"`
	StartedAt  time.Time  `json:"startedAt,omitzero"`
	FinishedAt time.Time  `json:"finishedAt,omitzero"`
	// Outcome is "passed" or "aborted" once the wave is over.
	Outcome string `json:"outcome,omitempty"`
}

// RolloutTarget is one terminal reached by a rollout's wave.
type RolloutTarget struct {
	RolloutID  string      `json:"rolloutId"`
	TerminalID string      `json:"terminalId"`
	Wave       int         `json:"wave"`
	State      TargetState `json:"state"`
	// Reason is the terminal's error, or why it was skipped.
	Reason string `json:"reason,omitempty"`
	// RequestID is the wave's set_config command (none if not sent).
	RequestID string `json:"requestId,omitempty"`
	// Previous is the config the terminal had before (what a rollback
	// re-applies), TargetVersion the version of the config sent.
	Previous        json.RawMessage `json:"previous,omitempty"`
	PreviousVersion string          `json:"previousVersion,omitempty"`
	TargetVersion   string          `json:"targetVersion,omitempty"`
	SentAt          time.Time       `json:"sentAt,omitzero"`
	CompletedAt     time.Time       `json:"completedAt,omitzero"`
	// Deadline is the deadline of the last command sent for the target.
	Deadline time.Time `json:"deadline,omitzero"`
	// CatchUp is the delivery to an offline terminal when it reconnected.
	CatchUp          TargetState `json:"catchUp,omitempty"`
	CatchUpRequestID string      `json:"catchUpRequestId,omitempty"`
	// Rollback is the state of the rollback of this terminal.
	Rollback          TargetState `json:"rollback,omitempty"`
	RollbackReason    string      `json:"rollbackReason,omitempty"`
	RollbackRequestID string      `json:"rollbackRequestId,omitempty"`
	Revision          uint64      `json:"-"`
}

// effective is the target as a reader should see it at now: a command
// pending past its deadline reads as timed out.
func (t RolloutTarget) effective(now time.Time) RolloutTarget {
	late := !t.Deadline.IsZero() && !now.Before(t.Deadline)
	for _, st := range []*TargetState{&t.State, &t.CatchUp, &t.Rollback} {
		if *st == TargetPending && late {
			*st = TargetTimedOut
		}
	}
	return t
}

// RolloutSpec is what a user asks for with PUT /groups/{group}/config.
type RolloutSpec struct {
	// Config is the whole desired config, or Patch a JSON merge patch:
	// exactly one of them, a JSON object of at most 64 KB.
	Config json.RawMessage `json:"config,omitempty"`
	Patch  json.RawMessage `json:"patch,omitempty"`
	// WaveSize (1 to 1000 terminals) or WavePercent (of the group's
	// terminals, above 0 and up to 100, rounded up): at most one; neither
	// means one wave of every terminal. Whatever is asked, a wave holds at
	// most 1,000 terminals (maxWaveSize): a larger share, or neither on a
	// group of more than 1,000, makes waves of 1,000. A rollout has at
	// most 100 waves.
	WaveSize    int     `json:"waveSize,omitempty"`
	WavePercent float64 `json:"wavePercent,omitempty"`
	// WaveIntervalSeconds is the pause between waves (0 to 86400; the
	// scheduler runs every minute, so a wave starts at its first run after
	// the pause).
	WaveIntervalSeconds float64 `json:"waveIntervalSeconds,omitempty"`
	// AbortAbove is the share (0 to 1) of a wave's reached terminals that
	// may fail or time out before the rollout stops; default 0.1.
	AbortAbove *float64 `json:"abortAbove,omitempty"`
	// OverrideTerminalConfig includes terminals with their own desired config.
	OverrideTerminalConfig bool `json:"overrideTerminalConfig,omitempty"`
}

// Limits of a rollout.
const (
	maxRolloutTerminals = 10000
	maxRolloutWaves     = 100
	// maxWaveSize bounds every wave, however it was asked for: a wave's
	// terminal list is read whole by each of its senders and deciders, and
	// its answers come back about as fast as it is sent.
	maxWaveSize       = 1000
	maxWaveInterval   = 24 * time.Hour
	defaultAbortAbove = 0.1
	// maxRolloutPage bounds a page of a group's rollouts.
	maxRolloutPage = 100
)

// Audit actions of rollouts. The terminals a rollout changes get
// AuditConfigSet records naming the rollout.
const (
	AuditRolloutStart      = "rollout.start"
	AuditRolloutPause      = "rollout.pause"
	AuditRolloutResume     = "rollout.resume"
	AuditRolloutCancel     = "rollout.cancel"
	AuditRolloutRollback   = "rollout.rollback"
	AuditRolloutWaveStart  = "rollout.wave.start"
	AuditRolloutWaveFinish = "rollout.wave.finish"
	AuditRolloutRolledBack = "rollout.rollback.wave"
)
