package planner

import (
	"fmt"
	"math"
	"math/bits"
)

// LowerBound returns the fractional lower bound T* of in, in seconds: no
// plan, whatever its strategy, delivers every chunk of in sooner.
//
// With a_r = RTT_r + Startup_r + Queued_r/Bandwidth_r the time at which source r can
// start delivering new bytes, and cap_r(T) = max(0, Bandwidth_r·(T − a_r))
// the new bytes it can deliver by time T,
//
//	T* = max( TotalBytes/IngressCap,
//	          max over sets U of reachable sources of
//	            min{ T : Σ_{r∈U} cap_r(T) >= bytes of the chunks all of whose
//	                     reachable holders are in U } ).
//
// With zero RTT and zero Queued the inner term is the familiar
// bytes-only-in-U / bandwidth-of-U. By the max-flow min-cut theorem this is
// exactly the least T at which the flow network of the package comment
// carries every byte. LowerBound evaluates the formula directly, by
// enumerating the 2^m subsets of the m reachable sources with a
// subset-sum (zeta) transform, when m <= 20; above that it returns the T*
// of the parametric max-flow (see Solve), which is equal. It is the oracle
// the tests and benchmarks compare every plan against.
//
// LowerBound returns ErrBadInput or a *ChunkError (wrapping ErrNoHolder)
// for an invalid Input, and 0 for an Input without chunks.
func LowerBound(in Input) (float64, error) {
	p, err := prepare(in)
	if err != nil {
		return 0, err
	}
	if len(p.byAvail) > 20 {
		t, _, err := p.solveFractional()
		return t, err
	}
	t := p.subsetBound()
	if math.IsInf(t, 0) || math.IsNaN(t) {
		return 0, badInput("lower bound is not finite (bandwidth too small)")
	}
	return t, nil
}

// subsetBound evaluates the LowerBound formula by enumeration over subsets.
func (p *problem) subsetBound() float64 {
	m := len(p.byAvail)
	idx := make([]int, p.k) // source -> compressed bit, in ascending avail
	for i, r := range p.byAvail {
		idx[r] = i
	}
	in := make([]float64, 1<<uint(m)) // bytes of groups with holders exactly / then within the set
	for g, gm := range p.gmask {
		var c int
		for mm := gm; mm != 0; mm &= mm - 1 {
			c |= 1 << uint(idx[trailing(mm)])
		}
		in[c] += float64(p.gbytes[g])
	}
	for b := 0; b < m; b++ {
		bit := 1 << uint(b)
		for s := range in {
			if s&bit != 0 {
				in[s] += in[s^bit]
			}
		}
	}
	best := p.ingressBound()
	for s := 1; s < len(in); s++ {
		if in[s] == 0 {
			continue
		}
		// min over prefixes (in ascending avail) of U of (B + Σbw·a)/Σbw.
		t := math.Inf(1)
		var sbw, sba float64
		for b := 0; b < m; b++ {
			if s&(1<<uint(b)) == 0 {
				continue
			}
			r := p.byAvail[b]
			sbw += p.bw[r]
			sba += p.bw[r] * p.avail[r]
			t = min(t, (in[s]+sba)/sbw)
		}
		best = max(best, t)
	}
	return best
}

func (p *problem) ingressBound() float64 {
	if p.in.IngressCap > 0 {
		return float64(p.total) / p.in.IngressCap
	}
	return 0
}

// ratio returns the least T with Σ_{r∈U} cap_r(T) >= b (0 when b <= 0).
// cap_U is convex piecewise linear with breakpoints at the a_r; with
// sources sorted by a_r, the answer is the minimum over prefixes P of U of
// (b + Σ_P bw·a)/Σ_P bw: each prefix underestimates cap_U, so each term is
// an upper bound, and the prefix of the sources with a_r < T is exact.
func (p *problem) ratio(U RegionSet, b float64) float64 {
	if b <= 0 {
		return 0
	}
	t := math.Inf(1)
	var sbw, sba float64
	for _, r := range p.byAvail {
		if !U.Has(r) {
			continue
		}
		sbw += p.bw[r]
		sba += p.bw[r] * p.avail[r]
		t = min(t, (b+sba)/sbw)
	}
	return t
}

