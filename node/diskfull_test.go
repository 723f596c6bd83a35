package node

import (
	"bytes"
	"encoding/json"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// statsDiskBytes returns /stats' disk_bytes.
func statsDiskBytes(t *testing.T, r *running) int64 {
	t.Helper()
	var st Stats
	if err := json.Unmarshal([]byte(httpGet(t, r.ops()+"/stats")), &st); err != nil {
		t.Fatal(err)
	}
	return st.DiskBytes
}

// TestDiskBytesAllocated: /stats disk_bytes and nitro_store_disk_bytes
// report the blocks the data dir's files use, as du does, not the apparent
// sizes of Badger's preallocated files (605 MB for an empty store whose du
// was 28 KB).
func TestDiskBytesAllocated(t *testing.T) {
	cfg := testConfig(t)
	r := startNode(t, cfg)
	if got := statsDiskBytes(t, r); got <= 0 || got > 1<<20 {
		t.Errorf("empty store: disk_bytes = %d, want 0 < n <= 1 MiB (du of a new Badger dir is tens of KiB)", got)
	}
	c := login(t, r.base(), "test:tester", "testing")
	c.must(201, "PUT", "/c", nil, nil)
	c.must(201, "PUT", "/c/o", nil, bytes.NewReader(randomBytes(t, 8<<20)))
	got := statsDiskBytes(t, r)
	if got < 8<<20 || got > 16<<20 {
		t.Errorf("after 8 MiB of random data: disk_bytes = %d, want 8..16 MiB", got)
	}
	if metrics := httpGet(t, r.ops()+"/metrics"); !strings.Contains(metrics, "\nnitro_store_disk_bytes ") {
		t.Errorf("no nitro_store_disk_bytes in /metrics")
	}
	// Against du itself (coreutils), without the ballast file.
	out, err := exec.Command("du", "-s", "-B1", "--exclude=nitro-ballast", cfg.DataDir).Output()
	if err != nil {
		t.Skipf("du: %v", err)
	}
	du, err := strconv.ParseInt(strings.Fields(string(out))[0], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	// du also counts the directory's own blocks; Badger may write between
	// the two readings.
	if d := du - got; d < -1<<20 || d > 1<<20 {
		t.Errorf("disk_bytes %d, du %d: differ by more than 1 MiB", got, du)
	}
}

// TestFullDiskRefusesWrites: below the free-space reserve a PUT (of known
// size, chunked, or empty) answers 507 with Swift's body and commits
// nothing, while GET, HEAD, listings and DELETE are served. The "full
// disk" is a reserve of 99.99 % of the real file system (the small real
// file systems are in chunkstore's and e2e's tests).
func TestFullDiskRefusesWrites(t *testing.T) {
	cfg := testConfig(t)
	r := startNode(t, cfg)
	c := login(t, r.base(), "test:tester", "testing")
	c.must(201, "PUT", "/c", nil, nil)
	body := randomBytes(t, 1<<20)
	c.must(201, "PUT", "/c/keep", nil, bytes.NewReader(body))
	c.must(201, "PUT", "/c/gone", nil, bytes.NewReader(body[:1000]))
	r.stop(t)

	cfg.Store.ReservePercent = 99.99
	r = startNode(t, cfg)
	c = login(t, r.base(), "test:tester", "testing")
	const swiftBody = "<html><h1>Insufficient Storage</h1><p>There was not enough space to save the resource. Drive: nitro</p></html>"
	for name, rd := range map[string]io.Reader{
		"known size": bytes.NewReader(body),
		"chunked":    io.MultiReader(bytes.NewReader(body)), // no length: chunked
	} {
		resp, b := c.do("PUT", "/c/new", nil, rd)
		if resp.StatusCode != 507 || string(b) != swiftBody {
			t.Errorf("%s PUT on a full disk: %s %q, want 507 %q", name, resp.Status, b, swiftBody)
		}
	}
	if resp, _ := c.do("PUT", "/c/empty", nil, nil); resp.StatusCode != 507 {
		t.Errorf("empty PUT on a full disk: %s, want 507", resp.Status)
	}
	c.must(404, "HEAD", "/c/new", nil, nil)
	c.must(404, "HEAD", "/c/empty", nil, nil)
	_, got := c.must(200, "GET", "/c/keep", nil, nil)
	if !bytes.Equal(got, body) {
		t.Error("GET on a full disk returned other bytes")
	}
	if _, list := c.must(200, "GET", "/c", nil, nil); string(list) != "gone\nkeep\n" {
		t.Errorf("listing on a full disk: %q", list)
	}
	c.must(204, "DELETE", "/c/gone", nil, nil)
	c.must(404, "HEAD", "/c/gone", nil, nil)
	var st Stats
	if err := json.Unmarshal([]byte(httpGet(t, r.ops()+"/stats")), &st); err != nil {
		t.Fatal(err)
	}
	if st.PutsAborted != 3 || st.ObjectsPut != 0 {
		t.Errorf("stats: %d PUTs aborted, %d committed; want 3, 0", st.PutsAborted, st.ObjectsPut)
	}
	// GC runs on a full disk (it is how space comes back).
	if _, err := httpPost(r.ops() + "/gc?grace=2s"); err != nil {
		t.Errorf("POST /gc on a full disk: %v", err)
	}
}
