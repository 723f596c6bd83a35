package chunkstore

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"testing"
	"time"
)

// BenchmarkSmallSeqRead reads an object of random bytes (compression off,
// 16 KiB average chunks: the node's BenchmarkSmallReads fixture, 256 MiB
// instead of 2 GiB) through NewReader in sequential 64 KiB and 128 KiB
// pieces, as one VM's block layer does: the store's side of issue 15's
// sequential small reads, without HTTP. Reported per read: wall time
// (us/read) and the CPU time of the whole process (cpu-us/read: the
// reader, verify-ahead's worker, Badger and the runtime), which says what
// a read costs whatever the neighbours do on a shared machine; and per
// chunk of the object, the chunks verify-ahead verified (ahead/chunk) and
// those the reader verified itself (own/chunk, fillFromEnd's included).
// NITRO_SMALLSEQ_CPUPROFILE=FILE writes a CPU profile per size into
// FILE.SIZE.
func BenchmarkSmallSeqRead(b *testing.B) {
	s, err := Open(Config{Dir: b.TempDir(), NoSync: true, CompressionLevel: -1, AvgSize: 16 << 10}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	const size = 256 << 20
	data := randomData(15, size)
	written, _, err := s.Write(b.Context(), bytes.NewReader(data))
	if err != nil {
		b.Fatal(err)
	}
	rec, err := s.Recipe(b.Context(), written.ID()) // cached with its offsets, as the node reads it
	if err != nil {
		b.Fatal(err)
	}
	time.Sleep(5 * time.Second) // Badger flushes and compacts after the write
	pos := int64(0)
	for _, n := range []int64{64 << 10, 128 << 10} {
		b.Run(fmt.Sprintf("%dk", n>>10), func(b *testing.B) {
			buf := make([]byte, n)
			st0 := s.ahead.counts()
			if p := os.Getenv("NITRO_SMALLSEQ_CPUPROFILE"); p != "" {
				f, err := os.Create(fmt.Sprintf("%s.%dk", p, n>>10))
				if err != nil {
					b.Fatal(err)
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					b.Fatal(err)
				}
				defer pprof.StopCPUProfile()
			}
			reads := 0
			c0, t0 := cpuTime(), time.Now()
			for i := 0; i < b.N; i++ {
				for range 1000 {
					if pos+n > size {
						pos = 0 // a chunk now cached (the first): a stream again
					}
					r, err := s.NewReader(b.Context(), rec, pos, n, nil)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := io.ReadFull(r, buf); err != nil {
						b.Fatal(err)
					}
					r.Close()
					if !bytes.Equal(buf, data[pos:pos+n]) {
						b.Fatalf("wrong bytes at %d", pos)
					}
					pos += n
					reads++
				}
			}
			cpu, wall := cpuTime()-c0, time.Since(t0)
			st := s.ahead.counts()
			chunks := float64(st.Verified-st0.Verified) + float64(st.Own-st0.Own+st.Filled-st0.Filled)
			b.ReportMetric(float64(wall.Microseconds())/float64(reads), "us/read")
			b.ReportMetric(float64(cpu.Microseconds())/float64(reads), "cpu-us/read")
			if chunks > 0 {
				b.ReportMetric(float64(st.Verified-st0.Verified)/chunks, "ahead/chunk")
				b.ReportMetric(float64(st.Own-st0.Own+st.Filled-st0.Filled)/chunks, "own/chunk")
			}
		})
	}
}
