package fetch

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"github.com/nitro-cloud/nitro/node/internal/peer"
	"go.uber.org/zap"
)

// regionNode is one node of a test region: a real peer server over a
// store (shared with the region's other nodes or its own), counting the
// have requests it receives.
type regionNode struct {
	peer  Peer
	store *chunkstore.Store
	wrap  *faultStore
	hs    *httptest.Server
	haves atomic.Int64
}

// newRegionNodes starts nodes names of region, all over one store
// (shared: the region's cluster, as store.backend: swift; the test
// stands a Badger store in for the cluster, the peer servers and HTTP
// are real) or each over its own (shared false), paced at rate bytes/s.
func newRegionNodes(t *testing.T, region string, shared bool, rate float64, names ...string) []*regionNode {
	t.Helper()
	var one *chunkstore.Store
	if shared {
		one = openStore(t)
	}
	var out []*regionNode
	for _, name := range names {
		n := &regionNode{store: one}
		if n.store == nil {
			n.store = openStore(t)
		}
		n.wrap = &faultStore{Store: n.store, tamper: map[recipe.ChunkID]bool{}}
		srv, err := peer.NewServer(peer.ServerConfig{Secret: secret, Region: region,
			RateLimit: func(string) float64 { return rate }}, n.wrap, nil, nil, zap.NewNop())
		if err != nil {
			t.Fatal(err)
		}
		n.hs = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/peer/v1/have" && r.ContentLength != 0 { // not a warm-up
				n.haves.Add(1)
			}
			srv.ServeHTTP(w, r)
		}))
		t.Cleanup(n.hs.Close)
		n.peer = Peer{Region: region, Node: name, URL: n.hs.URL}
		if shared {
			n.peer.Store = "swift:test-" + region
		}
		out = append(out, n)
	}
	return out
}

// nodeView is a membership view over region nodes, some listed dead.
type nodeView struct {
	mu    sync.Mutex
	nodes []*regionNode
	dead  map[string]bool
}

func (v *nodeView) peers() []Peer {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []Peer
	for _, n := range v.nodes {
		if !v.dead[n.peer.Node] {
			out = append(out, n.peer)
		}
	}
	return out
}

func (v *nodeView) setDead(name string, dead bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.dead[name] = dead
}

func newNodeReader(t *testing.T, configure func(*Config), nodes ...*regionNode) (*reader, *nodeView) {
	t.Helper()
	view := &nodeView{nodes: nodes, dead: map[string]bool{}}
	cfg := Config{Region: "b", Grace: 300 * time.Millisecond, DefaultBandwidth: 1 << 20, HedgeAfter: -1}
	return newReaderFrom(t, openStore(t), cfg, configure, view.peers), view
}

// TestHaveOncePerRegion: a read at b from a region of two nodes asks the
// region once when its nodes share a store (and spreads nothing else: the
// read is byte-exact) and each node when they have stores of their own.
// Before one have request per region, the shared region was asked twice.
func TestHaveOncePerRegion(t *testing.T) {
	for _, tc := range []struct {
		name      string
		shared    bool
		spec      bool // the namespace says s holds the object: speculative start
		wantHaves int64
	}{
		{"SharedStore", true, false, 1},
		{"SharedStoreSpeculative", true, true, 1},
		{"OwnStores", false, false, 2},
		{"OwnStoresSpeculative", false, true, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nodes := newRegionNodes(t, "s", tc.shared, 0, "s1", "s2")
			data := randomData(71, 2<<20)
			rec := write(t, nodes[0].store, data)
			if !tc.shared {
				copyChunks(t, nodes[0].store, nodes[1].store, rec.Refs)
			}
			configure := func(c *Config) {
				if tc.spec {
					c.Holders = func(context.Context, recipe.ID) ([]string, error) { return []string{"s"}, nil }
				}
			}
			b, _ := newNodeReader(t, configure, nodes...)
			got, err := read(t, b, rec, 0, -1)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("read: %d of %d bytes, %v", len(got), len(data), err)
			}
			st := b.f.Stats()
			sent := nodes[0].haves.Load() + nodes[1].haves.Load()
			t.Logf("have requests: s1 %d, s2 %d; stats %+v", nodes[0].haves.Load(), nodes[1].haves.Load(), st)
			if tc.spec && st.SpecStarts != 1 {
				t.Fatalf("no speculative start: %+v", st)
			}
			if sent != tc.wantHaves || st.HaveByRegion["s"] != tc.wantHaves || st.HaveFallbacks != 0 {
				t.Fatalf("region s got %d have requests (fetcher counted %d, fallbacks %d), want %d",
					sent, st.HaveByRegion["s"], st.HaveFallbacks, tc.wantHaves)
			}
		})
	}
}

