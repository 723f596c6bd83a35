package chunkstore

import (
	"bytes"
	"context"
	"io"
	"sync"
	"testing"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

// storeSource is a StoreSource standing in for the node's fetcher: Ready
// counts its calls, and Chunk (the repair path) returns the good bytes of
// a chunk from good (another store: "fetched again") and counts its
// calls, or returns wrong when set.
type storeSource struct {
	good  *Store
	wrong []byte

	mu     sync.Mutex
	ready  int
	chunks map[recipe.ChunkID]int
}

func (s *storeSource) Ready(ctx context.Context, ref recipe.Ref) error {
	s.mu.Lock()
	s.ready++
	s.mu.Unlock()
	return ctx.Err()
}

func (s *storeSource) Chunk(ctx context.Context, ref recipe.Ref) ([]byte, error) {
	s.mu.Lock()
	if s.chunks == nil {
		s.chunks = map[recipe.ChunkID]int{}
	}
	s.chunks[ref.ID]++
	s.mu.Unlock()
	if s.wrong != nil {
		return bytes.Clone(s.wrong), nil
	}
	return s.good.Chunk(ctx, ref)
}

func (s *storeSource) counts() (ready int, chunks map[recipe.ChunkID]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := map[recipe.ChunkID]int{}
	for k, v := range s.chunks {
		c[k] = v
	}
	return s.ready, c
}

// TestReaderStoreSource: a read of a StoreSource (the node's fetcher,
// which makes the chunks local) waits for each chunk with Ready and reads
// it from the store itself, verified once by the store into its pooled
// buffers, asking the source's Chunk for nothing; only a chunk that fails
// verification in the store goes to Chunk, whose bytes are verified
// again (wrong ones are a *CorruptChunkError). Before, the reader asked
// Chunk for every chunk and hashed each twice (the source's store and
// the reader), which made a local whole-object GET in a cluster cost
// about 75 % more CPU than the same read of the store (BenchmarkRead).
func TestReaderStoreSource(t *testing.T) {
	ctx := t.Context()
	s, good := openTest(t, nil), openTest(t, nil)
	data := testData(11, 3<<20)
	rec, _, err := s.Write(ctx, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := good.Write(ctx, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if len(rec.Refs) < 8 {
		t.Fatalf("%d refs: want several", len(rec.Refs))
	}
	read := func(src ChunkSource, off, n int64) ([]byte, error) {
		r, err := s.NewReader(ctx, rec, off, n, src)
		if err != nil {
			return nil, err
		}
		defer r.Close()
		return io.ReadAll(r)
	}

	t.Run("every chunk from the store", func(t *testing.T) {
		for _, span := range []struct{ off, n int64 }{{0, -1}, {12345, 1 << 20}} {
			src := &storeSource{good: good}
			got, err := read(src, span.off, span.n)
			want := data[span.off:]
			if span.n >= 0 {
				want = want[:span.n]
			}
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("read [%d, +%d): %d bytes, %v", span.off, span.n, len(got), err)
			}
			first, last := recipe.Span(rec.Offsets(), span.off, int64(len(want)))
			ready, chunks := src.counts()
			if ready != last-first || len(chunks) != 0 {
				t.Fatalf("read [%d, +%d): Ready %d times (want %d), Chunk for %d chunks (want none)", span.off, span.n, ready, last-first, len(chunks))
			}
		}
	})

	victim := rec.Refs[3].ID
	corrupt(t, s, victim, append([]byte{byte(CodecRaw)}, bytes.Repeat([]byte{'x'}, int(rec.Refs[3].Size))...))
	t.Run("a corrupt chunk is repaired by the source", func(t *testing.T) {
		src := &storeSource{good: good}
		got, err := read(src, 0, -1)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read: %d bytes, %v", len(got), err)
		}
		if _, chunks := src.counts(); len(chunks) != 1 || chunks[victim] != 1 {
			t.Fatalf("Chunk for %d chunks (%d times for the victim): want once, for %s", len(chunks), chunks[victim], victim.Short())
		}
	})
	t.Run("what the source returns is verified", func(t *testing.T) {
		src := &storeSource{good: good, wrong: bytes.Repeat([]byte{'y'}, int(rec.Refs[3].Size))}
		_, err := read(src, 0, -1)
		if !isCorrupt(err, victim) {
			t.Fatalf("read: %v, want the victim's CorruptChunkError", err)
		}
	})
	t.Run("Ready's error fails the read", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		r, err := s.NewReader(cctx, rec, 0, -1, &storeSource{good: good})
		if err == nil {
			_, err = io.ReadAll(r)
			r.Close()
		}
		if err == nil {
			t.Fatal("read with a cancelled context succeeded")
		}
	})
}
