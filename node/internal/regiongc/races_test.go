package regiongc

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/nitro-cloud/nitro/chunkstore"
)

// testTouchDuringMove: a writer relies on an old unreferenced chunk (it
// touches it, writes its recipe and commits its record) exactly between
// GC's COPY of the chunk to the fossils and its DELETE. The DELETE goes
// through (a touch does not change the data), so the chunk is then only
// a fossil: reads fall back to it, and the next run, which marks it,
// moves it back. With a plain DELETE in place of the move, the object
// would have lost the chunk.
func testTouchDuringMove(t *testing.T, sc *gophercloud.ServiceClient) {
	ctx := t.Context()
	r := newRegion(t, sc, "touch-race", 1)
	data := random(2 * chunkSize)
	xRec, xID, err := r.putObj(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	r.clk.advance(2 * time.Hour)
	r.touchAfter = time.Minute
	c := r.collector("n1", time.Minute)
	c.cfg.Workers = 1
	var once sync.Once
	first := xRec.Refs[0].ID.String()
	c.afterCopy = func(src, name string) {
		if name != first {
			return
		}
		once.Do(func() {
			if _, err := r.write(ctx, "X", data); err != nil {
				t.Error(err)
			}
		})
	}
	st, err := c.Run(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if live, fossil := r.where(ctx, KindChunk, first); live || !fossil {
		t.Fatalf("after run 1 the raced chunk is at live %v fossil %v, want only a fossil (stats %+v)", live, fossil, st)
	}
	if got, err := r.read(ctx, xID); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read through the fossil: %v", err)
	}
	r.clk.advance(10 * time.Minute)
	if st, err = c.Run(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	if st.ChunksResurrected < 1 {
		t.Errorf("run 2: %+v, want the chunk resurrected", st)
	}
	r.clk.advance(2 * time.Hour)
	if _, err = c.Run(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	for _, ref := range xRec.Refs {
		if live, fossil := r.where(ctx, KindChunk, ref.ID.String()); !live || fossil {
			t.Errorf("chunk %s at live %v fossil %v, want live only", ref.ID.Short(), live, fossil)
		}
	}
	if got, err := r.read(ctx, xID); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read after the runs: %v", err)
	}
}

// testRunnersInterleaved drives two runners step by step through the
// interleaving a duplicated lease allows at worst: a chunk X is in both
// its container and the fossils (a run died between its COPY and its
// DELETE); runner A (fresh mark: X live) moves the fossil back while
// runner B (stale mark: X garbage) moves the chunk to the fossils, B's
// whole move falling between A's COPY and A's DELETE. Unconditional
// DELETEs would leave X nowhere; the version tags make both DELETEs fail,
// so X ends in both places.
func testRunnersInterleaved(t *testing.T, sc *gophercloud.ServiceClient) {
	ctx := t.Context()
	r := newRegion(t, sc, "interleaved", 1)
	p := random(chunkSize)
	xID := recipeSum(p)
	name := xID.String()
	if err := r.put(ctx, r.layout.Live(KindChunk, name), name, append([]byte{byte(chunkstore.CodecRaw)}, p...)); err != nil {
		t.Fatal(err)
	}
	a, b := r.collector("a", time.Minute), r.collector("b", time.Minute)
	ra, rb := a.newRun(r.clk.now(), time.Hour), b.newRun(r.clk.now(), time.Hour)
	if err := ra.ensure(ctx, r.layout.Fossil(KindChunk, name)); err != nil {
		t.Fatal(err)
	}
	// The dead run's COPY.
	if err := r.sw.copy(ctx, r.layout.Live(KindChunk, name), r.layout.Fossil(KindChunk, name), name, tagBase+1, nil); err != nil {
		t.Fatal(err)
	}
	inB, err := r.sw.head(ctx, r.layout.Live(KindChunk, name), name)
	if err != nil {
		t.Fatal(err)
	}
	inA, err := r.sw.head(ctx, r.layout.Fossil(KindChunk, name), name)
	if err != nil {
		t.Fatal(err)
	}
	a.afterCopy = func(string, string) {
		moved, err := rb.fossilize(ctx, KindChunk, name, inB)
		if err != nil || moved {
			t.Errorf("B's move: moved %v, %v; want refused", moved, err)
		}
	}
	moved, err := ra.resurrect(ctx, KindChunk, name, inA)
	if live, fossil := r.where(ctx, KindChunk, name); !live || !fossil {
		t.Errorf("X at live %v fossil %v, want both", live, fossil)
	}
	if err != nil || moved {
		t.Fatalf("A's move: moved %v, %v; want refused", moved, err)
	}
	if ra.st.Conflicts != 1 || rb.st.Conflicts != 1 {
		t.Errorf("conflicts A %d B %d, want 1 and 1", ra.st.Conflicts, rb.st.Conflicts)
	}
}

// testLeaseLost: while a run moves objects, another node overwrites the
// lease (a takeover after a pause). The holder's next renewal finds it and
// stops the run with an error wrapping ErrLeaseHeld; what it did so far
// leaves every object readable.
func testLeaseLost(t *testing.T, sc *gophercloud.ServiceClient) {
	ctx := t.Context()
	r := newRegion(t, sc, "lease-lost", 1)
	var datas [][]byte
	var ids []recipeID
	for range 3 {
		d := random(4 * chunkSize)
		id, err := r.write(ctx, "keep", d)
		if err != nil {
			t.Fatal(err)
		}
		datas, ids = append(datas, d), append(ids, id)
	}
	// Only the last "keep" is live; the others are garbage to move.
	r.clk.advance(2 * time.Hour)
	c := r.collector("n1", 3*time.Second)
	c.cfg.Workers = 1
	var once sync.Once
	c.afterCopy = func(string, string) {
		once.Do(func() {
			thief := &lease{sw: r.sw, cont: r.layout.GC(), owner: "n2", ttl: time.Minute, settle: time.Millisecond, now: time.Now, token: "n2"}
			if err := thief.write(ctx, false); err != nil {
				t.Error(err)
			}
			time.Sleep(2500 * time.Millisecond) // past a renewal
		})
	}
	_, err := c.Run(ctx, time.Hour)
	var held *LeaseHeldError
	if !errors.As(err, &held) || held.Owner != "n2" {
		t.Fatalf("run: %v, want the lease lost to n2", err)
	}
	if got, err := r.read(ctx, ids[2]); err != nil || !bytes.Equal(got, datas[2]) {
		t.Fatalf("live object: %v", err)
	}
	for i := range 2 { // garbage, but still readable: moved or not, never lost half-way
		if got, err := r.read(ctx, ids[i]); err != nil || !bytes.Equal(got, datas[i]) {
			t.Errorf("object %d after an interrupted run: %v", i, err)
		}
	}
}
