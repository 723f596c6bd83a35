package chunkstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

// The GC race tests below play the namespace layer's part with a map of
// names to recipes ("records") and commit a record the way the object
// service does: write (pinned), commit, release. They run GC at the
// smallest grace the node's config accepts (2×TouchAfter, TouchAfter 1 s).

const (
	raceTouch = time.Second
	raceGrace = 2 * time.Second
)

// fakeClock is a settable clock for Store.now.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Unix(1_700_000_000, 0).UnixNano())
	return c
}
func (c *fakeClock) now() time.Time                { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) add(d time.Duration)           { c.ns.Add(int64(d)) }
func noRoots(context.Context) ([]recipe.ID, error) { return nil, nil }

func openRace(t *testing.T, clock *fakeClock) *Store {
	t.Helper()
	s := openTest(t, func(c *Config) {
		c.TouchAfter = raceTouch
		c.MinSize, c.AvgSize, c.MaxSize = 1024, 4096, 16384
	})
	if clock != nil {
		s.now = clock.now
	}
	return s
}

// randomBytes returns n incompressible bytes from seed.
func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for k := range 8 {
			b[i+k] = byte(v >> (8 * k))
		}
	}
	return b
}

// assertWhole fails t unless recipe id is stored, every chunk of it is
// stored, and it reads back as want.
func assertWhole(t *testing.T, s *Store, id recipe.ID, want []byte) {
	t.Helper()
	ctx := t.Context()
	rec, err := s.Recipe(ctx, id)
	if err != nil {
		t.Fatalf("acknowledged recipe %s: %v", id.String()[:12], err)
	}
	rep, err := s.Fsck(ctx, []recipe.ID{id}, false)
	if err != nil || !rep.OK() {
		t.Fatalf("fsck of acknowledged recipe: %v, missing chunks %d, missing recipes %d", err, len(rep.Missing[id]), len(rep.MissingRecipes))
	}
	r, err := s.NewReader(ctx, rec, 0, -1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read back: %v (equal %v)", err, bytes.Equal(got, want))
	}
}

