package agent

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/edgesync/edgesync/agent/spool"
	"github.com/edgesync/edgesync/protocol"
)

// EnvPrefix prefixes the environment variable that overrides each config
// key: EDGESYNC_ and the key in upper case (EDGESYNC_SERVER_URL, ...).
const EnvPrefix = "EDGESYNC_"

// Redacted replaces secret values in the document get_config returns. A
// set_config document may carry it back to keep the current value.
const Redacted = "[redacted]"

// Seconds is a duration in seconds. In JSON it is a number of seconds
// (fractions allowed) or a Go duration string such as "110m".
type Seconds float64

// Duration converts s to a time.Duration.
func (s Seconds) Duration() time.Duration { return time.Duration(float64(s) * float64(time.Second)) }

// MarshalJSON writes s as a number of seconds.
func (s Seconds) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatFloat(float64(s), 'f', -1, 64)), nil
}

// UnmarshalJSON reads a number of seconds or a Go duration string.
func (s *Seconds) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err == nil {
		*s = Seconds(f)
		return nil
	}
	var str string
	if err := json.Unmarshal(b, &str); err != nil {
		return errors.New("want a number of seconds or a duration string like \"90s\"")
	}
	v, err := parseSeconds(str)
	if err != nil {
		return err
	}
	*s = v
	return nil
}

func parseSeconds(str string) (Seconds, error) {
	str = strings.TrimSpace(str)
	if f, err := strconv.ParseFloat(str, 64); err == nil {
		return Seconds(f), nil
	}
	d, err := time.ParseDuration(str)
	if err != nil {
		return 0, fmt.Errorf("want a number of seconds or a duration like \"90s\", got %q", str)
	}
	return Seconds(d.Seconds()), nil
}

