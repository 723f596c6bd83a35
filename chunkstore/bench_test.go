package chunkstore

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cpuTime returns the CPU time (user + system) the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuMeter reports MB per CPU-second of the process (all goroutines,
// Badger's included) over the timed loop: on a shared machine this says
// what the code costs when wall-clock MB/s says mostly how busy the
// neighbours are. 2 cores idle would give at most 2× this figure.
type cpuMeter struct{ start time.Duration }

func startCPU(b *testing.B) *cpuMeter {
	b.ResetTimer()
	return &cpuMeter{cpuTime()}
}

func (m *cpuMeter) report(b *testing.B, bytes int64) {
	d := cpuTime() - m.start
	b.ReportMetric(float64(bytes)/d.Seconds()/1e6, "MB/cpu-s")
}

// Benchmarks. Input ("new" data) is testData: 4 KiB blocks, each at random
// incompressible random bytes, a repeated sentence, or random letters of a
// 16-letter alphabet; zstd level 1 keeps about 60 % of it, and CDC finds
// almost no dedup inside it. Stores run with NoSync false (real fsyncs)
// unless the name says otherwise.

const benchSize = 64 << 20

func benchStore(b *testing.B, nosync bool) *Store {
	b.Helper()
	s, err := Open(Config{Dir: b.TempDir(), NoSync: nosync}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// mutate makes every 4 KiB block of data new for iteration i, so that every
// chunk (>= MinSize) is new.
func mutate(data []byte, i int) {
	for off := 0; off+8 <= len(data); off += 4096 {
		binary.LittleEndian.PutUint64(data[off:], uint64(i)*0x9e3779b97f4a7c15+uint64(off))
	}
}

func reportStored(b *testing.B, s *Store, ingested int64) {
	st, err := s.Stats(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(st.StoredBytes)/float64(ingested), "stored/ingested")
	b.ReportMetric(float64(ingested)/float64(st.Chunks), "B/chunk")
}

func benchWriteNew(b *testing.B, nosync bool) { benchWriteNewData(b, nosync, testData(1, benchSize)) }

// BenchmarkWriteNewRandom is BenchmarkWriteNew on incompressible bytes
// (scripts/bench-swift.sh --data random): MD5, cutting, SHA-256 and the
// value log, no compression.
func BenchmarkWriteNewRandom(b *testing.B) { benchWriteNewData(b, false, randomData(9, benchSize)) }

func benchWriteNewData(b *testing.B, nosync bool, data []byte) {
	s := benchStore(b, nosync)
	b.SetBytes(benchSize)
	var cpu time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		mutate(data, i)
		b.StartTimer()
		c0 := cpuTime()
		if _, _, err := s.Write(b.Context(), bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
		cpu += cpuTime() - c0
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)*benchSize/cpu.Seconds()/1e6, "MB/cpu-s")
	reportStored(b, s, int64(b.N)*benchSize)
}

// benchImage returns up to max bytes from the start of the disk image that
// NITRO_BENCH_IMAGE names, skipping b when it is unset.
func benchImage(b *testing.B, max int) []byte {
	path := os.Getenv("NITRO_BENCH_IMAGE")
	if path == "" {
		b.Skip("set NITRO_BENCH_IMAGE")
	}
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	data := make([]byte, max)
	n, _ := io.ReadFull(f, data)
	return data[:n]
}

// BenchmarkWriteImage writes a real disk image (zero runs, file data,
// free space; scripts/bench-swift.sh --data image) into a fresh store per
// iteration: set NITRO_BENCH_IMAGE to its path, e.g.
// /var/cache/nitro-images/images/bookworm-minbase.raw (the first 1 GiB is
// used).
func BenchmarkWriteImage(b *testing.B) {
	data := benchImage(b, 1<<30)
	n := len(data)
	b.SetBytes(int64(n))
	var cpu time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s, err := Open(Config{Dir: b.TempDir()}, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		c0 := cpuTime()
		if _, _, err := s.Write(b.Context(), bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
		cpu += cpuTime() - c0
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)*float64(n)/cpu.Seconds()/1e6, "MB/cpu-s")
}

func BenchmarkWriteNew(b *testing.B)       { benchWriteNew(b, false) }
func BenchmarkWriteNewNoSync(b *testing.B) { benchWriteNew(b, true) }

func BenchmarkWriteDuplicate(b *testing.B) {
	s := benchStore(b, false)
	data := testData(2, benchSize)
	if _, _, err := s.Write(b.Context(), bytes.NewReader(data)); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(benchSize)
	m := startCPU(b)
	for i := 0; i < b.N; i++ {
		if _, _, err := s.Write(b.Context(), bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	m.report(b, int64(b.N)*benchSize)
	reportStored(b, s, int64(b.N+1)*benchSize)
}

func BenchmarkRead(b *testing.B) {
	s := benchStore(b, true)
	data := testData(3, benchSize)
	rec, _, err := s.Write(b.Context(), bytes.NewReader(data))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(benchSize)
	m := startCPU(b)
	for i := 0; i < b.N; i++ {
		r, err := s.NewReader(b.Context(), rec, 0, -1, nil)
		if err != nil {
			b.Fatal(err)
		}
		if n, err := io.Copy(io.Discard, r); err != nil || n != benchSize {
			b.Fatal(n, err)
		}
		r.Close()
	}
	b.StopTimer()
	m.report(b, int64(b.N)*benchSize)
}

// genReader streams n bytes of testData-like content without holding it.
type genReader struct {
	rng  splitmix
	n    int64
	blk  []byte
	rest []byte
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.n <= 0 {
		return 0, io.EOF
	}
	if len(g.rest) == 0 {
		g.blk = testData(g.rng.next(), 1<<20)
		g.rest = g.blk
	}
	n := copy(p, g.rest)
	if int64(n) > g.n {
		n = int(g.n)
	}
	g.rest = g.rest[n:]
	g.n -= int64(n)
	return n, nil
}

// rssSampler tracks the peak of the process's RSS, split as the kernel
// splits it: anonymous memory (Go heap, Badger's memtables and caches) and
// file-backed pages (Badger mmaps its value-log and WAL files, so pages it
// wrote stay mapped and counted until the kernel evicts them; they are page
// cache, reclaimable, not memory the store holds).
type rssSampler struct {
	stop          chan struct{}
	done          chan struct{}
	anon, file, t float64 // MiB
}

func readRSS() (anon, file float64) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		kib, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
		switch k {
		case "RssAnon":
			anon = kib / 1024
		case "RssFile":
			file = kib / 1024
		}
	}
	return anon, file
}

func startRSS() *rssSampler {
	r := &rssSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			a, f := readRSS()
			r.anon, r.file, r.t = max(r.anon, a), max(r.file, f), max(r.t, a+f)
			select {
			case <-tick.C:
			case <-r.stop:
				return
			}
		}
	}()
	return r
}

