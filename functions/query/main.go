// Command query is the Lambda function behind the HTTP API: the frontend's
// reads of terminals, config, logs and status (payload format 2.0). It only
// wires: the handler lives in package httpapi.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/functions/internal/lambdaenv"
	"github.com/edgesync/edgesync/httpapi"
	"github.com/edgesync/edgesync/infra/apigw"
)

func main() {
	slog.SetDefault(lambdacontext.NewLogger())
	svc, err := lambdaenv.Setup(context.Background(), os.Getenv, lambdaenv.Pushes)
	if err != nil {
		slog.Error("query function cannot start", "error", err)
		os.Exit(1)
	}
	opts := httpapi.Options{
		AllowedOrigins: httpapi.OriginsFromEnv(os.Getenv("CORS_ALLOW_ORIGINS")),
		Identify: apigw.Identify(fleet.ClaimsConfig{
			RoleClaim:   os.Getenv("AUTH_ROLE_CLAIM"),
			GroupsClaim: os.Getenv("AUTH_GROUPS_CLAIM"),
		}),
		Metrics: lambdaenv.Metrics(os.Getenv),
	}
	lambda.Start(httpadapter.NewV2(httpapi.New(svc, opts)).ProxyWithContext)
}
