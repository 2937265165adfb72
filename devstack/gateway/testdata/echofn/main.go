// Command echofn is a tiny Lambda function for the RIEInvoker tests: it echoes
// its event, reports an environment variable, fails on request, and can wait
// at a file-system barrier so a test can prove invocations run concurrently.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type event struct {
	Echo    string `json:"echo"`
	EnvVar  string `json:"envVar"`
	Fail    string `json:"fail"`
	Exit    bool   `json:"exit"`
	Barrier struct {
		Dir string `json:"dir"`
		N   int    `json:"n"`
	} `json:"barrier"`
}

type response struct {
	Echo     string `json:"echo"`
	Env      string `json:"env,omitempty"`
	Function string `json:"function"`
	PID      int    `json:"pid"`
}

func handle(ctx context.Context, e event) (response, error) {
	fmt.Println("echofn invoked:", e.Echo)
	if e.Fail != "" {
		return response{}, errors.New(e.Fail)
	}
	if e.Exit {
		os.Exit(3)
	}
	if e.Barrier.Dir != "" {
		if err := barrier(ctx, e.Barrier.Dir, e.Barrier.N); err != nil {
			return response{}, err
		}
	}
	return response{
		Echo:     e.Echo,
		Env:      os.Getenv(e.EnvVar),
		Function: lambdacontext.FunctionName,
		PID:      os.Getpid(),
	}, nil
}

// barrier marks this invocation as arrived in dir and waits until n
// invocations have arrived.
func barrier(ctx context.Context, dir string, n int) error {
	f, err := os.CreateTemp(dir, "arrived-")
	if err != nil {
		return fmt.Errorf("barrier: %w", err)
	}
	f.Close()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		m, err := filepath.Glob(filepath.Join(dir, "arrived-*"))
		if err != nil {
			return fmt.Errorf("barrier: %w", err)
		}
		if len(m) >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return fmt.Errorf("barrier: fewer than %d invocations arrived", n)
}

func main() {
	lambda.Start(handle)
}