// Config is the agent's configuration: the JSON document of its config
// file, which get_config returns (secrets redacted) and set_config replaces.
// Every key can be overridden by an environment variable (see EnvPrefix).
type Config struct {
	// TerminalID identifies the terminal (A-Z a-z 0-9 . _ : -, up to 128).
	// A JSON number is accepted as in older config files.
	TerminalID string `json:"terminal_id"`
	// ServerURL is the WebSocket endpoint, wss://host/stage.
	ServerURL string `json:"server_url"`
	// Token authenticates the terminal (sent as a bearer token).
	Token string `json:"token,omitempty"`
	// TokenFile, used when Token is empty, is read for the token at every
	// connection attempt (e.g. a systemd credential), so it can be rotated.
	TokenFile string `json:"token_file,omitempty"`
	// AllowInsecure permits ws:// to hosts other than localhost.
	AllowInsecure bool `json:"allow_insecure,omitempty"`
	// CAFile is an absolute path to a PEM bundle of certificate
	// authorities trusted for the server's certificate besides the
	// system's (a private gateway, a TLS-inspecting corporate proxy).
	CAFile string `json:"ca_file,omitempty"`
	// ProxyURL is the HTTPS proxy wss:// connections go through
	// (http://host:port or https://host:port, CONNECT). Empty: the
	// HTTPS_PROXY and NO_PROXY environment variables decide, as for other
	// programs. ws:// connections never use a proxy.
	ProxyURL string `json:"proxy_url,omitempty"`
	// ClientCertFile and ClientKeyFile are absolute paths to a PEM client
	// certificate and its key, presented to a gateway fronted by mutual
	// TLS. Both or neither.
	ClientCertFile string `json:"client_cert_file,omitempty"`
	ClientKeyFile  string `json:"client_key_file,omitempty"`
	// Profile names the preset the timing keys take when the config does
	// not set them (see Profiles): "default" (or empty) or "economy". The
	// cloud may change it (set_config, DefaultRemoteKeys): a change of
	// profile moves the keys the same document leaves as they were.
	Profile string `json:"profile,omitempty"`
	// WebSocketTimeout bounds connecting and each write.
	WebSocketTimeout Seconds `json:"websocket_timeout"`
	// ReconnectAttempts is how many connection attempts in a row may fail
	// before Run gives up; 0 (the default) retries forever, with the
	// capped backoff of DefaultBackoff.
	ReconnectAttempts int `json:"reconnect_attempts"`
	// StatusInterval is how often a status message is pushed.
	StatusInterval Seconds `json:"status_interval"`
	// HeartbeatInterval is the longest the agent stays silent: a heartbeat
	// goes when nothing else was sent for that long. It must stay below API
	// Gateway's 10-minute idle timeout (the server expects one every 30 s
	// and reads a terminal silent for 120 s as offline).
	HeartbeatInterval Seconds `json:"heartbeat_interval"`
	// AckTimeout is how long a logs batch may go unacknowledged before it
	// is sent again (or, with a server that acknowledges on request, how
	// long an asked-for ack may take).
	AckTimeout Seconds `json:"ack_timeout"`
	// AckInterval is, with a server that acknowledges on request
	// (protocol.FeatureAckRequest), the longest a sent batch goes before
	// the agent asks for an ack; it also asks every 32 batches, when
	// unacknowledged lines pass an eighth of spool_max_bytes and at
	// shutdown. Lines stay in the spool until then (a reconnect's welcome
	// acknowledges what is stored).
	AckInterval Seconds `json:"ack_interval"`
	// UrgentLevel is the level from which a line is sent at once, whatever
	// the batch window (debug, info, warn or error; "" sends none early).
	UrgentLevel string `json:"urgent_level"`
	// MaxConnectionAge is when the agent reconnects on its own, before API
	// Gateway's 2-hour connection limit.
	MaxConnectionAge Seconds `json:"max_connection_age"`
	// BatchWindowMS is how long new lines are collected before a batch goes
	// while the terminal is live: for a while after the server's live hint
	// (an operator reading its logs).
	BatchWindowMS int `json:"batch_window_ms"`
	// IdleBatchWindowMS is how long new lines are collected while nobody
	// reads the terminal's logs; they also go with each status report,
	// whichever comes first. A value below BatchWindowMS (0 included)
	// means BatchWindowMS: always send as if live.
	IdleBatchWindowMS int `json:"idle_batch_window_ms"`
	// BatchMaxBytes bounds one logs message including its envelope.
	BatchMaxBytes int `json:"batch_max_bytes"`
	// SpoolDir holds the spool of unacknowledged lines.
	SpoolDir string `json:"spool_dir"`
	// SpoolMaxBytes bounds the spool; beyond it the oldest lines are dropped
	// and counted.
	SpoolMaxBytes int64 `json:"spool_max_bytes"`
	// LogInputs lists files to follow; "-" is standard input.
	LogInputs []string `json:"log_inputs"`
	// LogLevel is the level of the agent's own diagnostics.
	LogLevel string `json:"log_level"`
}

// DefaultConfig returns the defaults every key falls back to: those of
// the default profile.
func DefaultConfig() Config {
	return Config{
		WebSocketTimeout:  30,
		ReconnectAttempts: DefaultReconnectAttempts,
		StatusInterval:    30,
		HeartbeatInterval: 30,
		AckTimeout:        10,
		AckInterval:       900,
		UrgentLevel:       protocol.LevelError,
		MaxConnectionAge:  110 * 60,
		BatchWindowMS:     250,
		IdleBatchWindowMS: 30000,
		BatchMaxBytes:     protocol.MaxFrameBytes,
		SpoolDir:          "/var/lib/edgesync-agent",
		SpoolMaxBytes:     64 << 20,
		LogInputs:         []string{},
		LogLevel:          "info",
	}
}

// Profiles are the presets of the timing keys, by profile name. "default"
// reports its status every 30 s (fresh for 90 s) and sends lines every
// 30 s nobody reads them; "economy" reports every 5 minutes (fresh for 10
// minutes: the status a reader sees is at most that old) and sends lines
// every 5 minutes. In both, lines at urgent_level (error) or above go at
// once, a read of the logs makes the terminal live (lines within
// batch_window_ms, 250 ms), and no line waits longer than the idle window.
var Profiles = map[string]map[string]any{
	ProfileDefault: {"status_interval": 30, "heartbeat_interval": 30, "idle_batch_window_ms": 30000, "ack_interval": 900},
	ProfileEconomy: {"status_interval": 300, "heartbeat_interval": 300, "idle_batch_window_ms": 300000, "ack_interval": 1200},
}

