// Package swifttest starts a throw-away single-node OpenStack Swift from
// Debian's packages (scripts/lib/swift.sh) for tests: memcached, account,
// container, object and proxy servers on loopback, with Swift's sample
// tempauth users. Tests that need it skip on a developer machine without
// Swift and fail in CI (see internal/testenv).
package swifttest

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/nitro-cloud/nitro/internal/testenv"
)

// Tempauth users of the Swift that Start runs (scripts/lib/swift.sh).
const (
	// User and Key: account AUTH_test, role .admin.
	User = "test:tester"
	Key  = "testing"
	// User2 and Key2: another account, AUTH_test2, role .admin.
	User2 = "test2:tester2"
	Key2  = "testing2"
)

// Server is one running Swift.
type Server struct {
	// URL is the proxy's base URL, http://127.0.0.1:PORT; tempauth v1
	// answers at URL + "/auth/v1.0", the storage URL of User is
	// URL + "/v1/AUTH_test".
	URL string
	// Dir holds its state: etc/ (configs, rings), srv/, log/*.log.
	Dir string
}

// AuthURL is the tempauth v1 endpoint, URL + "/auth/v1.0".
func (s *Server) AuthURL() string { return s.URL + "/auth/v1.0" }

// Start starts Swift with its state in a temp dir of t and stops it (by
// PID, scripts/lib/swift.sh stop) when t ends. It skips t, or fails it in
// CI, when Swift's servers are not installed.
func Start(t testing.TB) *Server {
	t.Helper()
	for _, tool := range []string{"swift-proxy-server", "swift-object-server", "swift-container-server", "swift-account-server", "memcached"} {
		testenv.Tool(t, tool)
	}
	dir := t.TempDir()
	script := Script()
	t.Cleanup(func() {
		if out, err := exec.Command(script, "stop", dir).CombinedOutput(); err != nil {
			t.Errorf("swift.sh stop: %v\n%s", err, out)
		}
	})
	out, err := exec.Command(script, "start", dir).Output()
	if err != nil {
		t.Fatalf("swift.sh start: %v\n%s", err, tail(filepath.Join(dir, "log", "proxy.log"), 30))
	}
	return &Server{URL: strings.TrimSpace(string(out)), Dir: dir}
}

// Script is the path of scripts/lib/swift.sh in this module.
func Script() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "scripts", "lib", "swift.sh")
}

// tail returns the last n lines of the file at path, or why it cannot.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
