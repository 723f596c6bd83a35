package swiftstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/objects"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"github.com/nitro-cloud/nitro/chunkstore/swiftstore"
	"github.com/nitro-cloud/nitro/internal/swifttest"
	"golang.org/x/sync/errgroup"
)

// BenchmarkCluster compares, on one real Swift (Debian's, started by the
// benchmark), chunkstore on the swift backend with the same bytes PUT and
// GET as one plain Swift object: MB/s of each and, for the store, the
// cluster objects per second. Data: NITRO_BENCH_CLUSTER_FILE (its first
// NITRO_BENCH_CLUSTER_MB MiB, default 16) or the mixed random/text data of
// the tests. The store side has no HTTP front end (scripts/bench-cluster.sh
// measures through `nitro serve`); each write is cold (a fresh container
// prefix and Badger dir). Packs of NITRO_BENCH_PACK_SIZE bytes (default
// 16 MiB, 0: one object per chunk); NITRO_BENCH_CLUSTER_FILE2 adds the
// bytes stored in the cluster for a second image written after the
// first (nitro-second-image). Run:
//
//	go test -run XXX -bench Cluster -benchtime 3x ./chunkstore/swiftstore/
func BenchmarkCluster(b *testing.B) {
	mb := 16
	if v, err := strconv.Atoi(os.Getenv("NITRO_BENCH_CLUSTER_MB")); err == nil && v > 0 {
		mb = v
	}
	in := data(42, mb<<20)
	if f := os.Getenv("NITRO_BENCH_CLUSTER_FILE"); f != "" {
		in = readPrefix(b, f, mb<<20)
	}
	// Packs of NITRO_BENCH_PACK_SIZE bytes (default 16 MiB; 0: one object
	// per chunk).
	e := &env{srv: swifttest.Start(b), packSize: 16 << 20}
	if v, err := strconv.Atoi(os.Getenv("NITRO_BENCH_PACK_SIZE")); err == nil && v >= 0 {
		e.packSize = v
	}
	ctx := context.Background()
	plain, err := swiftstore.Open(ctx, e.config("plain", nil))
	if err != nil {
		b.Fatal(err)
	}
	sc := plain.Client()
	if err := ensure(sc, "plain"); err != nil {
		b.Fatal(err)
	}
	var lastRec *recipe.Recipe
	run := 0
	b.Run("swift-put", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		for b.Loop() {
			if err := objects.Create(ctx, sc, "plain", "obj", objects.CreateOpts{Content: bytes.NewReader(in)}).Err; err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("swift-get", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		for b.Loop() {
			r := objects.Download(ctx, sc, "plain", "obj", nil)
			if r.Err != nil {
				b.Fatal(r.Err)
			}
			n, err := io.Copy(io.Discard, r.Body)
			r.Body.Close()
			if err != nil || n != int64(len(in)) {
				b.Fatal(n, err)
			}
		}
	})
	// The ceiling of any store of one object per chunk: plain Swift's rate
	// of 32 KiB object PUTs and GETs, 16 at a time (Config.Concurrency).
	small := in[:32<<10]
	for _, method := range []string{"put", "get"} {
		b.Run("swift-"+method+"-32KiB-objects", func(b *testing.B) {
			const n, par = 160, 16
			b.SetBytes(int64(n * len(small)))
			for b.Loop() {
				var g errgroup.Group
				g.SetLimit(par)
				for i := range n {
					g.Go(func() error {
						name := fmt.Sprintf("small-%d", i)
						if method == "put" {
							return objects.Create(ctx, sc, "plain", name, objects.CreateOpts{Content: bytes.NewReader(small)}).Err
						}
						r := objects.Download(ctx, sc, "plain", name, nil)
						if r.Err != nil {
							return r.Err
						}
						defer r.Body.Close()
						_, err := io.Copy(io.Discard, r.Body)
						return err
					})
				}
				if err := g.Wait(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "objects/s")
		})
	}
	b.Run("nitro-write", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		var objs int
		var took time.Duration
		for b.Loop() {
			b.StopTimer()
			run++
			cnt := &counter{}
			st, _ := e.open(b, b.TempDir(), fmt.Sprintf("w%d", run), cnt, 0)
			b.StartTimer()
			t0 := time.Now()
			rec, _, err := st.Write(ctx, bytes.NewReader(in))
			if err != nil {
				b.Fatal(err)
			}
			took += time.Since(t0)
			objs += cnt.get("PUT chunks") + cnt.get("PUT packs")
			lastRec = rec
		}
		b.ReportMetric(float64(objs)/took.Seconds(), "object-PUTs/s")
	})
	// Read with another store (its own Badger) on the last write's prefix:
	// every chunk comes from the cluster.
	reader, _ := e.open(b, b.TempDir(), fmt.Sprintf("w%d", run), nil, 0)
	b.Run("nitro-read", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		for b.Loop() {
			rd, err := reader.NewReader(ctx, lastRec, 0, -1, nil)
			if err != nil {
				b.Fatal(err)
			}
			h := sha256.New()
			if _, err := io.Copy(h, rd); err != nil {
				b.Fatal(err)
			}
			rd.Close()
		}
		b.ReportMetric(float64(len(lastRec.Refs)), "chunks/op")
	})
	// A second image sharing most of the first (NITRO_BENCH_CLUSTER_FILE2,
	// e.g. the same VM image with packages added): the bytes PUT into the
	// cluster's chunk and pack containers for the first image, then for
	// the second written after it (by another node: its own Badger), on
	// a fresh prefix.
	if f2 := os.Getenv("NITRO_BENCH_CLUSTER_FILE2"); f2 != "" {
		in2 := readPrefix(b, f2, mb<<20)
		b.Run("nitro-second-image", func(b *testing.B) {
			b.SetBytes(int64(len(in2)))
			var first, second int64
			for b.Loop() {
				b.StopTimer()
				run++
				cnt := &counter{}
				prefix := fmt.Sprintf("w%d", run)
				st, _ := e.open(b, b.TempDir(), prefix, cnt, 0)
				if _, _, err := st.Write(ctx, bytes.NewReader(in)); err != nil {
					b.Fatal(err)
				}
				first = cnt.putBytes(swiftstore.KindChunks) + cnt.putBytes(swiftstore.KindPacks)
				cnt.reset()
				st2, _ := e.open(b, b.TempDir(), prefix, cnt, 0)
				b.StartTimer()
				if _, _, err := st2.Write(ctx, bytes.NewReader(in2)); err != nil {
					b.Fatal(err)
				}
				second = cnt.putBytes(swiftstore.KindChunks) + cnt.putBytes(swiftstore.KindPacks)
			}
			b.ReportMetric(float64(first), "image1-cluster-bytes")
			b.ReportMetric(float64(second), "image2-cluster-bytes")
		})
	}
}

// readPrefix returns the first n bytes of file f (all of it if shorter).
func readPrefix(b *testing.B, f string, n int) []byte {
	b.Helper()
	fh, err := os.Open(f)
	if err != nil {
		b.Fatal(err)
	}
	defer fh.Close()
	in := make([]byte, n)
	k, _ := io.ReadFull(fh, in)
	return in[:k]
}
