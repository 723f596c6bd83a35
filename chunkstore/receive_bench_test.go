package chunkstore

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

// BenchmarkReceive measures the receive path alone: chunks in their stored
// form (as a peer sends them) in, PutStored (verify against the ID, look
// up, store, fsync) out, with w concurrent callers (the fetcher's arrival
// pipeline has putWorkers = 4 per stream: node/internal/fetch). Every
// iteration stores receiveSize plain bytes of new chunks into a fresh
// store (real Badger on disk, real fsyncs). MB/s is plain bytes per
// wall-clock second; MB/cpu-s is plain bytes per CPU-second of the whole
// process, i.e. what one core absorbs, whatever the neighbours do (for
// "-receive", up to a final Store.Sync: the background syncs' cost is in
// it, also the last one's).
//
// Inputs: "mixed" is testData (zstd keeps ~60 %), "random" incompressible
// bytes (stored raw), both cut at 64 KiB like an average chunk.
func BenchmarkReceive(b *testing.B) {
	for _, in := range []struct {
		name string
		data func() []byte
	}{
		{"mixed", func() []byte { return testData(7, receiveSize) }},
		{"random", func() []byte { return randomData(8, receiveSize) }},
	} {
		for _, v := range []struct {
			workers int
			nosync  bool
			receive bool
		}{{4, false, false}, {16, false, false}, {4, true, false}, {4, false, true}} {
			name := fmt.Sprintf("%s/w%d", in.name, v.workers)
			if v.nosync {
				name += "-nosync"
			}
			if v.receive {
				name += "-receive"
			}
			b.Run(name, func(b *testing.B) {
				cd, err := newCodec(1, recipe.MaxChunkSize, 1)
				if err != nil {
					b.Fatal(err)
				}
				data := in.data()
				type item struct {
					id recipe.ChunkID
					st Stored
				}
				var items []item
				var stored int64
				for off := 0; off < len(data); off += receiveChunk {
					p := data[off : off+receiveChunk]
					v := cd.encodeValue(p)
					items = append(items, item{recipe.Sum(p), Stored{Codec: Codec(v[0]), Data: v[1:]}})
					stored += int64(len(v) - 1)
				}
				cd.close()
				b.SetBytes(receiveSize)
				var cpu time.Duration
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					s, err := Open(Config{Dir: b.TempDir(), NoSync: v.nosync}, nil)
					if err != nil {
						b.Fatal(err)
					}
					work := make(chan item, len(items))
					for _, it := range items {
						work <- it
					}
					close(work)
					b.StartTimer()
					c0 := cpuTime()
					var wg sync.WaitGroup
					for range v.workers {
						wg.Go(func() {
							for it := range work {
								// A peer's frame buffer: PutStored must not keep it.
								put := s.PutStored
								if v.receive {
									put = s.Receive
								}
								if err := put(b.Context(), it.id, it.st); err != nil {
									b.Error(err)
									return
								}
							}
						})
					}
					wg.Wait()
					b.StopTimer()
					if v.receive {
						// Receive's deferred sync is paid in the CPU
						// figure (a caller does not wait for it).
						if err := s.Sync(b.Context()); err != nil {
							b.Fatal(err)
						}
					}
					cpu += cpuTime() - c0
					if err := s.Close(); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				b.ReportMetric(float64(b.N)*receiveSize/cpu.Seconds()/1e6, "MB/cpu-s")
				b.ReportMetric(float64(stored)/receiveSize, "stored/plain")
			})
		}
	}
}

const (
	receiveSize  = 64 << 20
	receiveChunk = 64 << 10
)

// randomData returns n incompressible bytes, deterministic for seed.
func randomData(seed uint64, n int) []byte {
	rng := splitmix(seed)
	out := make([]byte, n+8)
	for i := 0; i < n; i += 8 {
		v := rng.next()
		for k := range 8 {
			out[i+k] = byte(v >> (8 * k))
		}
	}
	return out[:n]
}
