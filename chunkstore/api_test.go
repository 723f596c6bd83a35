package chunkstore

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

func TestChunkAPI(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, nil)
	text := bytes.Repeat([]byte("compressible "), 1000)
	random := testData(3, 4096)[:4096] // first block of seed 3 is random or text; mix both below
	for _, plain := range [][]byte{text, random, {1}, testData(5, 300000)} {
		id, err := s.Put(ctx, plain)
		if err != nil || id != recipe.Sum(plain) {
			t.Fatalf("Put: %v", err)
		}
		got, err := s.Get(ctx, id)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("Get: %v", err)
		}
		st, err := s.GetStored(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		// Cross to a second store as-is.
		s2 := openTest(t, nil)
		if err := s2.PutStored(ctx, id, st); err != nil {
			t.Fatal(err)
		}
		if got, err := s2.Chunk(ctx, recipe.Ref{ID: id, Size: uint32(len(plain))}); err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("Chunk after PutStored: %v", err)
		}
		if _, err := s2.Chunk(ctx, recipe.Ref{ID: id, Size: uint32(len(plain)) + 1}); !isCorrupt(err, id) {
			t.Fatalf("Chunk with wrong size: %v", err)
		}
		// A wrong ID is refused.
		other := recipe.Sum([]byte("other"))
		if err := s2.PutStored(ctx, other, st); !isCorrupt(err, other) {
			t.Fatalf("PutStored wrong id: %v", err)
		}
		if err := s2.PutStored(ctx, id, Stored{Codec: 7, Data: st.Data}); !isCorrupt(err, id) {
			t.Fatalf("PutStored bad codec: %v", err)
		}
	}
	if st, _ := s.GetStored(ctx, recipe.Sum(text)); st.Codec != CodecZstd || len(st.Data) >= len(text) {
		t.Fatalf("text stored as codec %d, %d bytes", st.Codec, len(st.Data))
	}
	absent := recipe.Sum([]byte("absent"))
	if _, err := s.Get(ctx, absent); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get absent: %v", err)
	}
	if _, err := s.GetStored(ctx, absent); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetStored absent: %v", err)
	}
	ids := []recipe.ChunkID{recipe.Sum(text), absent, recipe.Sum([]byte{1}), absent}
	has, err := s.Has(ctx, ids)
	if err != nil || fmt.Sprint(has) != "[true false true false]" {
		t.Fatalf("Has = %v, %v", has, err)
	}
	missing, err := s.Missing(ctx, ids)
	if err != nil || len(missing) != 1 || missing[0] != absent {
		t.Fatalf("Missing = %v, %v", missing, err)
	}
	if _, err := s.Put(ctx, nil); err == nil {
		t.Fatal("Put of an empty chunk succeeded")
	}
}

func isCorrupt(err error, id recipe.ChunkID) bool {
	var ce *CorruptChunkError
	return errors.As(err, &ce) && ce.ID == id
}

// corrupt overwrites the stored value of chunk id.
func corrupt(t *testing.T, s *Store, id recipe.ChunkID, val []byte) {
	t.Helper()
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(chunkKey(id), val) }); err != nil {
		t.Fatal(err)
	}
}

