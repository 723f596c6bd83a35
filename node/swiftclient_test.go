package node

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nitro-cloud/nitro/internal/testenv"
)

// TestSwiftClientCLI drives a real node with Debian's python-swiftclient
// (/usr/bin/swift): a 48 MiB segmented upload (DLO, 8 MiB segments in
// <container>_segments), download, list, stat and delete, byte-exact.
func TestSwiftClientCLI(t *testing.T) {
	testenv.Short(t)
	r := startNode(t, testConfig(t))
	dir := t.TempDir()
	run := swiftCLI(t, r, dir)
	data := randomBytes(t, 48<<20)
	copy(data[40<<20:], data[:8<<20]) // a duplicated segment
	if err := os.WriteFile(filepath.Join(dir, "disk.raw"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	small := []byte("hello nitro\n")
	if err := os.WriteFile(filepath.Join(dir, "small.txt"), small, 0o644); err != nil {
		t.Fatal(err)
	}
	// Each CLI run costs seconds of Python start-up: few runs, many checks.
	run("upload", "-S", "8388608", "--header", "X-Object-Meta-Color:blue", "images", "disk.raw", "small.txt")

	if got := run("list", "images"); got != "disk.raw\nsmall.txt\n" {
		t.Fatalf("list images = %q", got)
	}
	stat := run("stat", "images", "disk.raw")
	for _, want := range []string{"Content Length: 50331648", "Manifest: images_segments/disk.raw/", "Meta Color: blue"} {
		if !strings.Contains(stat, want) {
			t.Errorf("stat lacks %q:\n%s", want, stat)
		}
	}
	if acct := run("stat"); !strings.Contains(acct, "Containers: 2") || !strings.Contains(acct, "Objects: 8") {
		t.Errorf("account stat:\n%s", acct)
	}

	run("download", "images", "-D", "back")
	for name, want := range map[string][]byte{"disk.raw": data, "small.txt": small} {
		back, err := os.ReadFile(filepath.Join(dir, "back", name))
		if err != nil {
			t.Fatal(err)
		}
		if sha(back) != sha(want) {
			t.Fatalf("download of %s differs: %d bytes, want %d", name, len(back), len(want))
		}
	}

	run("delete", "images", "disk.raw") // the manifest and its segments
	if got := run("list", "images"); got != "small.txt\n" {
		t.Fatalf("after delete, list images = %q", got)
	}
	if got := run("list", "images_segments"); got != "" {
		t.Fatalf("segments left: %q", got)
	}
	run("delete", "--all")
	if got := run("list"); got != "" {
		t.Fatalf("containers left: %q", got)
	}
}

// swiftCLI returns a runner of Debian's python-swiftclient (/usr/bin/swift)
// against node r as test:tester (tempauth v1), in dir; it fails t on a
// non-zero exit and returns the combined output.
func swiftCLI(t *testing.T, r *running, dir string) func(args ...string) string {
	t.Helper()
	swift := testenv.Tool(t, "swift")
	return func(args ...string) string {
		t.Helper()
		all := append([]string{"-A", r.base() + "/auth/v1.0", "-U", "test:tester", "-K", "testing"}, args...)
		cmd := exec.Command(swift, all...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "PYTHONWARNINGS=ignore")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("swift %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
}
