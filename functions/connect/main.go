// Command connect is the Lambda function behind the WebSocket API's
// $connect route: it authenticates a terminal and binds the connection to
// it. It only wires; the handler lives in package wsapi.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/edgesync/edgesync/functions/internal/lambdaenv"
	"github.com/edgesync/edgesync/wsapi"
)

func main() {
	slog.SetDefault(lambdacontext.NewLogger())
	svc, err := lambdaenv.Setup(context.Background(), os.Getenv, lambdaenv.NeverPushes)
	if err != nil {
		slog.Error("connect function cannot start", "error", err)
		os.Exit(1)
	}
	lambda.Start(wsapi.NewConnect(svc).Handle)
}
