package main

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/edgesync/edgesync/devstack/gateway"
	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/protocol"
)

// Kinds of traffic the cost is broken down by. Inbound WebSocket messages
// are classified by their type, outbound ones by theirs, HTTP requests by
// the X-Bench header the benchmark's readers set.
const (
	kindLogs      = "logs"      // logs messages (and the status reports they carry)
	kindAcks      = "acks"      // acks of logs messages
	kindStatus    = "status"    // status messages
	kindHeartbeat = "heartbeat" // heartbeat messages
	kindCommands  = "commands"  // commands, command responses, live hints
	kindConnect   = "connect"   // $connect, hello, $disconnect
	kindReads     = "reads"     // dashboard reads over the HTTP API
	kindTail      = "tail"      // the latency pollers' reads (measurement, not workload)
	kindErrors    = "errors"    // error messages to terminals
	kindOther     = "other"
)

// usage accumulates what one invocation consumed in DynamoDB. It travels in
// the invocation's context down to the SDK middleware.
type usage struct {
	mu         sync.Mutex
	wcu, rcu   float64
	writes     int
	reads      int
	condFailed int
	dbTime     time.Duration
	pushTime   time.Duration
	byItem     map[string]float64 // write units by kind of item
}

type usageKey struct{}

func usageFrom(ctx context.Context) *usage {
	u, _ := ctx.Value(usageKey{}).(*usage)
	return u
}

// invocation is one metered function invocation.
type invocation struct {
	At       time.Time
	Function string
	Kind     string
	Terminal string
	Duration time.Duration
	UnitsIn  int64 // 32 KB units of the inbound WebSocket message (0 for HTTP)
	WCU, RCU float64
	Writes   int
	Reads    int
	// CondFailed counts conditional writes that failed: AWS bills them
	// (at least one write unit each), dynalite reports no capacity for them.
	CondFailed int
	Failed     bool
	// DBTime and PushTime are the parts of Duration spent waiting for
	// DynamoDB and for the management API.
	DBTime, PushTime time.Duration
	// WCUByItem splits WCU by the kind of item written (see itemKind).
	WCUByItem map[string]float64
	// Report: the message carried a status report (a status message, or
	// a logs message with one riding).
	Report bool
}

// push is one message a function sent to a terminal.
type push struct {
	At       time.Time
	Terminal string
	Kind     string
	Units    int64
}

// meter records every invocation, push and DynamoDB call of a stack.
type meter struct {
	mu          sync.Mutex
	invocations []invocation
	pushes      []push
	setup       usage // DynamoDB use outside any invocation (registering terminals, scans)

	conns sync.Map // connection id → terminal id
}

func newMeter() *meter { return &meter{} }

// snapshot returns copies of what was recorded so far.
func (m *meter) snapshot() ([]invocation, []push) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]invocation(nil), m.invocations...), append([]push(nil), m.pushes...)
}

// disconnectedAll reports whether every connection that $connect accepted
// has had its $disconnect invocation completed.
func (m *meter) disconnectedAll() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, inv := range m.invocations {
		switch inv.Function {
		case "ConnectFunction":
			if !inv.Failed {
				n++
			}
		case "DisconnectFunction":
			n--
		}
	}
	return n <= 0
}

// wrapInvoker times every invocation, classifies it and gives it a usage
// accumulator in its context.
func (m *meter) wrapInvoker(inner gateway.Invoker) gateway.Invoker {
	return invokerFunc(func(ctx context.Context, function string, payload []byte) ([]byte, error) {
		u := &usage{}
		rec := m.classify(function, payload)
		rec.At = time.Now()
		out, err := inner.Invoke(context.WithValue(ctx, usageKey{}, u), function, payload)
		rec.Duration = time.Since(rec.At)
		rec.Failed = err != nil
		u.mu.Lock()
		rec.WCU, rec.RCU, rec.Writes, rec.Reads, rec.CondFailed = u.wcu, u.rcu, u.writes, u.reads, u.condFailed
		rec.DBTime, rec.PushTime, rec.WCUByItem = u.dbTime, u.pushTime, u.byItem
		u.mu.Unlock()
		m.mu.Lock()
		m.invocations = append(m.invocations, rec)
		m.mu.Unlock()
		return out, err
	})
}

type invokerFunc func(ctx context.Context, function string, payload []byte) ([]byte, error)

func (f invokerFunc) Invoke(ctx context.Context, function string, payload []byte) ([]byte, error) {
	return f(ctx, function, payload)
}

