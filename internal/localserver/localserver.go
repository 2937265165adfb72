// Package localserver runs a local server program for tests — dynalite and
// moto_server, the two DynamoDB wire-protocol servers: on a free loopback
// port, in its own process group (killed with its children on Close, and by
// the kernel if the test binary dies first, on Linux), ready once it answers
// HTTP at a path. Packages dynalite and moto say which program and how.
package localserver

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// Program describes a server program to run.
type Program struct {
	// Name is used in messages, e.g. "dynalite".
	Name string
	// Binary is the executable.
	Binary string
	// Args returns the program's arguments to listen on 127.0.0.1:port.
	Args func(port int) []string
	// ReadyPath is requested until it answers 200, e.g. "/".
	ReadyPath string
	// StartTimeout bounds the start when ctx has no deadline.
	StartTimeout time.Duration
}

// Server is a running server program.
type Server struct {
	name     string
	endpoint string
	cmd      *exec.Cmd
	exited   chan struct{} // closed when the process has been reaped
	output   *tailBuffer
	close    sync.Once
}

// Start starts p on a free port and returns once it answers HTTP. The
// caller must Close the server. ctx bounds the start only. A free port is
// found by binding and releasing it, so another process may take it first:
// Start tries three ports.
func Start(ctx context.Context, p Program) (*Server, error) {
	if _, ok := ctx.Deadline(); !ok && p.StartTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.StartTimeout)
		defer cancel()
	}
	var lastErr error
	for range 3 {
		srv, err := startOn(ctx, p)
		if err == nil {
			return srv, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

func startOn(ctx context.Context, p Program) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("start %s: find a free port: %w", p.Name, err)
	}
	out := &tailBuffer{max: 8 << 10}
	cmd := exec.Command(p.Binary, p.Args(port)...)
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = processAttributes()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s %s: %w", p.Name, p.Binary, err)
	}
	s := &Server{name: p.Name, endpoint: "http://127.0.0.1:" + strconv.Itoa(port), cmd: cmd, exited: make(chan struct{}), output: out}
	go func() {
		_ = cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(ctx, p.ReadyPath); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// waitReady polls path until it answers 200, the process exits or ctx ends.
func (s *Server) waitReady(ctx context.Context, path string) error {
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.endpoint+path, nil)
		if err != nil {
			return fmt.Errorf("wait for %s: %w", s.name, err)
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.exited:
			return fmt.Errorf("%s exited before answering (%s); output:\n%s", s.name, s.cmd.ProcessState, s.output)
		case <-ctx.Done():
			return fmt.Errorf("wait for %s at %s: %w; output:\n%s", s.name, s.endpoint, ctx.Err(), s.output)
		case <-tick.C:
		}
	}
}

// Endpoint returns the server's base URL, e.g. "http://127.0.0.1:43121".
func (s *Server) Endpoint() string { return s.endpoint }

// PID returns the server process's id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Close kills the server's process group and waits for the process to
// exit. It is safe to call more than once.
func (s *Server) Close() {
	s.close.Do(func() {
		killGroup(s.cmd.Process)
		<-s.exited
	})
}

// ModuleRoot walks up from the working directory (a test's package
// directory), then from this source file, to the directory holding go.mod.
func ModuleRoot() (string, bool) {
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		starts = append(starts, filepath.Dir(file))
	}
	for _, dir := range starts {
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				return dir, true
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return "", false
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tailBuffer keeps the last max bytes written to it; safe for concurrent use.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if over := b.buf.Len() - b.max; over > 0 {
		b.buf.Next(over)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
