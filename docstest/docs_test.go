//go:build unix

package docstest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgesync/edgesync/internal/testenv"
)

// root is the repository root: the documented commands run there.
var root = func() string {
	wd, _ := os.Getwd()
	return filepath.Dir(wd)
}()

// shBlocks returns the ```sh code blocks of a Markdown file, in order.
func shBlocks(t *testing.T, file string) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, file))
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	for _, m := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(string(raw), -1) {
		blocks = append(blocks, m[1])
	}
	return blocks
}

// stack is the local stack started with the README's command.
type stack struct {
	banner []string // what it printed up to and including "Ctrl-C stops it."
	data   string
}

// token returns the bearer token the banner prints for role.
func (s *stack) token(t *testing.T, role string) string {
	t.Helper()
	for _, l := range s.banner {
		f := strings.Fields(l)
		if len(f) == 2 && f[0] == role && strings.Count(f[1], ".") == 2 {
			return f[1]
		}
	}
	t.Fatalf("the banner prints no %s token:\n%s", role, strings.Join(s.banner, "\n"))
	return ""
}

var (
	startOnce sync.Once
	started   *stack
	startErr  error
)

// startStack runs the README's first command once for the package (the
// tests share the stack, as a reader of the docs would) and returns when
// its banner is printed.
func startStack(t *testing.T) *stack {
	t.Helper()
	startOnce.Do(func() {
		for _, addr := range []string{"127.0.0.1:8080", "127.0.0.1:8081"} {
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				startErr = errPortsBusy{addr + " is in use: " + err.Error()}
				return
			}
			ln.Close()
		}
		started, startErr = launch(t)
		if startErr == nil {
			startErr = started.waitForLines(t, "demo-1")
		}
	})
	if busy, ok := startErr.(errPortsBusy); ok {
		testenv.Missing(t, "free default ports", busy.why, "stop the local stack or whatever listens there")
	}
	if startErr != nil {
		t.Fatal(startErr)
	}
	return started
}

func launch(t *testing.T) (*stack, error) {
	var first string
	for _, l := range strings.Split(shBlocks(t, "README.md")[0], "\n") {
		if strings.HasPrefix(l, "go run ./cmd/edgesync-local") {
			first = strings.TrimSpace(strings.SplitN(l, "#", 2)[0])
		}
	}
	if first == "" {
		return nil, fmt.Errorf("README.md's first sh block has no go run ./cmd/edgesync-local command")
	}
	data, err := os.MkdirTemp("", "edgesync-docstest-")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("bash", "-c", "exec "+first)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "EDGESYNC_DATA="+data)
	cmd.Stderr = io.Discard
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stop = func() {
		// Ctrl-C as a terminal sends it: to the whole process group, so
		// that the program `go run` built gets it, not only go.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
		_ = cmd.Wait()
		os.RemoveAll(data)
	}
	s := &stack{data: data}
	done := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			s.banner = append(s.banner, sc.Text())
			if strings.Contains(sc.Text(), "Ctrl-C stops it.") {
				done <- nil
				_, _ = io.Copy(io.Discard, out)
				return
			}
		}
		done <- fmt.Errorf("the stack ended before its banner was complete:\n%s", strings.Join(s.banner, "\n"))
	}()
	select {
	case err := <-done:
		if err != nil {
			return nil, err
		}
	case <-time.After(5 * time.Minute):
		return nil, fmt.Errorf("%q printed no banner within 5 minutes", first)
	}
	return s, nil
}

