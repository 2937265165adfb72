// Command disconnect is the Lambda function behind the WebSocket API's
// $disconnect route: it marks the terminal offline and drops the connection
// binding. It only wires: package functions builds the
// handler from its functions.Function value, the same way the local stack does.
package main

import (
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/edgesync/edgesync/functions"
	"github.com/edgesync/edgesync/functions/wsfunctions"
)

func main() {
	slog.SetDefault(lambdacontext.NewLogger())
	h, err := functions.FromEnvironment(wsfunctions.Disconnect, os.Getenv)
	if err != nil {
		slog.Error("disconnect function cannot start", "error", err)
		os.Exit(1)
	}
	lambda.Start(h)
}
