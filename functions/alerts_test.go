package functions_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/functions"
	"github.com/edgesync/edgesync/functions/queryfunction"
	"github.com/edgesync/edgesync/functions/schedulerfunction"
	"github.com/edgesync/edgesync/functions/wsfunctions"
)

type nopPublisher struct{}

func (nopPublisher) Publish(context.Context, fleet.Alert) error { return nil }

// TestAlertTopicOnlyForTheScheduler: WithAlertTopic builds the alert
// publisher of ALERT_TOPIC_ARN for the scheduler function only, refuses a
// malformed ARN at start-up naming the variable, and builds none without
// a topic.
func TestAlertTopicOnlyForTheScheduler(t *testing.T) {
	t.Parallel()
	const arn = "arn:aws:sns:eu-west-1:123456789012:edgesync-alerts"
	tests := []struct {
		fn        functions.Function
		topic     string
		wantBuilt bool
		wantErr   string
	}{
		{schedulerfunction.Scheduler, arn, true, ""},
		{schedulerfunction.Scheduler, "", false, ""},
		{schedulerfunction.Scheduler, "arn:aws:sqs:eu-west-1:123456789012:q", false, "ALERT_TOPIC_ARN"},
		{wsfunctions.Message, arn, false, ""},
		{queryfunction.Query, arn, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.fn.Name+" "+tt.topic, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{
				"TABLE_NAME": "t", "CONNECTIONS_URL": "https://w.execute-api.eu-west-1.amazonaws.com/prod",
				"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "secret",
				"ALERT_TOPIC_ARN": tt.topic,
			}
			var built []string
			h, err := functions.FromEnvironment(tt.fn, func(k string) string { return env[k] }, functions.WithAlertTopic(func(cfg aws.Config, topic string) fleet.AlertPublisher {
				if cfg.Region != "eu-west-1" {
					t.Errorf("publisher built on region %q", cfg.Region)
				}
				built = append(built, topic)
				return nopPublisher{}
			}))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("FromEnvironment: %v, want an error naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil || h == nil {
				t.Fatalf("FromEnvironment: %v", err)
			}
			if got := len(built) == 1 && built[0] == arn; got != tt.wantBuilt {
				t.Errorf("publishers built: %v, want one for %s: %v", built, arn, tt.wantBuilt)
			}
		})
	}
}
