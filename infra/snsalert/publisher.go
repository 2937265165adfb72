package snsalert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/smithy-go"

	"github.com/edgesync/edgesync/fleet"
)

// publishAPI is the part of the SNS client Publisher uses.
type publishAPI interface {
	Publish(ctx context.Context, in *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// Publisher publishes alerts to one SNS topic. It implements
// fleet.AlertPublisher and is safe for concurrent use.
type Publisher struct {
	api   publishAPI
	topic string
}

var _ fleet.AlertPublisher = (*Publisher)(nil)

// New returns a Publisher to the topic topicARN using client.
func New(client *sns.Client, topicARN string) *Publisher {
	return &Publisher{api: client, topic: topicARN}
}

// FromConfig returns a Publisher to topicARN with an SNS client on cfg (a
// function's AWS configuration): what functions.WithAlertTopic takes.
func FromConfig(cfg aws.Config, topicARN string) fleet.AlertPublisher {
	return New(sns.NewFromConfig(cfg), topicARN)
}

// Message is the JSON body of each SNS message: the alert as the HTTP API
// shows it, and what it is.
type Message struct {
	// Type is "edgesync.alert".
	Type string `json:"type"`
	fleet.Alert
}

// maxSubject is SNS's limit on a subject (ASCII, under 100 characters).
const maxSubject = 99

// Publish publishes a. Errors wrap the SDK's; throttling is
// fleet.ErrThrottled.
func (p *Publisher) Publish(ctx context.Context, a fleet.Alert) error {
	body, err := json.Marshal(Message{Type: "edgesync.alert", Alert: a})
	if err != nil {
		return fmt.Errorf("encode alert %s: %w", a.AlertKey.String(), err)
	}
	attrs := map[string]types.MessageAttributeValue{}
	for name, v := range map[string]string{"group": a.Group, "state": string(a.State), "kind": string(a.Kind), "terminal": a.TerminalID} {
		if v != "" {
			attrs[name] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
		}
	}
	_, err = p.api.Publish(ctx, &sns.PublishInput{
		TopicArn:          aws.String(p.topic),
		Message:           aws.String(string(body)),
		Subject:           aws.String(Subject(a)),
		MessageAttributes: attrs,
	})
	if err != nil {
		var api smithy.APIError
		if errors.As(err, &api) && (api.ErrorCode() == "Throttling" || api.ErrorCode() == "ThrottledException") {
			return fmt.Errorf("publish alert %s to %s: %w: %w", a.AlertKey.String(), p.topic, fleet.ErrThrottled, err)
		}
		return fmt.Errorf("publish alert %s to %s: %w", a.AlertKey.String(), p.topic, err)
	}
	return nil
}

// Subject is the one-line subject of a's message, e.g. "edgesync alert
// open: status on press-7 (line-1)": printable ASCII (anything else is
// '?'), at most 99 characters, as SNS requires.
func Subject(a fleet.Alert) string {
	what := string(a.Kind)
	if a.RuleName != "" {
		what = a.RuleName
	}
	s := fmt.Sprintf("edgesync alert %s: %s on %s (%s)", a.State, what, a.TerminalID, a.Group)
	var b strings.Builder
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			r = '?'
		}
		b.WriteRune(r)
	}
	out := b.String()
	if len(out) > maxSubject {
		out = out[:maxSubject-3] + "..."
	}
	return out
}
