package main

import (
	"context"
	"fmt"
	"os"
	"testing"
)

// TestMain lets the test binary serve as the re-executed probe-server and
// probe-client inside the namespaces, as the harness binary does.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" && len(os.Args) > 1 {
		if err := dispatch(context.Background(), os.Args[1:]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
