package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
)

// DefaultPolicyFile is where the agent binary looks for the device policy
// when no -policy flag (or EDGESYNC_POLICY_FILE) names one.
const DefaultPolicyFile = "/etc/edgesync/policy.json"

// DefaultRemoteKeys are the config keys remote configuration may change
// without a policy file: those that tune timing, batching and the agent's
// own log level. None of them widens what the device exposes or where it
// connects.
var DefaultRemoteKeys = []string{
	"log_level", "status_interval", "heartbeat_interval", "ack_timeout", "websocket_timeout",
	"max_connection_age", "batch_window_ms", "idle_batch_window_ms", "batch_max_bytes",
	"profile", "ack_interval", "urgent_level",
}

// Policy is what the device lets remote configuration (set_config from the
// cloud) change. It is read from a file on the device that the agent never
// writes and the cloud cannot name, so the cloud cannot widen it.
type Policy struct {
	// RemoteKeys are the config keys set_config may change; a document
	// that changes any other key is refused whole. spool_dir never
	// changes while running, whatever the list says.
	RemoteKeys []string `json:"remote_keys"`
	// LogInputDirs are the directories whose files a log_inputs entry
	// added by set_config may name (when RemoteKeys has log_inputs).
	// Entries are checked after resolving ".." and symbolic links;
	// standard input ("-") cannot be added remotely.
	LogInputDirs []string `json:"log_input_dirs"`
	// File is where the policy was read from ("" for the default); the
	// agent never follows it.
	File string `json:"-"`
}

// DefaultPolicy is the policy without a policy file: DefaultRemoteKeys,
// no log input directories.
func DefaultPolicy() Policy {
	return Policy{RemoteKeys: slices.Clone(DefaultRemoteKeys)}
}

// LoadPolicy reads the policy file at path. A missing file gives the
// default policy unless required (a path the operator named must exist).
// Errors name the file and every problem.
func LoadPolicy(path string, required bool) (Policy, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && !required {
		return DefaultPolicy(), nil
	}
	if err != nil {
		return Policy{}, fmt.Errorf("read policy: %w", err)
	}
	p, err := ParsePolicy(data)
	if err != nil {
		return Policy{}, fmt.Errorf("policy %s: %w", path, err)
	}
	p.File = path
	return p, nil
}

// ParsePolicy reads a policy document, reporting every problem at once.
func ParsePolicy(data []byte) (Policy, error) {
	var p Policy
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return Policy{}, fmt.Errorf("want a JSON object with remote_keys and log_input_dirs: %v", err)
	}
	var errs []error
	for _, k := range p.RemoteKeys {
		if _, ok := configFields[k]; !ok {
			errs = append(errs, fmt.Errorf("remote_keys: %q is not a config key (known keys: %s)", k, knownKeys()))
		}
	}
	for i, d := range p.LogInputDirs {
		if !filepath.IsAbs(d) {
			errs = append(errs, fmt.Errorf("log_input_dirs: entry %d: %q must be an absolute path", i, d))
		}
		p.LogInputDirs[i] = filepath.Clean(d)
	}
	if len(p.LogInputDirs) > 0 && !slices.Contains(p.RemoteKeys, "log_inputs") {
		errs = append(errs, errors.New("log_input_dirs: given, but remote_keys does not allow log_inputs"))
	}
	return p, errors.Join(errs...)
}

// allows reports whether remote configuration may change key.
func (p Policy) allows(key string) bool { return slices.Contains(p.RemoteKeys, key) }

// changedKeys returns the config keys whose values differ between a and b.
func changedKeys(a, b Config) []string {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	var out []string
	for key, i := range configFields {
		x, y := va.Field(i).Interface(), vb.Field(i).Interface()
		if xs, ok := x.([]string); ok && len(xs) == 0 {
			x = []string(nil)
		}
		if ys, ok := y.([]string); ok && len(ys) == 0 {
			y = []string(nil)
		}
		if !reflect.DeepEqual(x, y) {
			out = append(out, key)
		}
	}
	sort.Strings(out)
	return out
}

