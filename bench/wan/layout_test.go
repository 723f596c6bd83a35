package main

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"github.com/nitro-cloud/nitro/planner"
)

func id(b byte) recipe.ChunkID { var c recipe.ChunkID; c[0] = b; return c }

// testLayout: refs A(0-100) B(100-300) A(300-400) C(400-1000), stored
// sizes A 10, B 20, C 60.
func testLayout() *Layout {
	refs := []recipe.Ref{{ID: id(1), Size: 100}, {ID: id(2), Size: 200}, {ID: id(1), Size: 100}, {ID: id(3), Size: 600}}
	rec := recipe.Recipe{Refs: refs, Size: 1000}
	return &Layout{Name: "t", Size: 1000, Refs: refs, Offsets: rec.Offsets(),
		Stored: map[recipe.ChunkID]int64{id(1): 10, id(2): 20, id(3): 60}}
}

func TestCovered(t *testing.T) {
	l := testLayout()
	for _, tc := range []struct {
		name   string
		ranges []ByteRange
		want   []recipe.ChunkID
	}{
		{"none", nil, nil},
		{"first byte", []ByteRange{{0, 1}}, []recipe.ChunkID{id(1)}},
		{"boundary", []ByteRange{{99, 2}}, []recipe.ChunkID{id(1), id(2)}},
		{"exact chunk", []ByteRange{{100, 200}}, []recipe.ChunkID{id(2)}},
		{"repeated chunk later", []ByteRange{{350, 10}}, []recipe.ChunkID{id(1)}},
		{"two ranges", []ByteRange{{150, 1}, {999, 1}}, []recipe.ChunkID{id(2), id(3)}},
		{"past the end", []ByteRange{{1000, 5}}, nil},
	} {
		got := l.Covered(tc.ranges)
		if len(got) != len(tc.want) {
			t.Errorf("%s: covered %v, want %v", tc.name, got, tc.want)
			continue
		}
		for _, w := range tc.want {
			if !got[w] {
				t.Errorf("%s: %v lacks %v", tc.name, got, w)
			}
		}
	}
	if n := l.StoredBytes(l.All()); n != 90 {
		t.Errorf("stored bytes of all: %d, want 90", n)
	}
}

func TestRandomSegments(t *testing.T) {
	for _, tc := range []struct {
		size int64
		n, k int
	}{{1000, 16, 8}, {1000, 16, 16}, {1000, 16, 0}, {17, 16, 5}, {1 << 30, 16, 5}, {10, 3, 9}} {
		rng := rand.New(rand.NewPCG(1, 2))
		rs := RandomSegments(tc.size, tc.n, tc.k, rng)
		var total int64
		for i, r := range rs {
			if r.Len <= 0 || r.Off < 0 || r.Off+r.Len > tc.size {
				t.Fatalf("%+v: bad range %+v", tc, r)
			}
			if i > 0 && rs[i-1].Off+rs[i-1].Len >= r.Off {
				t.Fatalf("%+v: ranges %v not sorted, disjoint and merged", tc, rs)
			}
			total += r.Len
		}
		k := min(tc.k, tc.n)
		seg := tc.size / int64(tc.n)
		// k segments of seg bytes, one of them perhaps the longer last.
		if lo, hi := int64(k)*seg, int64(k)*seg+tc.size%int64(tc.n); total < lo || total > hi {
			t.Fatalf("%+v: %d bytes in %v, want %d..%d", tc, total, rs, lo, hi)
		}
		again := RandomSegments(tc.size, tc.n, tc.k, rand.New(rand.NewPCG(1, 2)))
		if len(again) != len(rs) {
			t.Fatalf("%+v: not deterministic", tc)
		}
	}
}

func TestNeedsAndLowerBound(t *testing.T) {
	l := testLayout()
	holds := []map[recipe.ChunkID]bool{l.All(), {id(2): true, id(3): true}, {id(3): true}}
	for _, tc := range []struct {
		name      string
		have      map[recipe.ChunkID]bool
		wantIdx   []int
		wantSets  []planner.RegionSet
		wantBytes int64
	}{
		{"fresh reader", nil, []int{0, 1, 3}, []planner.RegionSet{planner.Regions(0), planner.Regions(0, 1), planner.Regions(0, 1, 2)}, 90},
		{"holds the base", map[recipe.ChunkID]bool{id(1): true, id(2): true}, []int{3}, []planner.RegionSet{planner.Regions(0, 1, 2)}, 60},
		{"holds all", l.All(), nil, nil, 0},
	} {
		needs := l.Needs(tc.have, holds)
		if len(needs) != len(tc.wantIdx) {
			t.Fatalf("%s: needs %+v", tc.name, needs)
		}
		var bytes int64
		for i, n := range needs {
			if n.Index != tc.wantIdx[i] || n.Holders != tc.wantSets[i] {
				t.Errorf("%s: need %d = %+v, want index %d holders %b", tc.name, i, n, tc.wantIdx[i], tc.wantSets[i])
			}
			bytes += n.Size
		}
		if bytes != tc.wantBytes {
			t.Errorf("%s: %d bytes, want %d", tc.name, bytes, tc.wantBytes)
		}
	}
	// The bound over the exact holdings: r gets A only from a, so
	// a (80 Mbit/s = 10 MB/s) is the bottleneck when sizes are large.
	topo, err := ParseTopology(strings.NewReader("r,a,1,80\nr,b,1,80\nr,c,1,80\na,b,1,80\na,c,1,80\nb,c,1,80\n"))
	if err != nil {
		t.Fatal(err)
	}
	big := &Layout{Refs: l.Refs, Offsets: l.Offsets, Stored: map[recipe.ChunkID]int64{id(1): 60e6, id(2): 30e6, id(3): 30e6}}
	in, err := PlanInput(topo, "r", []string{"a", "b", "c"}, big.Needs(nil, holds))
	if err != nil {
		t.Fatal(err)
	}
	lb, err := planner.LowerBound(in)
	if err != nil {
		t.Fatal(err)
	}
	// A (60 MB) only from a: >= 6 s; total 120 MB over 30 MB/s: 4 s. The
	// bound is 6 s (b and c carry B and C).
	if math.Abs(lb-6) > 0.01 {
		t.Errorf("lower bound %v, want 6", lb)
	}
	if _, err := PlannerTime(in, planner.Strategy{}, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := PlanInput(topo, "r", []string{"a"}, []Need{{Index: 0, Size: 1}}); err == nil {
		t.Error("a chunk without holders was accepted")
	}
}

func TestDuplicates(t *testing.T) {
	for _, tc := range []struct{ recv, need, want int64 }{{10, 10, 0}, {12, 10, 2}, {8, 10, 0}, {0, 0, 0}} {
		if got := Duplicates(tc.recv, tc.need); got != tc.want {
			t.Errorf("Duplicates(%d, %d) = %d, want %d", tc.recv, tc.need, got, tc.want)
		}
	}
}
