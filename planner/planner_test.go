package planner

import (
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

func TestSolveTable(t *testing.T) {
	two := []Source{{Region: "a", Bandwidth: 100}, {Region: "b", Bandwidth: 300}}
	tests := []struct {
		name     string
		in       Input
		lb       float64
		makespan float64
	}{
		{"empty", Input{Sources: two}, 0, 0},
		{"one source", Input{Sources: two[:1], Chunks: []Chunk{{Index: 0, Size: 50, Holders: 1}, {Index: 1, Size: 150, Holders: 1}}}, 2, 2},
		{"shared, split by bandwidth", Input{Sources: two, Chunks: []Chunk{
			{Index: 0, Size: 100, Holders: 3}, {Index: 1, Size: 100, Holders: 3}, {Index: 2, Size: 100, Holders: 3}, {Index: 3, Size: 100, Holders: 3},
		}}, 1, 1},
		{"exclusive bottleneck", Input{Sources: two, Chunks: []Chunk{
			{Index: 0, Size: 200, Holders: 1}, {Index: 1, Size: 100, Holders: 3}, {Index: 2, Size: 100, Holders: 2},
		}}, 2, 2},
		{"ingress cap", Input{Sources: two, IngressCap: 100, Chunks: []Chunk{
			{Index: 0, Size: 100, Holders: 3}, {Index: 1, Size: 100, Holders: 3}, {Index: 2, Size: 100, Holders: 3}, {Index: 3, Size: 100, Holders: 3},
		}}, 4, 4},
		{"rtt and queue", Input{Sources: []Source{
			{Region: "a", Bandwidth: 100, RTT: time.Second},
			{Region: "b", Bandwidth: 100, Queued: 300},
		}, Chunks: []Chunk{{Index: 0, Size: 100, Holders: 3}, {Index: 1, Size: 100, Holders: 3}, {Index: 2, Size: 100, Holders: 3}}},
			// a starts at 1 s, b at 3 s: a alone finishes 3 chunks at 4 s;
			// fractionally both reach 300 bytes at T with 100(T-1)+100(T-3)=300, T=3.5.
			3.5, 4},
		{"dead source ignored", Input{Sources: []Source{{Region: "a", Bandwidth: 0}, {Region: "b", Bandwidth: 10}}, Chunks: []Chunk{
			{Index: 5, Size: 10, Holders: 3}, {Index: 1, Size: 10, Holders: 2},
		}}, 2, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pl, err := Solve(tt.in, Strategy{})
			if err != nil {
				t.Fatal(err)
			}
			checkPlan(t, tt.in, pl, true)
			if !near(pl.LowerBound, tt.lb) || !near(pl.Makespan, tt.makespan) {
				t.Fatalf("lower bound %v makespan %v, want %v %v", pl.LowerBound, pl.Makespan, tt.lb, tt.makespan)
			}
		})
	}
}

