package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"github.com/nitro-cloud/nitro/planner"
)

// Layout is an image as every node cuts and stores it: its recipe and the
// stored (wire) size of each distinct chunk. Nodes chunk and compress
// deterministically (one polynomial, sizes and zstd level per cluster),
// so the harness computes the same recipe by writing the image into a
// scratch chunkstore with the nodes' settings.
type Layout struct {
	Name    string
	Size    int64
	Refs    []recipe.Ref
	Offsets []int64                  // len(Refs)+1; Offsets[i] is ref i's first byte
	Stored  map[recipe.ChunkID]int64 // stored bytes (as sent by the peer protocol)
}

// AnalyzeImage writes the file at path into a scratch store in a temporary
// directory with compression level (store.compression_level) and returns
// its Layout.
func AnalyzeImage(ctx context.Context, name, path string, level int) (*Layout, error) {
	dir, err := os.MkdirTemp("", "bench-wan-layout-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	st, err := chunkstore.Open(chunkstore.Config{Dir: dir, CompressionLevel: level, NoSync: true}, nil)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rec, _, err := st.Write(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("analyze %s: %w", path, err)
	}
	l := &Layout{Name: name, Size: rec.Size, Refs: rec.Refs, Offsets: rec.Offsets(), Stored: map[recipe.ChunkID]int64{}}
	for _, r := range rec.Refs {
		if _, ok := l.Stored[r.ID]; ok {
			continue
		}
		s, err := st.GetStored(ctx, r.ID)
		if err != nil {
			return nil, err
		}
		l.Stored[r.ID] = int64(len(s.Data))
	}
	return l, nil
}

// ByteRange is [Off, Off+Len) of an object.
type ByteRange struct{ Off, Len int64 }

// Covered returns the distinct chunks of the refs that overlap any of
// ranges: what a node lacking them fetches for those range reads (the
// object service reads exactly recipe.Span of a range).
func (l *Layout) Covered(ranges []ByteRange) map[recipe.ChunkID]bool {
	out := map[recipe.ChunkID]bool{}
	for _, r := range ranges {
		first, last := recipe.Span(l.Offsets, r.Off, r.Len)
		for _, ref := range l.Refs[first:last] {
			out[ref.ID] = true
		}
	}
	return out
}

// All returns every distinct chunk of the image.
func (l *Layout) All() map[recipe.ChunkID]bool {
	out := make(map[recipe.ChunkID]bool, len(l.Stored))
	for id := range l.Stored {
		out[id] = true
	}
	return out
}

// StoredBytes sums the stored sizes of chunks (those of l only).
func (l *Layout) StoredBytes(chunks map[recipe.ChunkID]bool) int64 {
	var n int64
	for id := range chunks {
		n += l.Stored[id]
	}
	return n
}

// RandomSegments splits [0, size) into n equal segments (the last takes
// the remainder) and returns k of them drawn by rng, in order, adjacent
// ones merged: the range reads that give a holder a random part of an
// image.
func RandomSegments(size int64, n, k int, rng *rand.Rand) []ByteRange {
	if n <= 0 || size <= 0 {
		return nil
	}
	k = min(max(k, 0), n)
	pick := rng.Perm(n)[:k]
	slices.Sort(pick)
	seg := size / int64(n)
	var out []ByteRange
	for _, i := range pick {
		off := int64(i) * seg
		end := off + seg
		if i == n-1 {
			end = size
		}
		if len(out) > 0 && out[len(out)-1].Off+out[len(out)-1].Len == off {
			out[len(out)-1].Len += end - off
			continue
		}
		out = append(out, ByteRange{off, end - off})
	}
	return out
}

// Need is one chunk a reader lacks: its stored size and the holders (bits
// over the holder list) that have it.
type Need struct {
	ID      recipe.ChunkID
	Index   int
	Size    int64
	Holders planner.RegionSet
}

// Needs lists, in object order, the distinct chunks of l that the reader
// lacks (not in have), with their holder sets from holds (holds[i] is
// what holder i has). A chunk no holder has gets an empty set.
func (l *Layout) Needs(have map[recipe.ChunkID]bool, holds []map[recipe.ChunkID]bool) []Need {
	seen := map[recipe.ChunkID]bool{}
	var out []Need
	for i, r := range l.Refs {
		if have[r.ID] || seen[r.ID] {
			continue
		}
		seen[r.ID] = true
		n := Need{ID: r.ID, Index: i, Size: l.Stored[r.ID]}
		for h, set := range holds {
			if set[r.ID] {
				n.Holders |= planner.Regions(h)
			}
		}
		out = append(out, n)
	}
	return out
}

// PlanInput is the planner input of a read by reader of needs from
// holders, with the topology's links (bandwidth and RTT) as the sources'
// estimates: the exact problem the lower bound is computed for.
func PlanInput(t *Topology, reader string, holders []string, needs []Need) (planner.Input, error) {
	var in planner.Input
	for _, h := range holders {
		l, ok := t.Link(h, reader)
		if !ok {
			return in, fmt.Errorf("no link %s-%s", h, reader)
		}
		in.Sources = append(in.Sources, planner.Source{Region: h, Bandwidth: l.BytesPerSec(), RTT: l.RTT})
	}
	for _, n := range needs {
		if n.Holders == 0 {
			return in, fmt.Errorf("chunk %s (ref %d) has no holder", n.ID.Short(), n.Index)
		}
		in.Chunks = append(in.Chunks, planner.Chunk{Index: n.Index, ID: n.ID.Short(), Size: n.Size, Holders: n.Holders})
	}
	return in, nil
}

// PlannerTime returns the median wall time of reps planner.Solve calls on
// in with strategy st.
func PlannerTime(in planner.Input, st planner.Strategy, reps int) (time.Duration, error) {
	var ds []time.Duration
	for range max(reps, 1) {
		t0 := time.Now()
		if _, err := planner.Solve(in, st); err != nil {
			return 0, err
		}
		ds = append(ds, time.Since(t0))
	}
	slices.Sort(ds)
	return ds[len(ds)/2], nil
}

// Duplicates is the number of chunk transfers beyond one per needed chunk:
// received chunks minus needed chunks, never negative.
func Duplicates(received, needed int64) int64 { return max(0, received-needed) }
