package fetch

import (
	"bytes"
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"github.com/nitro-cloud/nitro/node/internal/peer"
	"go.uber.org/zap"
)

// gateStore is the reader's store (real Badger underneath) whose Receive
// calls each wait, before storing, until want of them are in flight at
// once or open is closed, and which records the most in flight.
type gateStore struct {
	*chunkstore.Store
	want    int
	open    chan struct{}
	reached chan struct{}

	mu      sync.Mutex
	in, top int
}

func (g *gateStore) Receive(ctx context.Context, id recipe.ChunkID, st chunkstore.Stored) error {
	g.mu.Lock()
	g.in++
	if g.in > g.top {
		g.top = g.in
		if g.top == g.want {
			close(g.reached)
		}
	}
	g.mu.Unlock()
	select {
	case <-g.reached:
	case <-g.open:
	case <-ctx.Done():
	}
	err := g.Store.Receive(ctx, id, st)
	g.mu.Lock()
	g.in--
	g.mu.Unlock()
	return err
}

func (g *gateStore) most() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.top
}

// TestArrivalsStoredManyAtOnce: the chunks of one stream that have
// arrived are stored by many concurrent Receive calls, which the store
// commits together (chunkstore's put group): 16 of a stream's small
// chunks are in Receive at once when the store is slower than the link.
// Before, a stream had 4 Receive calls in flight, so a commit took at
// most 4 chunks and a stream of small chunks ran at 4 per commit: issue
// 13's variant read (975 chunks of 6.6 KB over 200 Mbit/s) fetched in
// 0.66 s what the link carried in 0.26 s.
func TestArrivalsStoredManyAtOnce(t *testing.T) {
	a := newRegion(t, "a", 0)
	data := randomData(61, 4<<20)
	rec := write(t, a.store, data)
	if len(rec.Unique()) < 32 {
		t.Fatalf("%d chunks: want many", len(rec.Unique()))
	}
	gs := &gateStore{Store: openStore(t), want: 16, open: make(chan struct{}), reached: make(chan struct{})}
	c, err := peer.NewClient(peer.ClientConfig{Secret: secret, Region: "b", Node: "b"})
	if err != nil {
		t.Fatal(err)
	}
	link := Link{Bandwidth: 100 << 20, RTT: time.Millisecond}
	f, err := New(Config{Region: "b", Priors: map[string]Link{"a": link}, Grace: 10 * time.Second, HedgeAfter: -1}, gs,
		func() []Peer { return []Peer{{Region: "a", URL: a.hs.URL}} }, c, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		src, err := f.Source(t.Context(), rec, 0, len(rec.Refs))
		if err != nil {
			done <- result{nil, err}
			return
		}
		rc, err := gs.NewReader(t.Context(), rec, 0, -1, src)
		if err != nil {
			done <- result{nil, err}
			return
		}
		defer rc.Close()
		got, err := io.ReadAll(rc)
		done <- result{got, err}
	}()
	select {
	case <-gs.reached:
	case <-time.After(20 * time.Second):
	}
	close(gs.open)
	r := <-done
	if r.err != nil || !bytes.Equal(r.b, data) {
		t.Fatalf("read: %d of %d bytes, %v", len(r.b), len(data), r.err)
	}
	if n := gs.most(); n < gs.want || n > putWorkers {
		t.Fatalf("at most %d Receive calls in flight: want %d to %d", n, gs.want, putWorkers)
	}
	if st := f.Stats(); st.Chunks != int64(len(rec.Unique())) || st.DuplicateChunks != 0 {
		t.Fatalf("stats %+v: want every chunk fetched once", st)
	}
}
