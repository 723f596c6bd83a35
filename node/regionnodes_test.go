package node

import (
	"bytes"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"github.com/nitro-cloud/nitro/node/internal/namespace"
)

// regionNodes is a cluster of named nodes, several per region (issue 12):
// real nodes (Badger on disk, HTTP over loopback, memberlist).
type regionNodes struct {
	t     *testing.T
	nodes map[string]*running
	cfgs  map[string]Config
}

// nodeConfig is regionConfig for node name of region, its streams to
// other regions paced at mbitOut.
func nodeConfig(t *testing.T, region, name string, join []string, mbitOut map[string]float64) Config {
	cfg := regionConfig(t, region, join)
	cfg.Node = name
	cfg.Cluster.EmulateLinkMbit = mbitOut
	// No hedging: on a loaded machine a CPU-starved stream misses its
	// deadline and its chunks are asked of a's other node as well, and
	// that waste (by design, issue 13; hedging to a sibling node is
	// fetch.TestFrozenNodeHedgedToSibling) would blur the count of WAN
	// transfers this test checks. A killed node is a failure, not a stall.
	cfg.Cluster.HedgeAfter = -1
	cfg.Cluster.Links = map[string]LinkConfig{}
	for _, r := range []string{"a", "b"} {
		if r != region {
			cfg.Cluster.Links[r] = LinkConfig{BandwidthMbit: 32}
		}
	}
	return cfg
}

func (rn *regionNodes) start(region, name string, join []string) *running {
	cfg := nodeConfig(rn.t, region, name, join, map[string]float64{"a": 32, "b": 32})
	rn.cfgs[name] = cfg
	n := startNode(rn.t, cfg)
	rn.nodes[name] = n
	return n
}

func (rn *regionNodes) client(name string) *swiftClient {
	return login(rn.t, rn.nodes[name].base(), "test:tester", "testing")
}

// sent sums what the peer servers of nodes counted as sent to region.
func (rn *regionNodes) sent(to string, nodes ...string) (chunks, bytes int64) {
	for _, n := range nodes {
		lc := rn.nodes[n].cluster.server.SentStats()[to]
		chunks += lc.Chunks
		bytes += lc.Bytes
	}
	return chunks, bytes
}

// storedSizes returns the number and stored size of rc's distinct chunks
// as node holds them.
func (rn *regionNodes) storedSizes(node string, rc *recipe.Recipe) (int64, int64) {
	var n, b int64
	for _, id := range rc.Unique() {
		st, err := rn.nodes[node].store.GetStored(rn.t.Context(), id)
		if err != nil {
			rn.t.Fatalf("%s: chunk %s: %v", node, id.Short(), err)
		}
		n++
		b += int64(len(st.Data))
	}
	return n, b
}

func (rn *regionNodes) recipe(node, object string) *recipe.Recipe {
	rn.t.Helper()
	n := rn.nodes[node]
	var rec *namespace.Record
	waitFor(rn.t, 20*time.Second, node+" has the record of "+object, func() bool {
		var err error
		rec, err = n.ns.GetLive(rn.t.Context(), namespace.ObjectKey("AUTH_test", "images", object))
		return err == nil
	})
	var rc *recipe.Recipe
	waitFor(rn.t, 20*time.Second, node+" has the recipe of "+object, func() bool {
		var err error
		rc, err = n.store.Recipe(rn.t.Context(), rec.Recipe)
		return err == nil
	})
	return rc
}