// bytesWithin returns the bytes of the groups whose holder set is inside U.
func (p *problem) bytesWithin(U RegionSet) (bytes, count int64) {
	for g, m := range p.gmask {
		if m&^U == 0 {
			bytes += p.gbytes[g]
			count += p.gcount[g]
		}
	}
	return bytes, count
}

// unit returns the number of flow units per byte: the largest power of
// two that keeps scaled totals below 2^60. Byte flows are computed in
// these units so that rounding each sink capacity up to a whole unit
// changes times by far less than float64 rounding does (a unit is at most
// total·2^-60 bytes), which is what makes the integral max-flow an exact
// test for "T >= T*".
func (p *problem) unit() int64 {
	return int64(1) << uint(60-min(60, bits.Len64(uint64(p.total))))
}

// scaled returns the group capacities in flow units.
func (p *problem) scaled() []int64 {
	u := p.unit()
	c := make([]int64, len(p.gbytes))
	for g, b := range p.gbytes {
		c[g] = b * u
	}
	return c
}

// byteCap returns ceil(cap_r(T)) in flow units, clamped to [0, total]:
// the capacity of region r's sink arc at time T.
func (p *problem) byteCap(r int, T float64) int64 {
	u := p.unit()
	c := math.Ceil(float64(u) * p.bw[r] * (T - p.avail[r]))
	switch {
	case !(c > 0):
		return 0
	case c >= float64(p.total*u):
		return p.total * u
	}
	return int64(c)
}

// maxNewton bounds the Newton iterations. Each iteration's cut is a
// different source set, and in practice there are at most a handful; the
// bound only turns a numerical surprise into an error instead of a hang.
const maxNewton = 4096

// solveFractional finds T* by Newton's (Dinkelbach's) method on the
// minimum cut and returns it with a network carrying an integral flow (in
// units, see unit) that saturates every group, with region capacities
// ceil(cap_r(T*)).
//
// Start from T0 = max(TotalBytes/IngressCap, T_all), a lower bound. At T,
// compute a maximum flow; if it carries every byte, T = T*. Otherwise the
// regions U on the source side of a minimum cut satisfy
// Σ_U cap_r(T) < bytes within U, so T_U (see ratio) is a lower bound on T*
// strictly above T; set T = T_U and augment the previous flow (the
// capacities only grew). T increases through values T_U of distinct cuts,
// so the iteration is finite; it stops at T* = max_U T_U, every T_U
// evaluated in float64 exactly as LowerBound does. Should rounding make a
// T_U come out no larger than T, T* stays T and only the flow's time is
// nudged up by 1e-12 relative. See W. Dinkelbach, Management Sci. 13(7),
// 1967, and Gallo–Grigoriadis–Tarjan 1989 for the parametric max-flow.
func (p *problem) solveFractional() (float64, *network, error) {
	tstar := max(p.ingressBound(), p.ratio(p.reach, float64(p.total)))
	if math.IsInf(tstar, 0) || math.IsNaN(tstar) {
		return 0, nil, badInput("plan time is not finite (bandwidth too small)")
	}
	T := tstar
	want := p.total * p.unit()
	nw := newNetwork(p, p.scaled())
	for iter := 0; ; iter++ {
		for _, r := range p.byAvail {
			nw.setRegionCap(r, p.byteCap(r, T))
		}
		if iter == 0 {
			nw.greedy(p)
		}
		if nw.maxflow() == want {
			p.tflow = T
			return tstar, nw, nil
		}
		if iter >= maxNewton {
			return 0, nil, fmt.Errorf("planner: internal: parametric search did not converge (T=%g)", T)
		}
		U := nw.cutRegions()
		b, _ := p.bytesWithin(U)
		next := p.ratio(U, float64(b))
		if math.IsInf(next, 0) || math.IsNaN(next) {
			return 0, nil, badInput("plan time is not finite (bandwidth too small)")
		}
		if next > T {
			tstar = max(tstar, next)
			T = next
		} else { // float64 rounding: keep T*, nudge the flow's time up
			T = T*(1+1e-12) + 1e-12
		}
	}
}
