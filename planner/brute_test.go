package planner

import (
	"math"
	"math/rand/v2"
	"testing"
)

// bruteForce enumerates every assignment of in's chunks to reachable
// holders and returns the least makespan, and the least cost among the
// assignments whose makespan is at most limit (relative tolerance 1e-9);
// the cost is +Inf when none is.
func bruteForce(in Input, limit float64) (best, cost float64) {
	n, k := len(in.Chunks), len(in.Sources)
	var total int64
	for _, c := range in.Chunks {
		total += c.Size
	}
	floor := 0.0
	if in.IngressCap > 0 {
		floor = float64(total) / in.IngressCap
	}
	best, cost = math.Inf(1), math.Inf(1)
	load := make([]int64, k)
	var rec func(i int)
	rec = func(i int) {
		if i == n {
			m, c := floor, 0.0
			for r, s := range in.Sources {
				if load[r] > 0 {
					m = max(m, s.RTT.Seconds()+float64(s.Queued+load[r])/s.Bandwidth)
					c += float64(load[r]) * s.CostPerByte
				}
			}
			best = min(best, m)
			if m <= limit*(1+1e-9) {
				cost = min(cost, c)
			}
			return
		}
		for r := range k {
			if in.Chunks[i].Holders.Has(r) && in.Sources[r].Bandwidth > 0 {
				load[r] += in.Chunks[i].Size
				rec(i + 1)
				load[r] -= in.Chunks[i].Size
			}
		}
	}
	rec(0)
	return best, cost
}

// TestBruteForce proves on small instances (<= 8 chunks, <= 3 sources)
// that Optimal is optimal for chunks of one size, that CostAware is the
// cheapest plan within (1+ε) of the optimum for chunks of one size, and
// that for several sizes the optimum lies between the bound and our plan.
func TestBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for iter := range 3000 {
		equal := iter%2 == 0
		in := randInput(rng, genOpts{
			n: 1 + rng.IntN(8), k: 1 + rng.IntN(3), equal: equal, minSize: 1 << 10, maxSize: 1 << 20,
			latency: rng.IntN(2) == 0, dead: 0.1, cost: true, ingress: rng.IntN(4) == 0,
		})
		// Integer bandwidths now and then, so that ties and exact
		// breakpoints occur.
		if rng.IntN(3) == 0 {
			for i := range in.Sources {
				if in.Sources[i].Bandwidth > 0 {
					in.Sources[i].Bandwidth = float64(1 + rng.IntN(4))
				}
			}
			for i := range in.Chunks {
				in.Chunks[i].Size = in.Chunks[0].Size%4 + 1
				if !equal {
					in.Chunks[i].Size = 1 + rng.Int64N(4)
				}
			}
		}
		pl, err := Solve(in, Strategy{})
		if err != nil {
			t.Fatalf("iter %d: %v", iter, err)
		}
		checkPlan(t, in, pl, true)
		opt, _ := bruteForce(in, 0)
		if opt < pl.LowerBound*(1-1e-9) {
			t.Fatalf("iter %d: brute-force optimum %v below the lower bound %v", iter, opt, pl.LowerBound)
		}
		if pl.Makespan < opt*(1-1e-9) {
			t.Fatalf("iter %d: plan %v beats brute force %v", iter, pl.Makespan, opt)
		}
		if allEqual(in) && !near(pl.Makespan, opt) {
			t.Fatalf("iter %d: equal sizes, makespan %v, optimum %v\n%+v", iter, pl.Makespan, opt, in)
		}
		if !allEqual(in) {
			continue
		}
		eps := []float64{0, 0.1, 0.5}[iter%3]
		ca, err := Solve(in, Strategy{Kind: CostAware, Epsilon: eps})
		if err != nil {
			t.Fatal(err)
		}
		checkPlan(t, in, ca, false)
		_, cheapest := bruteForce(in, (1+eps)*opt)
		if ca.Makespan > (1+eps)*opt*(1+1e-9) || !near(ca.Cost, cheapest) {
			t.Fatalf("iter %d: cost-aware ε=%v makespan %v (limit %v) cost %v, cheapest %v", iter, eps, ca.Makespan, (1+eps)*opt, ca.Cost, cheapest)
		}
	}
}
