package regiongc

import (
	"bytes"
	"crypto/md5"
	"fmt"
	"io"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"github.com/nitro-cloud/nitro/chunkstore/swiftstore"
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

// BenchmarkPackDeadSpace measures the space partially dead packs hold
// (packs are never rewritten): two images written through a real
// pack-mode node (packs of 16 MiB, the default chunk sizes), the second
// sharing most of the first, both live; then the first deleted and two
// GC runs past the grace. Reports the pack bytes, the bytes of unmarked
// chunks in packs kept for their live ones (dead), and the bytes GC
// deleted. Data: NITRO_BENCH_CLUSTER_FILE and NITRO_BENCH_CLUSTER_FILE2
// (their first NITRO_BENCH_CLUSTER_MB MiB, default 64); without them,
// random data with the second image's middle eighth replaced. Run:
//
//	go test -run XXX -bench PackDeadSpace -benchtime 1x ./node/internal/regiongc/
func BenchmarkPackDeadSpace(b *testing.B) {
	mb := 64
	if v, err := strconv.Atoi(os.Getenv("NITRO_BENCH_CLUSTER_MB")); err == nil && v > 0 {
		mb = v
	}
	read := func(env string) []byte {
		f := os.Getenv(env)
		if f == "" {
			return nil
		}
		fh, err := os.Open(f)
		if err != nil {
			b.Fatal(err)
		}
		defer fh.Close()
		in := make([]byte, mb<<20)
		n, _ := io.ReadFull(fh, in)
		return in[:n]
	}
	in1, in2 := read("NITRO_BENCH_CLUSTER_FILE"), read("NITRO_BENCH_CLUSTER_FILE2")
	if in1 == nil || in2 == nil {
		in1 = random(mb << 20)
		in2 = bytes.Clone(in1)
		copy(in2[len(in2)*7/16:], random(len(in2)/8))
	}
	srv := swifttest.Start(b)
	sc := swiftClient(b, srv)
	ctx := b.Context()
	for b.Loop() {
		r := newRegion(b, sc, fmt.Sprintf("dead%d", time.Now().UnixNano()), 16)
		cl, err := swiftstore.Open(ctx, swiftstore.Config{AuthURL: srv.AuthURL(), User: swifttest.User, Key: swifttest.Key,
			ContainerPrefix: r.layout.Prefix, Containers: r.layout.Containers, PackSize: 16 << 20})
		if err != nil {
			b.Fatal(err)
		}
		st, err := chunkstore.Open(chunkstore.Config{Dir: b.TempDir(), Cluster: cl, NoSync: true}, nil)
		if err != nil {
			b.Fatal(err)
		}
		for i, in := range [][]byte{in1, in2} {
			rec, id, err := st.Write(ctx, bytes.NewReader(in))
			if err != nil {
				b.Fatal(err)
			}
			if err := r.commit(ctx, fmt.Sprintf("image%d", i+1), rec, id); err != nil {
				b.Fatal(err)
			}
		}
		st.Close()
		if err := r.remove(ctx, "image1"); err != nil {
			b.Fatal(err)
		}
		c := r.collector("bench", time.Minute)
		c.cfg.Settle = time.Millisecond
		var last Stats
		var deleted int64
		for range 3 {
			r.clk.advance(2 * time.Hour)
			if last, err = c.Run(ctx, time.Hour); err != nil {
				b.Fatal(err)
			}
			deleted += last.PackBytesDeleted
		}
		b.ReportMetric(float64(last.PackBytes), "pack-bytes-kept")
		b.ReportMetric(float64(last.PackBytesDead), "dead-bytes-in-kept-packs")
		b.ReportMetric(float64(deleted), "pack-bytes-deleted")
	}
}
