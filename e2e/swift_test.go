package e2e

import (
	"testing"

	"github.com/nitro-cloud/nitro/internal/swifttest"
)

// swiftServer is a single-node OpenStack Swift from Debian's packages
// (scripts/lib/swift.sh): tempauth account test:tester / testing.
type swiftServer struct {
	URL string // http://127.0.0.1:PORT (auth at /auth/v1.0)
	Dir string
}

// startSwift starts Swift with its state in a temp dir and stops it when t
// ends. It is the reference the harness is validated against.
func startSwift(t testing.TB) *swiftServer {
	t.Helper()
	s := swifttest.Start(t)
	return &swiftServer{URL: s.URL, Dir: s.Dir}
}
