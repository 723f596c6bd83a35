package fetch

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"go.uber.org/zap"
)

// membersView is what membership reports to a reader: the regions listed
// live, which a test turns off and on (a holder reported dead while its
// peer server keeps running, as in a suspicion flap under load). It is
// the fetcher's peers function, the interface the node fills from
// memberlist; the peer servers, stores and HTTP are real.
type membersView struct {
	mu   sync.Mutex
	regs []*region
	dead map[string]bool
}

func (m *membersView) peers() []Peer {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Peer
	for _, r := range m.regs {
		if !m.dead[r.name] {
			out = append(out, Peer{Region: r.name, URL: r.hs.URL})
		}
	}
	return out
}

func (m *membersView) setDead(name string, dead bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dead == nil {
		m.dead = map[string]bool{}
	}
	m.dead[name] = dead
}

// newReaderView is newReaderWith over a membersView of regs.
func newReaderView(t testing.TB, name string, configure func(*Config), regs ...*region) (*reader, *membersView) {
	t.Helper()
	view := &membersView{regs: regs}
	cfg := Config{Region: name, Grace: 300 * time.Millisecond, DefaultBandwidth: 1 << 20}
	return newReaderFrom(t, openStore(t), cfg, configure, view.peers), view
}

// TestHolderDeadAtStartComesBack: the only holder is reported dead when a
// read starts and comes back 1.5 s later. The read waits for it and
// completes byte-exact. Before, the job's one snapshot of the live peers
// had no holder and the read failed (a 206 cut short at the node).
func TestHolderDeadAtStartComesBack(t *testing.T) {
	a := newRegion(t, "a", 0)
	data := randomData(31, 1<<20)
	rec := write(t, a.store, data)
	b, view := newReaderView(t, "b", func(c *Config) { c.HolderWait = time.Minute }, a)
	view.setDead("a", true)
	time.AfterFunc(1500*time.Millisecond, func() { view.setDead("a", false) })
	got, err := read(t, b, rec, 0, -1)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read while the only holder looked dead for 1.5 s: %d of %d bytes, %v", len(got), len(data), err)
	}
	st := b.f.Stats()
	t.Logf("stats %+v", st)
	if st.HolderWaits == 0 || st.LateSources == 0 || st.NoHolder != 0 {
		t.Fatalf("no wait for the holder, or it was not added: %+v", st)
	}
}

// TestHolderNeverComesBackFailsBeforeFirstByte: no holder of the read's
// chunks is live and none comes back within HolderWait: Source returns
// the *NoHolderError (the node answers 503 before its first byte), not a
// source whose reads fail mid-body.
func TestHolderNeverComesBackFailsBeforeFirstByte(t *testing.T) {
	a := newRegion(t, "a", 0)
	data := randomData(32, 512<<10)
	rec := write(t, a.store, data)
	b, view := newReaderView(t, "b", func(c *Config) { c.HolderWait = 500 * time.Millisecond }, a)
	view.setDead("a", true)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	src, err := b.f.Source(ctx, rec, 0, len(rec.Refs))
	var nh *NoHolderError
	if !errors.As(err, &nh) || src != nil {
		t.Fatalf("Source with no live holder: %v, %v; want a *NoHolderError", src, err)
	}
	t.Log(err)
}

// midReadLoss reads 4 MiB from a, its only holder (paced to 2 MiB/s);
// after 20 chunks a freezes, the reader's connections to it are closed
// (its stream fails) and lost(view) runs; the read must still complete
// byte-exact.
func midReadLoss(t *testing.T, lost func(view *membersView)) *reader {
	t.Helper()
	a := newRegion(t, "a", 2<<20)
	a.wrap.freeze(t, 20)
	data := incompressible(33, 4<<20)
	rec := write(t, a.store, data)
	b, view := newReaderView(t, "b", func(c *Config) { c.HolderWait = time.Minute }, a)
	wait := readInBackground(t, b, rec)
	waitUntil(t, "a freezes", a.wrap.frozen)
	lost(view)
	a.hs.CloseClientConnections() // the stream breaks: a failed source
	a.wrap.unfreeze(0)
	if got, err := wait(); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read whose only holder was lost mid-read: %d of %d bytes, %v", len(got), len(data), err)
	}
	st := b.f.Stats()
	t.Logf("stats %+v", st)
	if st.SourceFails == 0 || st.Revived == 0 || st.NoHolder != 0 {
		t.Fatalf("the only holder did not fail and come back: %+v", st)
	}
	return b
}

