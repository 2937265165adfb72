package samlocal_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/edgesync/edgesync/devstack/template"
	"github.com/edgesync/edgesync/internal/testenv"
)

// The module root, two directories up from this package.
var root = filepath.Join("..", "..")

// stubs are the executables deploy.sh runs, replaced by scripts that record
// their argv and environment in $STUB_RECORD (one directory per call, named
// so that they sort in call order) and act just enough for the script to go
// on: curl answers LocalStack's health check with $STUB_HEALTH (exit status
// $STUB_CURL_EXIT), awslocal reports the table missing so that the init
// script creates it, sleep returns at once.
var stubs = map[string]string{
	"curl": `[ "${STUB_CURL_EXIT:-0}" = 0 ] || exit "$STUB_CURL_EXIT"
printf '%s' "$STUB_HEALTH"`,
	"awslocal": `case " $* " in
  *" describe-table "*" --query "*) echo audit ;;
  *" describe-table "*) echo "An error occurred (ResourceNotFoundException)" >&2; exit 254 ;;
  *" describe-time-to-live "*) echo DISABLED ;;
esac`,
	"samlocal": ``,
	"go":       ``,
	"sleep":    ``,
}

const stubPrelude = `#!/bin/bash
set -eu
rec="$STUB_RECORD/$(date +%s%N)-$$-$(basename "$0")"
mkdir -p "$rec"
printf '%s\0' "$@" >"$rec/argv"
env -0 >"$rec/env"
`

// call is one recorded run of a stub.
type call struct {
	name string
	argv []string
	env  map[string]string
}

func (c call) has(args ...string) bool {
	for _, a := range args {
		if !slices.Contains(c.argv, a) {
			return false
		}
	}
	return true
}

// after returns the argument following flag ("" if none).
func (c call) after(flag string) string {
	i := slices.Index(c.argv, flag)
	if i < 0 || i+1 >= len(c.argv) {
		return ""
	}
	return c.argv[i+1]
}

type deployRun struct {
	code           int
	stdout, stderr string
	calls          []call
}

func (r deployRun) callsOf(name string) []call {
	var out []call
	for _, c := range r.calls {
		if c.name == name {
			out = append(out, c)
		}
	}
	return out
}

