package emf

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/edgesync/edgesync/devstack/lambdalog"
)

func TestRecordWritesEMF(t *testing.T) {
	var buf bytes.Buffer
	r := New(&buf, "edgesync", map[string]string{"Stack": "prod-stack"}, "")
	r.now = func() time.Time { return time.UnixMilli(1764237600000) }
	r.Record("SyncLatency", 12.5, "Milliseconds")
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("not one JSON document: %q", buf.String())
	}
	want := `{"Stack":"prod-stack","SyncLatency":12.5,"_aws":{"CloudWatchMetrics":[{"Dimensions":[["Stack"]],"Metrics":[{"Name":"SyncLatency","Unit":"Milliseconds"}],"Namespace":"edgesync"}],"Timestamp":1764237600000},"level":"INFO","timestamp":"2025-11-27T10:00:00Z"}`
	got, _ := json.Marshal(doc)
	if string(got) != want {
		t.Errorf("EMF document:\n got %s\nwant %s", got, want)
	}
}

// TestMetricsSurviveLambdaLogLevelFiltering: with LogFormat JSON and an
// ApplicationLogLevel, Lambda drops lines below the level and treats a line
// without a valid level and timestamp as INFO. The metric lines must reach
// CloudWatch at every level template.yaml allows, while the function's own
// INFO lines are filtered as usual.
func TestMetricsSurviveLambdaLogLevelFiltering(t *testing.T) {
	t.Parallel()
	for _, level := range []string{"DEBUG", "INFO", "WARN", "ERROR"} {
		t.Run(level, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			r := New(&out, "edgesync", map[string]string{"Stack": "s"}, level)
			r.Record("Connects", 1, "Count")
			out.WriteString(`{"level":"INFO","timestamp":"2026-11-30T10:00:00Z","msg":"terminal connected"}` + "\n")
			r.Record("ApiLatency", 3, "Milliseconds")
			var kept bytes.Buffer
			if err := lambdalog.Filter(&kept, &out, level); err != nil {
				t.Fatal(err)
			}
			got := kept.String()
			for _, metric := range []string{`"Connects":1`, `"ApiLatency":3`} {
				if !strings.Contains(got, metric) {
					t.Errorf("at %s Lambda drops the metric line %s; kept:\n%s", level, metric, got)
				}
			}
			infoKept := strings.Contains(got, "terminal connected")
			if wantInfo := level == "DEBUG" || level == "INFO"; infoKept != wantInfo {
				t.Errorf("at %s the INFO line kept = %v, want %v (the filter must behave as Lambda's)", level, infoKept, wantInfo)
			}
		})
	}
}
