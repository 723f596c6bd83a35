package planner

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// benchInput returns n chunks of 512 KiB–1.5 MiB (all of 1 MiB when
// equal) over k sources of 2–25 MB/s, with holder sets cycling through all
// 2^k−1 non-empty sets in a scrambled order, so every set is populated
// when n >= 2^k−1.
func benchInput(k, n int, equal bool) Input {
	rng := rand.New(rand.NewPCG(uint64(k), uint64(n)))
	var in Input
	for r := range k {
		in.Sources = append(in.Sources, Source{
			Region:    fmt.Sprintf("r%02d", r),
			Bandwidth: 2e6 + rng.Float64()*23e6,
			RTT:       time.Duration(20+rng.IntN(300)) * time.Millisecond,
		})
	}
	sets := uint64(1)<<uint(k) - 1
	in.Chunks = make([]Chunk, n)
	for i := range in.Chunks {
		size := int64(1 << 20)
		if !equal {
			size = 512<<10 + rng.Int64N(1<<20)
		}
		var h uint64
		if uint64(n) <= sets {
			h = 1 + uint64(i)*(sets/uint64(n))
		} else {
			h = 1 + uint64(i)%sets
		}
		in.Chunks[i] = Chunk{Index: i, Size: size, Holders: RegionSet(h)}
	}
	return in
}

func benchSolve(b *testing.B, in Input, st Strategy) {
	b.ReportAllocs()
	var pl *Plan
	for b.Loop() {
		var err error
		if pl, err = Solve(in, st); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(pl.Makespan/pl.LowerBound, "makespan/bound")
}

// BenchmarkPlan measures Optimal at 10,000 chunks for 2–16 regions and at
// 1,000,000 chunks for 11 regions.
func BenchmarkPlan(b *testing.B) {
	type size struct{ k, n int }
	sizes := []size{{2, 1e4}, {4, 1e4}, {6, 1e4}, {8, 1e4}, {10, 1e4}, {11, 1e4}, {16, 1e4}, {11, 1e6}}
	for _, s := range sizes {
		in := benchInput(s.k, s.n, false)
		b.Run(fmt.Sprintf("regions=%d/chunks=%d", s.k, s.n), func(b *testing.B) { benchSolve(b, in, Strategy{}) })
	}
}

// BenchmarkPlanEqual is BenchmarkPlan with 1 MiB chunks, where Optimal
// takes the exact integral path; it is the setting of Nitro's own
// measurements (0.016 / 0.048 / 0.185 / 0.973 / 8.0 s at 2–10 sites).
func BenchmarkPlanEqual(b *testing.B) {
	for _, k := range []int{2, 4, 6, 8, 10, 11, 16} {
		in := benchInput(k, 1e4, true)
		b.Run(fmt.Sprintf("regions=%d/chunks=10000", k), func(b *testing.B) { benchSolve(b, in, Strategy{}) })
	}
}

// BenchmarkStrategies compares every strategy at 11 regions, 10,000 chunks.
func BenchmarkStrategies(b *testing.B) {
	in := benchInput(11, 1e4, false)
	for i := range in.Sources {
		in.Sources[i].CostPerByte = float64(i%4) * 2e-11
	}
	for _, st := range allStrategies {
		b.Run(st.String(), func(b *testing.B) { benchSolve(b, in, st) })
	}
}

// BenchmarkLowerBound measures the subset-enumeration oracle.
func BenchmarkLowerBound(b *testing.B) {
	for _, k := range []int{11, 16} {
		in := benchInput(k, 1e4, false)
		b.Run(fmt.Sprintf("regions=%d/chunks=10000", k), func(b *testing.B) {
			for b.Loop() {
				if _, err := LowerBound(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReplan measures a re-plan at 11 regions, 10,000 chunks: half
// arrived, 20 in flight, one source failed.
func BenchmarkReplan(b *testing.B) {
	in := benchInput(11, 1e4, false)
	for i := range in.Chunks { // so that source 3 may fail
		if in.Chunks[i].Holders == Regions(3) {
			in.Chunks[i].Holders |= Regions(0)
		}
	}
	prev, err := Solve(in, Strategy{})
	if err != nil {
		b.Fatal(err)
	}
	var pr Progress
	for i := range 5000 {
		pr.Arrived = append(pr.Arrived, i)
	}
	for i := 5000; i < 5020; i++ {
		pr.InFlight = append(pr.InFlight, Transfer{Chunk: i, Source: prev.Owner[i]})
	}
	pr.Sources = append([]Source(nil), in.Sources...)
	pr.Sources[3].Bandwidth = 0
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Replan(in, prev, pr); err != nil {
			b.Fatal(err)
		}
	}
}
