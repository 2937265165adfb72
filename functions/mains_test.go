package functions_test

import (
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMainsExitAtStartUpOnMissingEnvironment builds the four functions and
// runs each without an environment: each must log what is missing and exit
// with status 1 before it starts the Lambda runtime loop.
func TestMainsExitAtStartUpOnMissingEnvironment(t *testing.T) {
	t.Parallel()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build the functions: %v", err)
	}
	dir := t.TempDir()
	fns := []string{"connect", "disconnect", "message", "query"}
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	for _, fn := range fns {
		args = append(args, "github.com/edgesync/edgesync/functions/"+fn)
	}
	if out, err := exec.CommandContext(t.Context(), goBin, args...).CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, fn := range fns {
		t.Run(fn, func(t *testing.T) {
			t.Parallel()
			cmd := exec.CommandContext(t.Context(), filepath.Join(dir, fn))
			cmd.Env = []string{} // no TABLE_NAME, no CONNECTIONS_URL
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("%s without environment: %v, want exit status 1\n%s", fn, err, out)
			}
			for _, want := range []string{fn + " function cannot start", "TABLE_NAME is not set"} {
				if !strings.Contains(string(out), want) {
					t.Errorf("%s output does not contain %q:\n%s", fn, want, out)
				}
			}
			if strings.Contains(string(out), "panic") {
				t.Errorf("%s panicked:\n%s", fn, out)
			}
		})
	}
}

// TestEachBinaryLinksItsOwnEdge: a function's binary links its own edge
// and nothing of the others' (the Lambda binaries must stay under 10 MB,
// and a $connect has no use for the dashboard), which is why each
// function's value lives in a package of its own and only the local stack
// and the tests import package registry.
func TestEachBinaryLinksItsOwnEdge(t *testing.T) {
	t.Parallel()
	const mod = "github.com/edgesync/edgesync/"
	tests := []struct {
		main      string
		want, not []string
	}{
		{"connect", []string{"wsapi"}, []string{"httpapi", "dashboard", "infra/snsalert", "functions/registry"}},
		{"disconnect", []string{"wsapi"}, []string{"httpapi", "dashboard", "infra/snsalert", "functions/registry"}},
		{"message", []string{"wsapi"}, []string{"httpapi", "dashboard", "infra/snsalert", "functions/registry"}},
		{"query", []string{"httpapi", "dashboard"}, []string{"wsapi", "infra/snsalert", "functions/registry"}},
		{"scheduler", []string{"infra/snsalert"}, []string{"wsapi", "httpapi", "dashboard", "functions/registry"}},
	}
	for _, tt := range tests {
		t.Run(tt.main, func(t *testing.T) {
			t.Parallel()
			out, err := exec.CommandContext(t.Context(), "go", "list", "-deps", mod+"functions/"+tt.main).Output()
			if err != nil {
				t.Fatalf("go list -deps: %v", err)
			}
			deps := map[string]bool{}
			for _, p := range strings.Fields(string(out)) {
				deps[strings.TrimPrefix(p, mod)] = true
			}
			for _, p := range tt.want {
				if !deps[p] {
					t.Errorf("functions/%s does not link %s", tt.main, p)
				}
			}
			for _, p := range tt.not {
				if deps[p] {
					t.Errorf("functions/%s links %s, which another function needs, not it", tt.main, p)
				}
			}
		})
	}
}
