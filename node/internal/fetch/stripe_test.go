package fetch

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"github.com/nitro-cloud/nitro/node/internal/peer"
	"github.com/nitro-cloud/nitro/planner"
	"go.uber.org/zap"
)

// countingTransport is the real peer client, counting its chunk streams and
// the most that were open at once.
type countingTransport struct {
	*peer.Client
	calls, open, maxOpen atomic.Int64
}

func (c *countingTransport) FetchChunks(ctx context.Context, base, region string, ids []recipe.ChunkID,
	fn func(id recipe.ChunkID, st chunkstore.Stored, err error) error) error {
	c.calls.Add(1)
	n := c.open.Add(1)
	defer c.open.Add(-1)
	for {
		m := c.maxOpen.Load()
		if n <= m || c.maxOpen.CompareAndSwap(m, n) {
			break
		}
	}
	return c.Client.FetchChunks(ctx, base, region, ids, fn)
}

// stripedReader is a reader of the regions peers whose transport counts
// streams and whose Config.StreamsPerLink is k.
func stripedReader(t *testing.T, k int, priors map[string]Link, peers ...*region) (*reader, *countingTransport) {
	t.Helper()
	c, err := peer.NewClient(peer.ClientConfig{Secret: secret, Region: "b", Node: "b"})
	if err != nil {
		t.Fatal(err)
	}
	ct := &countingTransport{Client: c}
	list := func() []Peer {
		var out []Peer
		for _, p := range peers {
			out = append(out, Peer{Region: p.name, URL: p.hs.URL})
		}
		return out
	}
	st := openStore(t)
	f, err := New(Config{Region: "b", Priors: priors, Grace: 300 * time.Millisecond, DefaultBandwidth: 1 << 20,
		StreamsPerLink: k}, st, list, ct, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	return &reader{f: f, client: c, store: st}, ct
}

// TestStripedStreams: a read from one holder with StreamsPerLink 4 opens 4
// concurrent chunk streams to it and returns the object byte-exact, every
// chunk fetched once; with 1 it opens one.
func TestStripedStreams(t *testing.T) {
	data := randomData(41, 3<<20)
	for _, tc := range []struct {
		k, wantStreams int
	}{{1, 1}, {2, 2}, {4, 4}} {
		a := newRegion(t, "a", 0)
		rec := write(t, a.store, data)
		r, ct := stripedReader(t, tc.k, nil, a)
		got, err := read(t, r, rec, 0, -1)
		if err != nil {
			t.Fatalf("k=%d: %v", tc.k, err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("k=%d: read differs", tc.k)
		}
		st := r.f.Stats()
		if st.DuplicateChunks != 0 || st.HedgeWasted != 0 {
			t.Errorf("k=%d: %d duplicate, %d hedge-wasted chunks", tc.k, st.DuplicateChunks, st.HedgeWasted)
		}
		if distinct := countDistinct(rec.Refs); st.Chunks != int64(distinct) {
			t.Errorf("k=%d: fetched %d chunks, the object has %d distinct", tc.k, st.Chunks, distinct)
		}
		if got := ct.maxOpen.Load(); got != int64(tc.wantStreams) {
			t.Errorf("k=%d: at most %d chunk streams open at once, want %d (%d streams in all)", tc.k, got, tc.wantStreams, ct.calls.Load())
		}
	}
}

func countDistinct(refs []recipe.Ref) int {
	m := map[recipe.ChunkID]bool{}
	for _, r := range refs {
		m[r.ID] = true
	}
	return len(m)
}

// TestStripeOrderAndErrors: stripe hands frames to fn in the order of ids,
// passes a chunk the peer lacks on as its error in its place, stops at
// fn's error, and never leaves a connection running.
func TestStripeOrderAndErrors(t *testing.T) {
	data := randomData(43, 2<<20)
	a := newRegion(t, "a", 0)
	rec := write(t, a.store, data)
	c, err := peer.NewClient(peer.ClientConfig{Secret: secret, Region: "b", Node: "b"})
	if err != nil {
		t.Fatal(err)
	}
	var ids []recipe.ChunkID
	seen := map[recipe.ChunkID]bool{}
	for _, ref := range rec.Refs {
		if !seen[ref.ID] {
			seen[ref.ID] = true
			ids = append(ids, ref.ID)
		}
	}
	missing := recipe.ChunkID{1, 2, 3} // held by no one
	ids = append(ids[:5], append([]recipe.ChunkID{missing}, ids[5:]...)...)
	if len(ids) < 16 {
		t.Fatalf("only %d chunks", len(ids))
	}

	t.Run("order", func(t *testing.T) {
		var got []recipe.ChunkID
		var notHeld []int
		err := stripe(t.Context(), c, a.hs.URL, "a", ids, 3, func(id recipe.ChunkID, st chunkstore.Stored, err error) error {
			if err != nil {
				if !errors.Is(err, peer.ErrNotHeld) {
					t.Errorf("chunk %s: %v", id.Short(), err)
				}
				notHeld = append(notHeld, len(got))
			} else if len(st.Data) == 0 {
				t.Errorf("chunk %s: empty frame", id.Short())
			}
			got = append(got, id)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(ids) {
			t.Fatalf("%d frames, want %d", len(got), len(ids))
		}
		for i := range ids {
			if got[i] != ids[i] {
				t.Fatalf("frame %d is %s, want %s", i, got[i].Short(), ids[i].Short())
			}
		}
		if len(notHeld) != 1 || notHeld[0] != 5 {
			t.Errorf("not-held frames at %v, want [5]", notHeld)
		}
	})

	t.Run("fn error stops", func(t *testing.T) {
		stop := errors.New("stop")
		var mu sync.Mutex
		n := 0
		err := stripe(t.Context(), c, a.hs.URL, "a", ids, 4, func(recipe.ChunkID, chunkstore.Stored, error) error {
			mu.Lock()
			defer mu.Unlock()
			n++
			if n == 7 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || n != 7 {
			t.Fatalf("err %v after %d frames, want stop after 7", err, n)
		}
	})

	t.Run("peer gone", func(t *testing.T) {
		err := stripe(t.Context(), c, "http://127.0.0.1:1", "a", ids, 2, func(recipe.ChunkID, chunkstore.Stored, error) error {
			t.Error("frame from a peer that is not there")
			return nil
		})
		if err == nil {
			t.Fatal("no error from an unreachable peer")
		}
	})
}

// TestStreamsForLink: striping only where slow start costs round trips.
func TestStreamsForLink(t *testing.T) {
	for _, tc := range []struct {
		name string
		bw   float64 // bytes/s
		rtt  time.Duration
		want int
	}{
		{"LAN", 125e6, 200 * time.Microsecond, 1},
		{"fog 200 Mbit/s 5 ms", 25e6, 5 * time.Millisecond, 1},
		{"AWS 48 Mbit/s 196 ms", 6e6, 196 * time.Millisecond, 4},
		{"AWS 17 Mbit/s 359 ms", 2.1e6, 359 * time.Millisecond, 4},
		{"slow 2 Mbit/s 20 ms", 250e3, 20 * time.Millisecond, 1},
		{"unknown RTT", 6e6, 0, 1},
	} {
		if got := streamsForLink(tc.bw, tc.rtt); got != tc.want {
			t.Errorf("%s: %d streams, want %d (slow start %v with one)", tc.name, got, tc.want, planner.SlowStart(tc.bw, tc.rtt, tcpInitialWindow))
		}
	}
}
