package node

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

// startLazyCluster is startCluster with short boot profile timings, a
// readahead of ra bytes, and memberlist's WAN failure detection with 1 s
// probes (600 ms probe timeout, a suspect is dead after 6 s unrefuted)
// instead of regionConfig's 100 ms probes (80 ms timeout, 200 ms
// suspicion): no node is stopped here, and on a loaded machine (load ~10,
// -race) a node starved for a few hundred milliseconds declared the live
// holder region dead, so that a read's fetch found no live holder
// (fetch.NoHolderError) and its 206 body was cut short (unexpected EOF).
func startLazyCluster(t *testing.T, ra int64) *tcluster {
	tc := &tcluster{t: t, nodes: map[string]*running{}}
	cfg := func(region string, join []string) Config {
		c := regionConfig(t, region, join)
		c.Cluster.ProbeInterval = time.Second
		c.Cluster.ReadaheadBytes = ra
		c.Cluster.BootProfileIdle = 300 * time.Millisecond
		return c
	}
	a := startNode(t, cfg("a", nil))
	tc.nodes["a"] = a
	for _, r := range []string{"b", "c"} {
		tc.nodes[r] = startNode(t, cfg(r, []string{a.cluster.ml.Addr()}))
	}
	tc.waitPeers(2)
	return tc
}

// rangeGet reads [off, off+n) of path at region and checks the bytes.
func (tc *tcluster) rangeGet(region, path string, want []byte, off, n int) {
	tc.t.Helper()
	resp, b := tc.client(region).must(206, "GET", path, map[string]string{"Range": fmt.Sprintf("bytes=%d-%d", off, off+n-1)}, nil)
	if got := resp.Header.Get("Content-Range"); got != fmt.Sprintf("bytes %d-%d/%d", off, off+n-1, len(want)) {
		tc.t.Fatalf("Content-Range %q", got)
	}
	if !bytes.Equal(b, want[off:off+n]) {
		tc.t.Fatalf("%s: bytes of [%d, %d) differ", region, off, off+n)
	}
}

// rangeCheck is rangeGet for a goroutine other than the test's: it
// returns what went wrong instead of failing the test.
func rangeCheck(c *swiftClient, path string, want []byte, off, n int) error {
	rng := fmt.Sprintf("bytes=%d-%d", off, off+n-1)
	req, err := http.NewRequest("GET", c.storageURL+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-Auth-Token", c.token)
	req.Header.Set("Range", rng)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s %s: %w", path, rng, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	switch {
	case err != nil:
		return fmt.Errorf("GET %s %s: %s, body cut after %d bytes: %w", path, rng, resp.Status, len(b), err)
	case resp.StatusCode != 206:
		return fmt.Errorf("GET %s %s: %s (want 206): %.200s", path, rng, resp.Status, b)
	case resp.Header.Get("Content-Range") != fmt.Sprintf("bytes %d-%d/%d", off, off+n-1, len(want)):
		return fmt.Errorf("GET %s %s: Content-Range %q", path, rng, resp.Header.Get("Content-Range"))
	case !bytes.Equal(b, want[off:off+n]):
		return fmt.Errorf("GET %s %s: the bytes differ", path, rng)
	}
	return nil
}

// localRefs reports which of refs [first, last) of rc region stores.
func (tc *tcluster) localRefs(region string, rc *recipe.Recipe, first, last int) []bool {
	tc.t.Helper()
	ids := make([]recipe.ChunkID, 0, last-first)
	for i := first; i < last; i++ {
		ids = append(ids, rc.Refs[i].ID)
	}
	has, err := tc.nodes[region].store.Has(tc.t.Context(), ids)
	if err != nil {
		tc.t.Fatal(err)
	}
	return has
}

func all(b []bool) bool {
	for _, x := range b {
		if !x {
			return false
		}
	}
	return true
}

