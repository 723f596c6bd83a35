package node

import (
	"bytes"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"golang.org/x/sync/errgroup"
)

// BenchmarkVariantGet is issue 13's scenario (d) on loopback, through the
// whole node: region a holds a base image and a variant of it, region b
// holds the base (PUT there as another object), and one GET of the variant
// at b is timed to its last byte. The link a→b is paced at 200 Mbit/s
// (cluster.emulate_link_mbit; no RTT: loopback), as the fog topology's
// dc-north → edge-north2. Per op it reports
//
//   - total-ms: the GET with the variant's missing chunks fetched from a;
//   - fetch-ms: from the GET's start until b's fetch job finished (its
//     last missing chunk stored);
//   - local-ms: the same GET again, every chunk local by then;
//   - over-max: total / max(fetch, local), 1 when the fetch hides behind
//     the local serving entirely (the target); 1 + min/max when the read
//     serialises the two;
//   - cpu-ms: the process's CPU time during the GET (both nodes and the
//     client: on 2 cores, at least total-ms/2 means CPU bounds the read).
//
// Before each op the chunks b fetched are dropped from its store again.
// The images are synthetic (48 MiB, compressible like a VM image, the
// variant with ~5 % of its bytes changed in small runs spread over the
// whole object, and some appended) unless NITRO_BENCH_VARIANT names two
// files "base:variant" (e.g. the qcow2 images of scripts/vm-images.sh):
//
//	go test ./node -run - -bench VariantGet -benchtime 5x
//	NITRO_BENCH_VARIANT=/var/cache/nitro-images/images/bookworm-minbase.qcow2:/var/cache/nitro-images/images/bookworm-minbase-extra.qcow2 \
//	    go test ./node -run - -bench VariantGet -benchtime 5x
func BenchmarkVariantGet(b *testing.B) {
	base, variant := variantImages(b)
	a := startNode(b, variantRegionConfig(b, "a", nil))
	rb := startNode(b, variantRegionConfig(b, "b", []string{a.cluster.ml.Addr()}))
	waitForTB(b, 10*time.Second, "membership", func() bool {
		return len(a.cluster.ml.Peers()) == 1 && len(rb.cluster.ml.Peers()) == 1
	})
	ca, cb := login(b, a.base(), "test:tester", "testing"), login(b, rb.base(), "test:tester", "testing")
	ca.must(201, "PUT", "/images", nil, nil)
	ca.must(201, "PUT", "/images/base", nil, bytes.NewReader(base))
	ca.must(201, "PUT", "/images/variant", nil, bytes.NewReader(variant))
	waitForTB(b, 10*time.Second, "the variant's record at b", func() bool {
		resp, _ := cb.do("HEAD", "/images/variant", nil, nil)
		return resp.StatusCode == 200
	})
	cb.must(201, "PUT", "/images/local-base", nil, bytes.NewReader(base))
	_, rec := rb.recipeOf(b, "images", "variant")
	has, err := rb.store.Has(b.Context(), rec.Unique())
	if err != nil {
		b.Fatal(err)
	}
	var missing []recipe.ChunkID
	for i, id := range rec.Unique() {
		if !has[i] {
			missing = append(missing, id)
		}
	}
	b.Logf("variant: %d bytes, %d refs, %d distinct chunks, %d missing at b", len(variant), len(rec.Refs), len(has), len(missing))

	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	get := func() time.Duration {
		return timedGet(b, client, cb.storageURL+"/images/variant", cb.token, int64(len(variant)))
	}
	var total, fetched, local, cpu time.Duration
	var over float64
	b.SetBytes(int64(len(variant)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dropAll(b, rb, missing)
		var last int64
		for _, tr := range rb.cluster.fetch.Transfers() {
			last = max(last, tr.ID)
		}
		b.StartTimer()
		c0, t0 := cpuNow(), time.Now()
		d := get()
		cpu += cpuNow() - c0
		b.StopTimer()
		var f time.Duration
		waitForTB(b, 10*time.Second, "the fetch jobs' end", func() bool {
			f = 0
			for _, tr := range rb.cluster.fetch.Transfers() {
				if tr.ID <= last {
					continue
				}
				if tr.Running() {
					return false
				}
				f = max(f, tr.FinishedAt.Sub(t0))
			}
			return f > 0
		})
		l := get()
		total, fetched, local = total+d, fetched+f, local+l
		over += d.Seconds() / max(f, l).Seconds()
		b.StartTimer()
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(total.Milliseconds())/n, "total-ms")
	b.ReportMetric(float64(fetched.Milliseconds())/n, "fetch-ms")
	b.ReportMetric(float64(local.Milliseconds())/n, "local-ms")
	b.ReportMetric(over/n, "over-max")
	b.ReportMetric(float64(cpu.Milliseconds())/n, "cpu-ms")
}

// variantRegionConfig is regionConfig for benchmarks: region's node of a
// cluster whose link a→b is paced at 200 Mbit/s, with the store's
// default chunk sizes (those of the WAN benchmark's nodes).
func variantRegionConfig(t testing.TB, region string, join []string) Config {
	cfg := testConfig(t)
	cfg.Region, cfg.Node = region, region+"-node"
	cfg.Cluster = ClusterConfig{
		PeerListen: "127.0.0.1:0", GossipListen: "127.0.0.1:0", Peers: join, Secret: clusterSecret,
		PushTimeout: 2 * time.Second, AntiEntropyInterval: 300 * time.Millisecond, ProbeInterval: 100 * time.Millisecond,
		SummaryInterval: 300 * time.Millisecond,
		Links:           map[string]LinkConfig{"a": {BandwidthMbit: 200, RTTms: 5}, "b": {BandwidthMbit: 200, RTTms: 5}},
	}
	if region == "a" {
		cfg.Cluster.EmulateLinkMbit = map[string]float64{"b": 200}
	}
	return cfg
}

// variantImages returns the base and variant images of BenchmarkVariantGet:
// the files NITRO_BENCH_VARIANT names ("base:variant"), or synthetic ones.
func variantImages(b *testing.B) (base, variant []byte) {
	if env := os.Getenv("NITRO_BENCH_VARIANT"); env != "" {
		bp, vp, ok := strings.Cut(env, ":")
		if !ok {
			b.Fatalf("NITRO_BENCH_VARIANT=%q: want base:variant", env)
		}
		var err error
		if base, err = os.ReadFile(bp); err != nil {
			b.Fatal(err)
		}
		if variant, err = os.ReadFile(vp); err != nil {
			b.Fatal(err)
		}
		return base, variant
	}
	return syntheticVariant(48<<20, 3)
}

// syntheticVariant returns a base image of n bytes (4 KiB blocks: a
// third random, a third zeros, a third text) and a variant of it: 1.5 KiB
// changed at a random place of one 256 KiB stretch in four (each change
// makes the chunk around it new: a few % of the chunks, spread over the
// whole image) and 2 % of n appended, as installing a package changes a
// qcow2 image (metadata here and there, new clusters at the end).
func syntheticVariant(n int, seed uint64) (base, variant []byte) {
	r := rand.New(rand.NewPCG(seed, seed))
	base = make([]byte, n)
	const text = "the quick brown fox jumps over the lazy dog; "
	for off := 0; off < n; off += 4096 {
		blk := base[off:min(off+4096, n)]
		switch r.IntN(3) {
		case 0:
			for i := range blk {
				blk[i] = byte(r.Uint32())
			}
		case 1:
		default:
			for i := range blk {
				blk[i] = text[(i+off/4096)%len(text)]
			}
		}
	}
	variant = bytes.Clone(base)
	for off := 0; off+256<<10 <= n; off += 256 << 10 {
		if r.IntN(4) != 0 {
			continue // one stretch in four changes
		}
		at := off + r.IntN(256<<10-2048)
		for i := at; i < at+1536; i++ {
			variant[i] = byte(r.Uint32())
		}
	}
	tail := make([]byte, n/50)
	for i := range tail {
		tail[i] = byte(r.Uint32())
	}
	return base, append(variant, tail...)
}

// dropAll drops ids from r's store, 8 at a time (concurrent drops share
// their syncs).
func dropAll(b *testing.B, r *running, ids []recipe.ChunkID) {
	var g errgroup.Group
	g.SetLimit(8)
	for _, id := range ids {
		g.Go(func() error { return r.store.Drop(b.Context(), id) })
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
}

// cpuNow returns the CPU time (user + system) the process has used.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// waitForTB is waitFor for benchmarks.
func waitForTB(t testing.TB, d time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
