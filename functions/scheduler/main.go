// Command scheduler is the Lambda function EventBridge invokes every minute
// (template.yaml's Schedule event): the fleet's periodic work, which events
// alone do not advance. It only wires: the registry in package functions
// builds the handler from its functions.Function value, the same way the local stack does.
package main

import (
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/edgesync/edgesync/functions"
	"github.com/edgesync/edgesync/functions/schedulerfunction"
	"github.com/edgesync/edgesync/infra/snsalert"
)

func main() {
	slog.SetDefault(lambdacontext.NewLogger())
	// Alerts go to the SNS topic ALERT_TOPIC_ARN names; only this binary
	// links the SNS client.
	h, err := functions.FromEnvironment(schedulerfunction.Scheduler, os.Getenv, functions.WithAlertTopic(snsalert.FromConfig))
	if err != nil {
		slog.Error("scheduler function cannot start", "error", err)
		os.Exit(1)
	}
	lambda.Start(h)
}