// Profile names.
const (
	ProfileDefault = "default"
	ProfileEconomy = "economy"
)

// profileConfig is DefaultConfig with the preset of profile (known).
func profileConfig(profile string) Config {
	cfg := DefaultConfig()
	if profile == "" {
		return cfg
	}
	cfg.Profile = profile
	fields := map[string]json.RawMessage{}
	for k, v := range Profiles[profile] {
		fields[k], _ = json.Marshal(v)
	}
	decodeFields(fields, &cfg)
	return cfg
}

// followProfile makes a change of profile move the preset keys a
// document leaves as they were: when fields name another profile than
// cur runs, a preset key whose value in fields is cur's value is dropped,
// so the new profile's preset applies to it. A key the document changes
// keeps the value it sets.
func followProfile(fields map[string]json.RawMessage, cur Config) {
	norm := func(p string) string {
		if p == "" {
			return ProfileDefault
		}
		return p
	}
	if norm(profileOf(fields)) == norm(cur.Profile) {
		return
	}
	var doc Config
	decodeFields(fields, &doc)
	vc, vd := reflect.ValueOf(cur), reflect.ValueOf(doc)
	for k := range Profiles[ProfileDefault] {
		if _, ok := fields[k]; !ok {
			continue
		}
		i := configFields[k]
		if reflect.DeepEqual(vd.Field(i).Interface(), vc.Field(i).Interface()) {
			delete(fields, k)
		}
	}
}

// profileOf reads the profile a document (after environment overrides)
// names; a problem is reported by decodeFields and problems.
func profileOf(fields map[string]json.RawMessage) string {
	var p string
	if raw, ok := fields["profile"]; ok && json.Unmarshal(raw, &p) == nil {
		if _, known := Profiles[p]; known {
			return p
		}
	}
	return ""
}

// LoadConfig reads the JSON config file at path (no file when path is
// empty), applies environment overrides read with getenv (none when nil)
// over it and the defaults, and validates the result. Errors name the file
// or variable, the key and what is wrong.
func LoadConfig(path string, getenv func(string) string) (Config, error) {
	var doc []byte
	if path != "" {
		var err error
		if doc, err = os.ReadFile(path); err != nil {
			return Config{}, fmt.Errorf("read config: %w", err)
		}
	}
	cfg, err := ParseConfig(doc, getenv)
	if err != nil && path != "" {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, err
}

// ParseConfig is LoadConfig for a document in memory; doc may be empty.
func ParseConfig(doc []byte, getenv func(string) string) (Config, error) {
	fields, err := parseDocument(doc)
	if err != nil {
		return Config{}, err
	}
	// Every problem at once: those of the environment, of each key's
	// type, then of the values (except keys already reported).
	problems, failed := applyEnv(fields, getenv)
	cfg := profileConfig(profileOf(fields))
	decodeProblems, decodeFailed := decodeFields(fields, &cfg)
	problems = append(problems, decodeProblems...)
	for k := range decodeFailed {
		failed[k] = true
	}
	for _, p := range cfg.problems() {
		if !failed[p.key] {
			problems = append(problems, p)
		}
	}
	if len(problems) > 0 {
		return Config{}, errors.Join(problems...)
	}
	return cfg, nil
}

// fieldError is a problem with one config key.
type fieldError struct{ key, msg string }

func (e *fieldError) Error() string { return e.key + ": " + e.msg }

// parseDocument splits a JSON object into its keys.
func parseDocument(doc []byte) (map[string]json.RawMessage, error) {
	fields := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(doc)) == 0 {
		return fields, nil
	}
	if err := json.Unmarshal(doc, &fields); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			line, col := position(doc, syn.Offset)
			return nil, fmt.Errorf("line %d column %d: %v", line, col, syn)
		}
		return nil, errors.New("config must be a JSON object")
	}
	if raw, ok := fields["terminal_id"]; ok {
		// Older config files have a numeric terminal id.
		var n json.Number
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if dec.Decode(&n) == nil {
			fields["terminal_id"], _ = json.Marshal(n.String())
		}
	}
	return fields, nil
}

