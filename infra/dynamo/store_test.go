package dynamo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/fleet/storetest"
	"github.com/edgesync/edgesync/internal/dynalite"
	"github.com/edgesync/edgesync/internal/moto"
	"github.com/edgesync/edgesync/internal/testenv"
)

// One dynalite and one moto serve the whole package (see internal/dynalite
// and internal/moto), each with the shared table created in TestMain; tests
// that need a table of their own create it on the same server. Most tests
// run on dynalite (endpoint, client); the contract suite and the tests of
// behaviour the two servers implement differently run on both.
var (
	endpoint string
	client   *dynamodb.Client

	// motoClient is nil when moto_server is not installed; motoMissing
	// then says why (see motoFor).
	motoClient  *dynamodb.Client
	motoMissing string
)

const sharedTable = "edgesync"

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Start both servers at once: each takes a noticeable fraction of a second.
	var (
		wg      sync.WaitGroup
		dyn     *dynalite.Server
		mot     *moto.Server
		dynErr  error
		motoErr error
	)
	wg.Go(func() { dyn, dynErr = dynalite.Start(ctx) })
	wg.Go(func() { mot, motoErr = moto.Start(ctx) })
	wg.Wait()
	if dyn != nil {
		defer dyn.Close()
	}
	if mot != nil {
		defer mot.Close()
	}
	if dynErr != nil {
		return dynalite.MainStartFailed(dynErr)
	}
	switch {
	case errors.Is(motoErr, moto.ErrNotInstalled):
		motoMissing = motoErr.Error() // the tests that need it skip or fail (motoFor)
	case motoErr != nil:
		fmt.Fprintln(os.Stderr, motoErr)
		return 1
	}
	endpoint = dyn.Endpoint()
	client = dynalite.NewClient(endpoint)
	if err := CreateTable(ctx, client, sharedTable); err != nil {
		fmt.Fprintln(os.Stderr, "dynalite:", err)
		return 1
	}
	if mot != nil {
		motoClient = moto.NewClient(mot.Endpoint())
		if err := CreateTable(ctx, motoClient, sharedTable); err != nil {
			fmt.Fprintln(os.Stderr, "moto:", err)
			return 1
		}
	}
	return m.Run()
}

// motoFor returns the client of the package's moto server, or ends the
// test as internal/testenv says when moto_server is not installed.
func motoFor(t *testing.T) *dynamodb.Client {
	t.Helper()
	if motoClient == nil {
		testenv.Missing(t, "moto_server", motoMissing, moto.Install)
	}
	return motoClient
}

// TestStore runs the fleet.Store contract suite on dynalite against one
// shared table, so the suite's subtests also show that terminals never see
// one another.
func TestStore(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) fleet.Store { return New(client, sharedTable) })
}

// TestStoreOnMoto runs the contract suite on moto, the second, independent
// DynamoDB. moto implements ReturnValuesOnConditionCheckFailure, so the
// Store's path that uses the item a failed condition returned (instead of
// reading it again) runs here; the recorder checks moto returned the old
// item with every failed condition on an existing item, as DynamoDB does.
func TestStoreOnMoto(t *testing.T) {
	t.Parallel()
	db := motoFor(t)
	tally := &conditionTally{}
	// Cleanup runs once the suite's parallel subtests have finished.
	t.Cleanup(func() {
		returned, absent, withheld := tally.counts()
		t.Logf("failed conditions asking for the old item: %d returned it, %d had no item", returned, absent)
		for _, w := range withheld {
			t.Errorf("moto withheld the old item of a failed condition: %s", w)
		}
		if returned == 0 {
			t.Error("no failed condition returned the old item; ReturnValuesOnConditionCheckFailure was not exercised")
		}
	})
	// A table per contract: moto answers a query of an index by reading
	// every item of the table, so on one shared table the listing and audit
	// contracts took minutes.
	storetest.Run(t, func(t *testing.T) fleet.Store {
		table := tableName(t)
		if err := CreateTable(t.Context(), db, table); err != nil {
			t.Fatalf("moto: %v", err)
		}
		return newStore(&conditionRecorder{itemAPI: db, table: table, tally: tally}, table)
	})
}
