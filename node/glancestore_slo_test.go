package node

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nitro-cloud/nitro/internal/testenv"
)

// TestGlanceStoreSLODelete runs Debian's glance_store (4.x, the swift
// driver glance-api uses; auth v1 against the node's tempauth) on an image
// stored as a static large object, as an operator's `swift upload
// --use-slo` leaves it: the driver's get returns the image byte-exact, and
// its delete (HEAD, then DELETE ?multipart-manifest=delete because of
// X-Static-Large-Object) removes the manifest and every segment.
func TestGlanceStoreSLODelete(t *testing.T) {
	testenv.Short(t)
	python := testenv.Tool(t, "/usr/bin/python3")
	_, err := os.Stat("/usr/lib/python3/dist-packages/glance_store/_drivers/swift/store.py")
	testenv.Need(t, err == nil, "Debian's python3-glance-store")
	r := startNode(t, testConfig(t))
	c := login(t, r.base(), "test:tester", "testing")
	c.must(201, "PUT", "/glance", nil, nil)
	c.must(201, "PUT", "/glance_segments", nil, nil)
	image := randomBytes(t, 5<<20+4321)
	const segSize = 2 << 20
	var manifest []string
	for i, off := 0, 0; off < len(image); i, off = i+1, off+segSize {
		seg := image[off:min(off+segSize, len(image))]
		name := fmt.Sprintf("glance_segments/img/%08d", i)
		c.must(201, "PUT", "/"+name, nil, bytes.NewReader(seg))
		manifest = append(manifest, fmt.Sprintf(`{"path": %q, "etag": %q, "size_bytes": %d}`, name, md5hex(seg), len(seg)))
	}
	const id = "4b0e6a4e-8d5e-4c7f-9a57-2f1d7c1e5a10"
	c.must(201, "PUT", "/glance/"+id+"?multipart-manifest=put", nil, strings.NewReader("["+strings.Join(manifest, ",")+"]"))

	drv, err := filepath.Abs(filepath.Join("testdata", "glance_store_slo.py"))
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := json.Marshal(map[string]string{"auth_url": r.base() + "/auth/v1.0", "user": "test:tester", "key": "testing",
		"container": "glance", "object": id, "dir": t.TempDir()})
	cmd := exec.Command(python, drv)
	cmd.Stdin = bytes.NewReader(spec)
	cmd.Env = append(os.Environ(), "PYTHONWARNINGS=ignore")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("driver: %v\n%s\n%s", err, out, stderr.Bytes())
	}
	var res map[string]map[string]any
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(out, &raw); err != nil {
		t.Fatalf("driver output %s: %v", out, err)
	}
	res = map[string]map[string]any{}
	for k, v := range raw {
		var m map[string]any
		if json.Unmarshal(v, &m) == nil {
			res[k] = m
		}
	}
	sum := sha(image)
	if g := res["get"]; g["bytes"] != float64(len(image)) || g["length"] != float64(len(image)) || g["sha256"] != hex.EncodeToString(sum[:]) {
		t.Fatalf("glance_store get: %v (want %d bytes)", g, len(image))
	}
	if d := res["delete"]; d["error"] != nil {
		t.Fatalf("glance_store delete: %v", d)
	}
	if g := res["get_after_delete"]; g["error"] != "NotFound" {
		t.Errorf("get after delete: %v, want NotFound", g)
	}
	if _, body := c.must(200, "GET", "/glance_segments?format=json", nil, nil); string(body) != "[]" {
		t.Fatalf("segments left after glance_store's delete: %s", body)
	}
	c.must(404, "HEAD", "/glance/"+id, nil, nil)
}
