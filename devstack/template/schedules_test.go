package template_test

import (
	"testing"
	"time"

	"github.com/edgesync/edgesync/devstack/template"
)

func TestParseRate(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		expr string
		want time.Duration
		ok   bool
	}{
		{"rate(1 minute)", time.Minute, true},
		{"rate(5 minutes)", 5 * time.Minute, true},
		{"rate(2 hours)", 2 * time.Hour, true},
		{"rate(1 day)", 24 * time.Hour, true},
		{"rate(1 minutes)", time.Minute, false}, // EventBridge wants the singular
		{"rate(5 minute)", 0, false},
		{"rate(0 minutes)", 0, false},
		{"rate(1 second)", 0, false},
		{"cron(0 12 * * ? *)", 0, false},
	} {
		got, err := template.ParseRate(tt.expr)
		if (err == nil) != tt.ok || (tt.ok && got != tt.want) {
			t.Errorf("ParseRate(%q) = %v, %v; want %v, ok %v", tt.expr, got, err, tt.want, tt.ok)
		}
	}
}

// TestTemplateSchedules: the scheduler function runs every minute.
func TestTemplateSchedules(t *testing.T) {
	t.Parallel()
	got, err := load(t).Schedules()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Function != "SchedulerFunction" || got[0].Every != time.Minute {
		t.Errorf("Schedules() = %+v, want SchedulerFunction every minute", got)
	}
}
