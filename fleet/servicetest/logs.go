package servicetest

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/protocol"
)

func testLogFilters(t *testing.T, e *env) {
	ctx := context.Background()
	token := e.terminal(t, "t1")
	e.connect(t, "t1", token, "c1")
	lines := entries(1, 40, "info")
	for i := range lines {
		if i%10 == 9 {
			lines[i].Level = "error"
			lines[i].Message = "Camera FAILED"
		}
	}
	e.send(t, "c1", map[string]any{"type": "logs", "entries": lines})
	tests := []struct {
		name string
		q    fleet.LogQuery
		want int
	}{
		{"level error", fleet.LogQuery{Level: "error"}, 4},
		{"level warning alias", fleet.LogQuery{Level: "warning"}, 4},
		{"search ignores case", fleet.LogQuery{Search: "failed"}, 4},
		{"level info", fleet.LogQuery{Level: "info"}, 40},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page, err := e.svc.TerminalLogs(ctx, admin, "t1", tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Entries) != tt.want {
				t.Errorf("got %d lines, want %d", len(page.Entries), tt.want)
			}
		})
	}
	bad := []fleet.LogQuery{{Count: -1}, {Count: 1001}, {Level: "loud"}, {Search: strings.Repeat("x", 300)}}
	for _, q := range bad {
		if _, err := e.svc.TerminalLogs(ctx, admin, "t1", q); !errors.Is(err, fleet.ErrInvalid) {
			t.Errorf("TerminalLogs(%+v): got %v, want ErrInvalid", q, err)
		}
	}
}

// testReadingLogsGoesLive: reading an online terminal's logs pushes it a
// live hint, at most once per renewal period per connection, also across
// service instances (Lambda containers); never to an offline terminal.
func testReadingLogsGoesLive(t *testing.T, e *env) {
	ctx := context.Background()
	token := e.terminal(t, "t1")
	e.connect(t, "t1", token, "c1")
	read := func(svc *fleet.Service) bool {
		t.Helper()
		page, err := svc.TerminalLogs(ctx, admin, "t1", fleet.LogQuery{Count: 10})
		if err != nil {
			t.Fatalf("read logs: %v", err)
		}
		return page.Refreshing
	}
	lives := func(connID string) []map[string]any {
		t.Helper()
		var out []map[string]any
		for _, m := range e.push.take(t, connID) {
			if m["type"] == protocol.TypeLive {
				out = append(out, m)
			}
		}
		return out
	}
	other := fleet.NewService(e.store, e.push, fleet.DefaultConfig(), fleet.WithClock(e.clock.Now))

	steps := []struct {
		name      string
		advance   time.Duration
		svc       *fleet.Service
		connect   string // reconnect on this connection first
		disconn   string // disconnect this connection first
		wantConn  string // connection the hint goes to ("" for none)
		wantFresh bool
	}{
		{name: "first read", svc: e.svc, wantConn: "c1"},
		{name: "read again at once", svc: e.svc},
		{name: "another container, same window", advance: 5 * time.Second, svc: other},
		{name: "another container, next window", advance: 6 * time.Second, svc: other, wantConn: "c1"},
		{name: "first container within half the lease", advance: 10 * time.Second, svc: e.svc},
		{name: "first container renews", advance: 20 * time.Second, svc: e.svc, wantConn: "c1"},
		{name: "new connection", advance: time.Second, svc: e.svc, connect: "c2", wantConn: "c2"},
		{name: "offline", advance: time.Minute, svc: e.svc, disconn: "c2"},
	}
	for _, st := range steps {
		e.clock.Advance(st.advance)
		if st.connect != "" {
			e.connect(t, "t1", token, st.connect)
		}
		if st.disconn != "" {
			if err := e.svc.Disconnect(ctx, st.disconn, "test"); err != nil {
				t.Fatal(err)
			}
		}
		refreshing := read(st.svc)
		for _, c := range []string{"c1", "c2"} {
			got := lives(c)
			want := 0
			if c == st.wantConn {
				want = 1
			}
			if len(got) != want {
				t.Fatalf("%s: %d live hints to %s, want %d", st.name, len(got), c, want)
			}
			if want == 1 {
				raw, _ := json.Marshal(got[0])
				if string(raw) != `{"seconds":60,"type":"live"}` {
					t.Errorf("%s: hint %s, want seconds 60", st.name, raw)
				}
			}
		}
		if refreshing != (st.wantConn != "") {
			t.Errorf("%s: Refreshing %v, want %v", st.name, refreshing, st.wantConn != "")
		}
	}
}
