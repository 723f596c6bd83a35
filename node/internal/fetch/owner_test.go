package fetch

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
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

// TestRendezvousOwners: every node that sees the same members picks the
// same owner for a chunk, the owners are balanced, and a node that leaves
// moves only the chunks it owned.
func TestRendezvousOwners(t *testing.T) {
	ids := make([]recipe.ChunkID, 4000)
	for i := range ids {
		ids[i] = recipe.ChunkID(sha256.Sum256([]byte(fmt.Sprint(i))))
	}
	for _, tc := range []struct {
		nodes []string
	}{
		{[]string{"b1", "b2"}},
		{[]string{"r1-a", "r1-b", "r1-c"}},
		{[]string{"n0", "n1", "n2", "n3", "n4"}},
	} {
		t.Run(fmt.Sprint(len(tc.nodes)), func(t *testing.T) {
			owner := func(self string, members []string, id recipe.ChunkID) string {
				var sibs []string
				for _, m := range members {
					if m != self {
						sibs = append(sibs, m)
					}
				}
				hs := make([]uint64, len(sibs))
				for i, s := range sibs {
					hs[i] = nodeHash(s)
				}
				if i := ownerIndex(id, nodeHash(self), hs); i >= 0 {
					return sibs[i]
				}
				return self
			}
			count := map[string]int{}
			for _, id := range ids {
				o := owner(tc.nodes[0], tc.nodes, id)
				for _, n := range tc.nodes[1:] {
					if got := owner(n, tc.nodes, id); got != o {
						t.Fatalf("chunk %s: %s says %s owns it, %s says %s", id.Short(), tc.nodes[0], o, n, got)
					}
				}
				count[o]++
				// The last node leaves: only its chunks move.
				gone := tc.nodes[len(tc.nodes)-1]
				rest := tc.nodes[:len(tc.nodes)-1]
				if o2 := owner(rest[0], rest, id); o != gone && o2 != o {
					t.Fatalf("chunk %s moved from %s to %s when %s left", id.Short(), o, o2, gone)
				}
			}
			want := len(ids) / len(tc.nodes)
			for _, n := range tc.nodes {
				if c := count[n]; c < want*8/10 || c > want*12/10 {
					t.Fatalf("owners unbalanced: %v", count)
				}
			}
		})
	}
}

// rnode is a reading node of region "b" with its own store and peer
// server (serving /chunks and /obtain), one of several in its region.
type rnode struct {
	name   string
	f      *Fetcher
	reader *reader
	hs     *httptest.Server
	srv    *peer.Server
	// frozen makes the node's peer listener accept requests and never
	// answer them.
	frozen atomic.Bool
}

// regionB starts nodes of region b that see each other and the sources;
// members returns, for each node, the list its fetcher sees (mutable by
// the test under mu).
type regionB struct {
	mu    sync.Mutex
	nodes []*rnode
	// hidden: nodes a given node no longer lists (left the members).
	hidden map[string]map[string]bool
}

func newRegionB(t *testing.T, names []string, sources ...*region) *regionB {
	t.Helper()
	rb := &regionB{hidden: map[string]map[string]bool{}}
	for _, name := range names {
		st := openStore(t)
		c, err := peer.NewClient(peer.ClientConfig{Secret: secret, Region: "b", Node: name})
		if err != nil {
			t.Fatal(err)
		}
		n := &rnode{name: name}
		list := func() []Peer {
			rb.mu.Lock()
			defer rb.mu.Unlock()
			var out []Peer
			for _, s := range sources {
				out = append(out, Peer{Region: s.name, Node: s.name, URL: s.hs.URL})
			}
			for _, o := range rb.nodes {
				if o != n && !rb.hidden[name][o.name] {
					out = append(out, Peer{Region: "b", Node: o.name, URL: o.hs.URL})
				}
			}
			return out
		}
		n.f, err = New(Config{Region: "b", Node: name, Grace: 300 * time.Millisecond, DefaultBandwidth: 1 << 20,
			HaveTimeout: 2 * time.Second}, // a frozen sibling delays a plan by this
			st, list, c, zap.NewNop())
		if err != nil {
			t.Fatal(err)
		}
		n.reader = &reader{f: n.f, client: c, store: st}
		n.srv, err = peer.NewServer(peer.ServerConfig{Secret: secret, Region: "b", Obtain: n.f}, st, nil, nil, zap.NewNop())
		if err != nil {
			t.Fatal(err)
		}
		n.hs = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if n.frozen.Load() {
				io.Copy(io.Discard, r.Body) // then the server notices the client leave
				<-r.Context().Done()
				return
			}
			n.srv.ServeHTTP(w, r)
		}))
		t.Cleanup(n.hs.Close)
		rb.mu.Lock()
		rb.nodes = append(rb.nodes, n)
		rb.mu.Unlock()
	}
	return rb
}

