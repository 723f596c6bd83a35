package regiongc

import (
	"crypto/md5"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"github.com/nitro-cloud/nitro/internal/swifttest"
	"golang.org/x/sync/errgroup"
)

// BenchmarkRunMarked measures one region GC run (lease, mark, list every
// container, nothing to move) over N chunk objects of one live recipe, in
// 16 containers on Debian's Swift: the fixed cost of a run per chunk in
// the cluster. N = NITRO_REGIONGC_BENCH_N (default 2000). Reports
// chunks/s listed.
func BenchmarkRunMarked(b *testing.B) {
	n := 2000
	if v, err := strconv.Atoi(os.Getenv("NITRO_REGIONGC_BENCH_N")); err == nil && v > 0 {
		n = v
	}
	srv := swifttest.Start(b)
	sc := swiftClient(b, srv)
	r := newRegion(b, sc, "bench", 16)
	ctx := b.Context()
	rec := &recipe.Recipe{}
	var g errgroup.Group
	g.SetLimit(16)
	for i := range n {
		p := []byte(strconv.Itoa(i))
		id := recipe.Sum(p)
		rec.Refs = append(rec.Refs, recipe.Ref{ID: id, Size: uint32(len(p))})
		rec.Size += int64(len(p))
		g.Go(func() error {
			return r.put(ctx, r.layout.Chunk(id), id.String(), append([]byte{byte(chunkstore.CodecRaw)}, p...))
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	rec.MD5 = md5.Sum(nil) // not read back here
	enc, err := rec.MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	id := rec.ID()
	if err := r.put(ctx, r.layout.Recipe(id), id.String(), enc); err != nil {
		b.Fatal(err)
	}
	if err := r.commit(ctx, "big", rec, id); err != nil {
		b.Fatal(err)
	}
	c := r.collector("bench", time.Minute)
	c.cfg.Settle = time.Millisecond
	c.cfg.Workers = 16
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		st, err := c.Run(ctx, time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		if st.ChunksListed != n || st.MarkedChunks != n {
			b.Fatalf("listed %d, marked %d, want %d", st.ChunksListed, st.MarkedChunks, n)
		}
	}
	b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "chunks/s")
}