// classify names an invocation's kind and terminal from its event.
func (m *meter) classify(function string, payload []byte) invocation {
	rec := invocation{Function: function, Kind: kindOther}
	if function == "QueryFunction" {
		var ev events.APIGatewayV2HTTPRequest
		if json.Unmarshal(payload, &ev) == nil {
			rec.Terminal = terminalOfPath(ev.RawPath)
			rec.Kind = kindReads
			for k, v := range ev.Headers {
				if strings.EqualFold(k, benchHeader) && v == kindTail {
					rec.Kind = kindTail
				}
			}
		}
		return rec
	}
	var ev events.APIGatewayWebsocketProxyRequest
	if json.Unmarshal(payload, &ev) != nil {
		return rec
	}
	connID := ev.RequestContext.ConnectionID
	switch ev.RequestContext.EventType {
	case "CONNECT":
		rec.Kind = kindConnect
		rec.Terminal = ev.QueryStringParameters["terminal_id"]
		if rec.Terminal != "" {
			m.conns.Store(connID, rec.Terminal)
		}
		return rec
	case "DISCONNECT":
		rec.Kind = kindConnect
	case "MESSAGE":
		rec.UnitsIn = units(len(ev.Body))
		rec.Kind = inboundKind([]byte(ev.Body))
		rec.Report = carriesReport([]byte(ev.Body))
	}
	if id, ok := m.conns.Load(connID); ok {
		rec.Terminal = id.(string)
	}
	return rec
}

// benchHeader marks the benchmark's own HTTP requests: "read" (a dashboard
// read of the workload) or "tail" (a latency poller).
const benchHeader = "X-Bench"

func terminalOfPath(path string) string {
	rest, ok := strings.CutPrefix(path, "/terminals/")
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, "/")
	return id
}

// carriesReport reports whether an inbound message carries a status report.
func carriesReport(body []byte) bool {
	var env struct {
		Type   string          `json:"type"`
		Status json.RawMessage `json:"status"`
	}
	if json.Unmarshal(body, &env) != nil {
		return false
	}
	return env.Type == protocol.TypeStatus || (env.Type == protocol.TypeLogs && len(env.Status) > 0 && string(env.Status) != "null")
}

func inboundKind(body []byte) string {
	var env struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(body, &env) != nil {
		return kindOther
	}
	switch env.Type {
	case protocol.TypeLogs:
		return kindLogs
	case protocol.TypeStatus:
		return kindStatus
	case protocol.TypeHeartbeat:
		return kindHeartbeat
	case protocol.TypeCommandResponse:
		return kindCommands
	case protocol.TypeHello:
		return kindConnect
	}
	return kindOther
}

func outboundKind(body []byte) string {
	var env struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(body, &env) != nil {
		return kindOther
	}
	switch env.Type {
	case protocol.TypeAck:
		return kindAcks
	case protocol.TypeCommand:
		return kindCommands
	case protocol.TypeError:
		return kindErrors
	case protocol.TypeLive:
		return kindCommands
	case protocol.TypeWelcome:
		return kindConnect
	}
	return kindOther
}

// units is API Gateway's metering of a message: 32 KB units, at least one.
func units(n int) int64 {
	if n <= 0 {
		return 1
	}
	return int64((n + protocol.MaxFrameBytes - 1) / protocol.MaxFrameBytes)
}

// wrapPusher records every message the functions send to terminals.
func (m *meter) wrapPusher(inner fleet.Pusher) fleet.Pusher {
	return pusherFunc(func(ctx context.Context, connID string, msg []byte) error {
		began := time.Now()
		err := inner.Push(ctx, connID, msg)
		if u := usageFrom(ctx); u != nil {
			u.mu.Lock()
			u.pushTime += time.Since(began)
			u.mu.Unlock()
		}
		if err != nil {
			return err
		}
		p := push{At: time.Now(), Kind: outboundKind(msg), Units: units(len(msg))}
		if id, ok := m.conns.Load(connID); ok {
			p.Terminal = id.(string)
		}
		m.mu.Lock()
		m.pushes = append(m.pushes, p)
		m.mu.Unlock()
		return nil
	})
}

type pusherFunc func(ctx context.Context, connID string, msg []byte) error

func (f pusherFunc) Push(ctx context.Context, connID string, msg []byte) error {
	return f(ctx, connID, msg)
}

