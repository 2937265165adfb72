package fleet

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Config holds the service's timing parameters. Every one of them is
// configuration (DESIGN §1); DefaultConfig gives the source document's values.
type Config struct {
	// ConfigTTL, LogsTTL and StatusTTL are how long synced data counts as
	// fresh (the source's cache timeouts: 300 s, 1800 s, 60 s).
	ConfigTTL time.Duration
	LogsTTL   time.Duration
	StatusTTL time.Duration
	// CommandTimeout is the default deadline of a command (10 s).
	CommandTimeout time.Duration
	// HeartbeatInterval is the heartbeat the server expects from terminals (30 s).
	HeartbeatInterval time.Duration
	// InactivityTimeout: a terminal not heard from for this long reads as
	// offline even if its $disconnect never arrived (120 s).
	InactivityTimeout time.Duration
	// ConnectionTTL is the retention of a connection record; API Gateway
	// closes connections after 2 h, so the default is 2 h 10 min.
	ConnectionTTL time.Duration
	// LogRetention, StatusRetention and CommandRetention set the DynamoDB TTL
	// attribute of log chunks, status history samples and command records.
	LogRetention     time.Duration
	StatusRetention  time.Duration
	CommandRetention time.Duration
	// PullLogCount is the count of the get_logs pull sent on hello (100).
	PullLogCount int
}

// DefaultConfig returns the defaults of the source document.
func DefaultConfig() Config {
	return Config{
		ConfigTTL:         300 * time.Second,
		LogsTTL:           1800 * time.Second,
		StatusTTL:         60 * time.Second,
		CommandTimeout:    10 * time.Second,
		HeartbeatInterval: 30 * time.Second,
		InactivityTimeout: 120 * time.Second,
		ConnectionTTL:     2*time.Hour + 10*time.Minute,
		LogRetention:      7 * 24 * time.Hour,
		StatusRetention:   24 * time.Hour,
		CommandRetention:  7 * 24 * time.Hour,
		PullLogCount:      100,
	}
}

// LoadConfig reads optional overrides from the environment through getenv:
// CONFIG_TTL, LOGS_TTL, STATUS_TTL, COMMAND_TIMEOUT, HEARTBEAT_INTERVAL,
// INACTIVITY_TIMEOUT, CONNECTION_TTL, LOG_RETENTION, STATUS_RETENTION,
// COMMAND_RETENTION, each a Go duration ("5m") or whole seconds ("300"),
// and PULL_LOG_COUNT. An unset variable keeps its default; a malformed one
// is an error naming the variable.
func LoadConfig(getenv func(string) string) (Config, error) {
	c := DefaultConfig()
	durations := []struct {
		name string
		dst  *time.Duration
	}{
		{"CONFIG_TTL", &c.ConfigTTL},
		{"LOGS_TTL", &c.LogsTTL},
		{"STATUS_TTL", &c.StatusTTL},
		{"COMMAND_TIMEOUT", &c.CommandTimeout},
		{"HEARTBEAT_INTERVAL", &c.HeartbeatInterval},
		{"INACTIVITY_TIMEOUT", &c.InactivityTimeout},
		{"CONNECTION_TTL", &c.ConnectionTTL},
		{"LOG_RETENTION", &c.LogRetention},
		{"STATUS_RETENTION", &c.StatusRetention},
		{"COMMAND_RETENTION", &c.CommandRetention},
	}
	for _, d := range durations {
		v := strings.TrimSpace(getenv(d.name))
		if v == "" {
			continue
		}
		parsed, err := ParseDuration(v)
		if err != nil {
			return Config{}, fmt.Errorf("%s: %w", d.name, err)
		}
		*d.dst = parsed
	}
	if v := strings.TrimSpace(getenv("PULL_LOG_COUNT")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxLogCount {
			return Config{}, fmt.Errorf("PULL_LOG_COUNT: %q is not a whole number from 1 to %d", v, MaxLogCount)
		}
		c.PullLogCount = n
	}
	return c, c.Validate()
}

// Validate checks that every duration is positive and that the inactivity
// timeout leaves room for at least one missed heartbeat.
func (c Config) Validate() error {
	checks := []struct {
		name string
		d    time.Duration
	}{
		{"CONFIG_TTL", c.ConfigTTL}, {"LOGS_TTL", c.LogsTTL}, {"STATUS_TTL", c.StatusTTL},
		{"COMMAND_TIMEOUT", c.CommandTimeout}, {"HEARTBEAT_INTERVAL", c.HeartbeatInterval},
		{"INACTIVITY_TIMEOUT", c.InactivityTimeout}, {"CONNECTION_TTL", c.ConnectionTTL},
		{"LOG_RETENTION", c.LogRetention}, {"STATUS_RETENTION", c.StatusRetention},
		{"COMMAND_RETENTION", c.CommandRetention},
	}
	for _, ch := range checks {
		if ch.d <= 0 {
			return fmt.Errorf("%s: must be positive, got %v", ch.name, ch.d)
		}
	}
	if c.InactivityTimeout <= c.HeartbeatInterval {
		return fmt.Errorf("INACTIVITY_TIMEOUT (%v) must exceed HEARTBEAT_INTERVAL (%v)", c.InactivityTimeout, c.HeartbeatInterval)
	}
	if c.PullLogCount < 1 || c.PullLogCount > MaxLogCount {
		return fmt.Errorf("PULL_LOG_COUNT: must be from 1 to %d, got %d", MaxLogCount, c.PullLogCount)
	}
	return nil
}

// ParseDuration accepts a Go duration ("90s", "5m") or whole seconds ("300").
func ParseDuration(s string) (time.Duration, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 || n > int64(100*365*24*time.Hour/time.Second) {
			return 0, fmt.Errorf("%q seconds is out of range", s)
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is neither whole seconds nor a duration like 5m", s)
	}
	return d, nil
}