func position(doc []byte, offset int64) (line, col int) {
	line, col = 1, 1
	for i := 0; i < int(offset) && i < len(doc); i++ {
		if doc[i] == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

// configFields maps JSON keys to Config field indexes.
var configFields = func() map[string]int {
	m := map[string]int{}
	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		m[name] = i
	}
	return m
}()

func knownKeys() string {
	keys := make([]string, 0, len(configFields))
	for k := range configFields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ", ")
}

// applyEnv overrides fields with EDGESYNC_<KEY> variables. It returns the
// problems and the keys they concern.
func applyEnv(fields map[string]json.RawMessage, getenv func(string) string) ([]error, map[string]bool) {
	failed := map[string]bool{}
	if getenv == nil {
		return nil, failed
	}
	t := reflect.TypeFor[Config]()
	var errs []error
	for key, i := range configFields {
		name := EnvPrefix + strings.ToUpper(key)
		v := getenv(name)
		if v == "" {
			continue
		}
		var raw any
		switch f := t.Field(i); {
		case f.Type == reflect.TypeFor[Seconds]():
			s, err := parseSeconds(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
				failed[key] = true
				continue
			}
			raw = s
		case f.Type.Kind() == reflect.String:
			raw = v
		case f.Type.Kind() == reflect.Int || f.Type.Kind() == reflect.Int64:
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: want an integer, got %q", name, v))
				failed[key] = true
				continue
			}
			raw = n
		case f.Type.Kind() == reflect.Bool:
			b, err := strconv.ParseBool(strings.TrimSpace(v))
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: want true or false, got %q", name, v))
				failed[key] = true
				continue
			}
			raw = b
		case f.Type.Kind() == reflect.Slice:
			list := []string{}
			for _, p := range strings.Split(v, ",") {
				if p = strings.TrimSpace(p); p != "" {
					list = append(list, p)
				}
			}
			raw = list
		}
		fields[key], _ = json.Marshal(raw)
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errs, failed
}

// decodeFields decodes each key into its Config field, naming the key in
// errors and refusing unknown keys. It returns the problems and the keys
// they concern.
func decodeFields(fields map[string]json.RawMessage, cfg *Config) ([]error, map[string]bool) {
	failed := map[string]bool{}
	v := reflect.ValueOf(cfg).Elem()
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var errs []error
	for _, k := range keys {
		i, ok := configFields[k]
		if !ok {
			errs = append(errs, &fieldError{k, "unknown key (known keys: " + knownKeys() + ")"})
			failed[k] = true
			continue
		}
		f := v.Field(i)
		ptr := reflect.New(f.Type())
		if err := json.Unmarshal(fields[k], ptr.Interface()); err != nil {
			errs = append(errs, &fieldError{k, describeJSONError(err, f.Type())})
			failed[k] = true
			continue
		}
		f.Set(ptr.Elem())
	}
	return errs, failed
}

func describeJSONError(err error, t reflect.Type) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		want := map[reflect.Kind]string{
			reflect.String: "a string", reflect.Int: "an integer", reflect.Int64: "an integer",
			reflect.Bool: "true or false", reflect.Slice: "a list of strings", reflect.Float64: "a number",
		}[t.Kind()]
		if want == "" {
			want = t.String()
		}
		return fmt.Sprintf("want %s, got JSON %s", want, te.Value)
	}
	return err.Error()
}

// Validate checks every key and reports all problems, each naming its key.
// It does not read files (see CheckFiles).
func (c Config) Validate() error {
	var errs []error
	for _, p := range c.problems() {
		errs = append(errs, p)
	}
	return errors.Join(errs...)
}

