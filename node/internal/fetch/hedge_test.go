package fetch

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"
)

// TestFrozenHolderHedged: c freezes mid-stream (its store blocks every
// read, as a SIGSTOPped process would) and stays frozen until the test
// ends. The slow-source check is held off (a Grace of ten minutes), so only
// the deadline-driven hedge can move c's chunks: the read completes while
// c is still frozen, byte-exact, with no chunk stored twice. Before
// hedging it waited for c until the read's timeout.
func TestFrozenHolderHedged(t *testing.T) {
	const rate = 2 << 20
	a, c := newRegion(t, "a", rate), newRegion(t, "c", rate)
	c.wrap.freezeAt, c.wrap.thaw = 20, make(chan struct{})
	t.Cleanup(func() { close(c.wrap.thaw) }) // runs after the servers' Close: LIFO
	data := incompressible(21, 6<<20)
	rec := write(t, a.store, data)
	copyChunks(t, a.store, c.store, rec.Refs)
	prior := Link{Bandwidth: rate, RTT: 5 * time.Millisecond}
	b := newReaderWith(t, "b", map[string]Link{"a": prior, "c": prior},
		func(cfg *Config) { cfg.Grace = 10 * time.Minute }, a, c)

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	src, err := b.f.Source(ctx, rec, 0, len(rec.Refs))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := b.store.NewReader(ctx, rec, 0, -1, src)
	if err != nil {
		t.Fatal(err)
	}
	var got []byte
	buf := make([]byte, 32<<10)
	last, gap := time.Now(), time.Duration(0)
	for {
		n, rerr := rc.Read(buf)
		if n > 0 {
			gap = max(gap, time.Since(last))
			last = time.Now()
			got = append(got, buf[:n]...)
		}
		if rerr != nil {
			if rerr != io.EOF {
				err = rerr
			}
			break
		}
	}
	rc.Close()
	t.Logf("largest gap between reads %v", gap)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read with a frozen holder: %d of %d bytes, %v", len(got), len(data), err)
	}
	st := b.f.Stats()
	_, by := received(b)
	t.Logf("a sent %d, c sent %d before freezing; stats %+v", by["a"], by["c"], st)
	if st.Hedges < 1 || st.StalledSources < 1 {
		t.Fatalf("no hedge: %+v", st)
	}
	if st.DuplicateChunks != 0 || st.SlowSources != 0 {
		t.Fatalf("hedge asked twice or the slow check fired: %+v", st)
	}
	if trs := b.f.Transfers(); len(trs) != 1 || trs[0].Hedges < 1 {
		t.Fatalf("transfers %+v, want one with a hedge", trs)
	}
	// New plans leave the frozen region out until it delivers again.
	if !b.f.recentlyStalled(c.hs.URL) || b.f.recentlyStalled(a.hs.URL) {
		t.Fatal("stall not remembered for c (or remembered for a)")
	}
}

// TestRangeReadsPlanFromCachedHoldings: once the holders have answered for
// an object's chunks (here `nitro plan`'s Explain), Range reads of it plan
// from the cached answers, without a have round trip, and read right; a
// stale answer (a holder that dropped a chunk since) costs a re-plan, not
// the read.
func TestRangeReadsPlanFromCachedHoldings(t *testing.T) {
	a, c := newRegion(t, "a", 0), newRegion(t, "c", 0)
	data := randomData(22, 2<<20)
	rec := write(t, a.store, data)
	copyChunks(t, a.store, c.store, rec.Refs)
	b := newReader(t, "b", nil, a, c)
	if _, err := b.f.Explain(t.Context(), rec, 0, len(rec.Refs)); err != nil {
		t.Fatal(err)
	}
	// c loses a chunk the cache says it holds.
	gone := rec.Refs[len(rec.Refs)-1].ID
	if err := c.store.Drop(t.Context(), gone); err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct{ off, n int64 }{{0, 300 << 10}, {1 << 20, 1 << 20}} {
		got, err := read(t, b, rec, r.off, r.n)
		if err != nil || !bytes.Equal(got, data[r.off:r.off+r.n]) {
			t.Fatalf("range %d+%d: %v", r.off, r.n, err)
		}
	}
	st := b.f.Stats()
	t.Logf("stats %+v", st)
	if st.HaveCached != 2 || st.NoHolder != 0 {
		t.Fatalf("want both range reads planned from the cache: %+v", st)
	}
}