// capacityMiddleware asks DynamoDB for ConsumedCapacity (TOTAL) on every
// operation and adds the answer to the invocation's usage (or to the
// setup usage outside invocations). A failed conditional write, which
// DynamoDB bills but dynalite answers without capacity, counts one write
// unit.
func (m *meter) capacityMiddleware(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("EdgesyncBenchConsumedCapacity",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			total := types.ReturnConsumedCapacityTotal
			write := true
			item := "other"
			switch p := in.Parameters.(type) {
			case *dynamodb.PutItemInput:
				p.ReturnConsumedCapacity = total
				item = itemKind(p.Item)
			case *dynamodb.UpdateItemInput:
				p.ReturnConsumedCapacity = total
				item = itemKind(p.Key)
			case *dynamodb.DeleteItemInput:
				p.ReturnConsumedCapacity = total
				item = itemKind(p.Key)
			case *dynamodb.BatchWriteItemInput:
				p.ReturnConsumedCapacity = total
				item = "batch write"
			case *dynamodb.GetItemInput:
				p.ReturnConsumedCapacity, write = total, false
			case *dynamodb.BatchGetItemInput:
				p.ReturnConsumedCapacity, write = total, false
			case *dynamodb.QueryInput:
				p.ReturnConsumedCapacity, write = total, false
			case *dynamodb.ScanInput:
				p.ReturnConsumedCapacity, write = total, false
			default:
				return next.HandleInitialize(ctx, in) // table management
			}
			began := time.Now()
			out, md, err := next.HandleInitialize(ctx, in)
			u := usageFrom(ctx)
			if u == nil {
				u = &m.setup
			}
			u.mu.Lock()
			defer u.mu.Unlock()
			u.dbTime += time.Since(began)
			if write {
				u.writes++
			} else {
				u.reads++
			}
			addWrite := func(n float64) {
				u.wcu += n
				if u.byItem == nil {
					u.byItem = map[string]float64{}
				}
				u.byItem[item] += n
			}
			if err != nil {
				var ccf *types.ConditionalCheckFailedException
				if write && errors.As(err, &ccf) {
					u.condFailed++
					addWrite(1)
				}
				return out, md, err
			}
			add := func(c *types.ConsumedCapacity) {
				if c == nil || c.CapacityUnits == nil {
					return
				}
				if write {
					addWrite(*c.CapacityUnits)
				} else {
					u.rcu += *c.CapacityUnits
				}
			}
			switch r := out.Result.(type) {
			case *dynamodb.PutItemOutput:
				add(r.ConsumedCapacity)
			case *dynamodb.UpdateItemOutput:
				add(r.ConsumedCapacity)
			case *dynamodb.DeleteItemOutput:
				add(r.ConsumedCapacity)
			case *dynamodb.GetItemOutput:
				add(r.ConsumedCapacity)
			case *dynamodb.QueryOutput:
				add(r.ConsumedCapacity)
			case *dynamodb.ScanOutput:
				add(r.ConsumedCapacity)
			case *dynamodb.BatchWriteItemOutput:
				for i := range r.ConsumedCapacity {
					add(&r.ConsumedCapacity[i])
				}
			case *dynamodb.BatchGetItemOutput:
				for i := range r.ConsumedCapacity {
					add(&r.ConsumedCapacity[i])
				}
			}
			return out, md, err
		}), middleware.After)
}

// itemKind names the kind of item a key (or item) addresses, after the
// layout documented in package infra/dynamo.
func itemKind(key map[string]types.AttributeValue) string {
	str := func(name string) string {
		if v, ok := key[name].(*types.AttributeValueMemberS); ok {
			return v.Value
		}
		return ""
	}
	pk, sk := str("pk"), str("sk")
	switch {
	case strings.HasPrefix(pk, "C#"):
		return "connection"
	case sk == "META":
		return "terminal record"
	case strings.HasPrefix(sk, "META#"):
		return "config"
	case strings.HasPrefix(sk, "L#"):
		return "log chunk"
	case strings.HasPrefix(sk, "S#"):
		return "status sample"
	case strings.HasPrefix(sk, "CMD#"):
		return "command"
	case strings.HasPrefix(sk, "AUDIT#"):
		return "audit"
	}
	return "other"
}

// billedMs is Lambda's billed duration: rounded up to the millisecond.
func billedMs(d time.Duration) float64 {
	return math.Ceil(float64(d) / float64(time.Millisecond))
}