func (c Config) problems() []*fieldError {
	var errs []*fieldError
	bad := func(key, format string, args ...any) {
		errs = append(errs, &fieldError{key, fmt.Sprintf(format, args...)})
	}
	switch {
	case c.TerminalID == "":
		bad("terminal_id", "required")
	case !protocol.ValidID(c.TerminalID):
		bad("terminal_id", "%q must be 1 to 128 characters of A-Z a-z 0-9 . _ : - (not starting with .)", c.TerminalID)
	}
	if c.ServerURL == "" {
		bad("server_url", "required (e.g. wss://abc123.execute-api.eu-west-1.amazonaws.com/prod)")
	} else if u, err := url.Parse(c.ServerURL); err != nil {
		bad("server_url", "not a URL: %v", err)
	} else {
		switch {
		case u.Scheme != "wss" && u.Scheme != "ws":
			bad("server_url", "scheme must be wss (or ws for a local server), got %q", u.Scheme)
		case u.Host == "":
			bad("server_url", "has no host")
		case u.Scheme == "ws" && !c.AllowInsecure && !isLoopback(u.Hostname()):
			bad("server_url", "ws:// would send the token in clear text; use wss:// or set allow_insecure")
		case u.User != nil:
			bad("server_url", "must not carry credentials; use token")
		}
	}
	if c.Token == "" && c.TokenFile == "" {
		bad("token", "required (or token_file)")
	}
	for _, f := range []struct{ key, path string }{
		{"token_file", c.TokenFile}, {"ca_file", c.CAFile},
		{"client_cert_file", c.ClientCertFile}, {"client_key_file", c.ClientKeyFile},
	} {
		if f.path != "" && !filepath.IsAbs(f.path) {
			bad(f.key, "must be an absolute path, got %q", f.path)
		}
	}
	if (c.ClientCertFile == "") != (c.ClientKeyFile == "") {
		bad("client_cert_file", "client_cert_file and client_key_file go together: set both or neither")
	}
	if c.ProxyURL != "" {
		if u, err := url.Parse(c.ProxyURL); err != nil {
			bad("proxy_url", "not a URL: %v", err)
		} else if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
			bad("proxy_url", "want http://host:port or https://host:port, got %q", c.ProxyURL)
		} else if u.User != nil {
			bad("proxy_url", "must not carry credentials (they would show in get_config); put an authenticated proxy in the HTTPS_PROXY environment variable")
		}
	}
	if c.WebSocketTimeout <= 0 || c.WebSocketTimeout > 600 {
		bad("websocket_timeout", "must be more than 0 and at most 600 seconds, got %v", float64(c.WebSocketTimeout))
	}
	if c.ReconnectAttempts < 0 {
		bad("reconnect_attempts", "must be 0 (retry forever, the default) or more, got %d", c.ReconnectAttempts)
	}
	if c.StatusInterval <= 0 {
		bad("status_interval", "must be more than 0 seconds, got %v", float64(c.StatusInterval))
	}
	if c.HeartbeatInterval <= 0 || c.HeartbeatInterval >= 600 {
		bad("heartbeat_interval", "must be more than 0 and less than 600 seconds (API Gateway closes idle connections after 10 minutes), got %v", float64(c.HeartbeatInterval))
	}
	if c.AckTimeout <= 0 {
		bad("ack_timeout", "must be more than 0 seconds, got %v", float64(c.AckTimeout))
	}
	if c.AckInterval <= 0 || c.AckInterval > 3600 {
		bad("ack_interval", "must be more than 0 and at most 3600 seconds, got %v", float64(c.AckInterval))
	}
	if _, ok := Profiles[c.Profile]; !ok && c.Profile != "" {
		bad("profile", "must be %q or %q, got %q", ProfileDefault, ProfileEconomy, c.Profile)
	}
	if c.UrgentLevel != "" && protocol.LevelRank(c.UrgentLevel) < 0 {
		bad("urgent_level", "must be debug, info, warn, error or empty (none), got %q", c.UrgentLevel)
	}
	if c.MaxConnectionAge <= 0 || c.MaxConnectionAge >= 7200 {
		bad("max_connection_age", "must be more than 0 and less than 7200 seconds (API Gateway closes connections after 2 hours), got %v", float64(c.MaxConnectionAge))
	}
	if c.BatchWindowMS < 0 || c.BatchWindowMS > 60000 {
		bad("batch_window_ms", "must be 0 to 60000, got %d", c.BatchWindowMS)
	}
	if c.IdleBatchWindowMS < 0 || c.IdleBatchWindowMS > 600000 {
		bad("idle_batch_window_ms", "must be 0 to 600000, got %d", c.IdleBatchWindowMS)
	}
	if c.BatchMaxBytes < 1024 || c.BatchMaxBytes > protocol.MaxFrameBytes {
		bad("batch_max_bytes", "must be 1024 to %d (API Gateway's frame size), got %d", protocol.MaxFrameBytes, c.BatchMaxBytes)
	}
	if c.SpoolDir == "" {
		bad("spool_dir", "required")
	}
	if c.SpoolMaxBytes < spool.MinMaxBytes {
		bad("spool_max_bytes", "must be at least %d, got %d", spool.MinMaxBytes, c.SpoolMaxBytes)
	}
	seen := map[string]bool{}
	for i, in := range c.LogInputs {
		switch {
		case in != "-" && !filepath.IsAbs(in):
			bad("log_inputs", "entry %d: %q must be an absolute path or \"-\" for standard input", i, in)
		case seen[in]:
			bad("log_inputs", "entry %d: %q is listed twice", i, in)
		}
		seen[in] = true
	}
	if _, ok := parseLevel(c.LogLevel); !ok {
		bad("log_level", "must be debug, info, warn or error, got %q", c.LogLevel)
	}
	return errs
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Version identifies the configuration: the first 12 hex digits of the
// SHA-256 of Document, its canonical (compact, keys sorted) JSON with
// secrets redacted — the same name the server gives the document get_config
// returns.
func (c Config) Version() string {
	sum := sha256.Sum256(c.Document())
	return hex.EncodeToString(sum[:6])
}

