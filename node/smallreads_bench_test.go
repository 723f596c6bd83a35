package node

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/pprof"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// BenchmarkSmallReads is issue 15's "1,000 sequential small reads within
// 1.5× the time of the same reads from a plain file server": one client
// reads 1,000 Range GETs one after the other over one keep-alive
// connection, from Nitro (a 2 GiB object, ~107,000 refs, see
// newRangeFixture) and from net/http.FileServer serving the same bytes
// from a file, both on loopback, in one run:
//
//	go test ./node -run - -bench SmallReads -benchtime 3x -timeout 1h
//
// The node logs as `nitro serve` does by default (console format, info
// level, one access line per request), into a file. Workloads (the
// sub-benchmark's first name part):
//
//   - seq4k:   the next 4 KiB each time (a guest reading a file: what a
//     booting VM's block layer sends qemu's http driver with readahead off)
//   - seq64k:  the next 64 KiB each time
//   - seq128k: the next 128 KiB each time (the largest small read)
//   - rand64k: 64 KiB at random offsets (the p50/p99 workload of
//     BenchmarkRangeRead64KiB)
//
// For each: "nitro" and "file" (one op = the 1,000 reads from that
// server; ns/op is the time of the 1,000) and "ratio" (one op = the 1,000
// reads from each, interleaved in blocks of 100 so both see the same
// machine load; reports nitro/file of the totals, the target being ≤ 1.5,
// the process's CPU time per read of each, the load average, and per read
// the chunks verify-ahead verified, those the reader verified itself and
// the waits for a chunk in flight). Every answer is checked (206, the right bytes)
// outside the clock. NITRO_SMALLREADS_CPUPROFILE=FILE writes a CPU
// profile of the nitro reads of each "nitro" sub-benchmark into FILE.WORKLOAD.
func BenchmarkSmallReads(b *testing.B) {
	logPath := filepath.Join(b.TempDir(), "nitro.log")
	fx := newRangeFixtureLog(b, fileLogger(b, logPath))
	dir := filepath.Dir(fx.file.Name())
	fs := httptest.NewServer(http.FileServer(http.Dir(dir)))
	b.Cleanup(fs.Close)
	fileURL := fs.URL + "/" + filepath.Base(fx.file.Name())
	b.Logf("object %d bytes, %d chunks; node log %s", fx.size, fx.refs, logPath)
	time.Sleep(10 * time.Second) // Badger settles after the 2 GiB write (see BenchmarkRangeRead64KiB)

	profPath := os.Getenv("NITRO_SMALLREADS_CPUPROFILE")
	// startProf profiles the nitro reads of workload name into
	// profPath.name (each run of a sub-benchmark overwrites its file);
	// the returned func stops it.
	startProf := func(b *testing.B, name string) func() {
		if profPath == "" {
			return func() {}
		}
		f, err := os.Create(profPath + "." + name)
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			b.Fatal(err)
		}
		return func() { pprof.StopCPUProfile(); f.Close() }
	}

	rng := rand.New(rand.NewPCG(15, 2))
	workloads := []struct {
		name string
		size int64
		offs func() []int64
	}{
		{"seq4k", 4 << 10, nil},
		{"seq64k", 64 << 10, nil},
		{"seq128k", 128 << 10, nil},
		{"rand64k", 64 << 10, nil},
	}
	for i := range workloads {
		w := &workloads[i]
		w.offs = func() []int64 {
			out := make([]int64, 1000)
			if w.name == "rand64k" {
				for j := range out {
					out[j] = rng.Int64N(fx.size - w.size)
				}
				return out
			}
			base := rng.Int64N(fx.size-1000*w.size) &^ 4095
			for j := range out {
				out[j] = base + int64(j)*w.size
			}
			return out
		}
	}
	for _, w := range workloads {
		buf, want := make([]byte, w.size), make([]byte, w.size)
		read := func(b *testing.B, client *http.Client, url string, off int64) time.Duration {
			return fx.getN(b, client, url, off, buf, want)
		}
		// Warm both connections.
		for _, off := range w.offs()[:50] {
			read(b, fx.nitroConn, fx.nitroURL, off)
			read(b, fx.fileConn, fileURL, off)
		}
		b.Run(w.name+"/nitro", func(b *testing.B) {
			var d time.Duration
			all := make([][]int64, b.N)
			for i := range all {
				all[i] = w.offs()
			}
			stop := startProf(b, w.name)
			for i := 0; i < b.N; i++ {
				for _, off := range all[i] {
					d += read(b, fx.nitroConn, fx.nitroURL, off)
				}
			}
			stop()
			b.ReportMetric(float64(d)/float64(b.N), "ns/op")
		})
		b.Run(w.name+"/file", func(b *testing.B) {
			var d time.Duration
			for i := 0; i < b.N; i++ {
				for _, off := range w.offs() {
					d += read(b, fx.fileConn, fileURL, off)
				}
			}
			b.ReportMetric(float64(d)/float64(b.N), "ns/op")
		})
		b.Run(w.name+"/ratio", func(b *testing.B) {
			var nitro, file, nitroCPU, fileCPU time.Duration
			st0 := fx.store.VerifyAheadStats()
			for i := 0; i < b.N; i++ {
				offs := w.offs()
				for blk := 0; blk < len(offs); blk += 100 {
					c0 := processCPU()
					for _, off := range offs[blk : blk+100] {
						nitro += read(b, fx.nitroConn, fx.nitroURL, off)
					}
					c1 := processCPU()
					for _, off := range offs[blk : blk+100] {
						file += read(b, fx.fileConn, fileURL, off)
					}
					nitroCPU += c1 - c0
					fileCPU += processCPU() - c1
				}
			}
			b.ReportMetric(float64(nitro)/float64(file), "ratio")
			b.ReportMetric(float64(nitro)/float64(b.N)/1e6, "nitro-ms/1000")
			b.ReportMetric(float64(file)/float64(b.N)/1e6, "file-ms/1000")
			// CPU per read of the whole process (client, server, and for
			// nitro its verify-ahead worker, whose work may spill into the
			// next file block): what a read costs, whatever the load.
			b.ReportMetric(float64(nitroCPU)/float64(1000*b.N)/1e3, "nitro-cpu-us/read")
			b.ReportMetric(float64(fileCPU)/float64(1000*b.N)/1e3, "file-cpu-us/read")
			b.ReportMetric(loadAvg1(), "load1")
			// Per read, the chunks verify-ahead verified and those the
			// reader verified itself (read, or filled from the end while
			// it waited) or waited for: a reader that catches up with the
			// worker waits or does the work on its request's clock.
			st, reads := fx.store.VerifyAheadStats(), float64(1000*b.N)
			b.ReportMetric(float64(st.Verified-st0.Verified)/reads, "ahead/read")
			b.ReportMetric(float64(st.Own-st0.Own+st.Filled-st0.Filled)/reads, "own/read")
			b.ReportMetric(float64(st.Waits-st0.Waits)/reads, "waits/read")
		})
	}
}