// TestRegionOfTwoNodes: regions a and b of two nodes each. A region is one
// source served by any of its live nodes; concurrent reads of one object
// on both nodes of b move each missing chunk over the WAN once (its owner
// among b's nodes fetches it, the other asks the owner); a node of a killed
// mid-read is replaced by its sibling; a node of b whose data dir is wiped
// rebuilds its namespace from its peers and serves the object.
func TestRegionOfTwoNodes(t *testing.T) {
	rn := &regionNodes{t: t, nodes: map[string]*running{}, cfgs: map[string]Config{}}
	a1 := rn.start("a", "a1", nil)
	join := []string{a1.cluster.ml.Addr()}
	rn.start("a", "a2", join)
	rn.start("b", "b1", join)
	rn.start("b", "b2", join)
	waitFor(t, 20*time.Second, "every node sees 3 live peers", func() bool {
		for _, n := range rn.nodes {
			if len(n.cluster.ml.Peers()) != 3 {
				return false
			}
		}
		return true
	})
	rn.client("a1").must(201, "PUT", "/images", nil, nil)

	// put stores data at a1 and reads it at a2, so that both nodes of a
	// hold it in their own stores (Badger: one store per node).
	put := func(name string, data []byte) *recipe.Recipe {
		t.Helper()
		rn.client("a1").must(201, "PUT", "/images/"+name, nil, bytes.NewReader(data))
		rn.recipe("a2", name)
		_, got := rn.client("a2").must(200, "GET", "/images/"+name, nil, nil)
		if !bytes.Equal(got, data) {
			t.Fatalf("read of %s at a2 differs", name)
		}
		return rn.recipe("b1", name)
	}

	t.Run("SiblingReadsFromItsRegion", func(t *testing.T) {
		data := randomBytes(t, 2<<20)
		put("sib", data)
		st := rn.nodes["a2"].cluster.fetch.Stats()
		bc, _ := rn.sent("a", "b1", "b2")
		t.Logf("a2 read an object written at a1: fetch stats %+v; b sent %d chunks", st, bc)
		if bc != 0 {
			t.Fatalf("region b sent %d chunks it never had", bc)
		}
		if st.Delegated == 0 || st.DelegatedGot != st.Delegated {
			t.Fatalf("a2 delegated %d chunks to a1, got %d", st.Delegated, st.DelegatedGot)
		}
	})

	t.Run("ConcurrentReadsOneWANTransfer", func(t *testing.T) {
		data := randomBytes(t, 4<<20)
		rc := put("twice", data)
		rn.recipe("b2", "twice")
		wantChunks, wantBytes := rn.storedSizes("a1", rc)
		c0, b0 := rn.sent("b", "a1", "a2")
		var wg sync.WaitGroup
		got := map[string][]byte{}
		var mu sync.Mutex
		for _, n := range []string{"b1", "b2"} {
			c := rn.client(n)
			wg.Go(func() {
				resp, b := c.do("GET", "/images/twice", nil, nil)
				if resp.StatusCode != 200 {
					t.Errorf("GET at %s: %s", n, resp.Status)
				}
				mu.Lock()
				got[n] = b
				mu.Unlock()
			})
		}
		wg.Wait()
		for n, b := range got {
			if !bytes.Equal(b, data) {
				t.Fatalf("read at %s differs", n)
			}
		}
		c1, b1 := rn.sent("b", "a1", "a2")
		s1, s2 := rn.nodes["b1"].cluster.fetch.Stats(), rn.nodes["b2"].cluster.fetch.Stats()
		t.Logf("concurrent reads at b1 and b2: a sent %d chunks, %d stored bytes (the object: %d chunks, %d bytes); b1 %+v; b2 %+v",
			c1-c0, b1-b0, wantChunks, wantBytes, s1, s2)
		if fb := s1.DelegateFallbacks + s2.DelegateFallbacks; fb > 0 {
			// An owner seen dead for a second (memberlist on a loaded
			// machine with this test's 100 ms probes) makes its askers
			// fetch for themselves: at most those chunks cross twice.
			t.Logf("%d chunks fetched by their asker after all (owner seen dead)", fb)
			if c1-c0 > wantChunks+fb {
				t.Fatalf("a sent %d chunks to b, want at most %d + %d fallbacks", c1-c0, wantChunks, fb)
			}
		} else {
			if c1-c0 != wantChunks || b1-b0 != wantBytes {
				t.Fatalf("a sent %d chunks (%d bytes) to b, want each chunk once: %d (%d bytes)", c1-c0, b1-b0, wantChunks, wantBytes)
			}
			if s1.Chunks+s2.Chunks != wantChunks {
				t.Fatalf("b1 fetched %d chunks and b2 %d, want %d in all: each by its owner", s1.Chunks, s2.Chunks, wantChunks)
			}
		}
		if s1.Delegated+s2.Delegated == 0 || s1.ObtainServed+s2.ObtainServed == 0 {
			t.Fatal("no chunk was asked of its owner")
		}
	})

	var killed string // the node of a that SourceNodeKilledMidRead killed
	t.Run("SourceNodeKilledMidRead", func(t *testing.T) {
		data := randomBytes(t, 6<<20) // 32 Mbit/s per node: ~1.5 s
		put("kill", data)
		// Kill a node of a that is sending this read's chunks (its bytes
		// since the read began, not since the test began: the totals
		// include earlier subtests' reads), once a quarter of the bytes
		// crossed (not after a fixed sleep: under load the read had ended
		// before it).
		_, x0 := rn.sent("b", "a1")
		_, y0 := rn.sent("b", "a2")
		killDone := make(chan struct{})
		go func() {
			defer close(killDone)
			var x, y int64
			for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
				_, x = rn.sent("b", "a1")
				_, y = rn.sent("b", "a2")
				if x, y = x-x0, y-y0; x+y >= int64(len(data))/4 {
					break
				}
			}
			killed = "a1"
			if y > x {
				killed = "a2"
			}
			t.Logf("killing %s: this read's bytes sent to b: a1 %d, a2 %d of %d", killed, x, y, len(data))
			rn.nodes[killed].cluster.kill()
		}()
		_, b := rn.client("b1").must(200, "GET", "/images/kill", nil, nil)
		<-killDone
		if !bytes.Equal(b, data) {
			t.Fatal("read differs")
		}
		s1, s2 := rn.nodes["b1"].cluster.fetch.Stats(), rn.nodes["b2"].cluster.fetch.Stats()
		t.Logf("%s killed mid-read at b1: b1 %+v; b2 %+v", killed, s1, s2)
		if s1.SourceFails+s2.SourceFails+s1.DelegateFallbacks == 0 {
			t.Fatal("no source failure observed")
		}
		if s1.NoHolder+s2.NoHolder != 0 {
			t.Fatal("chunks without a holder while a's other node held them")
		}
	})

	// The region GC marks from the namespace: a node whose sibling is
	// not alive may lack records it acknowledged, so it must not sweep.
	t.Run("RegionGCNeedsItsRegionSynced", func(t *testing.T) {
		ctx := t.Context()
		// The anti-entropy round asks every node b1 believes alive: the
		// node just killed answers "connection refused" until b1's
		// membership has found it dead (seen in CI when the read above
		// ended right after the kill), so wait for that first.
		waitFor(t, 60*time.Second, "b1 sees the killed node dead", func() bool {
			for _, m := range rn.nodes["b1"].cluster.ml.Members() {
				if m.Name == killed {
					return !m.State.Live()
				}
			}
			return true
		})
		if why := rn.nodes["b1"].cluster.regionUnsynced(ctx); why != "" {
			t.Fatalf("b1 with b2 alive: unsynced: %s", why)
		}
		alive := "a1"
		if killed == "a1" {
			alive = "a2"
		}
		var why string
		waitFor(t, 60*time.Second, "a's live node sees its sibling dead", func() bool {
			why = rn.nodes[alive].cluster.regionUnsynced(ctx)
			return why != ""
		})
		t.Logf("%s: region GC skipped: %s", alive, why)
	})

	t.Run("WipedNodeRebuilds", func(t *testing.T) {
		data := randomBytes(t, 1<<20)
		rn.client("b1").must(201, "PUT", "/images/local", nil, bytes.NewReader(data))
		rn.recipe("b2", "local")
		rn.nodes["b2"].stop(t)
		cfg := rn.cfgs["b2"]
		if err := os.RemoveAll(cfg.DataDir); err != nil {
			t.Fatal(err)
		}
		cfg.Cluster.Peers = []string{rn.nodes["b1"].cluster.ml.Addr()}
		rn.nodes["b2"] = startNode(t, cfg)
		for _, name := range []string{"local", "twice", "kill"} {
			rn.recipe("b2", name) // anti-entropy on join brought record and recipe
		}
		_, got := rn.client("b2").must(200, "GET", "/images/local", nil, nil)
		if !bytes.Equal(got, data) {
			t.Fatal("read of an object of b at the wiped node differs")
		}
		_, got = rn.client("b2").must(200, "GET", "/images/kill", nil, nil)
		if len(got) != 6<<20 {
			t.Fatalf("read of an object of a at the wiped node: %d bytes", len(got))
		}
		t.Logf("wiped b2 rebuilt its namespace and served; fetch stats %+v", rn.nodes["b2"].cluster.fetch.Stats())
	})
}
