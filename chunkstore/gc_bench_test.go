package chunkstore

import (
	"bytes"
	"testing"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

// BenchmarkGC: one collection over a store of 64 MiB of live objects in
// ~4 KiB chunks (~16k chunks, 16 recipes) plus 16 MiB of fresh garbage
// (4 dead objects, ~4k chunks) that the collection sweeps, with the
// collection's value-log GC and compaction. Setup (writing the garbage)
// is not timed. Reports the chunks scanned per second of wall time.
func BenchmarkGC(b *testing.B) {
	ctx := b.Context()
	clock := newFakeClock()
	s, err := Open(Config{Dir: b.TempDir(), NoSync: true, TouchAfter: time.Minute,
		MinSize: 1024, AvgSize: 4096, MaxSize: 16384}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	s.now = clock.now
	var live []recipe.ID
	for i := range 16 {
		_, id, err := s.Write(ctx, bytes.NewReader(testData(uint64(1000+i), 4<<20)))
		if err != nil {
			b.Fatal(err)
		}
		live = append(live, id)
	}
	var chunks, removed int64
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		for k := range 4 {
			g := testData(uint64(i*4+k), 4<<20)
			mutate(g, i*4+k+1)
			if _, _, err := s.Write(ctx, bytes.NewReader(g)); err != nil {
				b.Fatal(err)
			}
		}
		clock.add(time.Hour)
		st0, _ := s.Stats(ctx)
		chunks += st0.Chunks
		b.StartTimer()
		st, err := s.GC(ctx, fixedRoots(live...), 2*time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		removed += int64(st.ChunksRemoved)
	}
	b.StopTimer()
	b.ReportMetric(float64(chunks)/b.Elapsed().Seconds(), "chunks/s")
	b.ReportMetric(float64(removed)/float64(b.N), "swept/op")
}
