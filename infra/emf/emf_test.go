package emf

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

func TestRecordWritesEMF(t *testing.T) {
	var buf bytes.Buffer
	r := New(&buf, "edgesync", map[string]string{"Stack": "prod-stack"})
	r.now = func() time.Time { return time.UnixMilli(1764237600000) }
	r.Record("SyncLatency", 12.5, "Milliseconds")
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("not one JSON document: %q", buf.String())
	}
	want := `{"Stack":"prod-stack","SyncLatency":12.5,"_aws":{"CloudWatchMetrics":[{"Dimensions":[["Stack"]],"Metrics":[{"Name":"SyncLatency","Unit":"Milliseconds"}],"Namespace":"edgesync"}],"Timestamp":1764237600000}}`
	got, _ := json.Marshal(doc)
	if string(got) != want {
		t.Errorf("EMF document:\n got %s\nwant %s", got, want)
	}
}
