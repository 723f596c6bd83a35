package node

import (
	"bytes"
	"testing"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"github.com/nitro-cloud/nitro/internal/swifttest"
	"github.com/nitro-cloud/nitro/node/internal/namespace"
)

// TestRegionOfTwoNodesOnSwiftOneHave: region s is two nodes on one real
// Swift (store.backend: swift), region b one node on Badger. b's reads
// of objects written at s ask region s one have request, not one per
// node (before: two); when the node b asks first refuses b's requests
// (503, while gossip still lists it alive) the other node of s is asked
// and the read completes byte-exact.
func TestRegionOfTwoNodesOnSwiftOneHave(t *testing.T) {
	srv := swifttest.Start(t)
	swiftNode := func(name string, join []string) Config {
		cfg := regionConfig(t, "s", join)
		cfg.Node = name
		cfg.Cluster.HedgeAfter = -1
		sw := swiftBackendConfig(t, srv, name, "hr").Store
		cfg.Store.Backend, cfg.Store.Swift = sw.Backend, sw.Swift
		return cfg
	}
	s1 := startNode(t, swiftNode("s1", nil))
	join := []string{s1.cluster.ml.Addr()}
	s2 := startNode(t, swiftNode("s2", join))
	bc := regionConfig(t, "b", join)
	bc.Node = "b1"
	bc.Cluster.HedgeAfter = -1
	b := startNode(t, bc)
	nodes := map[string]*running{"s1": s1, "s2": s2, "b1": b}
	waitFor(t, 30*time.Second, "every node sees 2 live peers, s's with their store", func() bool {
		for _, n := range nodes {
			if len(n.cluster.ml.Peers()) != 2 {
				return false
			}
		}
		for _, m := range b.cluster.ml.Peers() {
			if m.Store == "" {
				return false
			}
		}
		return true
	})
	if id1, id2 := storeIdentity(s1.cfg), storeIdentity(s2.cfg); id1 == "" || id1 != id2 || storeIdentity(b.cfg) != "" {
		t.Fatalf("store identities s1 %q, s2 %q, b %q: want s's equal and b's empty", id1, id2, storeIdentity(b.cfg))
	}
	cs := login(t, s1.base(), "test:tester", "testing")
	cs.must(201, "PUT", "/images", nil, nil)
	cb := login(t, b.base(), "test:tester", "testing")
	fb := b.cluster.fetch

	// put writes name at s1 and returns its recipe as b has it.
	put := func(name string, data []byte) *recipe.Recipe {
		t.Helper()
		cs.must(201, "PUT", "/images/"+name, nil, bytes.NewReader(data))
		var rec *namespace.Record
		waitFor(t, 30*time.Second, "b has the record of "+name, func() bool {
			var err error
			rec, err = b.ns.GetLive(t.Context(), namespace.ObjectKey("AUTH_test", "images", name))
			return err == nil
		})
		var rc *recipe.Recipe
		waitFor(t, 30*time.Second, "b has the recipe of "+name, func() bool {
			var err error
			rc, err = b.store.Recipe(t.Context(), rec.Recipe)
			return err == nil
		})
		return rc
	}

	t.Run("OneHavePerRegion", func(t *testing.T) {
		data := randomBytes(t, 2<<20)
		put("one", data)
		st0 := fb.Stats()
		if _, got := cb.must(200, "GET", "/images/one", nil, nil); !bytes.Equal(got, data) {
			t.Fatal("read at b differs")
		}
		st1 := fb.Stats()
		t.Logf("have requests to s: %d (fallbacks %d); fetch stats at b %+v",
			st1.HaveByRegion["s"]-st0.HaveByRegion["s"], st1.HaveFallbacks-st0.HaveFallbacks, st1)
		if n := st1.HaveByRegion["s"] - st0.HaveByRegion["s"]; n != 1 || st1.HaveFallbacks != st0.HaveFallbacks {
			t.Fatalf("b sent region s %d have requests (%d fallbacks), want 1", n, st1.HaveFallbacks-st0.HaveFallbacks)
		}
		if got := b.cluster.status().Fetch.HaveRequests["s"]; got != st1.HaveByRegion["s"] {
			t.Fatalf("status says %d have requests to s, fetcher %d", got, st1.HaveByRegion["s"])
		}
	})

	t.Run("AskedNodeDeadSiblingAnswers", func(t *testing.T) {
		data := randomBytes(t, 2<<20)
		rc := put("two", data)
		order := fb.HaveNodes("s", rc.Refs[0].ID)
		if len(order) != 2 {
			t.Fatalf("b would ask s's nodes %v, want both", order)
		}
		first := nodes[order[0]]
		first.cluster.blockMu.Lock()
		first.cluster.block = func(from string) bool { return from == "b" }
		first.cluster.blockMu.Unlock()
		defer func() {
			first.cluster.blockMu.Lock()
			first.cluster.block = nil
			first.cluster.blockMu.Unlock()
		}()
		st0 := fb.Stats()
		if _, got := cb.must(200, "GET", "/images/two", nil, nil); !bytes.Equal(got, data) {
			t.Fatal("read at b differs")
		}
		st1 := fb.Stats()
		t.Logf("%s refused b; have requests to s: %d (fallbacks %d); fetch stats at b %+v", order[0],
			st1.HaveByRegion["s"]-st0.HaveByRegion["s"], st1.HaveFallbacks-st0.HaveFallbacks, st1)
		if n, fb := st1.HaveByRegion["s"]-st0.HaveByRegion["s"], st1.HaveFallbacks-st0.HaveFallbacks; n != 2 || fb != 1 {
			t.Fatalf("b sent region s %d have requests with %d fallbacks, want 2 and 1 (%s refused, %s answered)", n, fb, order[0], order[1])
		}
	})
}
