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
	now       func() time.Time
}

// New returns a recorder writing to w, in namespace, with dims as the
// dimensions of every metric (e.g. {"Stack": "edgesync"}).
func New(w io.Writer, namespace string, dims map[string]string) *Recorder {
	r := &Recorder{w: w, namespace: namespace, dims: dims, now: time.Now}
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
	doc := map[string]any{
		"_aws": metadata{
			Timestamp:         r.now().UnixMilli(),
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