func TestSolveErrors(t *testing.T) {
	ok := []Source{{Region: "a", Bandwidth: 10}, {Region: "b", Bandwidth: 0}}
	c := func(size int64, h RegionSet) []Chunk { return []Chunk{{Index: 0, ID: "c0", Size: size, Holders: h}} }
	tests := []struct {
		name string
		in   Input
		st   Strategy
		want error
	}{
		{"no reachable holder", Input{Sources: ok, Chunks: c(5, 2)}, Strategy{}, ErrNoHolder},
		{"no holder at all", Input{Sources: ok, Chunks: c(5, 0)}, Strategy{}, ErrNoHolder},
		{"all sources dead", Input{Sources: []Source{{Region: "a"}}, Chunks: c(5, 1)}, Strategy{}, ErrNoHolder},
		{"no sources", Input{Chunks: c(5, 1)}, Strategy{}, ErrBadInput},
		{"zero size", Input{Sources: ok, Chunks: c(0, 1)}, Strategy{}, ErrBadInput},
		{"holder out of range", Input{Sources: ok, Chunks: c(5, 4)}, Strategy{}, ErrBadInput},
		{"NaN bandwidth", Input{Sources: []Source{{Region: "a", Bandwidth: math.NaN()}}, Chunks: c(5, 1)}, Strategy{}, ErrBadInput},
		{"infinite bandwidth", Input{Sources: []Source{{Region: "a", Bandwidth: math.Inf(1)}}, Chunks: c(5, 1)}, Strategy{}, ErrBadInput},
		{"negative RTT", Input{Sources: []Source{{Region: "a", Bandwidth: 1, RTT: -1}}, Chunks: c(5, 1)}, Strategy{}, ErrBadInput},
		{"negative queue", Input{Sources: []Source{{Region: "a", Bandwidth: 1, Queued: -1}}, Chunks: c(5, 1)}, Strategy{}, ErrBadInput},
		{"negative cost", Input{Sources: []Source{{Region: "a", Bandwidth: 1, CostPerByte: -1}}, Chunks: c(5, 1)}, Strategy{}, ErrBadInput},
		{"duplicate region", Input{Sources: []Source{{Region: "a", Bandwidth: 1}, {Region: "a", Bandwidth: 1}}, Chunks: c(5, 1)}, Strategy{}, ErrBadInput},
		{"empty region", Input{Sources: []Source{{Bandwidth: 1}}, Chunks: c(5, 1)}, Strategy{}, ErrBadInput},
		{"duplicate index", Input{Sources: ok, Chunks: []Chunk{{Index: 3, Size: 1, Holders: 1}, {Index: 1, Size: 1, Holders: 1}, {Index: 3, Size: 1, Holders: 1}}}, Strategy{}, ErrBadInput},
		{"negative ingress", Input{Sources: ok, Chunks: c(5, 1), IngressCap: -1}, Strategy{}, ErrBadInput},
		{"too large", Input{Sources: ok, Chunks: []Chunk{{Index: 0, Size: MaxTotalBytes, Holders: 1}, {Index: 1, Size: 1, Holders: 1}}}, Strategy{}, ErrBadInput},
		{"unknown strategy", Input{Sources: ok, Chunks: c(5, 1)}, Strategy{Kind: "fastest"}, ErrBadInput},
		{"unknown origin", Input{Sources: ok, Chunks: c(5, 1)}, Strategy{Kind: OriginOnly, Origin: "z"}, ErrBadInput},
		{"bad epsilon", Input{Sources: ok, Chunks: c(5, 1)}, Strategy{Kind: CostAware, Epsilon: -1}, ErrBadInput},
		{"too slow", Input{Sources: []Source{{Region: "a", Bandwidth: 5e-324}}, Chunks: c(5, 1)}, Strategy{}, ErrBadInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pl, err := Solve(tt.in, tt.st)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Solve = %v, %v; want %v", pl, err, tt.want)
			}
			if _, err := LowerBound(tt.in); tt.st == (Strategy{}) && !errors.Is(err, tt.want) {
				t.Fatalf("LowerBound error %v, want %v", err, tt.want)
			}
		})
	}
	_, err := Solve(Input{Sources: ok, Chunks: c(5, 2)}, Strategy{})
	var ce *ChunkError
	if !errors.As(err, &ce) || ce.ID != "c0" || ce.Pos != 0 {
		t.Fatalf("error %v does not name the chunk", err)
	}
}

// TestProperties checks every strategy on random instances, and the
// Optimal and CostAware guarantees.
func TestProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := range 400 {
		o := genOpts{
			n: 1 + rng.IntN(300), k: 1 + rng.IntN(8), equal: rng.IntN(4) == 0,
			minSize: 1 + rng.Int64N(1<<20), latency: rng.IntN(2) == 0, dead: 0.15,
			cost: rng.IntN(2) == 0, ingress: rng.IntN(5) == 0,
		}
		o.maxSize = o.minSize + rng.Int64N(2<<20)
		in := randInput(rng, o)
		for _, st := range allStrategies {
			if st.Kind == OriginOnly {
				st.Origin = in.Sources[rng.IntN(len(in.Sources))].Region
			}
			pl, err := Solve(in, st)
			if err != nil {
				t.Fatalf("iter %d %v: %v", iter, st, err)
			}
			checkPlan(t, in, pl, st.Kind == Optimal)
			if st.Kind == CostAware {
				if lim := (1+st.Epsilon)*pl.LowerBound + slack(in); pl.Makespan > lim*(1+1e-9) {
					t.Fatalf("iter %d: cost-aware makespan %v above %v", iter, pl.Makespan, lim)
				}
			}
		}
	}
}

func TestDeterministicAndPermutationInvariant(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for iter := range 50 {
		in := randInput(rng, genOpts{n: 1 + rng.IntN(500), k: 2 + rng.IntN(6), minSize: 1000, maxSize: 5000, latency: true, cost: true})
		perm := shuffled(rng, in)
		for _, st := range allStrategies {
			a, err := Solve(in, st)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := Solve(in, st)
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("iter %d %v: not deterministic", iter, st)
			}
			c, err := Solve(perm, st)
			if err != nil {
				t.Fatal(err)
			}
			checkPlan(t, perm, c, st.Kind == Optimal)
			if !reflect.DeepEqual(ownerByIndex(in, a), ownerByIndex(perm, c)) || a.Makespan != c.Makespan {
				t.Fatalf("iter %d %v: plan depends on chunk order", iter, st)
			}
		}
	}
}

