package fetch

import (
	"fmt"
	"testing"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
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
			peers := []Peer{{Region: "a"}, {Region: "b"}, {Region: "c"}}
			for _, p := range peers {
				h.note(p.Region, ids, sizes)
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
