package node

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore"
	"go.uber.org/zap"
)

// Small Range GETs from a large object (issue 15): the node's latency
// next to a plain file server (net/http.ServeContent over the same bytes
// in a file), both over loopback with one keep-alive connection, in one
// run:
//
//	go test ./node -run - -bench RangeRead64KiB -benchtime 1x -timeout 1h
//
// The object is NITRO_RANGE_BENCH_BYTES bytes (default 2 GiB) of
// deterministic pseudo-random bytes (ChaCha8), PUT through the Swift API
// with compression off and 16 KiB average chunks, so that its recipe has
// about as many refs as the 114,860-ref image of the issue (~107,000 for
// 2 GiB). NITRO_RANGE_BENCH_AVG sets another average chunk size in bytes
// (a power of two; 65536 is the store's default, a quarter of the refs
// per byte read). Building it takes a minute or more on a loaded
// machine; it is built once for all sub-benchmarks.

const rangeBenchRead = 64 << 10

type rangeFixture struct {
	size      int64
	refs      int
	nitroURL  string // object URL
	token     string
	fileURL   string
	file      *os.File
	nitroConn *http.Client
	fileConn  *http.Client
	store     *chunkstore.Store // the node's
}

// oneConnClient is an HTTP client that keeps (at most) one idle
// connection to its server and reuses it for every request.
func oneConnClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConns: 1, MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1,
		DisableCompression: true, Proxy: nil,
		DialContext: (&net.Dialer{}).DialContext,
	}}
}

// chachaReader is an io.Reader of n deterministic pseudo-random bytes.
type chachaReader struct {
	c *rand.ChaCha8
	n int64
}

func (r *chachaReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.n {
		p = p[:r.n]
	}
	_, _ = r.c.Read(p)
	r.n -= int64(len(p))
	return len(p), nil
}

func newRangeFixture(b *testing.B) *rangeFixture { return newRangeFixtureLog(b, nil) }

// newRangeFixtureLog is newRangeFixture with the node logging to log (nil:
// no logging, as startNode).
func newRangeFixtureLog(b *testing.B, log *zap.Logger) *rangeFixture {
	size := int64(2 << 30)
	if v := os.Getenv("NITRO_RANGE_BENCH_BYTES"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1<<20 {
			b.Fatalf("NITRO_RANGE_BENCH_BYTES=%q: want a byte count >= 1 MiB", v)
		}
		size = n
	}
	cfg := testConfig(b)
	cfg.Store.CompressionLevel = -1
	cfg.Store.AvgSize = 16 << 10
	if v := os.Getenv("NITRO_RANGE_BENCH_AVG"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 4<<10 || n&(n-1) != 0 {
			b.Fatalf("NITRO_RANGE_BENCH_AVG=%q: want a power of two >= 4096", v)
		}
		cfg.Store.AvgSize = n
	}
	var r *running
	if log == nil {
		r = startNode(b, cfg)
	} else {
		r = startNodeLog(b, cfg, log)
	}
	c := login(b, r.base(), "test:tester", "testing")
	c.must(201, "PUT", "/bench", nil, nil)

	f, err := os.Create(filepath.Join(b.TempDir(), "object"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	start := time.Now()
	body := io.TeeReader(&chachaReader{c: rand.NewChaCha8([32]byte{15}), n: size}, f)
	req, _ := http.NewRequest("PUT", c.storageURL+"/bench/big", body)
	req.ContentLength = size
	req.Header.Set("X-Auth-Token", c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 {
		b.Fatalf("PUT: %s", resp.Status)
	}
	st, err := r.store.Stats(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("PUT %d bytes in %v: %d chunks stored", size, time.Since(start).Round(time.Millisecond), st.Chunks)

	fs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		http.ServeContent(w, req, "object", time.Time{}, f)
	}))
	b.Cleanup(fs.Close)
	return &rangeFixture{
		size: size, refs: int(st.Chunks), nitroURL: c.storageURL + "/bench/big", token: c.token,
		fileURL: fs.URL + "/object", file: f, nitroConn: oneConnClient(), fileConn: oneConnClient(), store: r.store,
	}
}

// get reads [off, off+rangeBenchRead) through client from url into buf
// and returns the time it took; it fails b unless the answer is 206 with
// the right bytes (checked against the file after the clock stops).
func (fx *rangeFixture) get(b *testing.B, client *http.Client, url string, off int64, buf, want []byte) time.Duration {
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("X-Auth-Token", fx.token)
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+rangeBenchRead-1))
	t0 := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	n, err := io.ReadFull(resp.Body, buf)
	resp.Body.Close()
	d := time.Since(t0)
	if err != nil || resp.StatusCode != 206 || n != rangeBenchRead {
		b.Fatalf("GET %s at %d: %s, %d bytes, %v", url, off, resp.Status, n, err)
	}
	if _, err := fx.file.ReadAt(want, off); err != nil {
		b.Fatal(err)
	}
	if !bytes.Equal(buf, want) {
		b.Fatalf("GET %s at %d: wrong bytes", url, off)
	}
	return d
}

