package chaostest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
)

// dynamoFaults is an HTTP proxy in front of a DynamoDB endpoint (dynalite)
// that answers as DynamoDB does under pressure, so the AWS SDK's own
// retries and the store's batch retries run for real:
//
//   - ProvisionedThroughputExceededException (HTTP 400) instead of acting;
//   - InternalServerError (HTTP 500) instead of acting, or after acting (the
//     write was applied but its answer lost, so the SDK retries it);
//   - an answer cut off halfway through its body (the connection dropped
//     mid-response; the SDK reports "deserialization failed, unexpected EOF"
//     and does not retry), after the request was applied;
//   - BatchGetItem and BatchWriteItem that process only part of the request
//     and return the rest as UnprocessedKeys / UnprocessedItems.
type dynamoFaults struct {
	rnd    *lockedRand
	target *url.URL
	proxy  *httputil.ReverseProxy
	srv    *http.Server
	ln     net.Listener
	on     atomic.Bool

	throttle, fail, failAfter, cut, partial float64

	requests, throttled, failed, failedAfter, cutOff, partials atomic.Int64
}

func newDynamoFaults(endpoint string, rnd *lockedRand) (*dynamoFaults, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, fmt.Errorf("dynamo endpoint %q: %w", endpoint, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("dynamo fault proxy: %w", err)
	}
	d := &dynamoFaults{rnd: rnd, target: u, ln: ln, throttle: 0.04, fail: 0.02, failAfter: 0.03, cut: 0.02, partial: 0.5}
	d.proxy = httputil.NewSingleHostReverseProxy(u)
	d.proxy.ErrorLog = log.New(&recentErrors, "dynamo fault proxy: ", 0)
	d.srv = &http.Server{Handler: d}
	go d.srv.Serve(ln)
	return d, nil
}

func (d *dynamoFaults) Endpoint() string { return "http://" + d.ln.Addr().String() }

func (d *dynamoFaults) Close() { d.srv.Close() }

const dynamoErrorPrefix = "com.amazonaws.dynamodb.v20120810#"

func writeDynamoError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-ErrorType", typ)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": dynamoErrorPrefix + typ, "message": "injected by the chaos test"})
}

func (d *dynamoFaults) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.requests.Add(1)
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_20120810.")
	if !d.on.Load() {
		d.proxy.ServeHTTP(w, r)
		return
	}
	x := d.rnd.Float64()
	switch {
	case x < d.throttle:
		d.throttled.Add(1)
		writeDynamoError(w, http.StatusBadRequest, "ProvisionedThroughputExceededException", "")
		return
	case x < d.throttle+d.fail:
		d.failed.Add(1)
		writeDynamoError(w, http.StatusInternalServerError, "InternalServerError", "")
		return
	case x < d.throttle+d.fail+d.failAfter:
		d.failedAfter.Add(1)
		rec := &discardWriter{header: http.Header{}}
		d.proxy.ServeHTTP(rec, r)
		writeDynamoError(w, http.StatusInternalServerError, "InternalServerError", "")
		return
	case x < d.throttle+d.fail+d.failAfter+d.cut:
		rec := &discardWriter{header: http.Header{}}
		d.proxy.ServeHTTP(rec, r)
		if rec.body.Len() < 2 {
			copyResponse(w, rec)
			return
		}
		d.cutOff.Add(1)
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Length", strconv.Itoa(rec.body.Len()))
		w.WriteHeader(rec.status)
		_, _ = w.Write(rec.body.Bytes()[:rec.body.Len()/2])
		panic(http.ErrAbortHandler) // drop the connection mid-body
	}
	if (op == "BatchGetItem" || op == "BatchWriteItem") && d.rnd.Float64() < d.partial {
		if d.partialBatch(w, r, op) {
			d.partials.Add(1)
			return
		}
	}
	d.proxy.ServeHTTP(w, r)
}

// partialBatch forwards the first half of each table's batch and answers
// the second half as unprocessed. It reports false (having done nothing)
// when the batch is too small to split.
func (d *dynamoFaults) partialBatch(w http.ResponseWriter, r *http.Request, op string) bool {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeDynamoError(w, http.StatusBadRequest, "SerializationException", "")
		return true
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	var in map[string]json.RawMessage
	if json.Unmarshal(body, &in) != nil {
		return false
	}
	var items map[string]json.RawMessage
	if json.Unmarshal(in["RequestItems"], &items) != nil {
		return false
	}
	kept := map[string]json.RawMessage{}
	held := map[string]json.RawMessage{}
	split := false
	for table, raw := range items {
		if op == "BatchGetItem" {
			var ka map[string]json.RawMessage
			var keys []json.RawMessage
			if json.Unmarshal(raw, &ka) != nil || json.Unmarshal(ka["Keys"], &keys) != nil {
				return false
			}
			if len(keys) < 2 {
				kept[table] = raw
				continue
			}
			split = true
			half := len(keys) / 2
			ka["Keys"], _ = json.Marshal(keys[:half])
			kept[table], _ = json.Marshal(ka)
			ka["Keys"], _ = json.Marshal(keys[half:])
			held[table], _ = json.Marshal(ka)
			continue
		}
		var reqs []json.RawMessage
		if json.Unmarshal(raw, &reqs) != nil {
			return false
		}
		if len(reqs) < 2 {
			kept[table] = raw
			continue
		}
		split = true
		half := len(reqs) / 2
		kept[table], _ = json.Marshal(reqs[:half])
		held[table], _ = json.Marshal(reqs[half:])
	}
	if !split {
		return false
	}
	in["RequestItems"], _ = json.Marshal(kept)
	fwd, _ := json.Marshal(in)
	r.Body = io.NopCloser(bytes.NewReader(fwd))
	r.ContentLength = int64(len(fwd))
	r.Header.Set("Content-Length", strconv.Itoa(len(fwd)))
	r.Header.Del("X-Amz-Crc32")
	rec := &discardWriter{header: http.Header{}}
	d.proxy.ServeHTTP(rec, r)
	if rec.status != http.StatusOK {
		copyResponse(w, rec)
		return true
	}
	var out map[string]json.RawMessage
	if json.Unmarshal(rec.body.Bytes(), &out) != nil {
		copyResponse(w, rec)
		return true
	}
	field := "UnprocessedKeys"
	if op == "BatchWriteItem" {
		field = "UnprocessedItems"
	}
	var unprocessed map[string]json.RawMessage
	_ = json.Unmarshal(out[field], &unprocessed)
	if unprocessed == nil {
		unprocessed = map[string]json.RawMessage{}
	}
	for table, raw := range held {
		unprocessed[table] = raw // the real answer left none of these unprocessed
	}
	out[field], _ = json.Marshal(unprocessed)
	resp, _ := json.Marshal(out)
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("Content-Length", strconv.Itoa(len(resp)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(resp)
	return true
}

func copyResponse(w http.ResponseWriter, rec *discardWriter) {
	for k, v := range rec.header {
		if k != "Content-Length" {
			w.Header()[k] = v
		}
	}
	w.WriteHeader(rec.status)
	_, _ = w.Write(rec.body.Bytes())
}

// discardWriter records a response instead of sending it.
type discardWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (d *discardWriter) Header() http.Header { return d.header }
func (d *discardWriter) Write(b []byte) (int, error) {
	if d.status == 0 {
		d.status = http.StatusOK
	}
	return d.body.Write(b)
}
func (d *discardWriter) WriteHeader(code int) { d.status = code }
