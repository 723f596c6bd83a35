package namespace

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"go.uber.org/zap"
)

// openRecords opens a chunkstore on disk (real Badger) and returns its
// record space, the KV the node's namespace lives in.
func openRecords(t *testing.T) *chunkstore.Records {
	t.Helper()
	st, err := chunkstore.Open(chunkstore.Config{Dir: t.TempDir(), NoSync: true}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st.Records()
}

func newRecordsNS(t *testing.T, kv KV, region string, now func() time.Time) *Namespace {
	t.Helper()
	ns, err := New(Config{Region: region, Now: now}, kv, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	if ns.cache == nil {
		t.Fatal("no record cache over chunkstore.Records")
	}
	return ns
}

// TestRecordCacheSeesWrites: every kind of write to a record that Get or
// Holders has cached is seen by the next read at once, over real Badger:
// a local overwrite, a newer record replicated from a peer (Apply, what
// the replica package calls), a delete, a replicated delete, a purge of
// the tombstone, holdings written and tombstoned, and writes made
// through a second Namespace over the same record space. Each step first
// reads twice, checking that the second read was a cache hit, so the
// write really had a cached entry to replace.
func TestRecordCacheSeesWrites(t *testing.T) {
	ctx := t.Context()
	now := time.Unix(2_000_000, 0)
	clock := func() time.Time { return now }
	kv := openRecords(t)
	ns := newRecordsNS(t, kv, "b", clock)
	other := newRecordsNS(t, kv, "b", clock) // e.g. an offline command's
	k := ObjectKey("A", "c", "o")
	id := recipe.ID{7}
	if _, err := ns.Apply(ctx, &Record{Key: ContainerKey("A", "c"), Timestamp: 1, Region: "b"}); err != nil {
		t.Fatal(err)
	}
	ts := int64(10)
	obj := func(region string, size int64, deleted bool) *Record {
		ts++
		return &Record{Key: k, Timestamp: ts, Region: region, Size: size, Recipe: id, Deleted: deleted, Meta: map[string]string{"v": fmt.Sprint(size)}}
	}
	hold := func(region string, deleted bool) *Record {
		ts++
		return &Record{Key: HoldingKey(id, region), Timestamp: ts, Region: region, Deleted: deleted}
	}
	// get reads k twice and checks that the second read hit the cache.
	get := func(step string) (*Record, error) {
		t.Helper()
		if _, err := ns.Get(ctx, k); err != nil && !errors.Is(err, ErrNotFound) {
			t.Fatalf("%s: Get: %v", step, err)
		}
		hits := ns.CacheStats().Hits
		r, err := ns.Get(ctx, k)
		if err == nil && ns.CacheStats().Hits != hits+1 {
			t.Fatalf("%s: second Get was not a cache hit", step)
		}
		return r, err
	}
	holders := func(step string) []string {
		t.Helper()
		if _, err := ns.Holders(ctx, id); err != nil {
			t.Fatalf("%s: Holders: %v", step, err)
		}
		hits := ns.CacheStats().Hits
		got, err := ns.Holders(ctx, id)
		if err != nil || ns.CacheStats().Hits != hits+1 {
			t.Fatalf("%s: second Holders = %v, %v; want a cache hit", step, got, err)
		}
		return got
	}
	apply := func(via *Namespace, r *Record) {
		t.Helper()
		if applied, err := via.Apply(ctx, r); err != nil || !applied {
			t.Fatalf("Apply %+v = %v, %v", r, applied, err)
		}
	}
	steps := []struct {
		name  string
		write func()
		size  int64 // of the live record afterwards; -1: none (ErrNotFound from GetLive)
	}{
		{"create", func() { apply(ns, obj("b", 1, false)) }, 1},
		{"local overwrite", func() { apply(ns, obj("b", 2, false)) }, 2},
		{"replicated overwrite", func() { apply(ns, obj("a", 3, false)) }, 3},
		{"overwrite through another namespace", func() { apply(other, obj("b", 4, false)) }, 4},
		{"delete", func() {
			if err := ns.Update(ctx, func(tx *Txn) error { _, err := tx.Apply(obj("b", 0, true)); return err }); err != nil {
				t.Fatal(err)
			}
		}, -1},
		{"replicated recreate", func() { apply(ns, obj("a", 5, false)) }, 5},
		{"replicated delete", func() { apply(ns, obj("a", 0, true)) }, -1},
		{"recreate", func() { apply(ns, obj("b", 6, false)) }, 6},
		{"delete then purge", func() {
			apply(ns, obj("b", 0, true))
			if _, err := ns.Get(ctx, k); err != nil { // the tombstone, cached
				t.Fatal(err)
			}
			now = now.Add(DefaultReclaimAge + time.Hour)
			ts = now.UnixNano()
			if n, err := ns.PurgeTombstones(ctx); err != nil || n == 0 {
				t.Fatalf("PurgeTombstones = %d, %v", n, err)
			}
			if _, err := ns.Get(ctx, k); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Get after purge: %v, want ErrNotFound", err)
			}
		}, -1},
	}
	for _, s := range steps {
		get(s.name + " (before)")
		s.write()
		r, err := ns.GetLive(ctx, k)
		switch {
		case s.size < 0 && !errors.Is(err, ErrNotFound):
			t.Fatalf("%s: GetLive = %+v, %v; want ErrNotFound", s.name, r, err)
		case s.size >= 0 && (err != nil || r.Size != s.size || r.Meta["v"] != fmt.Sprint(s.size)):
			t.Fatalf("%s: GetLive = %+v, %v; want size %d", s.name, r, err, s.size)
		}
		if r2, err := get(s.name + " (after)"); s.size >= 0 && (err != nil || r2.Size != s.size) {
			t.Fatalf("%s: cached Get = %+v, %v; want size %d", s.name, r2, err, s.size)
		}
	}

	holdSteps := []struct {
		name  string
		write func()
		want  []string
	}{
		{"local holding", func() {
			if _, err := ns.Hold(ctx, id); err != nil {
				t.Fatal(err)
			}
		}, []string{"b"}},
		{"replicated holding", func() { apply(ns, hold("a", false)) }, []string{"a", "b"}},
		{"holding through another namespace", func() { apply(other, hold("c", false)) }, []string{"a", "b", "c"}},
		{"replicated holding tombstone", func() { apply(ns, hold("a", true)) }, []string{"b", "c"}},
		{"expired holdings", func() {
			now = now.Add(time.Minute) // the tombstones are newer than the holdings
			n, err := ns.ExpireHoldings(ctx, nil, now.Add(time.Hour).UnixNano())
			if err != nil || n != 2 {
				t.Fatalf("ExpireHoldings = %d, %v; want 2", n, err)
			}
		}, nil},
	}
	for _, s := range holdSteps {
		holders(s.name + " (before)")
		s.write()
		if got, err := ns.Holders(ctx, id); err != nil || !slices.Equal(got, s.want) {
			t.Fatalf("%s: Holders = %v, %v; want %v", s.name, got, err, s.want)
		}
		if got := holders(s.name + " (after)"); !slices.Equal(got, s.want) {
			t.Fatalf("%s: cached Holders = %v; want %v", s.name, got, s.want)
		}
		if ok, err := ns.Holds(ctx, id); err != nil || ok != slices.Contains(s.want, "b") {
			t.Fatalf("%s: Holds = %v, %v", s.name, ok, err)
		}
	}
}

// TestRecordCacheReturnsCopies: a caller that modifies the record Get
// returned (as modify-then-write code paths do) changes neither the
// cache nor what the next caller gets.
func TestRecordCacheReturnsCopies(t *testing.T) {
	ctx := t.Context()
	ns := newRecordsNS(t, openRecords(t), "b", nil)
	k := ObjectKey("A", "c", "o")
	if _, err := ns.Apply(ctx, &Record{Key: k, Timestamp: 5, Region: "b", Size: 3, Meta: map[string]string{"a": "1"},
		Headers: map[string]string{"Content-Disposition": "x"}}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		r, err := ns.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if r.Size != 3 || r.Meta["a"] != "1" || len(r.Meta) != 1 || r.Headers["Content-Disposition"] != "x" {
			t.Fatalf("read %d: %+v: a caller's changes leaked into the cache", i, r)
		}
		r.Size, r.Meta["a"], r.Meta["b"], r.Headers["Content-Disposition"] = 99, "changed", "new", "y"
	}
	if st := ns.CacheStats(); st.Hits < 2 {
		t.Fatalf("cache stats %+v: want hits", st)
	}
}

// TestRecordCacheNoStaleInsert: a reader that read a record before a
// write replaced it, and inserts it only after the write's invalidation,
// must not cache it (the generation check).
func TestRecordCacheNoStaleInsert(t *testing.T) {
	c := newRecordCache(1 << 20)
	key := ObjectKey("A", "c", "o").Bytes()
	old := &Record{Key: ObjectKey("A", "c", "o"), Timestamp: 1, Region: "b"}
	gen := c.generation() // the reader starts
	c.invalidate([][]byte{key})
	c.putRecord(key, old, 100, gen) // ... and inserts what it read before the write
	if r := c.record(key); r != nil {
		t.Fatalf("cached %+v, read before a write that invalidated it", r)
	}
	id := recipe.ID{3}
	gen = c.generation()
	c.invalidate([][]byte{HoldingKey(id, "a").Bytes()})
	c.putHolders(id, []string{"b"}, gen)
	if got, ok := c.holders(id); ok {
		t.Fatalf("cached holders %v, read before a holding write", got)
	}
	// Without a write in between, both are cached.
	gen = c.generation()
	c.putRecord(key, old, 100, gen)
	c.putHolders(id, []string{"b"}, gen)
	if r := c.record(key); r == nil || r.Timestamp != 1 {
		t.Fatalf("record not cached: %+v", r)
	}
	if got, ok := c.holders(id); !ok || !slices.Equal(got, []string{"b"}) {
		t.Fatalf("holders not cached: %v, %v", got, ok)
	}
	// A write of one holding drops the recipe's holders.
	c.invalidate([][]byte{HoldingKey(id, "z").Bytes()})
	if got, ok := c.holders(id); ok {
		t.Fatalf("holders %v survived a holding write", got)
	}
}

// TestRecordCacheBounded: the cache's cost stays within its bound, the
// least recently used entries going first.
func TestRecordCacheBounded(t *testing.T) {
	ctx := t.Context()
	kv := openRecords(t)
	ns, err := New(Config{Region: "b", CacheBytes: 16 << 10}, kv, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	var keys []Key
	if err := ns.Update(ctx, func(tx *Txn) error {
		for i := range 200 {
			k := ObjectKey("A", "c", fmt.Sprintf("o%03d", i))
			keys = append(keys, k)
			if _, err := tx.Apply(&Record{Key: k, Timestamp: 5, Region: "b", Size: int64(i)}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if r, err := ns.Get(ctx, k); err != nil || r.Key != k {
			t.Fatalf("Get %v = %+v, %v", k, r, err)
		}
		if st := ns.CacheStats(); st.Bytes > st.Max || st.Max != 16<<10 {
			t.Fatalf("cache %+v over its bound", st)
		}
	}
	st := ns.CacheStats()
	if st.Entries == 0 || st.Entries >= len(keys) {
		t.Fatalf("cache %+v: want some entries, not all %d", st, len(keys))
	}
	// The most recent is cached, the first evicted.
	if ns.cache.record(keys[len(keys)-1].Bytes()) == nil || ns.cache.record(keys[0].Bytes()) != nil {
		t.Fatal("LRU order not kept")
	}
	off, err := New(Config{Region: "b", CacheBytes: -1}, kv, zap.NewNop())
	if err != nil || off.cache != nil {
		t.Fatalf("CacheBytes -1: cache %v, %v", off.cache, err)
	}
}

// TestRecordCacheConcurrentWrites: readers hammer Get while a writer
// overwrites the record, and after each write returns, a read must see
// at least that write (run with -race).
func TestRecordCacheConcurrentWrites(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ns := newRecordsNS(t, openRecords(t), "b", nil)
	k := ObjectKey("A", "c", "o")
	if _, err := ns.Apply(ctx, &Record{Key: k, Timestamp: 1, Region: "b", Size: 1}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if _, err := ns.Get(ctx, k); err != nil && ctx.Err() == nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for i := int64(2); i <= 200; i++ {
		if _, err := ns.Apply(ctx, &Record{Key: k, Timestamp: i, Region: "b", Size: i}); err != nil {
			t.Fatal(err)
		}
		r, err := ns.Get(ctx, k)
		if err != nil || r.Size < i {
			cancel()
			wg.Wait()
			t.Fatalf("after write %d: Get = %+v, %v (stale)", i, r, err)
		}
	}
	cancel()
	wg.Wait()
	if st := ns.CacheStats(); st.Hits == 0 || st.Invalidations == 0 {
		t.Fatalf("cache stats %+v: want hits and invalidations", st)
	}
}
