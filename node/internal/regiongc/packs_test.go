package regiongc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/nitro-cloud/nitro/chunkstore"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"github.com/nitro-cloud/nitro/chunkstore/swiftstore"
	"github.com/nitro-cloud/nitro/internal/swifttest"
	"go.uber.org/zap"
)

// packNode opens a node's chunk store (its own Badger) on the region's
// cluster with packing on: the real Swift backend (chunkstore on
// chunkstore/swiftstore), small chunks and packs of 64 KiB so that a
// test's objects span several packs.
func packNode(t testing.TB, srv *swifttest.Server, r *region, touchAfter time.Duration) *chunkstore.Store {
	t.Helper()
	cl, err := swiftstore.Open(context.Background(), swiftstore.Config{AuthURL: srv.AuthURL(), User: swifttest.User, Key: swifttest.Key,
		ContainerPrefix: r.layout.Prefix, Containers: r.layout.Containers, PackSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	st, err := chunkstore.Open(chunkstore.Config{Dir: t.TempDir(), Cluster: cl, TouchAfter: touchAfter, NoSync: true,
		MinSize: 1 << 10, AvgSize: 4 << 10, MaxSize: 16 << 10}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// readStore reads the object of recipe id through st (the recipe from
// the cluster if st lacks it), every chunk verified by the store.
func readStore(ctx context.Context, st *chunkstore.Store, id recipe.ID) ([]byte, error) {
	rec, err := st.Recipe(ctx, id)
	if err != nil {
		return nil, err
	}
	rd, err := st.NewReader(ctx, rec, 0, -1, nil)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	return io.ReadAll(rd)
}

// packsOf returns the packs in the live (or fossil) pack container and
// the chunk IDs their indexes name.
func (r *region) packsOf(ctx context.Context, fossil bool) (map[string]bool, map[recipe.ChunkID]bool) {
	r.t.Helper()
	packs, ids := map[string]bool{}, map[recipe.ChunkID]bool{}
	err := r.sw.list(ctx, r.layout.Packs(fossil), func(rows []listed) error {
		for _, row := range rows {
			packs[row.name] = true
			b, err := r.sw.get(ctx, r.layout.PackIndexes(fossil), row.name)
			if err != nil {
				return fmt.Errorf("index of pack %s: %w", row.name, err)
			}
			entries, err := swiftstore.DecodePackIndex(b)
			if err != nil {
				return err
			}
			for _, e := range entries {
				ids[e.ID] = true
			}
		}
		return nil
	})
	if err != nil {
		r.t.Fatal(err)
	}
	return packs, ids
}

// testPackSteps: the two steps at pack granularity, with real nodes
// writing packs: A is live throughout; X (its own packs) is garbage, then
// committed between two runs, then deleted. Each run's effect on X's
// packs (fossilized, moved back, fossilized again, deleted), and A and
// X (while live) read back byte-exact from a node with an empty Badger.
func testPackSteps(t *testing.T, srv *swifttest.Server, sc *gophercloud.ServiceClient) {
	ctx := t.Context()
	const grace = time.Hour
	r := newRegion(t, sc, "packsteps", 16)
	a := packNode(t, srv, r, time.Hour)
	inA, inX := random(200<<10), random(150<<10)
	recA, idA, err := a.Write(ctx, bytes.NewReader(inA))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.commit(ctx, "A", recA, idA); err != nil {
		t.Fatal(err)
	}
	packsA, _ := r.packsOf(ctx, false)
	recX, idX, err := a.Write(ctx, bytes.NewReader(inX))
	if err != nil {
		t.Fatal(err)
	}
	all, _ := r.packsOf(ctx, false)
	packsX := map[string]bool{}
	for p := range all {
		if !packsA[p] {
			packsX[p] = true
		}
	}
	if len(packsA) < 2 || len(packsX) < 2 {
		t.Fatalf("packs: A %d, X %d; want ≥ 2 each", len(packsA), len(packsX))
	}
	c := r.collector("n1", time.Minute)
	check := func(step string, st Stats, wantLive, wantFossil bool) {
		t.Helper()
		live, _ := r.packsOf(ctx, false)
		fossil, _ := r.packsOf(ctx, true)
		for p := range packsA {
			if !live[p] || fossil[p] {
				t.Errorf("%s: A's pack %s live %v fossil %v", step, p, live[p], fossil[p])
			}
		}
		for p := range packsX {
			if live[p] != wantLive || fossil[p] != wantFossil {
				t.Errorf("%s: X's pack %s live %v fossil %v; want %v %v", step, p, live[p], fossil[p], wantLive, wantFossil)
			}
		}
		// A fresh node (a wiped data dir) reads A, and X while it is
		// anywhere.
		d := packNode(t, srv, r, time.Hour)
		if got, err := readStore(ctx, d, idA); err != nil || !bytes.Equal(got, inA) {
			t.Errorf("%s: A from a fresh node: %v", step, err)
		}
		if wantLive || wantFossil {
			if got, err := readStore(ctx, d, idX); err != nil || !bytes.Equal(got, inX) {
				t.Errorf("%s: X from a fresh node: %v", step, err)
			}
		}
		t.Logf("%s: %+v", step, st)
	}
	run := func(age time.Duration) Stats {
		t.Helper()
		r.clk.advance(age)
		st, err := c.Run(ctx, grace)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	// Young: nothing moves.
	st := run(0)
	if st.PacksFossilized != 0 { // X's recipe is young: its chunks are marked
		t.Errorf("young run: %+v", st)
	}
	check("young", st, true, false)
	// Old and unmarked: X's packs (and indexes) go to the fossils.
	st = run(grace + time.Minute)
	if st.PacksFossilized != len(packsX) {
		t.Errorf("run 1 fossilized %d packs, want X's %d", st.PacksFossilized, len(packsX))
	}
	check("run 1", st, false, true)
	// X committed: its fossils come back.
	if err := r.commit(ctx, "X", recX, idX); err != nil {
		t.Fatal(err)
	}
	st = run(grace + time.Minute)
	if st.PacksResurrected != len(packsX) {
		t.Errorf("run 2 moved back %d packs, want %d", st.PacksResurrected, len(packsX))
	}
	check("run 2", st, true, false)
	// X deleted: fossilized, then deleted a grace later.
	if err := r.remove(ctx, "X"); err != nil {
		t.Fatal(err)
	}
	st = run(grace + time.Minute)
	check("run 3", st, false, true)
	st = run(grace + time.Minute)
	if st.PackFossilsDeleted != len(packsX) || st.PackBytesDeleted == 0 {
		t.Errorf("run 4 deleted %d pack fossils, want %d", st.PackFossilsDeleted, len(packsX))
	}
	check("run 4", st, false, false)
	for p := range packsX {
		if _, err := r.sw.head(ctx, r.layout.PackIndexes(true), p); !errors.Is(err, errNotFound) {
			t.Errorf("index fossil of deleted pack %s: %v", p, err)
		}
	}
}

// testWritersDuringGCPacks is testWritersDuringGC with packing on and
// real nodes as the writers: two chunk stores (each its own Badger, the
// real Swift backend with packs of 64 KiB) write objects made of pieces
// drawn from a pool (most of it an unreferenced object, garbage GC is
// about to move) plus new bytes, and delete some again, while two
// collectors run GC over and over with a grace of a few seconds
// (300 ms between each move's COPY and DELETE). Every live object must
// then read back byte-exact (every chunk verified by the store) on its
// writer and on a node with an empty Badger, and after two more runs
// past the grace every chunk of a live object must be in a live pack or
// chunk object. NITRO_REGIONGC_FULL=1 writes for 2 minutes.
func testWritersDuringGCPacks(t *testing.T, srv *swifttest.Server, sc *gophercloud.ServiceClient) {
	ctx := t.Context()
	const grace = 6 * time.Second
	dur, perWriter := 15*time.Second, 60
	if os.Getenv("NITRO_REGIONGC_FULL") == "1" {
		dur, perWriter = 2*time.Minute, 600
	}
	r := newRegion(t, sc, "packwriters", 1)
	nodes := []*chunkstore.Store{packNode(t, srv, r, time.Second), packNode(t, srv, r, time.Second)}

	// The pool: 12 pieces of 32 KiB in one object nobody names (garbage
	// from the start), 4 more under a live object. Content-defined cuts
	// resynchronize inside a piece, so writes reuse most of its chunks.
	pool := make([][]byte, 16)
	for i := range pool {
		pool[i] = random(32 << 10)
	}
	if _, _, err := nodes[0].Write(ctx, bytes.NewReader(bytes.Join(pool[:12], nil))); err != nil {
		t.Fatal(err)
	}
	base := bytes.Join(pool[12:], nil)
	recB, idB, err := nodes[0].Write(ctx, bytes.NewReader(base))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.commit(ctx, "base", recB, idB); err != nil {
		t.Fatal(err)
	}
	live := map[string]liveObj{"base": {idB, base}}

	verify := func(when string) {
		t.Helper()
		fresh := packNode(t, srv, r, time.Second)
		for name, o := range live {
			for k, st := range append(nodes, fresh) {
				if got, err := readStore(ctx, st, o.id); err != nil || !bytes.Equal(got, o.data) {
					t.Errorf("%s: %s on node %d: %v", when, name, k, err)
				}
			}
		}
	}
	// The collectors' clock runs a grace ahead: every unmarked pack, the
	// packs of writes not yet committed included, is old at once, so the
	// runs move what writers are writing and relying on all the time
	// (with the move replaced by a plain DELETE this test loses chunks:
	// checked). Safety still holds: a fossil is deleted only a grace of
	// the collectors' time after it was made, when the write that relied
	// on it has long committed its record.
	r.clk.advance(grace)
	ok := raceWriters(t, r, grace, dur, perWriter, live, writer{
		data: func(rng *rand.Rand) []byte {
			var parts [][]byte
			for range 3 {
				parts = append(parts, pool[rng.IntN(len(pool))])
			}
			return bytes.Join(append(parts, random(8<<10)), nil)
		},
		write: func(ctx context.Context, w int, name string, data []byte) (recipe.ID, error) {
			rec, id, err := nodes[w].Write(ctx, bytes.NewReader(data))
			if err == nil {
				err = r.commit(ctx, name, rec, id)
			}
			return id, err
		},
		read: func(ctx context.Context, w int, id recipe.ID) ([]byte, error) { return readStore(ctx, nodes[w], id) },
	}, verify, func(st Stats) bool { return st.PacksFossilized > 0 })
	if !ok {
		return
	}
	_, inLive := r.packsOf(ctx, false)
	for name, o := range live {
		rec, err := nodes[0].Recipe(ctx, o.id)
		if err != nil {
			t.Fatal(err)
		}
		for _, ref := range rec.Refs {
			if !inLive[ref.ID] {
				if l, _ := r.where(ctx, KindChunk, ref.ID.String()); !l {
					t.Errorf("%s: chunk %s in no live pack or chunk object", name, ref.ID.Short())
				}
			}
		}
	}
}
