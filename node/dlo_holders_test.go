package node

import (
	"bytes"
	"io"
	"net/http"
	"testing"
	"time"
)

// TestDLOSegmentWithoutHolderGets503 (issue 13): a DLO GET opens its
// segments one after another, mid-body. At c the first segment is local
// and the second is held only by a, which goes away for good: the GET at
// c (cluster.holder_wait 1 s) gets Swift's 503 before its first byte,
// since every segment the read covers is checked first; a Range of the
// first segment alone is served. Before, the 200 and the first segment
// went out, and the body was cut short after the holder wait.
func TestDLOSegmentWithoutHolderGets503(t *testing.T) {
	tc := &tcluster{t: t, nodes: map[string]*running{}}
	a := startNode(t, regionConfig(t, "a", nil))
	tc.nodes["a"] = a
	for _, r := range []string{"b", "c"} {
		cfg := regionConfig(t, r, []string{a.cluster.ml.Addr()})
		cfg.Cluster.HolderWait = time.Second
		tc.nodes[r] = startNode(t, cfg)
	}
	tc.waitPeers(2)
	ca := tc.client("a")
	ca.must(201, "PUT", "/images", nil, nil)
	ca.must(201, "PUT", "/segs", nil, nil)
	one, two := randomBytes(t, 1<<20), randomBytes(t, 1<<20)
	tc.putAtA("/segs/d/1", one)
	tc.putAtA("/segs/d/2", two)
	if got, _ := tc.get("c", "/segs/d/1"); !bytes.Equal(got, one) { // c holds the first segment now
		t.Fatal("first segment at c differs")
	}
	ca.must(201, "PUT", "/images/d", map[string]string{"X-Object-Manifest": "segs/d/"}, nil)
	cc := tc.client("c")
	waitFor(t, 30*time.Second, "the manifest at c", func() bool {
		resp, _ := cc.do("HEAD", "/images/d", nil, nil)
		return resp.StatusCode == http.StatusOK && resp.ContentLength == 2<<20
	})
	tc.nodes["a"].stop(t)
	tc.seesDead("c", "a")

	get := func(rng string) (*http.Response, []byte, error) {
		req, _ := http.NewRequest("GET", cc.storageURL+"/images/d", nil)
		req.Header.Set("X-Auth-Token", cc.token)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp, b, err
	}
	resp, body, err := get("")
	want := "<html><h1>Service Unavailable</h1><p>The server is currently unavailable. Please try again at a later time.</p></html>"
	if resp.StatusCode != http.StatusServiceUnavailable || string(body) != want {
		t.Fatalf("GET of a DLO whose second segment has no live holder: %s, %d bytes (%v), want 503 %q", resp.Status, len(body), err, want)
	}
	resp, body, err = get("bytes=0-1023")
	if err != nil || resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, one[:1024]) {
		t.Fatalf("Range of the local first segment: %s, %d bytes, %v", resp.Status, len(body), err)
	}
}
