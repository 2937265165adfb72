package apigw

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi/types"

	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/protocol"
)

// Errors of the management API that have no fleet equivalent. Returned
// errors wrap them and the SDK's error; test with errors.Is.
var (
	// ErrTooLarge: API Gateway refused the message as larger than a
	// WebSocket message may be (128 KB); the caller must split it.
	ErrTooLarge = errors.New("message too large for API Gateway")
	// ErrForbidden: API Gateway refused the call, almost always because the
	// function's role lacks execute-api:ManageConnections on the stage or
	// CONNECTIONS_URL names another API or stage.
	ErrForbidden = errors.New("management API call forbidden")
)

// connectionsAPI is the part of the management API client Pusher uses.
type connectionsAPI interface {
	PostToConnection(ctx context.Context, in *apigatewaymanagementapi.PostToConnectionInput, optFns ...func(*apigatewaymanagementapi.Options)) (*apigatewaymanagementapi.PostToConnectionOutput, error)
	DeleteConnection(ctx context.Context, in *apigatewaymanagementapi.DeleteConnectionInput, optFns ...func(*apigatewaymanagementapi.Options)) (*apigatewaymanagementapi.DeleteConnectionOutput, error)
}

// Pusher sends messages to WebSocket connections with PostToConnection
// and closes them with DeleteConnection. It implements fleet.Pusher and
// fleet.ConnectionCloser and is safe for concurrent use.
type Pusher struct {
	api connectionsAPI
}

var (
	_ fleet.Pusher           = (*Pusher)(nil)
	_ fleet.ConnectionCloser = (*Pusher)(nil)
)

// New returns a Pusher using client, whose BaseEndpoint must be the stage's
// management endpoint, https://{api-id}.execute-api.{region}.amazonaws.com/{stage}.
func New(client *apigatewaymanagementapi.Client) *Pusher {
	return &Pusher{api: client}
}

// Push delivers msg to the connection connID. It returns an error wrapping
// fleet.ErrGone when the connection no longer exists, fleet.ErrThrottled
// when API Gateway's rate limit refused it, ErrTooLarge when the message
// exceeds API Gateway's limit (checked before sending) and ErrForbidden when
// the function may not manage connections of the stage.
func (p *Pusher) Push(ctx context.Context, connID string, msg []byte) error {
	if connID == "" {
		return fmt.Errorf("push: empty connection id: %w", fleet.ErrInvalid)
	}
	if len(msg) > protocol.MaxMessageBytes {
		return fmt.Errorf("push %d bytes to connection %s: %w (limit %d bytes)", len(msg), connID, ErrTooLarge, protocol.MaxMessageBytes)
	}
	_, err := p.api.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{
		ConnectionId: aws.String(connID),
		Data:         msg,
	})
	if err != nil {
		return fmt.Errorf("push %d bytes to connection %s: %w", len(msg), connID, translate(err))
	}
	return nil
}

// Close closes the connection connID with the management API's
// DeleteConnection (DELETE @connections/{id}, answered 204; the function
// needs execute-api:ManageConnections on .../DELETE/@connections/*): the
// connection of a revoked credential or a deleted terminal. A connection
// that is already gone (410 GoneException) is not an error.
func (p *Pusher) Close(ctx context.Context, connID string) error {
	if connID == "" {
		return fmt.Errorf("close connection: empty connection id: %w", fleet.ErrInvalid)
	}
	_, err := p.api.DeleteConnection(ctx, &apigatewaymanagementapi.DeleteConnectionInput{
		ConnectionId: aws.String(connID),
	})
	if err != nil {
		err = translate(err)
		if errors.Is(err, fleet.ErrGone) {
			return nil
		}
		return fmt.Errorf("close connection %s: %w", connID, err)
	}
	return nil
}

// translate maps a management API error to the package's and fleet's
// errors, keeping the SDK error in the chain. The modeled exception decides
// when the response carries one; otherwise the HTTP status does (a local
// emulator may answer 410 without an error type).
func translate(err error) error {
	var (
		gone      *types.GoneException
		forbidden *types.ForbiddenException
		tooLarge  *types.PayloadTooLargeException
		limit     *types.LimitExceededException
	)
	switch {
	case errors.As(err, &gone):
		return fmt.Errorf("%w: %w", fleet.ErrGone, err)
	case errors.As(err, &limit):
		return fmt.Errorf("%w: %w", fleet.ErrThrottled, err)
	case errors.As(err, &tooLarge):
		return fmt.Errorf("%w: %w", ErrTooLarge, err)
	case errors.As(err, &forbidden):
		return fmt.Errorf("%w: %w", ErrForbidden, err)
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		switch re.HTTPStatusCode() {
		case http.StatusGone:
			return fmt.Errorf("%w: %w", fleet.ErrGone, err)
		case http.StatusTooManyRequests:
			return fmt.Errorf("%w: %w", fleet.ErrThrottled, err)
		case http.StatusRequestEntityTooLarge:
			return fmt.Errorf("%w: %w", ErrTooLarge, err)
		case http.StatusForbidden:
			return fmt.Errorf("%w: %w", ErrForbidden, err)
		}
	}
	return err
}