func none(b []bool) bool {
	for _, x := range b {
		if x {
			return false
		}
	}
	return true
}

func opsProfile(t *testing.T, r *running, object string) (int, BootProfile) {
	t.Helper()
	resp, err := http.Get(r.ops() + "/profile?object=" + object)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p BootProfile
	if resp.StatusCode == 200 {
		if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, p
}

// TestBootProfile: the first Range reads of an object (at b, which lacks
// it) are recorded in first-touch order and replicated; c, which lacks the
// object too, fetches the profile's chunks when its first read comes,
// before reading them; a download records nothing; an operator sees and
// clears the profile everywhere.
func TestBootProfile(t *testing.T) {
	tc := startLazyCluster(t, -1) // readahead off: only the profile moves chunks
	body := randomBytes(t, 8<<20)
	ca := tc.client("a")
	ca.must(201, "PUT", "/boot", nil, nil)
	ca.must(201, "PUT", "/boot/img", nil, bytes.NewReader(body))
	ca.must(201, "PUT", "/boot/dl", nil, bytes.NewReader(body[:4<<20]))
	rc := tc.recipeOf("a", "boot", "img")
	idx := func(off int64) int { f, _ := tc.nodes["a"].store.Span(rc, off, 1); return f }

	// b's first reads, in this order: 5 MiB, 1 MiB, 3 MiB.
	offs := []int{5 << 20, 1 << 20, 3 << 20}
	for _, off := range offs {
		tc.rangeGet("b", "/boot/img", body, off, 64<<10)
	}
	var p BootProfile
	waitFor(t, 20*time.Second, "the profile at c", func() bool {
		var code int
		code, p = opsProfile(t, tc.nodes["c"], "AUTH_test/boot/img")
		return code == 200
	})
	if p.Region != "b" || p.Chunks < 3 || p.ObjectChunks != len(rc.Refs) {
		t.Fatalf("profile %+v", p)
	}
	// First-touch order: the refs of 5 MiB, then 1 MiB, then 3 MiB.
	if int(p.Refs[0]) != idx(5<<20) {
		t.Errorf("profile starts at ref %d, want %d (the first read's)", p.Refs[0], idx(5<<20))
	}
	pos := map[int32]int{}
	for i, r := range p.Refs {
		pos[r] = i
	}
	if !(pos[int32(idx(5<<20))] < pos[int32(idx(1<<20))] && pos[int32(idx(1<<20))] < pos[int32(idx(3<<20))]) {
		t.Errorf("profile refs %v not in first-touch order", p.Refs)
	}

	// c: one read elsewhere; the profile's chunks arrive without being read.
	if !none(tc.localRefs("c", rc, 0, len(rc.Refs))) {
		t.Fatal("c holds chunks of img before any read")
	}
	tc.rangeGet("c", "/boot/img", body, 7<<20, 4096)
	profRefs := func() []bool {
		out := make([]bool, 0, len(p.Refs))
		for _, r := range p.Refs {
			out = append(out, tc.localRefs("c", rc, int(r), int(r)+1)[0])
		}
		return out
	}
	waitFor(t, 20*time.Second, "c to prefetch the profile", func() bool { return all(profRefs()) })
	waitFor(t, 20*time.Second, "c's prefetch counters", func() bool {
		st := tc.nodes["c"].cluster.lazy.Stats()
		return st.ProfilePrefetches == 1 && st.ProfileChunks > 0
	})
	// Not the whole object: only the profile and the read.
	if local := tc.localRefs("c", rc, 0, len(rc.Refs)); all(local) {
		t.Error("c fetched the whole object")
	}

	// A download (a whole-object GET) records no profile.
	if got, _ := tc.get("b", "/boot/dl"); len(got) != 4<<20 {
		t.Fatalf("download: %d bytes", len(got))
	}
	time.Sleep(time.Second)
	if code, _ := opsProfile(t, tc.nodes["b"], "AUTH_test/boot/dl"); code != 404 {
		t.Errorf("profile of a downloaded object: %d, want 404", code)
	}

	// Clear at b: gone at c too; a bad name is 400.
	req, _ := http.NewRequest("DELETE", tc.nodes["b"].ops()+"/profile?object=AUTH_test/boot/img", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 {
		t.Fatalf("DELETE /profile: %d", resp.StatusCode)
	}
	waitFor(t, 20*time.Second, "the clear at c", func() bool {
		code, _ := opsProfile(t, tc.nodes["c"], "AUTH_test/boot/img")
		return code == 404
	})
	if code, _ := opsProfile(t, tc.nodes["b"], "nocontainer"); code != 400 {
		t.Errorf("GET /profile?object=nocontainer: %d, want 400", code)
	}
}

// TestReadahead: a sequential Range reader at b, which lacks the object,
// gets the next readahead_bytes of chunks fetched ahead of it, and no
// further; a random reader gets none.
func TestReadahead(t *testing.T) {
	const ra = 1 << 20
	tc := startLazyCluster(t, ra)
	body := randomBytes(t, 8<<20)
	ca := tc.client("a")
	ca.must(201, "PUT", "/ra", nil, nil)
	ca.must(201, "PUT", "/ra/img", nil, bytes.NewReader(body))
	rc := tc.recipeOf("a", "ra", "img")
	span := func(off, n int64) (int, int) { return tc.nodes["a"].store.Span(rc, off, n) }

	// Random reads far apart: nothing beyond what they cover.
	tc.rangeGet("b", "/ra/img", body, 6<<20, 4096)
	tc.rangeGet("b", "/ra/img", body, 2<<20, 4096)
	time.Sleep(time.Second)
	if _, l := span(2<<20, 4096); !none(tc.localRefs("b", rc, l, l+3)) {
		t.Error("b read ahead after a random read")
	}
	// Sequential 64 KiB reads from 0: the window opens at the third
	// (256 KiB past 192 KiB) and doubles at the fifth (512 KiB past 320
	// KiB), so after eight reads (to 512 KiB) b holds up to ~832 KiB.
	for off := 0; off < 8*64<<10; off += 64 << 10 {
		tc.rangeGet("b", "/ra/img", body, off, 64<<10)
	}
	_, last := span(0, 8*64<<10)
	_, end := span(0, 768<<10)
	waitFor(t, 20*time.Second, "readahead", func() bool { return all(tc.localRefs("b", rc, last, end)) })
	// Bounded: nothing from 3 MiB on (the window is at most 1 MiB).
	f3, _ := span(3<<20, 1)
	if !none(tc.localRefs("b", rc, f3, f3+8)) {
		t.Error("readahead went past its window")
	}
	st := tc.nodes["b"].cluster.lazy.Stats()
	if st.Readaheads == 0 {
		t.Errorf("b's lazy stats %+v", st)
	}

	// A sequential scan of chunks b already holds (a second boot) reads
	// nothing ahead: [4 MiB, 5 MiB) fetched by one read, then scanned.
	tc.rangeGet("b", "/ra/img", body, 4<<20, 1<<20)
	for off := 4 << 20; off < 4<<20+8*64<<10; off += 64 << 10 {
		tc.rangeGet("b", "/ra/img", body, off, 64<<10)
	}
	time.Sleep(time.Second)
	if got := tc.nodes["b"].cluster.lazy.Stats(); got.Readaheads != st.Readaheads {
		t.Errorf("a scan of local chunks started %d readaheads", got.Readaheads-st.Readaheads)
	}
	// The refs past those the 1 MiB read covered: its last chunk may reach
	// well past 5 MiB (chunks are up to 128 KiB here), so the check starts
	// at the read's end in refs, not at a byte offset.
	if _, l := span(4<<20, 1<<20); !none(tc.localRefs("b", rc, l, l+4)) {
		t.Error("a scan of local chunks fetched chunks past them")
	}
}

// TestRepeatedReadsCrossNothing: b, which lacks an object, serves a
// boot-like sequence of Range reads (sequential runs of 4–128 KiB reads
// that open readahead windows, jumps, rereads, four readers at once as
// qemu's http driver issues them) with readahead and boot profiles on;
// then the identical sequence again (a second boot at b whose guest reads
// the same blocks). The second pass moves no chunk from any region to b,
// and in the first no chunk crossed twice.
func TestRepeatedReadsCrossNothing(t *testing.T) {
	tc := startLazyCluster(t, 0) // the default readahead (4 MiB)
	body := randomBytes(t, 32<<20)
	ca := tc.client("a")
	ca.must(201, "PUT", "/rr", nil, nil)
	ca.must(201, "PUT", "/rr/img", nil, bytes.NewReader(body))
	rc := tc.recipeOf("a", "rr", "img")

	// The sequence: 24 runs, each of 1–16 sequential reads of 4–128 KiB
	// (4 KiB aligned) from a pseudo-random offset; a deterministic source.
	type rd struct{ off, n int }
	var seq []rd
	x := uint64(0x9e3779b97f4a7c15)
	next := func(n int) int { x ^= x << 13; x ^= x >> 7; x ^= x << 17; return int(x % uint64(n)) }
	for range 24 {
		off := next(len(body)/4096-64) * 4096
		for range 1 + next(16) {
			n := (1 + next(32)) * 4096
			if off+n > len(body) {
				break
			}
			seq = append(seq, rd{off, n})
			off += n
		}
	}
	// pass runs seq with four concurrent readers, each taking the next
	// read in order (as qemu's four curl states do), then waits until b
	// is quiet: its readaheads and profile writes done, no chunk arriving.
	// The readers report a failed read with t.Errorf and go on (t.Fatal
	// must not be called outside the test's goroutine: a reader that
	// called it stopped taking reads, and the test hung on the next send).
	cb := tc.client("b")
	pass := func() {
		var wg sync.WaitGroup
		work := make(chan rd)
		for range 4 {
			wg.Go(func() {
				for r := range work {
					if err := rangeCheck(cb, "/rr/img", body, r.off, r.n); err != nil {
						t.Errorf("b: %v", err)
					}
				}
			})
		}
		for _, r := range seq {
			work <- r
		}
		close(work)
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		last, stable := int64(-1), 0
		waitFor(t, 60*time.Second, "b to be quiet", func() bool {
			n := tc.sentTo("b")
			if n == last {
				stable++
			} else {
				last, stable = n, 0
			}
			return stable >= 10
		})
	}
	chunksAt := func() int { c, _ := tc.lacked("b", "a", rc); return len(rc.Unique()) - c }
	sentChunks := func() int64 {
		var n int64
		for _, r := range tc.nodes {
			n += r.cluster.server.SentStats()["b"].Chunks
		}
		return n
	}

	pass()
	sent1, chunks1, held1 := tc.sentTo("b"), sentChunks(), chunksAt()
	if sent1 == 0 || held1 == len(rc.Unique()) {
		t.Fatalf("first pass: %d bytes sent to b, b holds %d of %d chunks", sent1, held1, len(rc.Unique()))
	}
	if chunks1 != int64(held1) {
		t.Errorf("first pass: %d chunks crossed to b for %d stored there (chunks crossed twice)", chunks1, held1)
	}
	t.Logf("first pass: %d reads, %d chunks (%d bytes) crossed to b, %d of %d chunks at b", len(seq), chunks1, sent1, held1, len(rc.Unique()))

	pass()
	if d := tc.sentTo("b") - sent1; d != 0 {
		t.Errorf("second identical pass: %d bytes (%d chunks) crossed to b, want 0; b holds %d chunks (%d after the first)",
			d, sentChunks()-chunks1, chunksAt(), held1)
	}
}
