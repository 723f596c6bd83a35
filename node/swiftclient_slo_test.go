package node

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nitro-cloud/nitro/internal/testenv"
)

// TestSwiftClientSLO drives a real node with Debian's python-swiftclient
// (/usr/bin/swift) as a static large object user: `swift upload
// --use-slo --segment-size 4 MiB` of a 21 MiB file (one segment repeated),
// stat, a byte-exact download, then `swift delete`, which deletes the
// manifest with ?multipart-manifest=delete and must leave no segment.
func TestSwiftClientSLO(t *testing.T) {
	testenv.Short(t)
	r := startNode(t, testConfig(t))
	dir := t.TempDir()
	run := swiftCLI(t, r, dir)
	data := randomBytes(t, 21<<20+12345)
	copy(data[16<<20:], data[:4<<20]) // a duplicated segment
	if err := os.WriteFile(filepath.Join(dir, "disk.raw"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	run("upload", "--use-slo", "--segment-size", "4194304", "images", "disk.raw")
	stat := run("stat", "images", "disk.raw")
	for _, want := range []string{"Content Length: 22032441", "X-Static-Large-Object: True", "X-Manifest-Etag: "} {
		if !strings.Contains(stat, want) {
			t.Errorf("stat lacks %q:\n%s", want, stat)
		}
	}
	if strings.Contains(stat, "Manifest: images_segments") {
		t.Errorf("stat shows a DLO manifest:\n%s", stat)
	}
	if segs := strings.Fields(run("list", "images_segments")); len(segs) != 6 {
		t.Fatalf("segments: %v, want 6", segs)
	}
	run("download", "images", "disk.raw", "-o", "back.raw")
	back, err := os.ReadFile(filepath.Join(dir, "back.raw"))
	if err != nil {
		t.Fatal(err)
	}
	if sha(back) != sha(data) {
		t.Fatalf("download differs: %d bytes, want %d", len(back), len(data))
	}
	run("delete", "images", "disk.raw")
	if got := run("list", "images"); got != "" {
		t.Fatalf("after delete, list images = %q", got)
	}
	if got := run("list", "images_segments"); got != "" {
		t.Fatalf("segments left: %q", got)
	}
}
