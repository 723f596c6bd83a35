package planner

import (
	"cmp"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// Kind names a planning strategy. Its value is the name ParseStrategy
// accepts.
type Kind string

// Strategies. Optimal and CostAware are the planner; the others are
// baselines kept for comparison in tests and benchmarks.
const (
	// Optimal minimises the makespan: the exact fractional optimum T*
	// rounded to whole chunks within one chunk time (see Solve).
	Optimal Kind = "optimal"
	// CostAware minimises Cost among plans whose fractional makespan is
	// at most (1+Epsilon)·T*.
	CostAware Kind = "cost-aware"
	// NitroBinarySearch is Nitro's planner (Darrous et al., CCGrid 2018;
	// Darrous, PhD thesis 2019, ch. 6, Algorithm 1) as we read it: chunks
	// count as equal units, source r's sink capacity is
	// ceil(x·Bandwidth_r/maxBandwidth) chunks, the least integer x for
	// which a max-flow carries every chunk is found by binary search, and
	// the max-flow at that final capacity is the plan. RTT, Queued and
	// sizes are ignored while planning (not while evaluating).
	NitroBinarySearch Kind = "nitro"
	// Random sends each chunk from a holder drawn uniformly at random,
	// deterministically from Seed (PCG).
	Random Kind = "random"
	// HighestBandwidth sends each chunk from its holder with the largest
	// Bandwidth (the lowest position on ties).
	HighestBandwidth Kind = "highest-bandwidth"
	// RoundRobin sends the chunks of each holder set, in object order,
	// from its holders in turn.
	RoundRobin Kind = "round-robin"
	// OriginOnly sends every chunk from Origin; a chunk Origin does not
	// hold (or any chunk, when Origin is unreachable) comes from its
	// highest-bandwidth holder.
	OriginOnly Kind = "origin-only"
)

// Strategy selects how Solve plans. The zero value is Optimal.
type Strategy struct {
	Kind    Kind
	Epsilon float64 // CostAware: makespan slack, finite and >= 0
	Seed    uint64  // Random: PCG seed
	Origin  string  // OriginOnly: region name
}

// String returns the strategy in the syntax of ParseStrategy.
func (s Strategy) String() string {
	switch s.Kind {
	case "":
		return string(Optimal)
	case CostAware:
		return string(s.Kind) + ":" + strconv.FormatFloat(s.Epsilon, 'g', -1, 64)
	case Random:
		return string(s.Kind) + ":" + strconv.FormatUint(s.Seed, 10)
	case OriginOnly:
		return string(s.Kind) + ":" + s.Origin
	}
	return string(s.Kind)
}

// ParseStrategy parses "optimal", "cost-aware[:EPSILON]", "nitro",
// "random[:SEED]", "highest-bandwidth", "round-robin" or
// "origin-only:REGION" (the output of Strategy.String). Omitted EPSILON
// and SEED are 0. It returns an error wrapping ErrBadInput otherwise.
func ParseStrategy(s string) (Strategy, error) {
	name, arg, hasArg := strings.Cut(strings.TrimSpace(s), ":")
	st := Strategy{Kind: Kind(name)}
	switch st.Kind {
	case Optimal, NitroBinarySearch, HighestBandwidth, RoundRobin:
		if hasArg {
			return Strategy{}, badInput("strategy %q takes no argument", name)
		}
	case CostAware:
		if hasArg {
			e, err := strconv.ParseFloat(arg, 64)
			if err != nil || !finiteNonNeg(e) {
				return Strategy{}, badInput("strategy %q: epsilon %q", name, arg)
			}
			st.Epsilon = e
		}
	case Random:
		if hasArg {
			seed, err := strconv.ParseUint(arg, 10, 64)
			if err != nil {
				return Strategy{}, badInput("strategy %q: seed %q", name, arg)
			}
			st.Seed = seed
		}
	case OriginOnly:
		if arg == "" {
			return Strategy{}, badInput("strategy %q needs a region", name)
		}
		st.Origin = arg
	default:
		return Strategy{}, badInput("unknown strategy %q", s)
	}
	return st, nil
}

// Solve plans the transfer of in.Chunks with strategy s.
//
// Optimal with chunks of several sizes: parametric max-flow for the exact
// T* (see LowerBound), then forest rounding; every source r finishes by
// T* + (largest chunk r holds)/Bandwidth_r, so
//
//	T* <= Makespan <= T* + max_r maxChunk_r/Bandwidth_r.
//
// Optimal with chunks all of one size: the least makespan of any integral
// plan, exactly (a search over the candidate times a_r + j·size/bw_r with
// max-flow in units of chunks), which also meets the bound above.
//
// CostAware: the flow at (1+Epsilon)·T* (chunks of one size: at
// (1+Epsilon) times the integral optimum) of least cost, found by filling
// sources in ascending CostPerByte: costs sit on the sink arcs only, so the
// loads a flow can give the sources form a polymatroid, on which this
// greedy is a minimum-cost flow (J. Edmonds, "Submodular functions,
// matroids and certain polyhedra", 1970). The result is then rounded as for
// Optimal, exact for one chunk size; for several sizes each source may
// exceed its fractional load by less than one chunk, which bounds both the
// extra time and the extra cost.
//
// Cost: O(n) to group the chunks (plus a sort when they are not in object
// order) and max-flows on a network of at most min(n, 2^regions−1) groups.
// Solve is deterministic: the same Input and Strategy give the same Plan,
// whatever the order of in.Chunks.
//
// Errors: ErrBadInput for an invalid Input or Strategy; a *ChunkError
// wrapping ErrNoHolder when a chunk has no holder with Bandwidth > 0.
func Solve(in Input, s Strategy) (*Plan, error) {
	if err := s.validate(in); err != nil {
		return nil, err
	}
	p, err := prepare(in)
	if err != nil {
		return nil, err
	}
	tstar, nw, err := p.solveFractional()
	if err != nil {
		return nil, err
	}
	var owner []int8
	switch s.Kind {
	case "", Optimal:
		if p.equalSizes() {
			_, enw, err := p.solveEqual(tstar)
			if err != nil {
				return nil, err
			}
			owner = assignCounts(p, enw)
		} else {
			owner = roundForest(p, nw)
		}
	case CostAware:
		owner, err = p.costAware(tstar, s.Epsilon)
	case NitroBinarySearch:
		owner = p.nitro()
	case Random:
		rng := rand.New(rand.NewPCG(s.Seed, s.Seed^0x9e3779b97f4a7c15))
		owner = p.perChunk(func(_ int, m RegionSet) int { return nthBit(m, rng.IntN(m.Len())) })
	case HighestBandwidth:
		owner = p.perChunk(func(_ int, m RegionSet) int { return p.fastest(m) })
	case RoundRobin:
		turn := make([]int, len(p.gmask))
		owner = p.perChunk(func(g int, m RegionSet) int {
			r := nthBit(m, turn[g]%m.Len())
			turn[g]++
			return r
		})
	case OriginOnly:
		o := slices.IndexFunc(in.Sources, func(src Source) bool { return src.Region == s.Origin })
		owner = p.perChunk(func(_ int, m RegionSet) int {
			if m.Has(o) {
				return o
			}
			return p.fastest(m)
		})
	}
	if err != nil {
		return nil, err
	}
	return p.buildPlan(owner, s, tstar), nil
}

func (s Strategy) validate(in Input) error {
	switch s.Kind {
	case "", Optimal, NitroBinarySearch, Random, HighestBandwidth, RoundRobin:
	case CostAware:
		if !finiteNonNeg(s.Epsilon) {
			return badInput("cost-aware epsilon %v", s.Epsilon)
		}
	case OriginOnly:
		if !slices.ContainsFunc(in.Sources, func(src Source) bool { return src.Region == s.Origin }) {
			return badInput("origin %q is not a source", s.Origin)
		}
	default:
		return badInput("unknown strategy %q", s.Kind)
	}
	return nil
}

// costAware implements the CostAware strategy.
func (p *problem) costAware(tstar, eps float64) ([]int8, error) {
	order := slices.Clone(p.byAvail)
	slices.SortStableFunc(order, func(a, b int) int {
		return cmp.Compare(p.in.Sources[a].CostPerByte, p.in.Sources[b].CostPerByte)
	})
	if p.equalSizes() {
		m, _, err := p.solveEqual(tstar)
		if err != nil {
			return nil, err
		}
		T := m * (1 + eps)
		nw := newNetwork(p, p.gcount)
		for _, r := range order {
			nw.setRegionCap(r, p.chunkCap(r, T, p.maxSize))
			nw.maxflow()
		}
		if nw.value != int64(p.n()) {
			return nil, fmt.Errorf("planner: internal: cost-aware flow carries %d of %d chunks", nw.value, p.n())
		}
		return assignCounts(p, nw), nil
	}
	T := max(tstar*(1+eps), p.tflow)
	nw := newNetwork(p, p.scaled())
	for _, r := range order {
		nw.setRegionCap(r, p.byteCap(r, T))
		nw.maxflow()
	}
	if nw.value != p.total*p.unit() {
		return nil, fmt.Errorf("planner: internal: cost-aware flow carries %d of %d bytes", nw.value, p.total)
	}
	return roundForest(p, nw), nil
}

// nitro implements NitroBinarySearch.
func (p *problem) nitro() []int8 {
	n := int64(p.n())
	var bwmax float64
	for _, r := range p.byAvail {
		bwmax = max(bwmax, p.bw[r])
	}
	nw := newNetwork(p, p.gcount)
	feasible := func(x float64) bool {
		nw.reset(p.gcount)
		for _, r := range p.byAvail {
			c := math.Ceil(x * p.bw[r] / bwmax)
			nw.setRegionCap(r, int64(min(c, float64(n))))
		}
		nw.greedy(p)
		return nw.maxflow() == n
	}
	// Double x until feasible (at the latest when every capacity reaches n,
	// or x overflows to +Inf), then bisect on integers.
	hi := 1.0
	for !feasible(hi) {
		hi *= 2
	}
	for lo := math.Floor(hi / 2); !math.IsInf(hi, 1) && hi-lo > 1; {
		mid := math.Floor(lo + (hi-lo)/2)
		if feasible(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	feasible(hi)
	return assignCounts(p, nw)
}

// perChunk assigns each chunk, in object order, to pick(group, holders).
func (p *problem) perChunk(pick func(g int, m RegionSet) int) []int8 {
	owner := make([]int8, p.n())
	for rank := range owner {
		g := int(p.cgroup[rank])
		owner[rank] = int8(pick(g, p.gmask[g]))
	}
	return owner
}

// fastest returns the member of m with the largest bandwidth, the lowest
// position on ties.
func (p *problem) fastest(m RegionSet) int {
	best := -1
	for mm := m; mm != 0; mm &= mm - 1 {
		r := trailing(mm)
		if best < 0 || p.bw[r] > p.bw[best] {
			best = r
		}
	}
	return best
}

// nthBit returns the position of the j-th (from 0) set bit of m.
func nthBit(m RegionSet, j int) int {
	for ; j > 0; j-- {
		m &= m - 1
	}
	return bits.TrailingZeros64(uint64(m))
}
