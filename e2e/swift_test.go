package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nitro-cloud/nitro/internal/testenv"
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
	for _, tool := range []string{"swift-proxy-server", "swift-object-server", "memcached"} {
		testenv.Tool(t, tool)
	}
	dir := t.TempDir()
	script := filepath.Join(moduleRoot, "scripts", "lib", "swift.sh")
	t.Cleanup(func() {
		if out, err := exec.Command(script, "stop", dir).CombinedOutput(); err != nil {
			t.Errorf("swift.sh stop: %v\n%s", err, out)
		}
	})
	out, err := exec.Command(script, "start", dir).Output()
	if err != nil {
		t.Fatalf("swift.sh start: %v\n%s", err, tail(filepath.Join(dir, "log", "proxy.log"), 30))
	}
	return &swiftServer{URL: strings.TrimSpace(string(out)), Dir: dir}
}
