package dynamo

import (
	"testing"

	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/fleet/servicetest"
)

// TestService runs the service's rules (fleet/servicetest) on DynamoDB,
// a table per test; fleet runs them on the embedded store.
func TestService(t *testing.T) {
	t.Parallel()
	servicetest.Run(t, func(t *testing.T) fleet.Store { return New(client, newTable(t, "service")) })
}
