package emf

import (
	"encoding/json"
	"io"
	"sync"
	"time"
)

// Recorder writes one EMF line per observation. It implements
// fleet.Metrics and is safe for concurrent use.
type Recorder struct {
	mu        sync.Mutex
	w         io.Writer
	namespace string
	dims      map[string]string
	dimNames  []string
	level     string
	now       func() time.Time
}

// New returns a recorder writing to w, in namespace, with dims as the
// dimensions of every metric (e.g. {"Stack": "edgesync"}).
//
// level is the function's application log level (LOG_LEVEL; "" means
// INFO). Each line carries it as "level", with an RFC 3339 "timestamp":
// Lambda's log-level filtering treats a JSON line without a valid level or
// timestamp as INFO and drops it at WARN or ERROR, which would silence the
// metrics; labelled with the lowest level the function keeps, the metric
// lines survive every allowed level.
func New(w io.Writer, namespace string, dims map[string]string, level string) *Recorder {
	if level == "" {
		level = "INFO"
	}
	r := &Recorder{w: w, namespace: namespace, dims: dims, level: level, now: time.Now}
	for k := range dims {
		r.dimNames = append(r.dimNames, k)
	}
	return r
}

type metricDef struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

type directive struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []metricDef `json:"Metrics"`
}

type metadata struct {
	Timestamp         int64       `json:"Timestamp"`
	CloudWatchMetrics []directive `json:"CloudWatchMetrics"`
}

// Record writes name=value as one EMF document. A write error is dropped:
// metrics never fail the request they measure.
func (r *Recorder) Record(name string, value float64, unit string) {
	now := r.now()
	doc := map[string]any{
		"level":     r.level,
		"timestamp": now.UTC().Format(time.RFC3339Nano),
		"_aws": metadata{
			Timestamp:         now.UnixMilli(),
			CloudWatchMetrics: []directive{{Namespace: r.namespace, Dimensions: [][]string{r.dimNames}, Metrics: []metricDef{{Name: name, Unit: unit}}}},
		},
		name: value,
	}
	for k, v := range r.dims {
		doc[k] = v
	}
	line, err := json.Marshal(doc)
	if err != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	_, _ = r.w.Write(append(line, '\n'))
}
