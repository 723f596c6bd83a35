package planner

import (
	"fmt"
	"math"
)

// chunkEps absorbs float64 rounding when a time lands exactly on a
// breakpoint a_r + j·size/bw_r (relative error ~1e-16 · j, j <= 2^53/size).
const chunkEps = 1e-9

// chunkCap returns the number of whole chunks of the given size region r
// can deliver by time T, clamped to [0, n].
func (p *problem) chunkCap(r int, T float64, size int64) int64 {
	c := math.Floor(p.bw[r]*(T-p.avail[r])/float64(size) + chunkEps)
	switch {
	case !(c > 0):
		return 0
	case c >= float64(p.n()):
		return int64(p.n())
	}
	return int64(c)
}

// nextChunkTime returns the least time M > T at which the regions of U
// can deliver `need` whole chunks of the given size (need <= n). It starts
// from max(T, T_U), where fewer than |U| chunks are missing, and pops the
// missing ones from the regions' next breakpoints a_r + (c_r+1)·size/bw_r.
func (p *problem) nextChunkTime(U RegionSet, need int64, T float64, size int64) float64 {
	M := max(T, p.ratio(U, float64(need)*float64(size)))
	var have int64
	next := make([]float64, p.k)
	cnt := make([]int64, p.k)
	for _, r := range p.byAvail {
		if !U.Has(r) {
			continue
		}
		cnt[r] = p.chunkCap(r, M, size)
		have += cnt[r]
		next[r] = p.avail[r] + float64(cnt[r]+1)*float64(size)/p.bw[r]
	}
	for have < need {
		best := -1
		for _, r := range p.byAvail {
			if U.Has(r) && (best < 0 || next[r] < next[best]) {
				best = r
			}
		}
		M = max(M, next[best])
		cnt[best]++
		have++
		next[best] = p.avail[best] + float64(cnt[best]+1)*float64(size)/p.bw[best]
	}
	return M
}

// solveEqual computes, for chunks of one size, the least makespan M of any
// integral assignment and a network carrying an integral flow (in chunks)
// that achieves it. Exact: an integral assignment finishing by M exists
// iff the network with region capacities chunkCap(r, M) carries every chunk
// (the flow integrality theorem), and the search below visits only
// candidate times. Starting from the fractional T*, a lower bound, it
// alternates max-flow and cut: if the flow at M misses chunks, the
// source-side regions U of a minimum cut need a later time, the least of
// which is nextChunkTime; that time is still a lower bound on the optimum.
func (p *problem) solveEqual(tstar float64) (float64, *network, error) {
	size := p.maxSize
	n := int64(p.n())
	M := tstar
	nw := newNetwork(p, p.gcount)
	for iter := 0; ; iter++ {
		for _, r := range p.byAvail {
			nw.setRegionCap(r, p.chunkCap(r, M, size))
		}
		if iter == 0 {
			nw.greedy(p)
		}
		if nw.maxflow() == n {
			return M, nw, nil
		}
		if iter >= maxNewton {
			return 0, nil, fmt.Errorf("planner: internal: chunk search did not converge (M=%g)", M)
		}
		U := nw.cutRegions()
		_, need := p.bytesWithin(U)
		next := p.nextChunkTime(U, need, M, size)
		if !(next > M) {
			next = M*(1+1e-12) + 1e-12
		}
		M = next
	}
}

// assignCounts gives every group's chunks, in object order, to its regions
// in ascending region order, as many to each as the flow (in chunks) says.
func assignCounts(p *problem, nw *network) []int8 {
	G := len(p.gmask)
	start := make([]int32, G+1)
	var reg []int8
	var cnt []int64
	for g := range G {
		nw.groupFlows(p, g, func(r int, f int64) {
			reg = append(reg, int8(r))
			cnt = append(cnt, f)
		})
		start[g+1] = int32(len(reg))
	}
	cur := make([]int32, G)
	copy(cur, start[:G])
	owner := make([]int8, p.n())
	for rank := range owner {
		g := p.cgroup[rank]
		for cnt[cur[g]] == 0 {
			cur[g]++
		}
		cnt[cur[g]]--
		owner[rank] = reg[cur[g]]
	}
	return owner
}
