package glanceshim_test

import (
	"bytes"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nitro-cloud/nitro/internal/testenv"
)

// TestSwiftCLI drives the server with Debian's python-swiftclient 4.1
// (the library glance_store uses): stat, post, upload (plain and
// segmented DLO with -S), list, download, copy, delete, capabilities.
func TestSwiftCLI(t *testing.T) {
	testenv.Short(t)
	swift := testenv.Tool(t, "swift")
	ts := startServer(t, testConfig(), nil)
	dir := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(swift, append([]string{"-A", ts.URL + "/auth/v1.0", "-U", "test:tester", "-K", "testing", "--retries", "0"}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("swift %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	data := make([]byte, 300000)
	_, _ = rand.Read(data)
	if err := os.WriteFile(filepath.Join(dir, "image.raw"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	run("post", "images")
	run("upload", "images", "image.raw")
	run("upload", "-S", "100000", "--object-name", "big.raw", "images", "image.raw")
	if out := run("list", "images"); !strings.Contains(out, "image.raw") || !strings.Contains(out, "big.raw") {
		t.Errorf("list: %q", out)
	}
	if out := run("list", "images_segments"); strings.Count(out, "\n") != 3 {
		t.Errorf("segments: %q", out)
	}
	if out := run("stat", "images", "big.raw"); !strings.Contains(out, "Manifest: images_segments/") || !strings.Contains(out, "Content Length: 300000") {
		t.Errorf("stat DLO: %q", out)
	}
	for _, o := range []string{"image.raw", "big.raw"} {
		run("download", "images", o, "-o", "out-"+o)
		got, err := os.ReadFile(filepath.Join(dir, "out-"+o))
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("download %s: %d bytes, %v", o, len(got), err)
		}
	}
	run("copy", "-d", "/images/copy.raw", "images", "image.raw")
	run("post", "-m", "Color:blue", "images", "copy.raw")
	if out := run("stat", "images", "copy.raw"); !strings.Contains(out, "Meta Color: blue") {
		t.Errorf("stat copy: %q", out)
	}
	if out := run("capabilities"); !strings.Contains(out, "max_file_size: 5368709122") || !strings.Contains(out, "bulk_delete") {
		t.Errorf("capabilities: %q", out)
	}
	run("delete", "images", "big.raw")
	if out := run("list", "images_segments"); strings.TrimSpace(out) != "" {
		t.Errorf("segments left after deleting the DLO: %q", out)
	}
	run("delete", "--all")
	if out := run("list"); strings.TrimSpace(out) != "" {
		t.Errorf("containers left: %q", out)
	}
	if out := run("stat"); !strings.Contains(out, "Account: AUTH_test") {
		t.Errorf("stat: %q", out)
	}
}