// TestSourcePermutation: renumbering the sources changes neither the bound
// nor, for chunks of one size (where the plan is optimal), the makespan.
func TestSourcePermutation(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 50 {
		k := 2 + rng.IntN(5)
		in := randInput(rng, genOpts{n: 1 + rng.IntN(200), k: k, equal: rng.IntN(2) == 0, minSize: 1000, maxSize: 9000, latency: true})
		perm := rng.Perm(k) // new position of source i
		out := Input{Sources: make([]Source, k)}
		for i, s := range in.Sources {
			out.Sources[perm[i]] = s
		}
		for _, c := range in.Chunks {
			var h RegionSet
			for i := range k {
				if c.Holders.Has(i) {
					h |= 1 << uint(perm[i])
				}
			}
			c.Holders = h
			out.Chunks = append(out.Chunks, c)
		}
		a, err := Solve(in, Strategy{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := Solve(out, Strategy{})
		if err != nil {
			t.Fatal(err)
		}
		if !near(a.LowerBound, b.LowerBound) {
			t.Fatalf("bound %v vs %v after renumbering", a.LowerBound, b.LowerBound)
		}
		if in.Chunks[0].Size == in.Chunks[len(in.Chunks)-1].Size && allEqual(in) && !near(a.Makespan, b.Makespan) {
			t.Fatalf("optimal makespan %v vs %v after renumbering", a.Makespan, b.Makespan)
		}
	}
}

func allEqual(in Input) bool {
	for _, c := range in.Chunks {
		if c.Size != in.Chunks[0].Size {
			return false
		}
	}
	return true
}

// TestLowerBoundOracle compares the subset enumeration with the
// parametric max-flow, and both with an independent brute force over
// subsets that recomputes the bytes within each subset from the chunks.
func TestLowerBoundOracle(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for range 300 {
		in := randInput(rng, genOpts{n: 1 + rng.IntN(100), k: 1 + rng.IntN(7), minSize: 1, maxSize: 1 << 20,
			latency: rng.IntN(2) == 0, dead: 0.2, ingress: rng.IntN(3) == 0})
		p, err := prepare(in)
		if err != nil {
			t.Fatal(err)
		}
		enum := p.subsetBound()
		flow, _, err := p.solveFractional()
		if err != nil {
			t.Fatal(err)
		}
		brute := bruteBound(in)
		if !near(enum, flow) || !near(enum, brute) {
			t.Fatalf("bounds differ: enumeration %v flow %v brute %v", enum, flow, brute)
		}
	}
	// More than 20 reachable sources: LowerBound uses the flow.
	in := randInput(rng, genOpts{n: 3000, k: 24, minSize: 1, maxSize: 1 << 20})
	lb, err := LowerBound(in)
	if err != nil || lb <= 0 {
		t.Fatalf("LowerBound at 24 sources = %v, %v", lb, err)
	}
}

// bruteBound evaluates the bound by bisection on T for every subset, with
// no shared code beyond the definitions.
func bruteBound(in Input) float64 {
	k := len(in.Sources)
	var total int64
	for _, c := range in.Chunks {
		total += c.Size
	}
	best := 0.0
	if in.IngressCap > 0 {
		best = float64(total) / in.IngressCap
	}
	for U := 1; U < 1<<uint(k); U++ {
		var b float64
		for _, c := range in.Chunks {
			inside := true
			for r := range k {
				if c.Holders.Has(r) && in.Sources[r].Bandwidth > 0 && U&(1<<uint(r)) == 0 {
					inside = false
				}
			}
			if inside {
				b += float64(c.Size)
			}
		}
		if b == 0 {
			continue
		}
		capU := func(T float64) float64 {
			var s float64
			for r := range k {
				src := in.Sources[r]
				if U&(1<<uint(r)) != 0 && src.Bandwidth > 0 {
					s += max(0, src.Bandwidth*(T-src.RTT.Seconds())-float64(src.Queued))
				}
			}
			return s
		}
		lo, hi := 0.0, 1.0
		for capU(hi) < b {
			if hi > 1e30 {
				hi = math.Inf(1)
				break
			}
			hi *= 2
		}
		for range 200 {
			mid := (lo + hi) / 2
			if capU(mid) >= b {
				hi = mid
			} else {
				lo = mid
			}
		}
		best = max(best, hi)
	}
	return best
}

func TestParseStrategy(t *testing.T) {
	for _, st := range append(allStrategies, Strategy{Kind: CostAware}, Strategy{Kind: Random, Seed: 1<<64 - 1}, Strategy{Kind: OriginOnly, Origin: "eu-west-1"}) {
		got, err := ParseStrategy(st.String())
		if err != nil || got != st {
			t.Fatalf("ParseStrategy(%q) = %+v, %v; want %+v", st.String(), got, err, st)
		}
	}
	if s, err := ParseStrategy("random"); err != nil || s != (Strategy{Kind: Random}) {
		t.Fatalf("random without seed: %+v %v", s, err)
	}
	if (Strategy{}).String() != "optimal" {
		t.Fatal("zero Strategy is not optimal")
	}
	for _, bad := range []string{"", "fastest", "optimal:1", "random:x", "cost-aware:-1", "cost-aware:NaN", "origin-only", "origin-only:"} {
		if _, err := ParseStrategy(bad); !errors.Is(err, ErrBadInput) {
			t.Fatalf("ParseStrategy(%q) error %v", bad, err)
		}
	}
}

// TestBaselines pins the simple strategies' behaviour.
func TestBaselines(t *testing.T) {
	in := Input{Sources: []Source{{Region: "a", Bandwidth: 10}, {Region: "b", Bandwidth: 30}, {Region: "c", Bandwidth: 20}}}
	for i := range 6 {
		in.Chunks = append(in.Chunks, Chunk{Index: i, Size: 10, Holders: Regions(0, 1, 2)})
	}
	in.Chunks = append(in.Chunks, Chunk{Index: 6, Size: 10, Holders: Regions(2)})
	owners := func(st Strategy) []int {
		pl, err := Solve(in, st)
		if err != nil {
			t.Fatal(err)
		}
		checkPlan(t, in, pl, false)
		return pl.Owner
	}
	if got := owners(Strategy{Kind: HighestBandwidth}); !reflect.DeepEqual(got, []int{1, 1, 1, 1, 1, 1, 2}) {
		t.Fatalf("highest-bandwidth %v", got)
	}
	if got := owners(Strategy{Kind: RoundRobin}); !reflect.DeepEqual(got, []int{0, 1, 2, 0, 1, 2, 2}) {
		t.Fatalf("round-robin %v", got)
	}
	if got := owners(Strategy{Kind: OriginOnly, Origin: "a"}); !reflect.DeepEqual(got, []int{0, 0, 0, 0, 0, 0, 2}) {
		t.Fatalf("origin-only %v", got)
	}
	// Nitro: capacities ceil(x·bw/30) = ceil(x/3), x, ceil(2x/3) chunks;
	// x = 3 gives 1+3+2 = 6 < 7 chunks, x = 4 gives 2+4+3 = 9: the plan
	// uses the flow at x = 4, where b takes at most 4 chunks.
	got := owners(Strategy{Kind: NitroBinarySearch})
	var onB int
	for _, o := range got {
		if o == 1 {
			onB++
		}
	}
	if onB > 4 || got[6] != 2 {
		t.Fatalf("nitro %v", got)
	}
}

func TestSlowStart(t *testing.T) {
	const iw = 14600 // Linux's initial window: 10 segments of 1460 bytes
	cases := []struct {
		name string
		bw   float64
		rtt  time.Duration
		want time.Duration // approximate
	}{
		{"window covers the BDP", 1e6, 10 * time.Millisecond, 0},
		{"no RTT", 1e9, 0, 0},
		// 62.5 MB/s, 100 ms: BDP 6.25 MB, 9 doublings, 7.46 MB in the ramp.
		{"500 Mbit/s at 100 ms", 62.5e6, 100 * time.Millisecond, 900*time.Millisecond - 119*time.Millisecond},
	}
	for _, c := range cases {
		got := SlowStart(c.bw, c.rtt, iw)
		if d := got - c.want; d < -5*time.Millisecond || d > 5*time.Millisecond {
			t.Errorf("%s: SlowStart = %v, want about %v", c.name, got, c.want)
		}
	}
}

func TestStartupDelaysASource(t *testing.T) {
	// Two equal sources; one with 1 s of start-up: the bound and the plan
	// give it 1 s less of the transfer.
	mk := func(startup time.Duration) Input {
		in := Input{Sources: []Source{{Region: "a", Bandwidth: 1e6}, {Region: "b", Bandwidth: 1e6, Startup: startup}}}
		for i := range 40 {
			in.Chunks = append(in.Chunks, Chunk{Index: i, Size: 100e3, Holders: Regions(0, 1)})
		}
		return in
	}
	p0, err := Solve(mk(0), Strategy{})
	if err != nil {
		t.Fatal(err)
	}
	p1, err := Solve(mk(time.Second), Strategy{})
	if err != nil {
		t.Fatal(err)
	}
	if p0.LowerBound != 2 || p1.LowerBound != 2.5 {
		t.Fatalf("lower bounds %v and %v, want 2 and 2.5", p0.LowerBound, p1.LowerBound)
	}
	if p1.Sources[1].Bytes >= p0.Sources[1].Bytes {
		t.Fatalf("the slow starter got %d bytes, as many as without start-up (%d)", p1.Sources[1].Bytes, p0.Sources[1].Bytes)
	}
	if _, err := Solve(Input{Sources: []Source{{Region: "a", Bandwidth: 1, Startup: -1}}}, Strategy{}); err == nil {
		t.Fatal("negative start-up accepted")
	}
}