// runDeploy runs localstack/deploy.sh with args, a PATH of the stubs named
// in with (every stub when nil) and the system's /usr/bin and /bin, and env
// as its only other environment.
func runDeploy(t *testing.T, with []string, env map[string]string, args ...string) deployRun {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	rec := filepath.Join(dir, "record")
	for _, d := range []string{bin, rec} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if with == nil {
		for name := range stubs {
			with = append(with, name)
		}
	}
	for _, name := range with {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(stubPrelude+stubs[name]+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	script, err := filepath.Abs(filepath.Join(root, "localstack", "deploy.sh"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), script, args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin", "HOME=" + dir, "STUB_RECORD=" + rec,
		`STUB_HEALTH={"services": {"dynamodb": "running", "lambda": "available"}, "edition": "community"}`}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	var run deployRun
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		run.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("run %s: %v", script, err)
	}
	run.stdout, run.stderr = stdout.String(), stderr.String()
	entries, err := os.ReadDir(rec)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries { // ReadDir sorts by name: call order
		c := call{name: e.Name()[strings.LastIndexByte(e.Name(), '-')+1:], env: map[string]string{}}
		argv, err := os.ReadFile(filepath.Join(rec, e.Name(), "argv"))
		if err != nil {
			t.Fatal(err)
		}
		if len(argv) > 0 {
			c.argv = strings.Split(strings.TrimSuffix(string(argv), "\x00"), "\x00")
		}
		environ, err := os.ReadFile(filepath.Join(rec, e.Name(), "env"))
		if err != nil {
			t.Fatal(err)
		}
		for kv := range strings.SplitSeq(strings.TrimSuffix(string(environ), "\x00"), "\x00") {
			k, v, _ := strings.Cut(kv, "=")
			c.env[k] = v
		}
		run.calls = append(run.calls, c)
	}
	return run
}

// requiredParameters returns the template's parameters without a default.
func requiredParameters(t *testing.T) []string {
	t.Helper()
	tpl, err := template.Load(filepath.Join(root, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for name, p := range tpl.Parameters {
		if !p.HasDefault {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	if len(names) == 0 {
		t.Fatal("template.yaml has no parameter without a default; the test expects AuthIssuer and AuthAudience")
	}
	return names
}

// parseOverrides splits a --parameter-overrides value ("A=1 B=2").
func parseOverrides(t *testing.T, s string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, kv := range strings.Fields(s) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			t.Fatalf("--parameter-overrides %q: %q is not Name=Value", s, kv)
		}
		out[k] = v
	}
	return out
}

// checkEndpoint fails unless every call of awslocal and samlocal got the
// endpoint as AWS_ENDPOINT_URL (the variable both wrappers honour) and the
// region and credentials LocalStack's table lives under.
func checkEndpoint(t *testing.T, r deployRun, endpoint string) {
	t.Helper()
	n := 0
	for _, c := range r.calls {
		if c.name != "awslocal" && c.name != "samlocal" {
			continue
		}
		n++
		if got := c.env["AWS_ENDPOINT_URL"]; got != endpoint {
			t.Errorf("%s %v: AWS_ENDPOINT_URL = %q, want %q", c.name, c.argv, got, endpoint)
		}
		for _, k := range []string{"AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
			if c.env[k] == "" {
				t.Errorf("%s %v: %s not set", c.name, c.argv, k)
			}
		}
	}
	if n == 0 {
		t.Error("deploy.sh ran neither awslocal nor samlocal")
	}
	for _, c := range r.callsOf("curl") {
		if !c.has(endpoint + "/_localstack/health") {
			t.Errorf("curl %v: want the health check of %s", c.argv, endpoint)
		}
	}
	if len(r.callsOf("curl")) == 0 {
		t.Error("deploy.sh never checked LocalStack's health")
	}
}

func TestDeployTableOnly(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		env          map[string]string
		wantEndpoint string
		wantTable    string
	}{
		{"defaults", nil, "http://localhost:4566", "edgesync"},
		{"endpoint and table set", map[string]string{"LOCALSTACK_ENDPOINT": "http://127.0.0.1:14566/", "TABLE_NAME": "fleet"},
			"http://127.0.0.1:14566", "fleet"},
		{"stale wrapper variables lose to the endpoint", map[string]string{"LOCALSTACK_ENDPOINT": "http://ls.internal:4566",
			"LOCALSTACK_HOST": "elsewhere:1234", "EDGE_PORT": "9999", "AWS_ENDPOINT_URL": "http://stale:1"},
			"http://ls.internal:4566", "edgesync"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runDeploy(t, nil, tt.env)
			if r.code != 0 {
				t.Fatalf("deploy.sh: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
			checkEndpoint(t, r, tt.wantEndpoint)
			var created bool
			for _, c := range r.callsOf("awslocal") {
				if c.has("create-table") {
					created = true
					if got := c.after("--table-name"); got != tt.wantTable {
						t.Errorf("create-table --table-name %q, want %q", got, tt.wantTable)
					}
					for _, index := range []string{"IndexName=terminals,", "IndexName=audit,"} {
						if !slices.ContainsFunc(c.argv, func(a string) bool { return strings.HasPrefix(a, index) }) {
							t.Errorf("create-table %v: no %s… index", c.argv, index)
						}
					}
				}
			}
			if !created {
				t.Errorf("the table was reported missing but deploy.sh did not create it; calls: %v", r.calls)
			}
			if n := len(r.callsOf("samlocal")); n != 0 {
				t.Errorf("samlocal ran %d times without --full", n)
			}
			want := "go run ./cmd/edgesync-local --dynamodb-endpoint " + tt.wantEndpoint + " --table " + tt.wantTable
			if !strings.Contains(r.stdout, want) {
				t.Errorf("stdout does not give the local runner command %q:\n%s", want, r.stdout)
			}
		})
	}
}

func TestDeployFull(t *testing.T) {
	t.Parallel()
	required := requiredParameters(t)
	const pro = `{"services": {"apigatewayv2": "available", "dynamodb": "running"}, "edition": "pro"}`
	tests := []struct {
		name         string
		env          map[string]string
		wantEndpoint string
		wantStack    string
		wantParams   map[string]string
		wantWarning  bool
	}{
		{"defaults on a plan with API Gateway v2", map[string]string{"STUB_HEALTH": pro},
			"http://localhost:4566", "edgesync",
			map[string]string{"AuthIssuer": "https://edgesync.local/issuer", "AuthAudience": "edgesync-local"}, false},
		{"everything set", map[string]string{"STUB_HEALTH": pro, "LOCALSTACK_ENDPOINT": "http://127.0.0.1:14566",
			"STACK_NAME": "es-dev", "AUTH_ISSUER": "https://idp.example/realms/fleet", "AUTH_AUDIENCE": "dash,cli",
			"PARAMETER_OVERRIDES": "LogLevel=DEBUG StageName=dev"},
			"http://127.0.0.1:14566", "es-dev",
			map[string]string{"AuthIssuer": "https://idp.example/realms/fleet", "AuthAudience": "dash,cli",
				"LogLevel": "DEBUG", "StageName": "dev"}, false},
		{"community edition: warned, deployed", nil,
			"http://localhost:4566", "edgesync",
			map[string]string{"AuthIssuer": "https://edgesync.local/issuer", "AuthAudience": "edgesync-local"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runDeploy(t, nil, tt.env, "--full")
			if r.code != 0 {
				t.Fatalf("deploy.sh --full: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
			checkEndpoint(t, r, tt.wantEndpoint)
			var names []string
			for _, c := range r.calls {
				if c.name == "samlocal" || c.name == "awslocal" {
					names = append(names, c.name+" "+strings.Join(c.argv[:min(2, len(c.argv))], " "))
				}
			}
			wantOrder := []string{"samlocal build --cached=false", "samlocal deploy --stack-name", "awslocal cloudformation describe-stacks"}
			if !slices.Equal(names, wantOrder) {
				t.Fatalf("awslocal and samlocal calls = %q, want %q", names, wantOrder)
			}
			build := r.callsOf("samlocal")[0]
			if !strings.Contains(build.env["GOFLAGS"], "-tags=lambda.norpc") {
				t.Errorf("samlocal build: GOFLAGS = %q, want -tags=lambda.norpc", build.env["GOFLAGS"])
			}
			deploy := r.callsOf("samlocal")[1]
			if got := deploy.after("--stack-name"); got != tt.wantStack {
				t.Errorf("samlocal deploy --stack-name %q, want %q", got, tt.wantStack)
			}
			if !deploy.has("--capabilities", "CAPABILITY_IAM", "--no-confirm-changeset") {
				t.Errorf("samlocal deploy %v: want --capabilities CAPABILITY_IAM --no-confirm-changeset", deploy.argv)
			}
			params := parseOverrides(t, deploy.after("--parameter-overrides"))
			for _, name := range required {
				if params[name] == "" {
					t.Errorf("samlocal deploy --parameter-overrides %q: no value for %s, a template parameter without a default", deploy.after("--parameter-overrides"), name)
				}
			}
			for k, want := range tt.wantParams {
				if params[k] != want {
					t.Errorf("--parameter-overrides %s=%q, want %q", k, params[k], want)
				}
			}
			if got := r.callsOf("awslocal")[0].after("--stack-name"); got != tt.wantStack {
				t.Errorf("describe-stacks --stack-name %q, want %q", got, tt.wantStack)
			}
			warned := strings.Contains(r.stderr, "lists no apigatewayv2 service")
			if warned != tt.wantWarning {
				t.Errorf("warning about API Gateway v2 given: %v, want %v; stderr:\n%s", warned, tt.wantWarning, r.stderr)
			}
		})
	}
}

func TestDeployRefuses(t *testing.T) {
	t.Parallel()
	all := []string{"curl", "awslocal", "samlocal", "go", "sleep"}
	without := func(name string) []string {
		return slices.DeleteFunc(slices.Clone(all), func(s string) bool { return s == name })
	}
	tests := []struct {
		name       string
		with       []string
		env        map[string]string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{"unknown argument", all, nil, []string{"--fast"}, 2, "unknown argument: --fast"},
		{"no awslocal", without("awslocal"), nil, nil, 1, "awslocal not found; install it with: pip install 'awscli-local[ver1]' 'localstack-client>=2.1'"},
		{"no samlocal for --full", without("samlocal"), nil, []string{"--full"}, 1, "samlocal not found; install it with: pip install 'aws-sam-cli-local>=1.68'"},
		{"no go for --full", without("go"), nil, []string{"--full"}, 1, "go not found"},
		{"LocalStack down", all, map[string]string{"STUB_CURL_EXIT": "7"}, nil, 1, "LocalStack does not answer at http://localhost:4566"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runDeploy(t, tt.with, tt.env, tt.args...)
			if r.code != tt.wantCode || !strings.Contains(r.stderr, tt.wantStderr) {
				t.Errorf("deploy.sh %v: exit %d, stderr:\n%s\nwant exit %d and %q", tt.args, r.code, r.stderr, tt.wantCode, tt.wantStderr)
			}
			for _, name := range []string{"awslocal", "samlocal"} {
				if n := len(r.callsOf(name)); n != 0 {
					t.Errorf("%s ran %d times, want none", name, n)
				}
			}
		})
	}
	t.Run("waits two minutes for LocalStack", func(t *testing.T) {
		t.Parallel()
		r := runDeploy(t, all, map[string]string{"STUB_CURL_EXIT": "7"})
		if n := len(r.callsOf("sleep")); n != 60 {
			t.Errorf("slept %d times, want 60 (of 2 s)", n)
		}
	})
}

func TestDeployHelp(t *testing.T) {
	t.Parallel()
	r := runDeploy(t, nil, nil, "--help")
	if r.code != 0 {
		t.Fatalf("deploy.sh --help: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"--full", "LOCALSTACK_ENDPOINT", "AUTH_ISSUER", "AUTH_AUDIENCE", "PARAMETER_OVERRIDES", "See README.md."} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("--help does not mention %q:\n%s", want, r.stdout)
		}
	}
	if len(r.calls) != 0 {
		t.Errorf("--help ran %v", r.calls)
	}
}

// scripts returns every shell script under localstack/: *.sh files and
// files starting with a bash or sh shebang.
func scripts(t *testing.T) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(filepath.Join(root, "localstack"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.HasSuffix(path, ".sh") || bytes.HasPrefix(data, []byte("#!/bin/bash")) || bytes.HasPrefix(data, []byte("#!/bin/sh")) ||
			bytes.HasPrefix(data, []byte("#!/usr/bin/env bash")) {
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 2 {
		t.Fatalf("found scripts %v under localstack/, want deploy.sh and the init script at least", out)
	}
	return out
}

func TestLocalStackScriptsParse(t *testing.T) {
	t.Parallel()
	for _, s := range scripts(t) {
		t.Run(filepath.Base(s), func(t *testing.T) {
			t.Parallel()
			if out, err := exec.CommandContext(t.Context(), "bash", "-n", s).CombinedOutput(); err != nil {
				t.Errorf("bash -n %s: %v\n%s", s, err, out)
			}
			fi, err := os.Stat(s)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm()&0o111 == 0 {
				t.Errorf("%s is not executable (deploy.sh and LocalStack run it directly)", s)
			}
		})
	}
}

func TestLocalStackScriptsShellCheck(t *testing.T) {
	t.Parallel()
	shellcheck, err := exec.LookPath("shellcheck")
	if err != nil {
		testenv.Missing(t, "shellcheck", err.Error(), "make tools")
	}
	args := append([]string{"--severity=style", "--external-sources"}, scripts(t)...)
	if out, err := exec.CommandContext(t.Context(), shellcheck, args...).CombinedOutput(); err != nil {
		t.Errorf("shellcheck: %v\n%s", err, out)
	}
}
