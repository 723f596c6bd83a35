package chunkstore

import (
	"bytes"
	"testing"
	"time"
)

// TestCountsIncremental checks that Stats, kept incrementally, equals a
// walk of the keys (Count) after every kind of write and delete, and
// after a reopen.
func TestCountsIncremental(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	clock := time.Unix(1_700_000_000, 0)
	s, err := Open(Config{Dir: dir, NoSync: true, TouchAfter: time.Minute}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	s.now = func() time.Time { return clock }
	check := func(step string) Stats {
		t.Helper()
		got, err := s.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want, err := s.Count(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// The walk's stored bytes are Badger's estimate (ValueSize: a few
		// bytes off per chunk in the value log), the writes' exact.
		d := got.StoredBytes - want.StoredBytes
		if got.Chunks != want.Chunks || got.Recipes != want.Recipes || d < -8*want.Chunks || d > 8*want.Chunks {
			t.Fatalf("%s: incremental %+v, walk %+v", step, got, want)
		}
		return got
	}
	check("empty")
	shared := testData(31, 512<<10)
	recA, idA, err := s.Write(ctx, bytes.NewReader(append(bytes.Clone(shared), testData(32, 1<<20)...)))
	if err != nil {
		t.Fatal(err)
	}
	st := check("first write")
	if st.Chunks == 0 || st.Recipes != 1 || st.StoredBytes == 0 {
		t.Fatalf("after one write: %+v", st)
	}
	recB, _, err := s.Write(ctx, bytes.NewReader(append(bytes.Clone(shared), testData(33, 1<<20)...)))
	if err != nil {
		t.Fatal(err)
	}
	check("deduplicating write")
	if _, _, err := s.Write(ctx, bytes.NewReader(append(bytes.Clone(shared), testData(32, 1<<20)...))); err != nil {
		t.Fatal(err)
	}
	check("same content again")
	// PutStored of a dropped chunk (what a fetch from a peer does).
	id := recA.Refs[0].ID
	stored, err := s.GetStored(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Drop(ctx, id); err != nil {
		t.Fatal(err)
	}
	check("drop")
	if err := s.Drop(ctx, id); err != nil {
		t.Fatal(err)
	}
	check("drop of an absent chunk")
	if err := s.PutStored(ctx, id, stored); err != nil {
		t.Fatal(err)
	}
	check("put stored")
	if _, err := s.Put(ctx, testData(34, 100<<10)); err != nil {
		t.Fatal(err)
	}
	check("put")
	// B dies and is collected.
	clock = clock.Add(2 * time.Hour)
	gs, err := s.GC(ctx, fixedRoots(idA), time.Hour)
	if err != nil || gs.ChunksRemoved == 0 || gs.RecipesRemoved != 1 {
		t.Fatalf("GC %+v %v (B has %d refs)", gs, err, len(recB.Refs))
	}
	before := check("gc")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(Config{Dir: dir, NoSync: true, TouchAfter: time.Minute}, nil); err != nil {
		t.Fatal(err)
	}
	if after := check("reopen"); after.Chunks != before.Chunks || after.Recipes != before.Recipes {
		t.Fatalf("reopen: %+v, before %+v", after, before)
	}
}

// BenchmarkStats is the cost of one Stats call (a /metrics scrape's
// share): constant, whatever the store holds.
func BenchmarkStats(b *testing.B) {
	s := openTest(b, nil)
	if _, _, err := s.Write(b.Context(), bytes.NewReader(testData(35, 8<<20))); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.Stats(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCount is the walk Stats used to do on every call (and Open
// does once): O(chunks), here an 8 MiB store.
func BenchmarkCount(b *testing.B) {
	s := openTest(b, nil)
	if _, _, err := s.Write(b.Context(), bytes.NewReader(testData(35, 8<<20))); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.Count(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
}
