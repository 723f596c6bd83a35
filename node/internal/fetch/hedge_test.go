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
	c.wrap.freeze(t, 20)
	data := incompressible(23, 6<<20)
	rec := write(t, a.store, data)
	copyChunks(t, a.store, c.store, rec.Refs)
	prior := Link{Bandwidth: rate, RTT: 5 * time.Millisecond}
	b := newReaderWith(t, "b", map[string]Link{"a": prior, "c": prior},
		func(cfg *Config) { cfg.Grace = 10 * time.Minute }, a, c)
	wait := readInBackground(t, b, rec)
	waitUntil(t, "a hedge", func() bool { return b.f.Stats().Hedges > 0 })
	sentAtStall := c.wrap.servedCount()
	c.wrap.unfreeze(0)
	if got, err := wait(); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read: %d of %d bytes, %v", len(got), len(data), err)
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

// TestHedgeLoserSkipsArrivedChunks: one holder stops sending mid-stream
// just past its next frame's deadline, so a window of its chunks is
// hedged to the other, and then goes on sending (fast or slow, but
// alive): both streams ask for the window. Whichever copy of a chunk
// arrives first is stored; the other holder is asked to leave the chunk
// out of its stream (a skip request) and sends a skipped frame instead.
// Before, the loser sent every chunk of the window it had not started
// when the first copy arrived, all of them dropped on arrival
// (Stats.HedgeWasted): a window's bytes crossed twice.
func TestHedgeLoserSkipsArrivedChunks(t *testing.T) {
	for _, tc := range []struct {
		name string
		// stalled is the region that stalls ("a" or "c"); rates are
		// the links' rates, bytes/s.
		stalled string
		rates   map[string]float64
		// The stalled holder serves freezeAt chunks and stops; the other
		// holds the object's refs from otherFrom on (a holds them all).
		freezeAt, otherFrom int
		// after is the stalled holder's delay per chunk once it resumes.
		after time.Duration
		// size is the object's; limit the most losing copies that may
		// cross (before skip requests: see the logs).
		size, limit int
	}{
		// a, the faster holder, had a short gap (a retransmission
		// timeout): it resumes at its rate and delivers the window
		// first; c, the slower, reaches the window after its own chunks
		// and skips it. Before: 7-8 of the 21 window chunks crossed
		// twice (those it reached before a's tail ended the read).
		{"stalled holder resumes first", "a", map[string]float64{"a": 4 << 20, "c": 1 << 20}, 10, 8, 0, 12 << 20, 1},
		// c resumes slow (100 ms a chunk, under its deadline: it is not
		// hedged again); a delivers the window first, c skips it but for
		// the chunks it had started before a's copies came (3-4 here).
		// Before: all 19 crossed twice.
		{"hedge target first", "c", map[string]float64{"a": 4 << 20, "c": 4 << 20}, 20, 0, 100 * time.Millisecond, 6 << 20, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, c := newRegion(t, "a", tc.rates["a"]), newRegion(t, "c", tc.rates["c"])
			stalled, target := a, c
			if tc.stalled == "c" {
				stalled, target = c, a
			}
			stalled.wrap.freeze(t, tc.freezeAt)
			data := incompressible(24, tc.size)
			rec := write(t, a.store, data)
			copyChunks(t, a.store, c.store, rec.Refs[min(tc.otherFrom, len(rec.Refs)):])
			b := newReaderWith(t, "b", map[string]Link{
				"a": {Bandwidth: tc.rates["a"], RTT: 5 * time.Millisecond},
				"c": {Bandwidth: tc.rates["c"], RTT: 5 * time.Millisecond},
			}, func(cfg *Config) { cfg.Grace = 10 * time.Minute }, a, c)
			wait := readInBackground(t, b, rec)
			waitUntil(t, "a hedge", func() bool { return b.f.Stats().Hedges > 0 })
			// The stalled holder resumes once the other has started on
			// its new stream (as a retransmission arrives about one RTT
			// after the gap that set off the hedge): both streams then
			// ask for the window.
			n := target.wrap.servedCount()
			waitUntil(t, "the hedge's stream", func() bool { return target.wrap.servedCount() >= n+2 })
			stalled.wrap.unfreeze(tc.after)
			if got, err := wait(); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("read: %d of %d bytes, %v", len(got), len(data), err)
			}
			st := b.f.Stats()
			total, _ := received(b)
			stored := storedSize(t, a.store, rec.Refs)
			sa, sc := a.srv.SentStats()["b"], c.srv.SentStats()["b"]
			ka, kc := a.srv.SkippedStats()["b"], c.srv.SkippedStats()["b"]
			t.Logf("stored %d B; received %d B (%d B twice); a sent %d chunks (%d B), skipped %d (%d B); c sent %d chunks (%d B), skipped %d (%d B)",
				stored, total, total-stored, sa.Chunks, sa.Bytes, ka.Chunks, ka.Bytes, sc.Chunks, sc.Bytes, kc.Chunks, kc.Bytes)
			t.Logf("hedges %d moving %d chunks; %d losing copies received (%d B), %d left out on request, %d skip requests",
				st.Hedges, st.HedgedChunks, st.HedgeWasted, st.HedgeWastedBytes, st.HedgeSkipped, st.SkipRequests)
			if st.Hedges < 1 || st.DuplicateChunks != 0 {
				t.Fatalf("no hedge, or a chunk asked twice: %+v", st)
			}
			if total-stored != st.HedgeWastedBytes {
				t.Fatalf("received %d B beyond the object's %d B, counted as hedge waste %d B", total-stored, stored, st.HedgeWastedBytes)
			}
			// What the loser had started on when the skip request reached
			// it still crosses. Before skip requests, most of the window
			// did.
			if st.HedgeWasted > int64(tc.limit) {
				t.Fatalf("%d of %d hedged chunks crossed twice (%d B), %d left out: want at most %d twice",
					st.HedgeWasted, st.HedgedChunks, st.HedgeWastedBytes, st.HedgeSkipped, tc.limit)
			}
		})
	}
}