// waitForLines waits until terminal id has stored log lines: the banner
// says the demo terminals are streaming, and a reader types the examples
// after reading it, seconds later.
func (s *stack) waitForLines(t *testing.T, id string) error {
	token := s.token(t, "admin")
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest("GET", "http://127.0.0.1:8080/terminals/"+id+"/logs/?count=1", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			var page struct {
				Entries []json.RawMessage `json:"entries"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&page)
			resp.Body.Close()
			if len(page.Entries) > 0 {
				return nil
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	return fmt.Errorf("demo terminal %s stored no log line within 2 minutes of the banner", id)
}

// errPortsBusy says the documented ports are taken by another program.
type errPortsBusy struct{ why string }

func (e errPortsBusy) Error() string { return e.why }

// stop ends the stack; TestMain calls it.
var stop = func() {}

func TestMain(m *testing.M) {
	code := m.Run()
	stop()
	os.Exit(code)
}

// bash runs script in the repository root with env and returns its
// standard output, failing the test if it exits non-zero.
func bash(t *testing.T, script string, env ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", "set -euo pipefail\n"+script)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v\nscript:\n%s\nstdout:\n%s\nstderr:\n%s", err, script, out, stderr.String())
	}
	return string(out)
}

// jsonDocs splits curl outputs (one JSON document each) apart.
func jsonDocs(t *testing.T, out string) []map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	var docs []map[string]any
	for dec.More() {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("an answer is not a JSON object: %v\n%s", err, out)
		}
		docs = append(docs, m)
	}
	return docs
}

// checkAnswers: each answer is a success of the API, not an error body.
func checkAnswers(t *testing.T, what string, docs []map[string]any, want int) {
	t.Helper()
	if len(docs) != want {
		t.Fatalf("%s: %d answers, want %d: %v", what, len(docs), want, docs)
	}
	for i, d := range docs {
		if _, isErr := d["code"]; isErr {
			t.Errorf("%s: answer %d is an error: %v", what, i+1, d)
		}
	}
	if logs, ok := docs[0]["entries"].([]any); !ok || len(logs) == 0 {
		t.Errorf("%s: the first answer has no log lines: %v", what, docs[0])
	}
	if _, ok := docs[1]["data"].(map[string]any); !ok {
		t.Errorf("%s: the second answer has no status: %v", what, docs[1])
	}
	if docs[2]["requestId"] == nil || docs[2]["state"] != "pending" {
		t.Errorf("%s: the command answer is not a pending command: %v", what, docs[2])
	}
}

// TestBannerCommands runs the commands the start-up banner prints after
// "Try:", as printed.
func TestBannerCommands(t *testing.T) {
	s := startStack(t)
	var script []string
	try := false
	for _, l := range s.banner {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasSuffix(l, "Try:"):
			try = true
		case try && (strings.HasPrefix(l, "export ") || strings.HasPrefix(l, "curl ")):
			script = append(script, l)
		case try && l == "":
			try = false
		}
	}
	if len(script) != 4 {
		t.Fatalf("the banner prints %d commands to try, want export and three curls:\n%s", len(script), strings.Join(s.banner, "\n"))
	}
	out := bash(t, strings.Join(script, "\n"))
	checkAnswers(t, "banner", jsonDocs(t, out), 3)
}

// TestREADMECommands runs the README's example commands, with the operator
// token the stack printed where the README says to put it.
func TestREADMECommands(t *testing.T) {
	s := startStack(t)
	blocks := shBlocks(t, "README.md")
	if len(blocks) < 2 || !strings.Contains(blocks[1], "<the operator token it printed>") {
		t.Fatalf("README.md's second sh block is not the examples with the operator token placeholder:\n%v", blocks)
	}
	script := strings.ReplaceAll(blocks[1], "<the operator token it printed>", s.token(t, "operator"))
	checkAnswers(t, "README", jsonDocs(t, bash(t, script)), 3)
}

// TestFirstTerminalPage runs docs/first-terminal.md: its first block is the
// README's command (the stack already running), the others run in one
// shell session, as a reader pastes them, and the last one's answer must
// hold the lines written in between.
func TestFirstTerminalPage(t *testing.T) {
	s := startStack(t)
	blocks := shBlocks(t, "docs/first-terminal.md")
	if len(blocks) < 5 || strings.TrimSpace(blocks[0]) != "go run ./cmd/edgesync-local --demo 3" {
		t.Fatalf("docs/first-terminal.md: want the stack's start then four blocks, got %d blocks", len(blocks))
	}
	cleanup := func() {
		os.Remove(filepath.Join(root, "press-07.json"))
		os.Remove("/tmp/press-07.log")
		os.RemoveAll("/tmp/press-07-spool")
	}
	cleanup()
	t.Cleanup(cleanup)
	script := strings.Join(blocks[1:], "\n") + "\nkill %1 2>/dev/null || true\nwait || true\n"
	out := bash(t, script, "EDGESYNC_DATA="+s.data)
	// The CLI says what it did; the last command's answer is the JSON at the end.
	last := out[strings.LastIndex("\n"+out, "\n{"):]
	docs := jsonDocs(t, last)
	if len(docs) != 1 {
		t.Fatalf("the page's last command printed %d JSON answers, want the logs read:\n%s", len(docs), out)
	}
	if !strings.Contains(out, "created terminal press-07") {
		t.Errorf("the CLI did not say it created the terminal:\n%s", out)
	}
	entries, _ := docs[0]["entries"].([]any)
	var msgs []string
	levels := map[string]string{}
	for _, e := range entries {
		m := e.(map[string]any)
		msg, _ := m["msg"].(string)
		msgs = append(msgs, msg)
		levels[msg], _ = m["level"].(string)
	}
	for _, want := range []struct{ msg, level string }{
		{"press 7: hydraulic pressure low", "error"},
		{"press 7: cycle 1042 done in 3.8 s", "info"},
	} {
		if levels[want.msg] != want.level {
			t.Errorf("the read holds %q, want the line %q at level %s", msgs, want.msg, want.level)
		}
	}
}
