package planner

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// genOpts shapes a random instance.
type genOpts struct {
	n, k       int
	equal      bool    // all chunks of one size
	minSize    int64   // bytes
	maxSize    int64   // bytes
	latency    bool    // random RTT and Queued
	dead       float64 // probability that a source has Bandwidth 0
	cost       bool    // random CostPerByte
	ingress    bool    // random ingress cap
	allHolders bool    // every holder set populated in turn
}

func randInput(rng *rand.Rand, o genOpts) Input {
	var in Input
	for r := range o.k {
		s := Source{Region: fmt.Sprintf("r%02d", r), Bandwidth: 1e6 + rng.Float64()*99e6}
		if rng.Float64() < o.dead {
			s.Bandwidth = 0
		}
		if o.latency {
			s.RTT = time.Duration(rng.IntN(300)) * time.Millisecond
			s.Queued = rng.Int64N(20 << 20)
		}
		if o.cost {
			s.CostPerByte = float64(rng.IntN(10)) * 1e-11
		}
		in.Sources = append(in.Sources, s)
	}
	var reach RegionSet
	for r, s := range in.Sources {
		if s.Bandwidth > 0 {
			reach |= 1 << uint(r)
		}
	}
	if reach == 0 {
		in.Sources[0].Bandwidth = 5e6
		reach = 1
	}
	size := o.minSize + rng.Int64N(o.maxSize-o.minSize+1)
	full := RegionSet(1<<uint(o.k) - 1)
	for i := range o.n {
		c := Chunk{Index: i, Size: size}
		if !o.equal {
			c.Size = o.minSize + rng.Int64N(o.maxSize-o.minSize+1)
		}
		if o.allHolders {
			c.Holders = RegionSet(i%int(full)) + 1
		} else {
			c.Holders = RegionSet(rng.Uint64()) & full
		}
		if c.Holders&reach == 0 {
			c.Holders |= RegionSet(1) << uint(nthBit(reach, rng.IntN(reach.Len())))
		}
		in.Chunks = append(in.Chunks, c)
	}
	if o.ingress {
		var sum float64
		for _, s := range in.Sources {
			sum += s.Bandwidth
		}
		in.IngressCap = sum * (0.3 + rng.Float64())
	}
	return in
}

// slack returns max over reachable sources of (largest chunk it holds)/bw:
// the rounding guarantee's additive term.
func slack(in Input) float64 {
	var s float64
	for r, src := range in.Sources {
		if src.Bandwidth <= 0 {
			continue
		}
		var big int64
		for _, c := range in.Chunks {
			if c.Holders.Has(r) {
				big = max(big, c.Size)
			}
		}
		s = max(s, float64(big)/src.Bandwidth)
	}
	return s
}

func near(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*max(1, math.Abs(a), math.Abs(b))
}

// checkPlan verifies the properties every plan must have, whatever its
// strategy, and the Optimal guarantee when optimal is set.
func checkPlan(t testing.TB, in Input, pl *Plan, optimal bool) {
	t.Helper()
	if len(pl.Owner) != len(in.Chunks) || len(pl.Sources) != len(in.Sources) {
		t.Fatalf("plan shape: %d owners for %d chunks, %d sources for %d", len(pl.Owner), len(in.Chunks), len(pl.Sources), len(in.Sources))
	}
	seen := make([]int, len(in.Chunks))
	var total int64
	makespan := 0.0
	var cost float64
	for r, sp := range pl.Sources {
		src := in.Sources[r]
		if sp.Region != src.Region {
			t.Fatalf("source %d region %q, want %q", r, sp.Region, src.Region)
		}
		var bytes int64
		for x, i := range sp.Chunks {
			c := in.Chunks[i]
			seen[i]++
			if pl.Owner[i] != r {
				t.Fatalf("chunk %d listed under %d, owner %d", i, r, pl.Owner[i])
			}
			if !c.Holders.Has(r) || src.Bandwidth <= 0 {
				t.Fatalf("chunk %d (holders %b) assigned to non-holder or dead source %d", i, c.Holders, r)
			}
			if x > 0 && in.Chunks[sp.Chunks[x-1]].Index >= c.Index {
				t.Fatalf("source %d fetch list not in object order", r)
			}
			bytes += c.Size
		}
		if bytes != sp.Bytes {
			t.Fatalf("source %d bytes %d, want %d", r, sp.Bytes, bytes)
		}
		total += bytes
		if bytes > 0 {
			want := src.RTT.Seconds() + (float64(src.Queued)+float64(bytes))/src.Bandwidth
			if !near(sp.Finish, want) {
				t.Fatalf("source %d finish %v, want %v", r, sp.Finish, want)
			}
			makespan = max(makespan, want)
			cost += float64(bytes) * src.CostPerByte
		} else if sp.Finish != 0 {
			t.Fatalf("idle source %d finish %v", r, sp.Finish)
		}
	}
	for i, s := range seen {
		if s != 1 {
			t.Fatalf("chunk %d assigned %d times", i, s)
		}
	}
	if in.IngressCap > 0 {
		makespan = max(makespan, float64(total)/in.IngressCap)
	}
	if total != pl.WANBytes || !near(makespan, pl.Makespan) || !near(cost, pl.Cost) {
		t.Fatalf("totals: bytes %d/%d makespan %v/%v cost %v/%v", pl.WANBytes, total, pl.Makespan, makespan, pl.Cost, cost)
	}
	lb, err := LowerBound(in)
	if err != nil {
		t.Fatal(err)
	}
	if !near(lb, pl.LowerBound) {
		t.Fatalf("plan lower bound %v, oracle %v", pl.LowerBound, lb)
	}
	if pl.Makespan < lb*(1-1e-9) {
		t.Fatalf("makespan %v below the lower bound %v", pl.Makespan, lb)
	}
	if optimal {
		if lim := lb + slack(in); pl.Makespan > lim*(1+1e-9)+1e-12 {
			t.Fatalf("makespan %v above bound %v + slack %v", pl.Makespan, lb, slack(in))
		}
	}
}

// ownerByIndex maps Chunk.Index to the sending region's name.
func ownerByIndex(in Input, pl *Plan) map[int]string {
	m := make(map[int]string, len(in.Chunks))
	for i, o := range pl.Owner {
		m[in.Chunks[i].Index] = in.Sources[o].Region
	}
	return m
}

func shuffled(rng *rand.Rand, in Input) Input {
	out := in
	out.Chunks = slices.Clone(in.Chunks)
	rng.Shuffle(len(out.Chunks), func(i, j int) { out.Chunks[i], out.Chunks[j] = out.Chunks[j], out.Chunks[i] })
	return out
}

var allStrategies = []Strategy{
	{Kind: Optimal},
	{Kind: CostAware, Epsilon: 0.1},
	{Kind: NitroBinarySearch},
	{Kind: Random, Seed: 7},
	{Kind: HighestBandwidth},
	{Kind: RoundRobin},
	{Kind: OriginOnly, Origin: "r00"},
}
