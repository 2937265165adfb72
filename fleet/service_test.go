package fleet_test

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/fleet/servicetest"
	"github.com/edgesync/edgesync/infra/embedded"
)

func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	os.Exit(m.Run())
}

// openEmbedded returns an empty embedded store in the test's directory.
func openEmbedded(t *testing.T) fleet.Store {
	t.Helper()
	st, err := embedded.Open(filepath.Join(t.TempDir(), "edgesync.db"))
	if err != nil {
		t.Fatalf("open embedded store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestService runs the service's rules (fleet/servicetest) on the embedded
// store, with Go alone; infra/dynamo runs them on DynamoDB.
func TestService(t *testing.T) {
	t.Parallel()
	servicetest.Run(t, openEmbedded)
}
