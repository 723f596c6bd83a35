package node

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// down stops region's node (a crash when kill: its peer connections and
// gossip stop at once, without a leave) and returns its config with its
// addresses, for up.
func (tc *tcluster) down(region string, kill bool) Config {
	tc.t.Helper()
	n := tc.nodes[region]
	cfg := n.cfg
	cfg.Swift.Listen, cfg.OpsListen = n.SwiftAddr(), n.OpsAddr()
	cfg.Cluster.PeerListen = strings.TrimPrefix(n.cluster.url, "http://")
	cfg.Cluster.GossipListen = n.cluster.ml.Addr()
	if kill {
		n.cluster.kill()
	}
	n.stop(tc.t)
	return cfg
}

// up starts region's node again with the config down returned (same
// addresses and data dir).
func (tc *tcluster) up(region string, cfg Config) {
	tc.t.Helper()
	tc.nodes[region] = startNode(tc.t, cfg)
}

// seesDead waits until region's membership lists no live node of dead.
func (tc *tcluster) seesDead(region, dead string) {
	tc.t.Helper()
	waitFor(tc.t, 30*time.Second, region+" sees "+dead+" dead", func() bool {
		for _, m := range tc.nodes[region].cluster.ml.Peers() {
			if m.Region == dead {
				return false
			}
		}
		return true
	})
}

// putAtA PUTs data at a once every node lists every other live, and
// waits until the record has reached the other regions.
func (tc *tcluster) putAtA(path string, data []byte) {
	tc.t.Helper()
	tc.waitPeers(2)
	tc.client("a").must(201, "PUT", path, nil, bytes.NewReader(data))
	for _, r := range []string{"b", "c"} {
		c := tc.client(r)
		waitFor(tc.t, 30*time.Second, path+" at "+r, func() bool {
			resp, _ := c.do("HEAD", path, nil, nil)
			return resp.StatusCode == http.StatusOK
		})
	}
}

// TestOnlyHolderGoneForAMoment (issue 13): region a alone holds the
// objects read at b; a goes away for a moment (membership reports it
// dead, its peer listener refuses) and comes back. Reads at b wait for it
// (cluster.holder_wait, generous here) and complete byte-exact, whether a
// was lost mid-body or before the first byte of a Range read; a read at
// c (holder_wait 1 s) of an object whose only holder never comes back
// gets Swift's 503 before its first byte, never a 200/206 cut short.
// Before, the fetch job's one snapshot of the live peers found no holder
// and the bodies were cut short.
func TestOnlyHolderGoneForAMoment(t *testing.T) {
	tc := &tcluster{t: t, nodes: map[string]*running{}}
	a := startNode(t, regionConfig(t, "a", nil))
	tc.nodes["a"] = a
	for r, wait := range map[string]time.Duration{"b": 2 * time.Minute, "c": time.Second} {
		cfg := regionConfig(t, r, []string{a.cluster.ml.Addr()})
		cfg.Cluster.HolderWait = wait
		tc.nodes[r] = startNode(t, cfg)
	}
	tc.waitPeers(2)
	ca := tc.client("a") // tempauth tokens die with the node: a new client after a restart
	ca.must(201, "PUT", "/images", nil, nil)

	t.Run("LostMidBody", func(t *testing.T) {
		// 12 MiB over a's 64 Mbit/s link to b: about 1.5 s.
		data := randomBytes(t, 12<<20)
		tc.putAtA("/images/mid", data)
		cb := tc.client("b")
		req, _ := http.NewRequest("GET", cb.storageURL+"/images/mid", nil)
		req.Header.Set("X-Auth-Token", cb.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET at b: %s", resp.Status)
		}
		head := make([]byte, 2<<20)
		if _, err := io.ReadFull(resp.Body, head); err != nil {
			t.Fatalf("first 2 MiB: %v", err)
		}
		cfg := tc.down("a", true) // a crash and a restart mid-body
		time.Sleep(time.Second)
		tc.up("a", cfg)
		rest, err := io.ReadAll(resp.Body)
		got := append(head, rest...)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("GET at b while a restarted: %d of %d bytes, %v", len(got), len(data), err)
		}
		st := tc.nodes["b"].cluster.fetch.Stats()
		t.Logf("b's fetch stats: %+v", st)
		if st.SourceFails == 0 || st.NoHolder != 0 {
			t.Fatalf("a's stream did not fail, or chunks failed: %+v", st)
		}
	})

	t.Run("RangeBeforeFirstByte", func(t *testing.T) {
		data := randomBytes(t, 3<<20)
		tc.putAtA("/images/range", data)
		// a leaves (b sees it dead at once), the Range read at b starts,
		// a comes back about 1.5 s later.
		errc := make(chan error, 1)
		cb := tc.client("b")
		cfg := tc.down("a", false)
		tc.seesDead("b", "a")
		go func() { errc <- rangeCheck(cb, "/images/range", data, 1<<20, 1<<20) }()
		time.Sleep(1500 * time.Millisecond)
		tc.up("a", cfg)
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	})

	t.Run("NeverBackGets503", func(t *testing.T) {
		data := randomBytes(t, 1<<20)
		tc.putAtA("/images/gone", data)
		tc.nodes["a"].stop(t)
		tc.seesDead("c", "a")
		cc := tc.client("c")
		for _, rng := range []string{"", "bytes=4096-8191"} {
			hdr := map[string]string{}
			if rng != "" {
				hdr["Range"] = rng
			}
			resp, body := cc.do("GET", "/images/gone", hdr, nil)
			want := "<html><h1>Service Unavailable</h1><p>The server is currently unavailable. Please try again at a later time.</p></html>"
			if resp.StatusCode != http.StatusServiceUnavailable || string(body) != want {
				t.Fatalf("GET %q at c with the only holder gone: %s %q, want 503 %q", rng, resp.Status, body, want)
			}
		}
	})
}