// TestOwnersOneTransfer: concurrent reads of one object on three nodes of
// a region move each chunk from the holder once.
func TestOwnersOneTransfer(t *testing.T) {
	a := newRegion(t, "a", 0)
	data := incompressible(41, 3<<20)
	rec := write(t, a.store, data)
	rb := newRegionB(t, []string{"b1", "b2", "b3"}, a)
	var wg sync.WaitGroup
	for _, n := range rb.nodes {
		wg.Go(func() {
			got, err := read(t, n.reader, rec, 0, -1)
			if err != nil || string(got) != string(data) {
				t.Errorf("read at %s: %v", n.name, err)
			}
		})
	}
	wg.Wait()
	sent := a.srv.SentStats()["b"]
	var delegated, served int64
	for _, n := range rb.nodes {
		st := n.f.Stats()
		delegated += st.DelegatedGot
		served += st.ObtainServed
	}
	t.Logf("a sent %d chunks for %d distinct; %d chunks got from their owners", sent.Chunks, len(rec.Unique()), delegated)
	if sent.Chunks != int64(len(rec.Unique())) {
		t.Fatalf("a sent %d chunks, want each of %d once", sent.Chunks, len(rec.Unique()))
	}
	if delegated == 0 || served < delegated {
		t.Fatalf("delegated %d, served %d", delegated, served)
	}
}

// TestOwnerGoneFallsBack: the owner's peer listener is gone (a crashed
// node gossip has not declared dead yet): the asker fetches the chunks
// itself and the read completes.
func TestOwnerGoneFallsBack(t *testing.T) {
	a := newRegion(t, "a", 0)
	data := incompressible(42, 2<<20)
	rec := write(t, a.store, data)
	rb := newRegionB(t, []string{"b1", "b2"}, a)
	rb.nodes[1].hs.Close()
	got, err := read(t, rb.nodes[0].reader, rec, 0, -1)
	if err != nil || string(got) != string(data) {
		t.Fatalf("read: %v", err)
	}
	st := rb.nodes[0].f.Stats()
	if st.Delegated == 0 || st.DelegateFallbacks != st.Delegated {
		t.Fatalf("delegated %d, fell back for %d: %+v", st.Delegated, st.DelegateFallbacks, st)
	}
	if sent := a.srv.SentStats()["b"]; sent.Chunks != int64(len(rec.Unique())) {
		t.Fatalf("a sent %d chunks, want %d", sent.Chunks, len(rec.Unique()))
	}
}

// TestOwnerFrozenFallsBackWhenItLeaves: the owner accepts the obtain
// request and never answers (frozen, as by SIGSTOP: a handler that hangs
// stands in for it, since a goroutine cannot be stopped from outside);
// once membership no longer lists it, the asker stops waiting and fetches
// the chunks itself.
func TestOwnerFrozenFallsBackWhenItLeaves(t *testing.T) {
	a := newRegion(t, "a", 0)
	data := incompressible(43, 1<<20)
	rec := write(t, a.store, data)
	rb := newRegionB(t, []string{"b1", "b2"}, a)
	rb.nodes[1].frozen.Store(true)
	time.AfterFunc(500*time.Millisecond, func() {
		rb.mu.Lock()
		rb.hidden["b1"] = map[string]bool{"b2": true}
		rb.mu.Unlock()
	})
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	start := time.Now()
	src, err := rb.nodes[0].f.Source(ctx, rec, 0, len(rec.Refs))
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range rec.Refs {
		if _, err := src.Chunk(ctx, ref); err != nil {
			t.Fatalf("chunk %s: %v", ref.ID.Short(), err)
		}
	}
	st := rb.nodes[0].f.Stats()
	t.Logf("read with a frozen owner in %v: %+v", time.Since(start), st)
	if st.Delegated == 0 || st.DelegateFallbacks != st.Delegated {
		t.Fatalf("delegated %d, fell back for %d", st.Delegated, st.DelegateFallbacks)
	}
}

// TestObtainOnlyFromOwnRegion: a node of another region may not make a
// node fetch for it (403).
func TestObtainOnlyFromOwnRegion(t *testing.T) {
	a := newRegion(t, "a", 0)
	rec := write(t, a.store, incompressible(44, 64<<10))
	rb := newRegionB(t, []string{"b1"}, a)
	c, err := peer.NewClient(peer.ClientConfig{Secret: secret, Region: "a", Node: "a"})
	if err != nil {
		t.Fatal(err)
	}
	ids := rec.Unique()
	plain := make([]uint32, len(ids))
	for i := range plain {
		plain[i] = rec.Refs[i].Size
	}
	err = c.Obtain(t.Context(), rb.nodes[0].hs.URL, ids, plain, func(recipe.ChunkID, chunkstore.Stored, error) error { return nil })
	var se *peer.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusForbidden {
		t.Fatalf("obtain from another region: %v, want 403", err)
	}
	if slices.ContainsFunc(rb.nodes, func(n *rnode) bool { return n.f.Stats().Fetches != 0 }) {
		t.Fatal("the refused request started a fetch")
	}
}

// TestSharedStoreSkipsSiblings: with a store shared by the region's nodes
// the siblings are owners but never sources.
func TestSharedStoreSkipsSiblings(t *testing.T) {
	for _, tc := range []struct {
		shared bool
		want   []string
	}{
		{false, []string{"a/a1", "b/b2"}},
		{true, []string{"a/a1"}},
	} {
		peers := func() []Peer {
			return []Peer{{Region: "b", Node: "b2", URL: "u2"}, {Region: "a", Node: "a1", URL: "u1"}, {Region: "b", Node: "b1", URL: "u0"}}
		}
		f, err := New(Config{Region: "b", Node: "b1", SharedStore: tc.shared}, openStore(t), peers, &peer.Client{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range f.livePeers() {
			got = append(got, p.Region+"/"+p.Node)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("shared %v: sources %v, want %v", tc.shared, got, tc.want)
		}
		if sibs := f.siblings(); len(sibs) != 1 || sibs[0].Node != "b2" {
			t.Errorf("shared %v: siblings %v, want b2", tc.shared, sibs)
		}
	}
}