// TestGCLiveSetAfterCutoff (hole a): a record committed after GC took its
// live set, while GC was slow to start sweeping, names a recipe GC must
// keep.
func TestGCLiveSetAfterCutoff(t *testing.T) {
	ctx := t.Context()
	clock := newFakeClock()
	s := openRace(t, clock)
	data := randomBytes(1, 256<<10)
	_, id, release, err := writePinned(ctx, s, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	committed := false
	roots := func(context.Context) ([]recipe.ID, error) {
		// The live scan reads the records before the PUT's commit…
		var live []recipe.ID
		if committed {
			live = append(live, id)
		}
		// …which lands now, and acknowledges; the scan then takes long.
		committed = true
		release()
		clock.add(10 * time.Second)
		return live, nil
	}
	if _, err := gcRoots(ctx, s, roots, raceGrace); err != nil {
		t.Fatal(err)
	}
	assertWhole(t, s, id, data)
}

// TestGCSameContentSlowCommit (holes b and d): a PUT of content whose
// recipe is already stored and fresh (so not re-stamped), whose record
// commits long after, keeps its recipe and chunks through a GC that runs
// in between.
func TestGCSameContentSlowCommit(t *testing.T) {
	ctx := t.Context()
	clock := newFakeClock()
	s := openRace(t, clock)
	data := randomBytes(2, 256<<10)
	// An earlier object with the same content, since deleted.
	if _, _, err := s.Write(ctx, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	clock.add(500 * time.Millisecond)
	_, id, release, err := writePinned(ctx, s, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	clock.add(10 * time.Second) // the commit is slow (contention, replication, a stalled disk)
	if _, err := gcRoots(ctx, s, noRoots, raceGrace); err != nil {
		t.Fatal(err)
	}
	release() // the record commits
	assertWhole(t, s, id, data)
}

// TestGCLongUpload (hole c): chunks an upload stored or found present
// early, older than the grace period before the upload's recipe exists,
// survive a GC that runs in the middle of the upload.
func TestGCLongUpload(t *testing.T) {
	ctx := t.Context()
	clock := newFakeClock()
	s := openRace(t, clock)
	data := randomBytes(3, 12<<20)
	// A dead object shares the upload's first MiB: the upload relies on
	// those chunks (fresh: no re-stamp).
	if _, _, err := s.Write(ctx, bytes.NewReader(data[:1<<20])); err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	resume := make(chan struct{})
	go func() {
		pw.Write(data[:10<<20])
		<-resume
		pw.Write(data[10<<20:])
		pw.Close()
	}()
	type result struct {
		id      recipe.ID
		release func()
		err     error
	}
	done := make(chan result, 1)
	go func() {
		_, id, release, err := writePinned(ctx, s, pr)
		done <- result{id, release, err}
	}()
	// Wait until the upload has committed chunks of its own.
	deadline := time.Now().Add(time.Minute)
	for {
		st, err := s.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Chunks*4096 > 6<<20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("upload stored only %d chunks", st.Chunks)
		}
		time.Sleep(10 * time.Millisecond)
	}
	clock.add(10 * time.Second) // the upload is slow
	if _, err := gcRoots(ctx, s, noRoots, raceGrace); err != nil {
		t.Fatal(err)
	}
	close(resume)
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	r.release()
	assertWhole(t, s, r.id, data)
}

// TestGCBackToBackWriters: writers PUT (identical content from several
// writers, shared chunks), overwrite and DELETE names, with a random delay
// between the write and the commit of up to twice the grace period, while
// GC runs back to back at the smallest grace; every name's last committed
// content then reads back whole and Fsck is clean.
func TestGCBackToBackWriters(t *testing.T) {
	ctx := t.Context()
	s := openRace(t, nil)
	shared := randomBytes(100, 64<<10)
	content := func(k uint64) []byte {
		// 32 contents, identical across writers; all share a prefix.
		return append(bytes.Clone(shared), randomBytes(200+k%32, 32<<10+int(k%32)*1024)...)
	}
	type entry struct {
		id  recipe.ID
		sum [32]byte
	}
	var mu sync.Mutex
	records := map[string]*entry{} // nil: deleted
	roots := func(context.Context) ([]recipe.ID, error) {
		mu.Lock()
		defer mu.Unlock()
		var live []recipe.ID
		for _, e := range records {
			if e != nil {
				live = append(live, e.id)
			}
		}
		return live, nil
	}
	const writers = 8
	run := 4 * time.Second
	if testing.Short() {
		run = 2 * time.Second
	}
	stop := time.Now().Add(run)
	var gcs atomic.Int64
	gcDone := make(chan error, 1)
	go func() {
		for time.Now().Before(stop) {
			if _, err := gcRoots(ctx, s, roots, raceGrace); err != nil {
				gcDone <- err
				return
			}
			gcs.Add(1)
		}
		gcDone <- nil
	}()
	var wg sync.WaitGroup
	var puts atomic.Int64
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for time.Now().Before(stop) {
				name := string(rune('a' + rng.IntN(6)))
				if rng.IntN(5) == 0 {
					mu.Lock()
					records[name] = nil
					mu.Unlock()
					continue
				}
				data := content(rng.Uint64())
				_, id, release, err := writePinned(ctx, s, bytes.NewReader(data))
				if err != nil {
					t.Error(err)
					return
				}
				time.Sleep(time.Duration(rng.Int64N(int64(2 * raceGrace))))
				mu.Lock()
				records[name] = &entry{id, sha256.Sum256(data)}
				mu.Unlock()
				release()
				puts.Add(1)
			}
		})
	}
	wg.Wait()
	if err := <-gcDone; err != nil {
		t.Fatal(err)
	}
	// One more GC after the writers stopped must not break anything either.
	if _, err := gcRoots(ctx, s, roots, raceGrace); err != nil {
		t.Fatal(err)
	}
	live, _ := roots(ctx)
	rep, err := s.Fsck(ctx, live, false)
	if err != nil || !rep.OK() {
		t.Fatalf("fsck: %v; %d recipes with missing chunks, %d missing recipes", err, len(rep.Missing), len(rep.MissingRecipes))
	}
	for name, e := range records {
		if e == nil {
			continue
		}
		rec, err := s.Recipe(ctx, e.id)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		r, err := s.NewReader(ctx, rec, 0, -1, nil)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		_, err = io.Copy(h, r)
		r.Close()
		if err != nil || [32]byte(h.Sum(nil)) != e.sum {
			t.Fatalf("%s: read back: %v", name, err)
		}
	}
	t.Logf("%d puts acknowledged, %d GCs, %d live names", puts.Load(), gcs.Load(), len(live))
}
