package fetch

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"go.uber.org/zap"
)

// BenchmarkHoldingsLookup: the per-read cost of planning from cached have
// answers (holdings.go): a lookup of n chunks at 3 peers.
func BenchmarkHoldingsLookup(b *testing.B) {
	for _, n := range []int{64, 4096} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			var h holdings
			ids := make([]recipe.ChunkID, n)
			sizes := make([]int64, n)
			for i := range ids {
				ids[i][0], ids[i][1], ids[i][2] = byte(i), byte(i>>8), 7
				sizes[i] = 1 << 20
			}
			peers := []Peer{{Region: "a", URL: "a"}, {Region: "b", URL: "b"}, {Region: "c", URL: "c"}}
			for _, p := range peers {
				h.note(haveKey(p), ids, sizes)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := h.lookup(peers, ids); !ok {
					b.Fatal("miss")
				}
			}
		})
	}
}

// BenchmarkFetchTwoHolders: a whole read of 8 MiB (32 KiB chunks) from two
// unpaced holders over loopback, through the job's streams, deadlines and
// arrival pipeline, into a fresh reader each time: MB/s of the fetch path
// with its per-frame bookkeeping.
func BenchmarkFetchTwoHolders(b *testing.B) {
	const size = 8 << 20
	data := incompressible(31, size)
	a, c := newRegion(b, "a", 0), newRegion(b, "c", 0)
	rec := write(b, a.store, data)
	copyChunks(b, a.store, c.store, rec.Refs)
	b.SetBytes(size)
	for b.Loop() {
		b.StopTimer()
		r := newReader(b, "b", nil, a, c)
		b.StartTimer()
		got, err := read(b, r, rec, 0, -1)
		if err != nil || len(got) != size {
			b.Fatal(err)
		}
	}
}

// BenchmarkFetchTwoHoldersSynced is BenchmarkFetchTwoHolders into a
// reader store that syncs (as a node's does; the other fetch tests'
// stores are NoSync): the receive path's fsyncs are in the measure.
// MB/cpu-s is plain MB per CPU-second of the whole process (the holders'
// serving included) up to a final Store.Sync (so Receive's deferred sync
// is paid too), what the path costs on a busy machine.
func BenchmarkFetchTwoHoldersSynced(b *testing.B) {
	const size = 8 << 20
	data := incompressible(31, size)
	a, c := newRegion(b, "a", 0), newRegion(b, "c", 0)
	rec := write(b, a.store, data)
	copyChunks(b, a.store, c.store, rec.Refs)
	b.SetBytes(size)
	var cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		st, err := chunkstore.Open(chunkstore.Config{Dir: b.TempDir(),
			MinSize: 16 << 10, AvgSize: 32 << 10, MaxSize: 128 << 10}, zap.NewNop())
		if err != nil {
			b.Fatal(err)
		}
		r := newReaderOn(b, st, "b", nil, nil, a, c)
		c0 := cpuTime()
		b.StartTimer()
		got, err := read(b, r, rec, 0, -1)
		if err != nil || len(got) != size {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := st.Sync(b.Context()); err != nil { // in the CPU, not the wall time: the reader does not wait for it
			b.Fatal(err)
		}
		cpu += cpuTime() - c0
		st.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(b.N)*size/cpu.Seconds()/1e6, "MB/cpu-s")
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru) //nolint:errcheck // cannot fail for RUSAGE_SELF
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
