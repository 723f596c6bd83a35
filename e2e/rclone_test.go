package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nitro-cloud/nitro/internal/testenv"
)

// TestRclone drives Debian's rclone (its swift backend, tempauth v1)
// against `nitro serve`: sync, copy, check, a file above
// --swift-chunk-size (uploaded as a DLO of segments in <container>_segments),
// delete, and purge (rclone's bulk delete); afterwards no object and no
// segment is left. rclone exits non-zero on any error it meets (before
// bulk delete existed, purge got 405 and left the segments behind).
func TestRclone(t *testing.T) {
	rclone := testenv.Tool(t, "rclone")
	n := startNitro(t, singleNodeConfig)
	dir := t.TempDir()
	env := append(os.Environ(),
		"RCLONE_CONFIG="+filepath.Join(dir, "rclone.conf"),
		"RCLONE_CONFIG_NITRO_TYPE=swift",
		"RCLONE_CONFIG_NITRO_AUTH="+n.URL+"/auth/v1.0",
		"RCLONE_CONFIG_NITRO_USER=test:tester",
		"RCLONE_CONFIG_NITRO_KEY=testing",
		"HOME="+dir,
	)
	rc := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, rclone, append([]string{"--retries", "1", "--low-level-retries", "1", "--swift-chunk-size", "1M"}, args...)...)
		cmd.Env = env
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			t.Fatalf("rclone %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errOut.String())
		}
		return out.String()
	}
	if err := os.WriteFile(filepath.Join(dir, "rclone.conf"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "src")
	files := map[string]int{"a.txt": 100, "sub/b.bin": 200 << 10, "sub/deep/c.bin": 10, "big.bin": 3<<20 + 12345}
	for name, size := range files {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, size)
		rand.Read(b)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rc("sync", src, "nitro:bucket")
	rc("check", src, "nitro:bucket")
	if out := rc("lsf", "-R", "nitro:bucket_segments"); strings.Count(out, "\n") < 4 {
		t.Errorf("big.bin (3 MiB, 1 MiB chunks) has no segments: %q", out)
	}
	rc("copy", filepath.Join(src, "a.txt"), "nitro:bucket/copied")
	back := filepath.Join(dir, "back")
	rc("copy", "nitro:bucket", back)
	rc("check", src, back, "--exclude", "copied/**")
	// Delete a file, then the large one (its segments go too), and sync
	// a removal.
	rc("delete", "nitro:bucket/copied")
	rc("deletefile", "nitro:bucket/big.bin")
	if out := rc("lsf", "-R", "nitro:bucket_segments"); strings.TrimSpace(out) != "" {
		t.Errorf("segments left after deleting big.bin: %q", out)
	}
	os.Remove(filepath.Join(src, "a.txt"))
	rc("sync", src, "nitro:bucket")
	if out := rc("lsf", "-R", "nitro:bucket"); strings.Contains(out, "a.txt") || !strings.Contains(out, "big.bin") {
		t.Errorf("after sync: %q", out)
	}
	// No phantom directories: copied/ was emptied.
	if out := rc("lsf", "nitro:bucket"); strings.Contains(out, "copied/") {
		t.Errorf("phantom directory in %q", out)
	}
	// A large file again, then purge: bulk delete of objects and segments.
	if out := rc("lsf", "-R", "nitro:bucket_segments"); strings.Count(out, "\n") < 4 {
		t.Errorf("big.bin synced again has no segments: %q", out)
	}
	rc("purge", "nitro:bucket")
	// rclone leaves the (empty) segments container, as with Swift.
	if out := rc("lsd", "nitro:"); strings.Contains(out, " bucket\n") {
		t.Errorf("container left after purge: %q", out)
	}
	c := mustLogin(t, n.URL)
	for _, cont := range []string{"bucket", "bucket_segments"} {
		if code := c.status(t, "GET", "/"+cont, nil); code != 404 && code != 204 {
			t.Errorf("%s after purge: %d", cont, code)
		}
	}
	if code, body := c.mustDo(t, "GET", "/bucket_segments", nil); code == 200 {
		t.Errorf("segments left after purge: %q", body)
	}
}
