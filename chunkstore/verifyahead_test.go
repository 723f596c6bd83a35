package chunkstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

// aheadFixture is a store with 4–64 KiB chunks (16 KiB average) holding
// 2 MiB written in order, and a reader of its ranges.
type aheadFixture struct {
	s    *Store
	rec  *recipe.Recipe
	data []byte
	offs []int64
}

func newAheadFixture(t *testing.T, cacheBytes int64) *aheadFixture {
	return newAheadFixtureSize(t, cacheBytes, 2<<20)
}

// newAheadFixtureSize is newAheadFixture holding size bytes.
func newAheadFixtureSize(t *testing.T, cacheBytes int64, size int) *aheadFixture {
	t.Helper()
	s := openTest(t, func(c *Config) {
		c.MinSize, c.AvgSize, c.MaxSize = 4096, 16384, 65536
		c.ChunkCacheBytes = cacheBytes
	})
	data := testData(16, size)
	rec, _, err := s.Write(context.Background(), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return &aheadFixture{s: s, rec: rec, data: data, offs: rec.Offsets()}
}

// read reads [off, off+n) through a small reader.
func (fx *aheadFixture) read(off, n int64) ([]byte, error) {
	r, err := fx.s.NewReader(context.Background(), fx.rec, off, n, nil)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// mustRead reads [off, off+n) and fails t unless it is the right bytes.
func (fx *aheadFixture) mustRead(t *testing.T, off, n int64) {
	t.Helper()
	got, err := fx.read(off, n)
	if err != nil || !bytes.Equal(got, fx.data[off:off+n]) {
		t.Fatalf("%d bytes at %d: got %d bytes, %v", n, off, len(got), err)
	}
}

// chunkAt is the index of the chunk holding offset off.
func (fx *aheadFixture) chunkAt(off int64) int {
	i := 0
	for fx.offs[i+1] <= off {
		i++
	}
	return i
}

// waitIdle waits (generously: the machine may be loaded) until the
// verify-ahead worker has nothing left to do.
func waitIdle(t *testing.T, s *Store) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !s.ahead.idle() {
		if time.Now().After(deadline) {
			t.Fatal("verify-ahead worker still busy after 30 s")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestVerifyAheadSequential: sequential small reads (4, 64 and 128 KiB
// each) have the chunks after them read, verified and cached in the
// background, so that the next read of the sequence finds them cached;
// the cache stays within its bound throughout, and every read returns
// the right bytes. Fails without verify-ahead (nothing is read ahead).
func TestVerifyAheadSequential(t *testing.T) {
	for _, n := range []int64{4 << 10, 64 << 10, 128 << 10} {
		t.Run(fmt.Sprintf("%dKiB", n>>10), func(t *testing.T) {
			fx := newAheadFixture(t, 512<<10)
			end := int64(0)
			for off := int64(0); off+n <= 1<<20; off += n {
				fx.mustRead(t, off, n)
				if st := fx.s.ChunkCacheStats(); st.Bytes > st.Max {
					t.Fatalf("chunk cache %+v over its bound", st)
				}
				end = off + n
			}
			waitIdle(t, fx.s)
			st := fx.s.ahead.counts()
			if st.Jobs == 0 || st.Verified == 0 || st.Failed != 0 {
				t.Fatalf("verify-ahead after sequential reads: %+v", st)
			}
			// The chunks that start within the next read are cached, verified.
			for i := fx.chunkAt(end) + 1; fx.offs[i] < end+n; i++ {
				if !fx.s.chunkCache.has(fx.rec.Refs[i].ID) {
					t.Fatalf("chunk %d (at %d) after the last read (ending at %d) not read ahead", i, fx.offs[i], end)
				}
			}
			if st := fx.s.ChunkCacheStats(); st.Bytes > st.Max {
				t.Fatalf("chunk cache %+v over its bound", st)
			}
		})
	}
}

// TestVerifyAheadWindow: after sequential 64 and 128 KiB reads, the
// chunks that start within the next aheadReads (4) reads are cached, not
// only those of the next two, so that a reader that comes back while the
// worker had no core does not catch up with it (issue 15). Fails with the
// window of two reads verify-ahead had before.
func TestVerifyAheadWindow(t *testing.T) {
	for _, n := range []int64{64 << 10, 128 << 10} {
		t.Run(fmt.Sprintf("%dKiB", n>>10), func(t *testing.T) {
			fx := newAheadFixture(t, 4<<20)
			fx.mustRead(t, 0, n)
			fx.mustRead(t, n, n) // continues the stream
			waitIdle(t, fx.s)
			end, window := 2*n, min(aheadReads*n, aheadMaxBytes)
			if window <= 2*n {
				t.Fatalf("window %d bytes: not past the next two reads of %d", window, n)
			}
			first := fx.chunkAt(end) + 1
			checked := 0
			for i := first; i < len(fx.rec.Refs) && i-first < aheadMaxRefs-1 && fx.offs[i] < end+window; i++ {
				if !fx.s.chunkCache.has(fx.rec.Refs[i].ID) {
					t.Fatalf("chunk %d (at %d) within %d bytes after the read ending at %d not read ahead (%+v)", i, fx.offs[i], window, end, fx.s.ahead.counts())
				}
				if fx.offs[i] >= end+2*n {
					checked++
				}
			}
			if checked == 0 {
				t.Fatal("no chunk starts past the next two reads: the test checks nothing")
			}
		})
	}
}

// TestVerifyAheadCorruptChunkNotServed: a chunk damaged on disk ahead of
// a sequential reader is tried by verify-ahead, fails its hash and is not
// cached; the read that reaches it fails with a *CorruptChunkError (no
// damaged byte served), and so does every later read of it.
func TestVerifyAheadCorruptChunkNotServed(t *testing.T) {
	fx := newAheadFixture(t, 1<<20)
	ctx := context.Background()
	const n = 64 << 10
	// The chunk at 512 KiB, damaged before the reader gets near it.
	j := fx.chunkAt(512 << 10)
	ref := fx.rec.Refs[j]
	val, err := fx.s.GetStored(ctx, ref.ID)
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]byte{byte(val.Codec)}, val.Data...)
	bad[len(bad)/2] ^= 1
	corrupt(t, fx.s, ref.ID, bad)
	// Read in order up to the 64 KiB that ends before chunk j starts:
	// verify-ahead's window (two reads) covers it.
	last := (fx.offs[j]/n - 1) * n
	for off := int64(0); off <= last; off += n {
		fx.mustRead(t, off, n)
	}
	waitIdle(t, fx.s)
	if st := fx.s.ahead.counts(); st.Failed == 0 {
		t.Fatalf("verify-ahead did not try the damaged chunk: %+v", st)
	}
	if fx.s.chunkCache.has(ref.ID) {
		t.Fatal("damaged chunk cached")
	}
	for range 2 {
		off := last + n
		got, err := fx.read(off, n)
		if !isCorrupt(err, ref.ID) {
			t.Fatalf("read over the damaged chunk: %d bytes, %v; want a CorruptChunkError", len(got), err)
		}
		// Only the good bytes before the damaged chunk came out.
		if int64(len(got)) > fx.offs[j]-off || !bytes.Equal(got, fx.data[off:off+int64(len(got))]) {
			t.Fatalf("read over the damaged chunk at %d served %d bytes from %d", fx.offs[j], len(got), off)
		}
	}
}

// TestVerifyAheadForget: a chunk verify-ahead cached is forgotten when
// the store deletes it (Drop, as GC and fsck do through the same
// forget), so that reading it fails as without the cache.
func TestVerifyAheadForget(t *testing.T) {
	fx := newAheadFixture(t, 1<<20)
	const n = 64 << 10
	for off := int64(0); off < 256<<10; off += n {
		fx.mustRead(t, off, n)
	}
	waitIdle(t, fx.s)
	j := fx.chunkAt(256<<10) + 1 // wholly after the last read
	id := fx.rec.Refs[j].ID
	if !fx.s.chunkCache.has(id) {
		t.Fatalf("chunk %d not read ahead (%+v)", j, fx.s.ahead.counts())
	}
	if err := fx.s.Drop(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if fx.s.chunkCache.has(id) {
		t.Fatal("dropped chunk still cached")
	}
	if _, err := fx.read(fx.offs[j], 100); !errors.Is(err, ErrNotFound) {
		t.Fatalf("dropped chunk read as %v, want ErrNotFound", err)
	}
}

// TestVerifyAheadOnlySequential: random small reads schedule no
// verify-ahead window (only their own chunks: see TestVerifyAheadAlong),
// nor do sequential reads with the chunk cache off; a store closes with
// its worker busy.
func TestVerifyAheadOnlySequential(t *testing.T) {
	t.Run("random", func(t *testing.T) {
		fx := newAheadFixtureSize(t, 1<<20, 16<<20)
		rng := rand.New(rand.NewPCG(16, 1))
		for range 100 {
			off := rng.Int64N(int64(len(fx.data)) - 64<<10)
			fx.mustRead(t, off, 64<<10)
		}
		// A read may start just after one of the last 16 by chance (a
		// few % of 16 MiB): a few jobs, not one per read.
		if st := fx.s.ahead.counts(); st.Jobs > 25 {
			t.Fatalf("random reads scheduled %d verify-ahead jobs", st.Jobs)
		}
	})
	t.Run("cache off", func(t *testing.T) {
		fx := newAheadFixture(t, -1)
		for off := int64(0); off < 512<<10; off += 64 << 10 {
			fx.mustRead(t, off, 64<<10)
		}
		if st := fx.s.ahead.counts(); st.Jobs != 0 || st.Along != 0 || st.Verified != 0 {
			t.Fatalf("cache off: verify-ahead %+v", st)
		}
	})
	t.Run("close while busy", func(t *testing.T) {
		fx := newAheadFixture(t, 1<<20)
		fx.mustRead(t, 0, 64<<10)
		fx.mustRead(t, 64<<10, 64<<10)
		if err := fx.s.Close(); err != nil {
			t.Fatal(err)
		}
		if !fx.s.ahead.idle() {
			t.Fatal("worker still running after Close")
		}
	})
}

// TestVerifyAheadWindowInOneChunk: sequential reads so small, in a chunk
// so big, that the window after them ends inside the chunk they read
// (which the reads cache themselves) schedule nothing and read right; a
// window that was empty made verify-ahead index refs[-1] (a panic that
// node.TestKeepAliveRangeFraming's 5-byte Range GETs found).
func TestVerifyAheadWindowInOneChunk(t *testing.T) {
	s := openTest(t, func(c *Config) {
		c.MinSize, c.AvgSize, c.MaxSize = 128<<10, 256<<10, 1<<20
	})
	data := testData(17, 1<<20)
	rec, _, err := s.Write(context.Background(), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Refs) < 2 || rec.Refs[0].Size < aheadMinBytes+1000 {
		t.Fatalf("want a first chunk over %d bytes and a second: %d refs, first %d bytes", aheadMinBytes+1000, len(rec.Refs), rec.Refs[0].Size)
	}
	fx := &aheadFixture{s: s, rec: rec, data: data, offs: rec.Offsets()}
	for off := int64(5); off < 1000; off += 5 {
		fx.mustRead(t, off, 5)
	}
	waitIdle(t, s)
	if st := s.ahead.counts(); st.Jobs != 0 {
		t.Fatalf("a window inside the read chunk scheduled %+v", st)
	}
}

// TestVerifyAheadAlong: a random small read of several chunks has the
// worker verify its chunks from the last backwards while the reader goes
// forwards; every read returns the right bytes, and a damaged chunk in
// such a read (the last, which the worker takes first) is never cached
// nor served, whichever of the two reaches it: the read fails with a
// *CorruptChunkError after only the good bytes before it, every time.
func TestVerifyAheadAlong(t *testing.T) {
	fx := newAheadFixtureSize(t, 1<<20, 16<<20)
	rng := rand.New(rand.NewPCG(16, 2))
	const n = 64 << 10
	for range 100 {
		fx.mustRead(t, rng.Int64N(int64(len(fx.data))-n), n)
	}
	waitIdle(t, fx.s)
	st := fx.s.ahead.counts()
	if st.Along < 50 || st.Verified == 0 {
		t.Fatalf("random reads: verify-ahead %+v; want along jobs that verified chunks", st)
	}

	ctx := context.Background()
	j := fx.chunkAt(8 << 20)
	for fx.offs[j]-fx.offs[j-2] >= n-100 { // a read of at least three chunks ends in j
		j++
	}
	ref := fx.rec.Refs[j]
	val, err := fx.s.GetStored(ctx, ref.ID)
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]byte{byte(val.Codec)}, val.Data...)
	bad[len(bad)/2] ^= 1
	corrupt(t, fx.s, ref.ID, bad)
	off := fx.offs[j] + 100 - n // the damaged chunk is the read's last
	for range 3 {
		got, err := fx.read(off, n)
		if !isCorrupt(err, ref.ID) {
			t.Fatalf("read over the damaged chunk: %d bytes, %v; want a CorruptChunkError", len(got), err)
		}
		if int64(len(got)) > fx.offs[j]-off || !bytes.Equal(got, fx.data[off:off+int64(len(got))]) {
			t.Fatalf("read over the damaged chunk at %d served %d bytes from %d", fx.offs[j], len(got), off)
		}
		waitIdle(t, fx.s)
		if fx.s.chunkCache.has(ref.ID) {
			t.Fatal("damaged chunk cached")
		}
	}
}

// TestSmallReaderFillsFromEnd: a sequential small read that reaches a
// chunk verify-ahead is reading (here: claimed by the test, standing in
// for a worker that has no core) verifies the rest of its range from the
// last chunk backwards into the cache while it waits, rather than idling
// until the worker is done and then reading the rest one by one; once the
// chunk is free the read returns the right bytes. Fails without
// smallReader.fillFromEnd (nothing after the claimed chunk is cached while
// the claim is held).
func TestSmallReaderFillsFromEnd(t *testing.T) {
	fx := newAheadFixture(t, 16<<20)
	if len(fx.rec.Refs) < 12 {
		t.Fatalf("want 12 chunks or more, have %d", len(fx.rec.Refs))
	}
	// A first read starts the stream; the second continues it, so
	// verify-ahead's window is past the second read (chunks 9 on), and
	// the second read's own chunks 3..8 are left to the reader.
	fx.mustRead(t, 0, fx.offs[3])
	waitIdle(t, fx.s)
	release := fx.s.ahead.claim(fx.rec.Refs[3].ID)
	off, n := fx.offs[3], fx.offs[9]-fx.offs[3]
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := fx.read(off, n)
		done <- result{b, err}
	}()
	deadline := time.Now().Add(30 * time.Second) // generous: the machine may be loaded
	for i := 4; i < 9; i++ {
		for !fx.s.chunkCache.has(fx.rec.Refs[i].ID) {
			if time.Now().After(deadline) {
				release()
				t.Fatalf("chunk %d of the range not cached while the reader waited for chunk 3", i)
			}
			time.Sleep(time.Millisecond)
		}
	}
	select {
	case r := <-done:
		t.Fatalf("read returned while chunk 3 was claimed: %d bytes, %v", len(r.b), r.err)
	default:
	}
	release()
	r := <-done
	if r.err != nil || !bytes.Equal(r.b, fx.data[off:off+n]) {
		t.Fatalf("read: %d bytes, %v", len(r.b), r.err)
	}
	if st := fx.s.ahead.counts(); st.Failed != 0 {
		t.Fatalf("verify-ahead failures: %+v", st)
	}
}
