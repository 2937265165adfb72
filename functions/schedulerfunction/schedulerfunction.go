// Package schedulerfunction holds the function EventBridge invokes every
// minute, as a functions.Function value: its main passes it to
// functions.FromEnvironment (with functions.WithAlertTopic, so only its
// binary links the SNS client), the local stack finds it in package
// registry.
package schedulerfunction

import (
	"context"

	"github.com/aws/aws-lambda-go/events"

	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/functions"
)

// Scheduler runs the fleet's periodic work (fleet.Service.Tick) for each
// EventBridge scheduled event; an error fails the invocation (EventBridge
// retries it). It pushes (rollout waves) and delivers alerts.
var Scheduler = functions.Function{Name: functions.Scheduler, Pushing: functions.Pushes, Delivers: true,
	Build: func(svc *fleet.Service, _ func(string) string, _ functions.Clients) (any, error) {
		return func(ctx context.Context, ev events.EventBridgeEvent) error {
			return svc.Tick(ctx, ev.Time)
		}, nil
	}}