// TestHolderLostMidReadComesBack: mid-read the only holder's stream
// breaks and membership reports it dead for 1.5 s; the read waits for it
// and completes byte-exact. Before, its chunks failed at once (no live
// holder) and the body was cut short.
func TestHolderLostMidReadComesBack(t *testing.T) {
	var back atomic.Bool
	midReadLoss(t, func(view *membersView) {
		view.setDead("a", true)
		time.AfterFunc(1500*time.Millisecond, func() { back.Store(true); view.setDead("a", false) })
	})
	if !back.Load() {
		t.Fatal("the read finished while a was reported dead")
	}
}

// TestSuspectedOnlyHolderTriedAgain: mid-read the only holder's stream
// breaks while membership keeps listing it (suspected, not confirmed
// dead): it is asked again and the read completes byte-exact. Before, a
// failed source was never asked again and its chunks failed at once.
func TestSuspectedOnlyHolderTriedAgain(t *testing.T) {
	midReadLoss(t, func(*membersView) {})
}

// TestOrphanWaitEndsOnDelivery: a chunk's wait for a holder starts again
// after one of its holders delivered (a new loss, a new bound), and a
// chunk whose wait has run out is not kept waiting.
func TestOrphanWaitEndsOnDelivery(t *testing.T) {
	f := &Fetcher{cfg: Config{HolderWait: time.Second}, log: zap.NewNop()}
	j := &job{f: f, ctx: t.Context(), srcs: []*jsrc{{}}}
	t0 := time.Now()
	c := &jchunk{id: recipe.ChunkID{1}, holders: 1}
	for _, tc := range []struct {
		name        string
		at          time.Duration
		delivered   time.Duration // -1: none
		wait, first bool
	}{
		{"first loss", 0, -1, true, true},
		{"within the bound", 900 * time.Millisecond, -1, true, false},
		{"bound passed", 1100 * time.Millisecond, -1, false, false},
		{"holder delivered: a new wait", 1200 * time.Millisecond, 1150 * time.Millisecond, true, true},
		{"the new wait runs", 2100 * time.Millisecond, 1150 * time.Millisecond, true, false},
	} {
		if tc.delivered >= 0 {
			j.srcs[0].deliveredAt = t0.Add(tc.delivered)
		}
		wait, first := j.orphanWait(c, t0.Add(tc.at))
		if wait != tc.wait || first != tc.first {
			t.Errorf("%s: wait %v first %v, want %v %v", tc.name, wait, first, tc.wait, tc.first)
		}
	}
}

// TestHolderLostMidReadNeverBack: mid-read the only holder's stream breaks
// and membership reports it dead for good: the read fails with a
// *NoHolderError once HolderWait has passed (the node's body is then cut
// short, detectably), instead of waiting without end.
func TestHolderLostMidReadNeverBack(t *testing.T) {
	a := newRegion(t, "a", 2<<20)
	a.wrap.freeze(t, 20)
	data := incompressible(34, 2<<20)
	rec := write(t, a.store, data)
	b, view := newReaderView(t, "b", func(c *Config) { c.HolderWait = 500 * time.Millisecond }, a)
	wait := readInBackground(t, b, rec)
	waitUntil(t, "a freezes", a.wrap.frozen)
	view.setDead("a", true)
	a.hs.CloseClientConnections()
	a.wrap.unfreeze(0)
	_, err := wait()
	var nh *NoHolderError
	if !errors.As(err, &nh) {
		t.Fatalf("read whose only holder is gone: %v, want a *NoHolderError", err)
	}
	t.Log(err)
}