// Document returns the configuration as the JSON object get_config
// returns, with secret values replaced by Redacted.
func (c Config) Document() json.RawMessage {
	b, _ := json.Marshal(c)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	for k, v := range m {
		if s, ok := v.(string); ok && s != "" && IsSecretKey(k) {
			m[k] = Redacted
		}
	}
	out, _ := json.Marshal(m)
	return out
}

// IsSecretKey reports whether a config key holds a secret: the one rule,
// protocol.IsSecretKey, that the cloud and the dashboard apply too.
func IsSecretKey(key string) bool { return protocol.IsSecretKey(key) }

// token returns the bearer token, reading TokenFile when Token is empty.
func (c Config) token() (string, error) {
	if c.Token != "" {
		return c.Token, nil
	}
	b, err := os.ReadFile(c.TokenFile)
	if err != nil {
		return "", fmt.Errorf("read token_file: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("token_file %s is empty", c.TokenFile)
	}
	return t, nil
}

// sameConnection reports whether c and o connect the same way.
func (c Config) sameConnection(o Config) bool {
	return c.TerminalID == o.TerminalID && c.ServerURL == o.ServerURL && c.Token == o.Token &&
		c.TokenFile == o.TokenFile && c.AllowInsecure == o.AllowInsecure && c.CAFile == o.CAFile &&
		c.ProxyURL == o.ProxyURL && c.ClientCertFile == o.ClientCertFile && c.ClientKeyFile == o.ClientKeyFile
}

// CheckFiles reads the files the configuration names, as connecting will:
// the token file (when token is empty), the CA bundle and the client
// certificate and key. It reports every problem at once, each naming its
// key. (Validate checks the values; -check runs both.)
func (c Config) CheckFiles() error {
	var errs []error
	if c.Token == "" && c.TokenFile != "" {
		if _, err := c.token(); err != nil {
			errs = append(errs, &fieldError{"token_file", err.Error()})
		}
	}
	if _, err := c.tlsConfig(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
