package gateway_test

import (
	"context"
	"fmt"
	"log"
	"net/http"

	"github.com/aws/aws-lambda-go/events"

	"github.com/edgesync/edgesync/devstack/gateway"
)

// The local stack serves both sides of the WebSocket API and the HTTP API
// from one process: clients connect to ws://HOST/prod, the functions' SDK
// client uses CONNECTIONS_URL=http://HOST/prod, and the HTTP API has a port
// of its own (its stage is $default, so it owns every path).
func Example() {
	handle := func(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		return events.APIGatewayProxyResponse{StatusCode: 200}, nil
	}
	query := func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		return events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: req.RawPath}, nil
	}
	invoker := gateway.HandlerFuncInvoker(map[string]any{
		"ConnectFunction":    handle,
		"DisconnectFunction": handle,
		"MessageFunction":    handle,
		"QueryFunction":      query,
	})

	ws := gateway.NewWebSocketAPI(gateway.WebSocketConfig{
		Routes: map[string]string{
			gateway.RouteConnect:    "ConnectFunction",
			gateway.RouteDisconnect: "DisconnectFunction",
			gateway.RouteDefault:    "MessageFunction",
		},
		RouteSelectionExpression: "$request.body.type",
		Invoker:                  invoker,
		Stage:                    "prod",
	})
	wsMux := http.NewServeMux()
	wsMux.Handle("/prod/@connections/", ws.ManagementHandler())
	wsMux.Handle("/", ws.ClientHandler())

	httpAPI := gateway.NewHTTPAPI(gateway.HTTPConfig{
		Routes: []gateway.HTTPRoute{
			{Method: "ANY", Path: "/{proxy+}", Function: "QueryFunction"},
			{Method: "ANY", Path: "/", Function: "QueryFunction"},
		},
		Invoker: invoker,
	})

	if false { // a real runner would listen:
		go func() { log.Fatal(http.ListenAndServe("127.0.0.1:3001", wsMux)) }()
		log.Fatal(http.ListenAndServe("127.0.0.1:3000", httpAPI))
	}
	fmt.Println("stage", ws.Stage())
	// Output: stage prod
}