// checkRemote checks a configuration received from the cloud against the
// device policy: it may change only the keys the policy allows (compared
// both as persisted, before environment overrides, and in effect), and
// log_inputs it adds must lie in the policy's directories.
func (p Policy) checkRemote(oldFile, newFile, oldCfg, newCfg Config) error {
	changed := map[string]bool{}
	for _, k := range changedKeys(oldFile, newFile) {
		changed[k] = true
	}
	for _, k := range changedKeys(oldCfg, newCfg) {
		changed[k] = true
	}
	var refused []string
	for k := range changed {
		if !p.allows(k) {
			refused = append(refused, k)
		}
	}
	if len(refused) > 0 {
		sort.Strings(refused)
		where := "the default policy (no policy file)"
		if p.File != "" {
			where = "the device policy " + p.File
		}
		return fmt.Errorf("%s: the device does not let remote configuration change %s (allowed by %s: %s)",
			strings.Join(refused, ", "), plural(len(refused), "this key", "these keys"), where, strings.Join(p.RemoteKeys, ", "))
	}
	if !changed["log_inputs"] {
		return nil
	}
	var errs []error
	for i, in := range newCfg.LogInputs {
		if slices.Contains(oldCfg.LogInputs, in) || slices.Contains(oldFile.LogInputs, in) {
			continue // already there: set on the device
		}
		if err := p.inputAllowed(in); err != nil {
			errs = append(errs, fmt.Errorf("log_inputs: entry %d: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

// inputAllowed checks a log input added remotely against LogInputDirs.
func (p Policy) inputAllowed(in string) error {
	if in == stdinInput {
		return errors.New(`standard input ("-") cannot be added by remote configuration`)
	}
	real := resolve(in)
	for _, d := range p.LogInputDirs {
		dir := resolve(d)
		if within(filepath.Clean(in), d) && within(real, dir) {
			return nil
		}
	}
	if len(p.LogInputDirs) == 0 {
		return fmt.Errorf("%q: the device policy names no directory remote configuration may add log inputs from (log_input_dirs)", in)
	}
	return fmt.Errorf("%q is outside the directories the device policy allows (%s)", in, strings.Join(p.LogInputDirs, ", "))
}

// resolve cleans path and resolves its symbolic links as far as they
// exist: a file that does not exist yet is resolved through its
// directory, and a link to a file that does not exist yet to its target.
func resolve(path string) string { return resolveDepth(filepath.Clean(path), 0) }

func resolveDepth(path string, depth int) string {
	if real, err := filepath.EvalSymlinks(path); err == nil || depth > 32 {
		if err != nil {
			return path
		}
		return real
	}
	dir := filepath.Dir(path)
	if dir == path {
		return path
	}
	p := filepath.Join(resolveDepth(dir, depth+1), filepath.Base(path))
	if target, err := os.Readlink(p); err == nil {
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(p), target)
		}
		return resolveDepth(filepath.Clean(target), depth+1)
	}
	return p
}

// within reports whether path is dir or inside it.
func within(path, dir string) bool {
	if path == dir {
		return true
	}
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// ownFile is a file the agent never follows, whatever config or policy
// say: shipping it could hand a secret to the cloud.
type ownFile struct{ path, kind string }

// ownFiles lists the agent's own files: its config file, the policy file,
// and in each given configuration the token file and the client
// certificate and key. (The spool directory is protected as a whole.)
func ownFiles(configFile, policyFile string, cfgs ...Config) []ownFile {
	out := []ownFile{{configFile, "config file"}, {policyFile, "policy file"}}
	for _, c := range cfgs {
		out = append(out, ownFile{c.TokenFile, "token_file"}, ownFile{c.ClientKeyFile, "client_key_file"},
			ownFile{c.ClientCertFile, "client_cert_file"})
	}
	return slices.DeleteFunc(out, func(f ownFile) bool { return f.path == "" })
}

func (a *Agent) ownFiles(cfgs ...Config) []ownFile {
	return ownFiles(a.opts.configFile, a.opts.policy.File, cfgs...)
}

// ownFileError says whether path is one of the agent's own files or lies
// in its spool directory.
func ownFileError(path string, own []ownFile, spoolDir string) error {
	if path == stdinInput {
		return nil
	}
	clean, real := filepath.Clean(path), resolve(path)
	for _, f := range own {
		if clean == filepath.Clean(f.path) || real == resolve(f.path) || sameFile(path, f.path) {
			return fmt.Errorf("%q is the agent's own %s; the agent never ships it", path, f.kind)
		}
	}
	if spoolDir != "" && (within(clean, filepath.Clean(spoolDir)) || within(real, resolve(spoolDir))) {
		return fmt.Errorf("%q is in the agent's spool directory %s; the agent never ships it", path, spoolDir)
	}
	return nil
}

// CheckLogInputs reports the log_inputs of cfg that the agent would
// refuse to follow: its config file (configFile), the policy's file, the
// token file, the client certificate and key, and anything in the spool
// directory. New refuses such a configuration too.
func CheckLogInputs(cfg Config, configFile string, p Policy) error {
	return checkOwnInputs(ownFiles(configFile, p.File, cfg), cfg)
}

// checkOwnInputs refuses log inputs that are own files.
func checkOwnInputs(own []ownFile, cfg Config) error {
	var errs []error
	for i, in := range cfg.LogInputs {
		if err := ownFileError(in, own, cfg.SpoolDir); err != nil {
			errs = append(errs, fmt.Errorf("log_inputs: entry %d: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

func sameFile(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}

// origin is a URL's scheme, host and port: where a credential goes.
func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	port := u.Port()
	if port == "" {
		switch u.Scheme {
		case "ws", "http":
			port = "80"
		default:
			port = "443"
		}
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Hostname()) + ":" + port
}

// checkOrigin refuses a configuration that would send the current
// credential to an origin it was not given for: a server_url with a new
// scheme, host or port needs a new credential in the same configuration
// (a token that is not the current one, by value).
func checkOrigin(oldCfg, newCfg Config) error {
	if origin(oldCfg.ServerURL) == origin(newCfg.ServerURL) {
		return nil
	}
	oldToken, _ := oldCfg.token()
	newToken, err := newCfg.token()
	if err != nil {
		return fmt.Errorf("server_url: a new origin needs a credential given with it: %w", err)
	}
	if newToken == oldToken {
		return fmt.Errorf("server_url: %s is a new origin; the credential in use is never sent to an origin it was not given for, so a new server_url needs a new token in the same configuration (a redacted or unchanged token, or token_file, is the current credential)",
			origin(newCfg.ServerURL))
	}
	return nil
}