// TestHaveRegionSpreadsOverNodes: the node asked for a read is chosen by
// the read's first missing chunk, so different reads ask different nodes
// of the region (with 16 reads over two nodes, both are asked).
func TestHaveRegionSpreadsOverNodes(t *testing.T) {
	nodes := newRegionNodes(t, "s", true, 0, "s1", "s2")
	var recs []*recipe.Recipe
	for i := range 16 {
		recs = append(recs, write(t, nodes[0].store, randomData(uint64(100+i), 64<<10)))
	}
	b, _ := newNodeReader(t, nil, nodes...)
	for _, rec := range recs {
		if _, err := read(t, b, rec, 0, -1); err != nil {
			t.Fatal(err)
		}
	}
	h1, h2 := nodes[0].haves.Load(), nodes[1].haves.Load()
	t.Logf("16 reads: s1 answered %d have requests, s2 %d", h1, h2)
	if h1+h2 != 16 || h1 == 0 || h2 == 0 {
		t.Fatalf("have requests s1 %d, s2 %d: want 16 in all, spread over both", h1, h2)
	}
}

// TestHaveRegionNodeDeadAsksSibling: the node of region s that a read
// asks first is dead (its listener closed) while membership still lists
// it live: the read asks the region's other node, plans over it alone
// and completes byte-exact, with no failed stream.
func TestHaveRegionNodeDeadAsksSibling(t *testing.T) {
	nodes := newRegionNodes(t, "s", true, 0, "s1", "s2")
	data := randomData(72, 2<<20)
	rec := write(t, nodes[0].store, data)
	b, view := newNodeReader(t, nil, nodes...)
	order := haveGroups(view.peers(), rec.Refs[0].ID)
	if len(order) != 1 || len(order[0]) != 2 {
		t.Fatalf("have groups %v, want one of two nodes", order)
	}
	first, other := nodes[order[0][0]], nodes[order[0][1]]
	first.hs.Close()
	got, err := read(t, b, rec, 0, -1)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read with the first-asked node dead: %d of %d bytes, %v", len(got), len(data), err)
	}
	st := b.f.Stats()
	t.Logf("asked %s first (dead), then %s: %d have requests there; stats %+v", first.peer.Node, other.peer.Node, other.haves.Load(), st)
	if other.haves.Load() != 1 || st.HaveFallbacks != 1 || st.HaveByRegion["s"] != 2 {
		t.Fatalf("sibling got %d have requests, fallbacks %d, region s asked %d times; want 1, 1, 2",
			other.haves.Load(), st.HaveFallbacks, st.HaveByRegion["s"])
	}
	if st.SourceFails != 0 {
		t.Fatalf("%d streams failed: the dead node was planned as a source", st.SourceFails)
	}
}

// TestHaveRegionLateNodeNotAsked: a read starts with only s1 of region s
// live; s1 answers, then freezes and is lost mid-read while s2, of the
// same store, becomes live. s2 is added with s1's answer (no have request
// to it) and the read completes byte-exact from it.
func TestHaveRegionLateNodeNotAsked(t *testing.T) {
	nodes := newRegionNodes(t, "s", true, 2<<20, "s1", "s2")
	s1, s2 := nodes[0], nodes[1]
	s1.wrap.freeze(t, 20)
	data := incompressible(73, 4<<20)
	rec := write(t, s1.store, data)
	b, view := newNodeReader(t, func(c *Config) { c.HolderWait = time.Minute }, nodes...)
	view.setDead("s2", true)
	wait := readInBackground(t, b, rec)
	waitUntil(t, "s1 freezes", s1.wrap.frozen)
	view.setDead("s1", true)
	view.setDead("s2", false)
	s1.hs.CloseClientConnections() // its stream breaks: a failed source
	s1.wrap.unfreeze(0)
	if got, err := wait(); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read whose first node was lost mid-read: %d of %d bytes, %v", len(got), len(data), err)
	}
	st := b.f.Stats()
	t.Logf("have requests: s1 %d, s2 %d; stats %+v", s1.haves.Load(), s2.haves.Load(), st)
	if s1.haves.Load() != 1 || s2.haves.Load() != 0 || st.LateSources == 0 || st.NoHolder != 0 {
		t.Fatalf("s1 asked %d times, s2 %d times (want 1, 0: the region had answered), late sources %d", s1.haves.Load(), s2.haves.Load(), st.LateSources)
	}
	if !slices.ContainsFunc(b.f.Transfers(), func(tr Transfer) bool {
		return slices.ContainsFunc(tr.Sources, func(s TransferSource) bool { return s.Node == "s2" })
	}) {
		t.Fatal("s2 is not a source of the read")
	}
}