func (r *rssSampler) report(b *testing.B, phase string) {
	close(r.stop)
	<-r.done
	b.ReportMetric(r.anon, "peakRSSanon-"+phase+"-MiB")
	b.ReportMetric(r.t, "peakRSS-"+phase+"-MiB")
}

// BenchmarkRSS4GiB writes and reads back a 4 GiB generated stream (1 MiB
// blocks of testData with fresh seeds) and reports each phase's MB/s and
// peak RSS (total, and anonymous only: see rssSampler). Run alone, with
// NITRO_BENCH_4G=1 and -benchtime=1x.
func BenchmarkRSS4GiB(b *testing.B) {
	if os.Getenv("NITRO_BENCH_4G") != "1" {
		b.Skip("set NITRO_BENCH_4G=1")
	}
	const size = 4 << 30
	s := benchStore(b, false)
	for i := 0; i < b.N; i++ {
		rs := startRSS()
		t0 := time.Now()
		rec, _, err := s.Write(b.Context(), &genReader{rng: splitmix(uint64(i) + 100), n: size})
		if err != nil {
			b.Fatal(err)
		}
		wt := time.Since(t0)
		rs.report(b, "write")
		b.ReportMetric(size/wt.Seconds()/1e6, "write-MB/s")
		rs = startRSS()
		t0 = time.Now()
		r, _ := s.NewReader(b.Context(), rec, 0, -1, nil)
		if n, err := io.Copy(io.Discard, r); err != nil || n != size {
			b.Fatal(n, err)
		}
		r.Close()
		b.ReportMetric(size/time.Since(t0).Seconds()/1e6, "read-MB/s")
		rs.report(b, "read")
	}
}