// offsets returns n deterministic random offsets of 64 KiB reads.
func (fx *rangeFixture) offsets(n int) []int64 {
	rng := rand.New(rand.NewPCG(15, 1))
	out := make([]int64, n)
	for i := range out {
		out[i] = rng.Int64N(fx.size - rangeBenchRead)
	}
	return out
}

// reportPercentiles reports the p50 and p99 of ds in ms, named with prefix.
func reportPercentiles(b *testing.B, prefix string, ds []time.Duration) {
	slices.Sort(ds)
	ms := func(q float64) float64 {
		return float64(ds[min(len(ds)-1, int(q*float64(len(ds))))]) / 1e6
	}
	b.ReportMetric(ms(0.50), prefix+"p50-ms")
	b.ReportMetric(ms(0.99), prefix+"p99-ms")
}

// BenchmarkRangeRead64KiB: per op, 1,000 sequential 64 KiB Range GETs at
// random offsets from each server (interleaved in blocks of 100, the same
// offsets for both), with p50 and p99 per GET of each and the ratio of the
// totals (nitro/file). Run it with -benchtime 1x (or a few x).
func BenchmarkRangeRead64KiB(b *testing.B) {
	fx := newRangeFixture(b)
	b.Logf("object %d bytes, %d chunks", fx.size, fx.refs)
	// Let Badger settle after the 2 GiB write (memtable flushes, L0
	// compactions), as it has long before a VM boots from the image, and
	// warm both servers' connections.
	time.Sleep(10 * time.Second)
	b.Run("seq1000", func(b *testing.B) {
		offs := fx.offsets(1000)
		buf, want := make([]byte, rangeBenchRead), make([]byte, rangeBenchRead)
		for _, off := range fx.offsets(50) {
			fx.get(b, fx.nitroConn, fx.nitroURL, off+1, buf, want)
			fx.get(b, fx.fileConn, fx.fileURL, off+1, buf, want)
		}
		var nitro, file []time.Duration
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			for blk := 0; blk < len(offs); blk += 100 {
				for _, off := range offs[blk : blk+100] {
					nitro = append(nitro, fx.get(b, fx.nitroConn, fx.nitroURL, off, buf, want))
				}
				for _, off := range offs[blk : blk+100] {
					file = append(file, fx.get(b, fx.fileConn, fx.fileURL, off, buf, want))
				}
			}
		}
		b.StopTimer()
		sum := func(ds []time.Duration) (t time.Duration) {
			for _, d := range ds {
				t += d
			}
			return t
		}
		b.ReportMetric(float64(sum(nitro))/float64(sum(file)), "ratio")
		reportPercentiles(b, "nitro-", nitro)
		reportPercentiles(b, "file-", file)
	})
}
