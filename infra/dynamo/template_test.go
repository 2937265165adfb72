package dynamo

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/edgesync/edgesync/devstack/template"
)

// TestTemplateAlarmsOnIndexThrottling: template.yaml alarms on read and
// write throttling of every global secondary index the Store uses.
// DynamoDB reports an index's ReadThrottleEvents and WriteThrottleEvents
// only under both the TableName and the GlobalSecondaryIndexName
// dimensions (the table-level metric leaves the indexes out, and
// ThrottledRequests has no index dimension), so an alarm on the table
// alone misses them.
func TestTemplateAlarmsOnIndexThrottling(t *testing.T) {
	t.Parallel()
	tpl, err := template.Load(filepath.Join("..", "..", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	watched := map[string]map[string]bool{} // index name → metric names alarmed on
	for id, r := range tpl.Resources {
		if r.Type != "AWS::CloudWatch::Alarm" {
			continue
		}
		metrics := []map[string]any{r.Properties}
		if list, ok := r.Properties["Metrics"].([]any); ok {
			for _, m := range list {
				if stat, ok := dig(m, "MetricStat", "Metric").(map[string]any); ok {
					metrics = append(metrics, stat)
				}
			}
		}
		for _, m := range metrics {
			if m["Namespace"] != "AWS/DynamoDB" {
				continue
			}
			dims := map[string]string{}
			list, _ := m["Dimensions"].([]any)
			for _, d := range list {
				name, _ := dig(d, "Name").(string)
				value := dig(d, "Value")
				if ref, ok := dig(value, "Ref").(string); ok {
					value = "Ref:" + ref
				}
				dims[name] = fmt.Sprint(value)
			}
			index, ok := dims["GlobalSecondaryIndexName"]
			if !ok {
				continue
			}
			if dims["TableName"] != "Ref:Table" {
				t.Errorf("alarm %s watches index %s with TableName %q, want !Ref Table", id, index, dims["TableName"])
			}
			if watched[index] == nil {
				watched[index] = map[string]bool{}
			}
			watched[index][fmt.Sprint(m["MetricName"])] = true
		}
	}
	for _, gsi := range globalIndexes() {
		for _, metric := range []string{"ReadThrottleEvents", "WriteThrottleEvents"} {
			if !watched[*gsi.IndexName][metric] {
				t.Errorf("no alarm on %s of index %q (dimensions TableName and GlobalSecondaryIndexName)", metric, *gsi.IndexName)
			}
		}
	}
}

// dig follows keys through nested maps; nil when a step is missing.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}