// TestFrozenNodeHedgedToSibling: region a has two nodes holding the
// object; the node the plan streams from freezes mid-stream: its chunks
// are hedged to the other node of a (the region stays the one source),
// the read completes while the first is still frozen, and the frozen node,
// not its region, is left out of new plans.
func TestFrozenNodeHedgedToSibling(t *testing.T) {
	const rate = 2 << 20
	a1, a2 := newRegion(t, "a", rate), newRegion(t, "a", rate)
	if a2.hs.URL < a1.hs.URL { // the plan streams from the first by URL (equal loads)
		a1, a2 = a2, a1
	}
	a1.wrap.freezeAt, a1.wrap.thaw = 20, make(chan struct{})
	t.Cleanup(func() { close(a1.wrap.thaw) })
	data := incompressible(22, 4<<20)
	rec := write(t, a1.store, data)
	copyChunks(t, a1.store, a2.store, rec.Refs)
	b := newReaderWith(t, "b", map[string]Link{"a": {Bandwidth: rate, RTT: 5 * time.Millisecond}},
		func(cfg *Config) { cfg.Grace = 10 * time.Minute }, a1, a2)
	got, err := read(t, b, rec, 0, -1)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read with a frozen node: %d of %d bytes, %v", len(got), len(data), err)
	}
	st := b.f.Stats()
	s1, s2 := a1.srv.SentStats()["b"], a2.srv.SentStats()["b"]
	t.Logf("frozen node sent %d chunks, its sibling %d; %+v", s1.Chunks, s2.Chunks, st)
	if st.Hedges < 1 || s1.Chunks == 0 || s2.Chunks == 0 || st.NoHolder != 0 {
		t.Fatalf("no hedge to the sibling: %+v", st)
	}
	if !b.f.recentlyStalled(a1.hs.URL) || b.f.recentlyStalled(a2.hs.URL) {
		t.Fatal("stall not remembered for the frozen node (or remembered for its sibling)")
	}
}

// TestShortStallHedgesAWindow: c stops sending mid-stream for just longer
// than its deadline (it thaws as soon as the first hedge is made, as
// after a lost packet's retransmission timeout). The hedge moves only the
// chunks c was due to send in the next few RTTs (a window), not its whole
// stream: c, delivering again, sends the rest of its share. Before, a
// hedge moved every chunk c still owed and c's stream was cancelled.
func TestShortStallHedgesAWindow(t *testing.T) {
	const rate = 2 << 20
	a, c := newRegion(t, "a", rate), newRegion(t, "c", rate)
	c.wrap.freezeAt, c.wrap.thaw = 20, make(chan struct{})
	data := incompressible(23, 6<<20)
	rec := write(t, a.store, data)
	copyChunks(t, a.store, c.store, rec.Refs)
	prior := Link{Bandwidth: rate, RTT: 5 * time.Millisecond}
	b := newReaderWith(t, "b", map[string]Link{"a": prior, "c": prior},
		func(cfg *Config) { cfg.Grace = 10 * time.Minute }, a, c)
	done := make(chan error, 1)
	var got []byte
	go func() {
		var err error
		got, err = read(t, b, rec, 0, -1)
		done <- err
	}()
	deadline := time.Now().Add(time.Minute)
	for b.f.Stats().Hedges == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no hedge")
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.wrap.mu.Lock()
	c.wrap.freezeAt = 0
	sentAtStall := c.wrap.served
	c.wrap.mu.Unlock()
	close(c.wrap.thaw)
	select {
	case err := <-done:
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read: %d of %d bytes, %v", len(got), len(data), err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("read did not finish")
	}
	st := b.f.Stats()
	sa, sc := a.srv.SentStats()["b"], c.srv.SentStats()["b"]
	t.Logf("c served %d chunks when it stalled; a sent %d chunks (%d B), c %d chunks (%d B); stats %+v",
		sentAtStall, sa.Chunks, sa.Bytes, sc.Chunks, sc.Bytes, st)
	if st.StalledSources < 1 || st.DuplicateChunks != 0 {
		t.Fatalf("no stall, or a chunk asked twice: %+v", st)
	}
	// c's share is about half the object's chunks (equal links), of
	// which it had sent 20 when it stalled; a window is 512 KiB here,
	// about 14 chunks (two if c was slow to resume). Moving c's whole
	// stream moved about 49.
	if n := int64(len(rec.Unique())); st.HedgedChunks == 0 || st.HedgedChunks > n/4 {
		t.Fatalf("a short stall moved %d of %d chunks to the other holder: want a window of the next few RTTs (at most %d)",
			st.HedgedChunks, n, n/4)
	}
	if sc.Bytes < int64(len(data))/4 {
		t.Fatalf("c sent %d B of a %d B object after a short stall: its share was moved", sc.Bytes, len(data))
	}
}
