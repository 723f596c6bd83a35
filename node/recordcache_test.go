package node

import (
	"bytes"
	"fmt"
	"testing"
	"time"
)

// TestRangeReadSeesReplicatedWrites: region b serves Range GETs of an
// object written at region a, its record cache holding the object's
// record after the first; an overwrite and then a delete at a are seen by
// b's next Range GET as soon as a's PUT or DELETE has returned, its push
// to b done (Replicate waits for the peer): the record cache never
// serves a record that a replicated write replaced. (If a push failed on
// a loaded machine, b gets the write by anti-entropy instead, and the
// test waits for that; a cache that missed the write would serve the old
// record forever and fail either way.)
func TestRangeReadSeesReplicatedWrites(t *testing.T) {
	a := startNode(t, regionConfig(t, "a", nil))
	b := startNode(t, regionConfig(t, "b", []string{a.cluster.ml.Addr()}))
	waitFor(t, 10*time.Second, "membership", func() bool {
		return len(a.cluster.ml.Peers()) == 1 && len(b.cluster.ml.Peers()) == 1
	})
	ca := login(t, a.base(), "test:tester", "testing")
	cb := login(t, b.base(), "test:tester", "testing")
	ca.must(201, "PUT", "/images", nil, nil)
	rng := map[string]string{"Range": "bytes=100-4195"}
	// seen reports whether a Range GET at b answers want (nil: 404).
	seen := func(want []byte) bool {
		resp, body := cb.do("GET", "/images/img", rng, nil)
		if want == nil {
			return resp.StatusCode == 404
		}
		return resp.StatusCode == 206 && bytes.Equal(body, want[100:4196])
	}
	// atB checks that b sees want right after the write at a returned.
	atB := func(what string, pushFailures int64, want []byte) {
		t.Helper()
		if seen(want) {
			return
		}
		if a.cluster.rep.Stats().PushFailures == pushFailures {
			t.Fatalf("%s: b's Range GET serves the old record after the push", what)
		}
		t.Logf("%s: the push to b failed; waiting for anti-entropy", what)
		waitFor(t, 20*time.Second, what+" at b", func() bool { return seen(want) })
	}
	v1 := bytes.Repeat([]byte("one "), 50_000)
	ca.must(201, "PUT", "/images/img", nil, bytes.NewReader(v1))
	waitFor(t, 20*time.Second, "v1 at b", func() bool { return seen(v1) })
	for i := 2; i <= 4; i++ {
		if !seen(v1) && i == 2 { // again: the record from b's cache
			t.Fatal("second Range GET at b differs")
		}
		v := bytes.Repeat([]byte(fmt.Sprintf("v%d ", i)), 40_000+i)
		fails := a.cluster.rep.Stats().PushFailures
		ca.must(201, "PUT", "/images/img", nil, bytes.NewReader(v))
		atB(fmt.Sprintf("overwrite %d", i), fails, v)
		if !seen(v) {
			t.Fatalf("overwrite %d: a later Range GET at b differs", i)
		}
		v1 = v
	}
	if st := b.ns.CacheStats(); st.Hits == 0 || st.Invalidations == 0 {
		t.Fatalf("b's record cache %+v: want hits and invalidations", st)
	}
	fails := a.cluster.rep.Stats().PushFailures
	ca.must(204, "DELETE", "/images/img", nil, nil)
	atB("delete", fails, nil)
}