// getN reads len(buf) bytes at off through client from url and returns
// the time it took (the request until the last byte); it fails b unless
// the answer is 206 with the right bytes, checked after the clock stops.
func (fx *rangeFixture) getN(b *testing.B, client *http.Client, url string, off int64, buf, want []byte) time.Duration {
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("X-Auth-Token", fx.token)
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+int64(len(buf))-1))
	t0 := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	n, err := io.ReadFull(resp.Body, buf)
	resp.Body.Close()
	d := time.Since(t0)
	if err != nil || resp.StatusCode != 206 || n != len(buf) {
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

// fileLogger is the logger `nitro serve` builds by default (Config.NewLogger:
// console encoding, info level) writing to path instead of stderr.
func fileLogger(b *testing.B, path string) *zap.Logger {
	zc := zap.NewDevelopmentConfig()
	zc.Development = false
	zc.DisableStacktrace = true
	zc.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	zc.Level = zap.NewAtomicLevelAt(zap.InfoLevel)
	zc.OutputPaths, zc.ErrorOutputPaths = []string{path}, []string{path}
	log, err := zc.Build()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = log.Sync() })
	return log
}

// processCPU is the CPU time (user and system) the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadAvg1 is the 1-minute load average (0 if unreadable).
func loadAvg1() float64 {
	var l float64
	if raw, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Sscanf(string(raw), "%f", &l)
	}
	return l
}
