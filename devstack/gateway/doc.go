// Package gateway emulates, on one machine, the two Amazon API Gateway APIs
// edgesync is deployed behind, so the whole system runs locally with no cloud
// account and no Docker (sam local has no WebSocket support and LocalStack
// offers API Gateway v2 only in its paid tier).
//
// The package takes its routes as plain data and reaches the functions through
// the [Invoker] port, which has Lambda semantics: a JSON event in, a JSON
// response out, an error when the function failed. Two invokers are provided:
// [HandlerInvoker] calls aws-lambda-go handlers in process, and [RIEInvoker]
// runs each function's real bootstrap binary under
// aws-lambda-runtime-interface-emulator, one process per concurrent
// invocation.
//
// [WebSocketAPI] emulates an API Gateway WebSocket API: the client side
// (ws:// instead of wss://), $connect/$disconnect/message routing with
// events.APIGatewayWebsocketProxyRequest events, the @connections management
// API that the AWS SDK's apigatewaymanagementapi client reaches with a custom
// endpoint, the frame and message size limits, and the idle and maximum
// connection durations.
//
// [NewHTTPAPI] emulates an API Gateway HTTP API with payload format 2.0
// (events.APIGatewayV2HTTPRequest in, events.APIGatewayV2HTTPResponse out).
//
// What is and is not emulated is documented on each type; in short, the
// emulators reproduce the behaviour functions and clients can observe
// (event shapes, status codes, close codes, limits, error bodies, JWT
// authorizers given as functions, CORS preflight routing) and leave out what
// only the cloud has (route responses, the stage's and the account's
// throttling, custom domains, TLS, signature verification).
// [LimitConcurrency] bounds each function's concurrent invocations as
// Lambda's concurrency does; the emulators answer a throttled invocation
// as API Gateway answers a throttled or failed integration.
package gateway