func TestCorruptChunkIsTypedError(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, nil)
	data := testData(9, 1<<20)
	rec, _, err := s.Write(ctx, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	victim := rec.Refs[2].ID
	for name, val := range map[string][]byte{
		"flipped raw": append([]byte{byte(CodecRaw)}, bytes.Repeat([]byte{'x'}, int(rec.Refs[2].Size))...),
		"bad zstd":    {byte(CodecZstd), 1, 2, 3, 4},
		"bad codec":   {9, 1, 2, 3},
		"empty":       {},
	} {
		t.Run(name, func(t *testing.T) {
			corrupt(t, s, victim, val)
			if _, err := s.Get(ctx, victim); !isCorrupt(err, victim) {
				t.Fatalf("Get: %v", err)
			}
			r, err := s.NewReader(ctx, rec, 0, -1, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = io.Copy(io.Discard, r)
			r.Close()
			if !isCorrupt(err, victim) {
				t.Fatalf("read: %v", err)
			}
			rep, err := s.Fsck(ctx, []recipe.ID{rec.ID()}, false)
			if err != nil || len(rep.Corrupt) != 1 || rep.Corrupt[0] != victim || len(rep.Missing[rec.ID()]) != 1 || rep.OK() {
				t.Fatalf("fsck: %+v, %v", rep, err)
			}
		})
	}
	rep, err := s.Fsck(ctx, []recipe.ID{rec.ID()}, true)
	if err != nil || rep.Repaired != 1 {
		t.Fatalf("fsck repair: %+v, %v", rep, err)
	}
	if has, _ := s.Has(ctx, []recipe.ChunkID{victim}); has[0] {
		t.Fatal("corrupt chunk not dropped")
	}
	// The node refetches it: the write of the same data stores it again.
	if _, _, err := s.Write(ctx, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if rep, err := s.Fsck(ctx, []recipe.ID{rec.ID()}, false); err != nil || !rep.OK() || rep.ChunksChecked != len(rec.Unique()) {
		t.Fatalf("fsck after rewrite: %+v, %v", rep, err)
	}
}

// src is a ChunkSource over a map, for the reader's remote path.
type src map[recipe.ChunkID][]byte

func (m src) Chunk(_ context.Context, ref recipe.Ref) ([]byte, error) {
	if b, ok := m[ref.ID]; ok {
		return bytes.Clone(b), nil
	}
	return nil, ErrNotFound
}

// TestRoundTripProperty: any byte stream round-trips exactly, and any range
// read equals the corresponding slice, from the store and from a foreign
// ChunkSource.
func TestRoundTripProperty(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, func(c *Config) { c.MinSize, c.AvgSize, c.MaxSize = 1024, 4096, 16384; c.ReadAhead = 3 })
	rng := splitmix(77)
	sizes := []int{0, 1, 63, 1024, 4095, 16384, 16385, 100000, 1 << 20}
	for i := 0; i < 12; i++ {
		sizes = append(sizes, int(rng.next()%(3<<20)))
	}
	for _, n := range sizes {
		data := testData(rng.next(), n)
		if n > 1000 && rng.next()%2 == 0 { // some zero runs and repeats
			copy(data[n/3:], make([]byte, n/4))
			copy(data[n/2:], data[:n/4])
		}
		rec, id, err := s.Write(ctx, bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if rec.Size != int64(n) || rec.MD5 != md5.Sum(data) || rec.ID() != id {
			t.Fatalf("n=%d: bad recipe", n)
		}
		remote := src{}
		for _, ref := range rec.Refs {
			remote[ref.ID], _ = s.Get(ctx, ref.ID)
		}
		for k := 0; k < 8; k++ {
			off := int64(0)
			if n > 0 {
				off = int64(rng.next() % uint64(n+1))
			}
			length := int64(rng.next()%uint64(n+2)) - 1 // -1: to the end
			if k == 0 {
				off, length = 0, -1
			}
			want := data[off:]
			if length >= 0 && length < int64(len(want)) {
				want = want[:length]
			}
			for _, from := range []ChunkSource{nil, remote} {
				r, err := s.NewReader(ctx, rec, off, length, from)
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(r)
				r.Close()
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("n=%d range [%d,+%d) from %T: %v, got %d bytes want %d", n, off, length, from, err, len(got), len(want))
				}
			}
		}
	}
	if _, err := s.NewReader(ctx, &recipe.Recipe{Size: 0}, 1, 1, nil); !errors.Is(err, ErrRange) {
		t.Fatalf("offset past end: %v", err)
	}
}

func TestReaderVerifiesForeignSource(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, nil)
	data := testData(11, 500000)
	rec, _, err := s.Write(ctx, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	bad := src{}
	for _, ref := range rec.Refs {
		bad[ref.ID], _ = s.Get(ctx, ref.ID)
	}
	bad[rec.Refs[1].ID][0] ^= 1
	r, _ := s.NewReader(ctx, rec, 0, -1, bad)
	defer r.Close()
	if _, err := io.Copy(io.Discard, r); !isCorrupt(err, rec.Refs[1].ID) {
		t.Fatalf("read from corrupt source: %v", err)
	}
}

func TestReaderCloseEarly(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, func(c *Config) { c.MinSize, c.AvgSize, c.MaxSize = 1024, 4096, 16384 })
	rec, _, err := s.Write(ctx, bytes.NewReader(testData(12, 2<<20)))
	if err != nil {
		t.Fatal(err)
	}
	r, _ := s.NewReader(ctx, rec, 0, -1, nil)
	buf := make([]byte, 10000)
	if _, err := io.ReadFull(r, buf); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Read(buf); err == nil {
		t.Fatal("Read after Close succeeded")
	}
}

