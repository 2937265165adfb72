// Command query is the Lambda function behind the HTTP API: the frontend's
// reads of terminals, config, logs and status and the operators' actions
// (payload format 2.0). It only wires: package functions builds the
// handler from its functions.Function value, the same way the local stack does.
package main

import (
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/edgesync/edgesync/functions"
	"github.com/edgesync/edgesync/functions/queryfunction"
)

func main() {
	slog.SetDefault(lambdacontext.NewLogger())
	h, err := functions.FromEnvironment(queryfunction.Query, os.Getenv)
	if err != nil {
		slog.Error("query function cannot start", "error", err)
		os.Exit(1)
	}
	lambda.Start(h)
}
