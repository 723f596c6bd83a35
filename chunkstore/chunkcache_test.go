package chunkstore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

// TestChunkCacheSmallReads: 4 KiB reads in order (a VM's block layer)
// read each chunk from Badger once: the chunks they cut are kept,
// verified, in the chunk cache, which stays within its bound; a chunk
// damaged on disk after it was cached is still read right (the cached
// bytes were verified), and a chunk the store deletes (Drop, GC) is
// dropped from the cache, so reading it fails as without the cache.
// With the cache off the damaged chunk is reported at once.
func TestChunkCacheSmallReads(t *testing.T) {
	for _, tc := range []struct {
		name  string
		bytes int64
	}{{"on", 64 << 10}, {"off", -1}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := openTest(t, func(c *Config) {
				c.MinSize, c.AvgSize, c.MaxSize = 4096, 16384, 65536
				c.ChunkCacheBytes = tc.bytes
			})
			data := testData(15, 1<<20)
			rec, _, err := s.Write(ctx, bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			read := func(off, n int64) ([]byte, error) {
				r, err := s.NewReader(ctx, rec, off, n, nil)
				if err != nil {
					return nil, err
				}
				defer r.Close()
				return io.ReadAll(r)
			}
			for off := int64(0); off < 512<<10; off += 4096 {
				got, err := read(off, 4096)
				if err != nil || !bytes.Equal(got, data[off:off+4096]) {
					t.Fatalf("4 KiB at %d: %d bytes, %v", off, len(got), err)
				}
				if st := s.ChunkCacheStats(); st.Bytes > max(st.Max, 0) {
					t.Fatalf("chunk cache %+v over its bound", st)
				}
			}
			offs := rec.Offsets()
			// The chunk holding offset 600 KiB, read in part: cached when on.
			i := 0
			for offs[i+1] <= 600<<10 {
				i++
			}
			ref := rec.Refs[i]
			if got, err := read(offs[i], 100); err != nil || !bytes.Equal(got, data[offs[i]:offs[i]+100]) {
				t.Fatalf("first read of chunk %d: %v", i, err)
			}
			val, err := s.GetStored(ctx, ref.ID)
			if err != nil {
				t.Fatal(err)
			}
			bad := append([]byte{byte(val.Codec)}, val.Data...)
			bad[len(bad)-1] ^= 1
			corrupt(t, s, ref.ID, bad)
			got, err := read(offs[i]+100, 100)
			switch {
			case tc.bytes < 0 && !isCorrupt(err, ref.ID):
				t.Fatalf("cache off: damaged chunk read as %v", err)
			case tc.bytes > 0 && (err != nil || !bytes.Equal(got, data[offs[i]+100:offs[i]+200])):
				t.Fatalf("cache on: cached chunk read as %d bytes, %v", len(got), err)
			}
			if err := s.Drop(ctx, ref.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := read(offs[i]+200, 100); !errors.Is(err, ErrNotFound) {
				t.Fatalf("dropped chunk read as %v, want ErrNotFound", err)
			}
		})
	}
}

// TestChunkCacheBound: the cache evicts the least recently used chunks to
// stay within its bound, refuses a chunk bigger than the bound, and a
// forget during a read keeps the read from caching.
func TestChunkCacheBound(t *testing.T) {
	c := newChunkCache(3 * (1000 + chunkEntryOverhead))
	id := func(b byte) (out [32]byte) { out[0] = b; return out }
	for b := byte(1); b <= 4; b++ {
		c.add(id(b), make([]byte, 1000), c.generation())
		if b == 2 {
			c.get(id(1)) // 1 is now more recent than 2
		}
	}
	if c.get(id(2)) != nil || c.get(id(1)) == nil || c.get(id(3)) == nil || c.get(id(4)) == nil {
		t.Fatal("not the least recently used evicted")
	}
	if c.used > c.max {
		t.Fatalf("used %d > max %d", c.used, c.max)
	}
	c.add(id(5), make([]byte, 4000), c.generation())
	if c.get(id(5)) != nil {
		t.Fatal("a chunk over the bound was cached")
	}
	gen := c.generation()
	c.forget(id(9))
	c.add(id(6), make([]byte, 10), gen)
	if c.get(id(6)) != nil {
		t.Fatal("a read older than a forget was cached")
	}
}

// localSource is a LocalSource over a map of good chunk bytes (standing in
// for the fetcher's source, which fetches a bad chunk again from a peer),
// counting what it is asked for. Chunk is called by the read-ahead
// reader's fetchers at once: asked is under mu.
type localSource struct {
	store   *Store // the rest of the chunks
	missing int
	good    map[recipe.ChunkID][]byte
	mu      sync.Mutex
	asked   int
}

func (l *localSource) Missing() int { return l.missing }

func (l *localSource) Chunk(_ context.Context, ref recipe.Ref) ([]byte, error) {
	l.mu.Lock()
	l.asked++
	l.mu.Unlock()
	if b, ok := l.good[ref.ID]; ok {
		return b, nil
	}
	return l.store.Chunk(context.Background(), ref)
}

// TestSmallReadLocalSource: a small range read through a LocalSource with
// no chunk missing is read from the store by the small reader, which asks
// the source only for a chunk that fails verification and verifies what
// it returns; a source with chunks missing gets the read-ahead reader.
func TestSmallReadLocalSource(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, func(c *Config) { c.MinSize, c.AvgSize, c.MaxSize = 1024, 4096, 16384 })
	data := testData(16, 256<<10)
	rec, _, err := s.Write(ctx, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	offs := rec.Offsets()
	ref := rec.Refs[5]
	good := data[offs[5]:offs[6]]
	src := &localSource{store: s, good: map[recipe.ChunkID][]byte{ref.ID: bytes.Clone(good)}}
	read := func(src ChunkSource) ([]byte, error) {
		r, err := s.NewReader(ctx, rec, offs[4], offs[7]-offs[4], src)
		if err != nil {
			return nil, err
		}
		if _, small := r.(*smallReader); small != (src.(*localSource).missing == 0) {
			t.Fatalf("missing %d: got a %T", src.(*localSource).missing, r)
		}
		defer r.Close()
		return io.ReadAll(r)
	}
	want := data[offs[4]:offs[7]]
	if got, err := read(src); err != nil || !bytes.Equal(got, want) || src.asked != 0 {
		t.Fatalf("all local: %d bytes, %v, source asked %d times", len(got), err, src.asked)
	}
	val, err := s.GetStored(ctx, ref.ID)
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]byte{byte(val.Codec)}, val.Data...)
	bad[len(bad)-1] ^= 1
	// The first read's verify-ahead (along) may have cached the good
	// chunk 5, which would then be served, verified, instead of the
	// damaged copy this test is about: drop it.
	waitIdle(t, s)
	s.chunkCache.forget(ref.ID)
	corrupt(t, s, ref.ID, bad)
	if got, err := read(src); err != nil || !bytes.Equal(got, want) || src.asked != 1 {
		t.Fatalf("corrupt chunk, good source: %d bytes, %v, source asked %d times", len(got), err, src.asked)
	}
	src.good[ref.ID] = bytes.Clone(good)
	src.good[ref.ID][0] ^= 1
	if _, err := read(src); !isCorrupt(err, ref.ID) {
		t.Fatalf("corrupt chunk, source as bad: %v", err)
	}
	src.good[ref.ID] = bytes.Clone(good)
	src.missing = 1
	if got, err := read(src); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("chunks missing: %d bytes, %v", len(got), err)
	}
}
