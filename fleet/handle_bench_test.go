//go:build unix

package fleet_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/infra/apigw"
	"github.com/edgesync/edgesync/infra/dynamo"
	"github.com/edgesync/edgesync/protocol"
)

// answerAll is an HTTP transport that answers every request at once with
// an empty success, as DynamoDB ({}) and the management API (200) do for
// the writes and posts of a message: the benchmark then measures what the
// function spends in CPU (decoding, validation, compression, the SDK's
// serialization and signing), not waiting on the network.
type answerAll struct{}

func (answerAll) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{
		StatusCode: http.StatusOK, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"application/x-amz-json-1.0"}},
		Body:          io.NopCloser(strings.NewReader("{}")),
		ContentLength: 2, Request: r,
	}, nil
}

// boundStore is the DynamoDB store over answerAll, with the connection
// binding answered from memory (a warm container caches it anyway).
type boundStore struct {
	fleet.LogBatchStore
}

func (boundStore) Connection(_ context.Context, connID string, now time.Time) (fleet.Connection, error) {
	return fleet.Connection{ID: connID, TerminalID: "press-07", ConnectedAt: now, ExpiresAt: now.Add(time.Hour)}, nil
}

func benchService() *fleet.Service {
	creds := credentials.NewStaticCredentialsProvider("bench", "bench", "")
	client := &http.Client{Transport: answerAll{}}
	db := dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://dynamodb.bench"), Credentials: creds, HTTPClient: client})
	mgmt := apigatewaymanagementapi.New(apigatewaymanagementapi.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://execute-api.bench/prod"), Credentials: creds, HTTPClient: client})
	return fleet.NewService(boundStore{dynamo.New(db, "edgesync")}, apigw.New(mgmt), fleet.DefaultConfig())
}

// benchLines are n detector lines from seq.
func benchLines(seq uint64, n int) []protocol.LogEntry {
	out := make([]protocol.LogEntry, n)
	for i := range out {
		out[i] = protocol.LogEntry{Seq: seq + uint64(i), Time: time.Now().UTC(), Level: "info", Source: "detector",
			Message: fmt.Sprintf("frame %d cam 2: 3 objects (person 0.93, forklift 0.88) in 41 ms", 1_000_000+seq+uint64(i))}
	}
	return out
}

const benchStatus = `{"hostname":"press-07","cpu_percent":12.531328320802004,"memory_percent":41.07421875,"disk_percent":63.20734214782715,"disk_path":"/var/lib/edgesync-agent","load1":0.41,"load5":0.38,"load15":0.35,"uptime_seconds":86400,"terminal_id":"press-07","agent_version":"1.0.0","config_version":"9f2c61e0aa41","time":"2026-11-27T10:00:00Z","connected":true,"spool_lines":0,"spool_bytes":0,"next_seq":1043,"last_ack_seq":1042,"dropped_lines":0,"dropped_invalid":0,"reconnects":0}`

// BenchmarkHandleMessage measures one message through the message
// function's service (fleet.Service.HandleMessage over the DynamoDB store
// and the management-API pusher, their HTTP answered at once): ns/op is
// wall time, cpu-ns/op the process CPU (user + system) per message, and
// for logs cpu-ns/line the CPU per log line. "logs-1" is the per-line
// baseline's message; "logs-35-gzip-status" an agent of the first
// protocol version's usual idle message (a burst's lines and the status
// report, every 30 s), "-deferred" today's agent's (no ack asked).
func BenchmarkHandleMessage(b *testing.B) {
	gz := func(n int, status bool, ack string) func(seq uint64) []byte {
		return func(seq uint64) []byte {
			data, err := protocol.CompressEntries(benchLines(seq, n))
			if err != nil {
				b.Fatal(err)
			}
			m := protocol.Logs{Type: protocol.TypeLogs, Encoding: protocol.EncodingGzip, Data: data, Ack: ack}
			if status {
				m.Status = json.RawMessage(benchStatus)
			}
			raw, _ := protocol.Encode(m)
			return raw
		}
	}
	cases := []struct {
		name  string
		lines int
		body  func(seq uint64) []byte
	}{
		{"logs-1", 1, func(seq uint64) []byte {
			raw, _ := protocol.Encode(protocol.Logs{Type: protocol.TypeLogs, Entries: benchLines(seq, 1)})
			return raw
		}},
		{"logs-35-gzip", 35, gz(35, false, "")},
		{"logs-35-gzip-status", 35, gz(35, true, "")},
		{"logs-35-gzip-status-deferred", 35, gz(35, true, protocol.AckDeferred)},
		{"status", 0, func(uint64) []byte { return []byte(`{"type":"status","status":` + benchStatus + `}`) }},
		{"heartbeat", 0, func(uint64) []byte { return []byte(`{"type":"heartbeat"}`) }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			svc := benchService()
			ctx := context.Background()
			// Bodies are prepared outside the timed loop; seq moves on so
			// that every batch is new.
			bodies := make([][]byte, 64)
			for i := range bodies {
				bodies[i] = c.body(uint64(1 + i*max(c.lines, 1)))
			}
			b.ReportAllocs()
			before := cpuTime()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := svc.HandleMessage(ctx, "conn-1", bodies[i%len(bodies)]); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			cpu := float64(cpuTime()-before) / float64(b.N)
			b.ReportMetric(cpu, "cpu-ns/op")
			if c.lines > 0 {
				b.ReportMetric(cpu/float64(c.lines), "cpu-ns/line")
			}
		})
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
