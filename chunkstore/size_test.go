package chunkstore

import (
	"bytes"
	"context"
	"testing"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

func TestStoredSizes(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, nil)
	// Sizes around the value threshold, around varint boundaries, and
	// compressible (zstd) and incompressible (raw) chunks.
	var ids []recipe.ChunkID
	for i, n := range []int{1, 100, 1000, 1023, 1024, 1025, 1100, 4000, 16383, 16384, 16385, 65536, 200000, recipe.MaxChunkSize} {
		for _, plain := range [][]byte{testData(uint64(i+1), n), bytes.Repeat([]byte{byte(i)}, n)} {
			id, err := s.Put(ctx, plain)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
	}
	absent := recipe.Sum([]byte("not stored"))
	ids = append(ids, absent)
	got, err := s.StoredSizes(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		want := int64(-1)
		if id != absent {
			st, err := s.GetStored(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			want = int64(len(st.Data))
		}
		if got[i] != want {
			t.Errorf("chunk %d (%s): stored size %d, want %d", i, id.Short(), got[i], want)
		}
	}
	// After a reopen (values read back from the LSM tree and the value
	// log rather than the memtable), the same.
	dir := s.cfg.Dir
	s.Close()
	s2, err := Open(Config{Dir: dir, NoSync: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	got2, err := s2.StoredSizes(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ids {
		if got2[i] != got[i] {
			t.Errorf("after reopen: chunk %d: %d, want %d", i, got2[i], got[i])
		}
	}
}

// BenchmarkStoredSizes: sizes of 4096 stored 64 KiB chunks per op; compare
// BenchmarkHas4096 (the same lookups without sizes).
func BenchmarkStoredSizes(b *testing.B) { benchSizes(b, true) }

func BenchmarkHas4096(b *testing.B) { benchSizes(b, false) }

func benchSizes(b *testing.B, sizes bool) {
	ctx := context.Background()
	s := openTest(b, nil)
	ids := make([]recipe.ChunkID, 4096)
	for i := range ids {
		id, err := s.Put(ctx, testData(uint64(i), 64<<10))
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = id
	}
	b.ResetTimer()
	for b.Loop() {
		var err error
		if sizes {
			_, err = s.StoredSizes(ctx, ids)
		} else {
			_, err = s.Has(ctx, ids)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(ids)), "ns/chunk")
}