// BenchmarkStages measures the serial stages of a write alone, on one
// goroutine, to show what bounds ingest: chunking (restic/chunker), MD5
// (the ETag, serial over the stream), SHA-256 (chunk IDs, parallel) and
// zstd (new chunks only, parallel).
func BenchmarkStages(b *testing.B) {
	data := testData(4, benchSize)
	cfg := ChunkingConfig{}.Normalize()
	for _, impl := range []string{"chunker", "cutter"} {
		b.Run(impl, func(b *testing.B) {
			b.SetBytes(benchSize)
			buf := make([]byte, 0, cfg.MaxSize)
			m := startCPU(b)
			defer func() { m.report(b, int64(b.N)*benchSize) }()
			for i := 0; i < b.N; i++ {
				next := splitter(cfg, impl, data, buf)
				for next() == nil {
				}
			}
		})
	}
	b.Run("md5", func(b *testing.B) {
		b.SetBytes(benchSize)
		for i := 0; i < b.N; i++ {
			md5.Sum(data)
		}
	})
	b.Run("sha256", func(b *testing.B) {
		b.SetBytes(benchSize)
		for i := 0; i < b.N; i++ {
			for off := 0; off < len(data); off += 64 << 10 {
				sha256.Sum256(data[off : off+64<<10])
			}
		}
	})
	// zstd at level 1 over in, in 64 KiB values.
	zstd1 := func(b *testing.B, in []byte) {
		cd, _ := newCodec(1, cfg.MaxSize, 1)
		defer cd.close()
		b.SetBytes(benchSize)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			for off := 0; off < len(in); off += 64 << 10 {
				cd.encodeValue(in[off : off+64<<10])
			}
		}
	}
	b.Run("zstd1", func(b *testing.B) { zstd1(b, data) })
	b.Run("zstd1random", func(b *testing.B) {
		rng := splitmix(5)
		random := make([]byte, benchSize)
		for i := range random {
			random[i] = byte(rng.next())
		}
		zstd1(b, random)
	})
	b.Run("unzstd1", func(b *testing.B) {
		cd, _ := newCodec(1, cfg.MaxSize, 1)
		defer cd.close()
		var vals [][]byte
		for off := 0; off < len(data); off += 64 << 10 {
			vals = append(vals, cd.encodeValue(data[off:off+64<<10]))
		}
		dst := make([]byte, 0, 64<<10)
		b.SetBytes(benchSize)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			for _, v := range vals {
				dst, _ = cd.decodeValue(dst, v, 64<<10)
			}
		}
	})
}

// BenchmarkCutImage compares restic/chunker and the cutter on the first
// 256 MiB of a real image (zero runs, file data): set NITRO_BENCH_IMAGE to
// its path, e.g. /var/cache/nitro-images/images/bookworm-minbase.raw.
func BenchmarkCutImage(b *testing.B) {
	data := benchImage(b, 256<<20)
	cfg := ChunkingConfig{}.Normalize()
	buf := make([]byte, 0, cfg.MaxSize)
	for _, impl := range []string{"chunker", "cutter"} {
		b.Run(impl, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			m := startCPU(b)
			for i := 0; i < b.N; i++ {
				next := splitter(cfg, impl, data, buf)
				for next() == nil {
				}
			}
			m.report(b, int64(b.N)*int64(len(data)))
		})
	}
}

// splitter returns the step that cuts the next chunk of data into buf
// with impl, "chunker" (restic/chunker) or "cutter"; it returns io.EOF
// after the last chunk.
func splitter(cfg ChunkingConfig, impl string, data, buf []byte) func() error {
	if impl == "chunker" {
		ch := cfg.newChunker(bytes.NewReader(data))
		return func() error { _, err := ch.Next(buf); return err }
	}
	ct := cfg.newCutter(bytes.NewReader(data))
	return func() error { _, err := ct.Next(buf); return err }
}