func TestWriteCancel(t *testing.T) {
	s := openTest(t, nil)
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	go func() {
		pw.Write(testData(13, 1<<20))
		cancel()
		pw.Write(testData(14, 1<<20))
		pw.Close()
	}()
	if _, _, err := s.Write(ctx, pr); !errors.Is(err, context.Canceled) {
		t.Fatalf("Write = %v, want context.Canceled", err)
	}
	// A failing reader.
	boom := errors.New("boom")
	if _, _, err := s.Write(t.Context(), io.MultiReader(bytes.NewReader(testData(15, 1<<20)), errReader{boom})); !errors.Is(err, boom) {
		t.Fatalf("Write = %v, want boom", err)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestRecords(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, nil)
	r := s.Records()
	if _, err := r.Get(ctx, []byte("a")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get absent: %v", err)
	}
	keys := []string{"acct/c1/o1", "acct/c1/o2", "acct/c2/o1", "acct/c1/o10", "other"}
	err := r.Update(ctx, func(tx RecordTxn) error {
		for _, k := range keys {
			if err := tx.Set([]byte(k), []byte("v:"+k)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := r.Get(ctx, []byte("acct/c1/o2")); err != nil || string(v) != "v:acct/c1/o2" {
		t.Fatalf("Get = %q, %v", v, err)
	}
	scan := func(prefix, start string) []string {
		var out []string
		var st []byte
		if start != "" {
			st = []byte(start)
		}
		if err := r.Scan(ctx, []byte(prefix), st, func(k, v []byte) (bool, error) {
			out = append(out, string(k))
			return len(out) < 10, nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	for _, tc := range []struct{ prefix, start, want string }{
		{"acct/c1/", "", "[acct/c1/o1 acct/c1/o10 acct/c1/o2]"},
		{"acct/c1/", "acct/c1/o10", "[acct/c1/o10 acct/c1/o2]"},
		{"acct/c1/", "acct/c1/o10\x00", "[acct/c1/o2]"},
		{"acct/", "a", "[acct/c1/o1 acct/c1/o10 acct/c1/o2 acct/c2/o1]"},
		{"", "acct/c2", "[acct/c2/o1 other]"},
		{"zzz", "", "[]"},
	} {
		if got := fmt.Sprint(scan(tc.prefix, tc.start)); got != tc.want {
			t.Errorf("Scan(%q, %q) = %s, want %s", tc.prefix, tc.start, got, tc.want)
		}
	}
	// Delete, and fn errors abort.
	boom := errors.New("boom")
	if err := r.Update(ctx, func(tx RecordTxn) error { tx.Delete([]byte("other")); return boom }); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if _, err := r.Get(ctx, []byte("other")); err != nil {
		t.Fatal("aborted delete took effect")
	}
	if err := r.Update(ctx, func(tx RecordTxn) error {
		if _, err := tx.Get([]byte("other")); err != nil {
			return err
		}
		return tx.Delete([]byte("other"))
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Get(ctx, []byte("other")); !errors.Is(err, ErrNotFound) {
		t.Fatal("delete lost")
	}
	// Concurrent read-modify-write increments all land (conflict retry).
	done := make(chan error)
	for range 8 {
		go func() {
			var err error
			for range 25 {
				err = errors.Join(err, r.Update(ctx, func(tx RecordTxn) error {
					v, err := tx.Get([]byte("counter"))
					if err != nil && !errors.Is(err, ErrNotFound) {
						return err
					}
					n := 0
					if len(v) == 2 {
						n = int(v[0])<<8 | int(v[1])
					}
					n++
					return tx.Set([]byte("counter"), []byte{byte(n >> 8), byte(n)})
				}))
			}
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if v, err := r.Get(ctx, []byte("counter")); err != nil || len(v) != 2 || int(v[0])<<8|int(v[1]) != 200 {
		t.Fatalf("counter = %v, %v; want 200", v, err)
	}
}

func TestGC(t *testing.T) {
	ctx := t.Context()
	clock := time.Unix(1_700_000_000, 0)
	s := openTest(t, func(c *Config) { c.TouchAfter = time.Minute })
	s.now = func() time.Time { return clock }
	a := testData(20, 1<<20)
	b := testData(21, 1<<20)
	shared := testData(22, 512<<10)
	recA, idA, _ := s.Write(ctx, bytes.NewReader(append(bytes.Clone(shared), a...)))
	recB, idB, _ := s.Write(ctx, bytes.NewReader(append(bytes.Clone(shared), b...)))
	if recA == nil || recB == nil {
		t.Fatal("write failed")
	}
	if _, err := s.GC(ctx, fixedRoots(), time.Minute); !errors.Is(err, ErrGrace) {
		t.Fatalf("short grace: %v", err)
	}
	// Everything is younger than grace: nothing goes.
	st, err := s.GC(ctx, fixedRoots(idA), time.Hour)
	if err != nil || st.ChunksRemoved != 0 || st.RecipesRemoved != 0 {
		t.Fatalf("young GC: %+v %v", st, err)
	}
	// Two hours later, B is dead.
	clock = clock.Add(2 * time.Hour)
	// A write in progress re-references a chunk of B's (B's last chunk).
	lastB := recB.Refs[len(recB.Refs)-1]
	plainLastB, _ := s.Get(ctx, lastB.ID)
	if _, err := s.Put(ctx, plainLastB); err != nil {
		t.Fatal(err)
	}
	st, err = s.GC(ctx, fixedRoots(idA), time.Hour)
	if err != nil || st.RecipesRemoved != 1 || st.ChunksRemoved == 0 || st.BytesRemoved == 0 {
		t.Fatalf("GC: %+v %v", st, err)
	}
	if _, err := s.Recipe(ctx, idB); !errors.Is(err, ErrNotFound) {
		t.Fatalf("dead recipe kept: %v", err)
	}
	if _, err := s.Recipe(ctx, idA); err != nil {
		t.Fatal(err)
	}
	hasA, _ := s.Has(ctx, recA.Unique())
	for i, h := range hasA {
		if !h {
			t.Fatalf("live chunk %d swept", i)
		}
	}
	want := 0
	for _, id := range recB.Unique() {
		if !contains(recA.Unique(), id) && id != lastB.ID {
			want++
		}
	}
	if st.ChunksRemoved != want {
		t.Fatalf("removed %d chunks, want %d", st.ChunksRemoved, want)
	}
	if h, _ := s.Has(ctx, []recipe.ChunkID{lastB.ID}); !h[0] {
		t.Fatal("re-referenced chunk swept")
	}
	rep, err := s.Fsck(ctx, []recipe.ID{idA}, false)
	if err != nil || !rep.OK() || rep.Unstamped != 0 || rep.StrayStamps != 0 {
		t.Fatalf("fsck after GC: %+v %v", rep, err)
	}
	// The same content written again after GC comes back whole.
	recB2, _, err := s.Write(ctx, bytes.NewReader(append(bytes.Clone(shared), b...)))
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := s.Missing(ctx, recB2.Unique()); len(m) != 0 {
		t.Fatalf("%d chunks missing after rewrite", len(m))
	}
}

func contains(ids []recipe.ChunkID, id recipe.ChunkID) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// TestGCRacesTouch: a GC sweep and a write that re-stamps the same old
// chunk never both win.
func TestGCRacesTouch(t *testing.T) {
	ctx := t.Context()
	var clock time.Time = time.Unix(1_700_000_000, 0)
	s := openTest(t, func(c *Config) { c.TouchAfter = time.Minute })
	s.now = func() time.Time { return clock }
	var plains [][]byte
	for i := range 300 {
		p := testData(uint64(1000+i), 2000)
		plains = append(plains, p)
		if _, err := s.Put(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	clock = clock.Add(time.Hour)
	done := make(chan []recipe.ChunkID)
	go func() {
		var relied []recipe.ChunkID
		for _, p := range plains[:150] {
			id, err := s.Put(ctx, p) // finds it present (touch) or stores it again
			if err != nil {
				t.Error(err)
			}
			relied = append(relied, id)
		}
		done <- relied
	}()
	if _, err := s.GC(ctx, fixedRoots(), 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	relied := <-done
	has, _ := s.Has(ctx, relied)
	for i, h := range has {
		if !h {
			t.Fatalf("chunk %d relied on by a write was swept", i)
		}
	}
}

// TestGCConcurrentWrites: GC (with its memtable flush and compaction) runs
// while writers re-write objects whose chunks are all old and unreferenced;
// every recipe a writer got back must be whole afterwards.
func TestGCConcurrentWrites(t *testing.T) {
	ctx := t.Context()
	var clock atomic.Int64
	clock.Store(1_700_000_000)
	s := openTest(t, func(c *Config) { c.TouchAfter = time.Minute; c.MinSize, c.AvgSize, c.MaxSize = 1024, 4096, 16384 })
	s.now = func() time.Time { return time.Unix(clock.Load(), 0) }
	const objects = 12
	for i := range objects {
		if _, _, err := s.Write(ctx, bytes.NewReader(testData(uint64(500+i), 256<<10))); err != nil {
			t.Fatal(err)
		}
	}
	clock.Add(3600)
	ids := make(chan recipe.ID, objects)
	errs := make(chan error, 2)
	go func() {
		for i := range objects {
			_, id, err := s.Write(ctx, bytes.NewReader(testData(uint64(500+i), 256<<10)))
			if err != nil {
				errs <- err
				return
			}
			ids <- id
		}
		close(ids)
		errs <- nil
	}()
	go func() {
		for range 3 {
			if _, err := s.GC(ctx, fixedRoots(), 10*time.Minute); err != nil {
				errs <- err
				return
			}
		}
		errs <- nil
	}()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	var live []recipe.ID
	for id := range ids {
		live = append(live, id)
	}
	rep, err := s.Fsck(ctx, live, false)
	if err != nil || !rep.OK() || len(live) != objects {
		t.Fatalf("fsck: %+v %v (%d live)", rep, err, len(live))
	}
}

func TestIDSetBounded(t *testing.T) {
	var s idSet
	for i := range 3 * idSetGen {
		id := recipe.Sum([]byte{byte(i), byte(i >> 8), byte(i >> 16)})
		if s.addSeen(id) {
			t.Fatalf("%d: new id seen", i)
		}
		if !s.addSeen(id) {
			t.Fatalf("%d: id not remembered", i)
		}
	}
	if len(s.cur)+len(s.old) > 2*idSetGen {
		t.Fatalf("idSet holds %d ids", len(s.cur)+len(s.old))
	}
}

// TestConcurrentDurablePuts: concurrent PutStored calls on a syncing store
// all succeed and share fsyncs.
func TestConcurrentDurablePuts(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, func(c *Config) { c.NoSync = false })
	errs := make(chan error, 8)
	for w := range 8 {
		go func() {
			var err error
			for i := range 20 {
				p := append([]byte{byte(w), byte(i)}, testData(uint64(w*100+i), 5000)...)
				st := Stored{Codec: CodecRaw, Data: p}
				err = errors.Join(err, s.PutStored(ctx, recipe.Sum(p), st))
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if s.group.started == 0 || s.group.started > 160 || s.group.done != s.group.started {
		t.Fatalf("syncs: started %d done %d", s.group.started, s.group.done)
	}
	if st, _ := s.Stats(ctx); st.Chunks != 160 {
		t.Fatalf("%d chunks stored, want 160", st.Chunks)
	}
	t.Logf("160 durable puts, %d fsyncs", s.group.started)
}
