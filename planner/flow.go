package planner

import "math"

// network is the flow network source -> group -> region -> sink of a
// problem, solved by Dinic's blocking-flow algorithm (E. A. Dinic, "Algorithm
// for solution of a problem of maximum flow in networks with power
// estimation", Soviet Math. Doklady 11, 1970; in S. Even's formulation with
// per-node edge pointers). Capacities are int64 (bytes, or chunks).
//
// Capacities of region -> sink arcs may only grow between calls to maxflow;
// the current flow stays feasible, so the next call augments from it
// instead of starting over (the monotone-parametric observation of Gallo,
// Grigoriadis and Tarjan, SIAM J. Comput. 18(1), 1989).
type network struct {
	groups, k int
	s, t      int32
	start     []int32 // adjacency of node v: adj[start[v]:start[v+1]]
	adj       []int32 // arc ids
	to        []int32 // head of arc e; arc e^1 is its reverse
	res       []int64 // residual capacity of arc e
	sArc      []int32 // sArc[g]: arc source -> group g
	gArc      []int32 // gArc[g]: first arc group g -> region; one per holder, ascending region
	tArc      []int32 // tArc[r]: arc region r -> sink
	rcap      []int64 // current capacity of tArc[r]
	level     []int32
	it        []int32
	queue     []int32
	value     int64 // current flow value
}

const infCap = math.MaxInt64 / 4

func (p *problem) regionNode(r int) int32 { return int32(1 + len(p.gmask) + r) }

// newNetwork builds the network with source -> group capacities gcap[g] and
// zero region -> sink capacities.
func newNetwork(p *problem, gcap []int64) *network {
	G, k := len(p.gmask), p.k
	nodes := G + k + 2
	nw := &network{groups: G, k: k, s: 0, t: int32(nodes - 1)}
	arcs := 0
	for _, m := range p.gmask {
		arcs += 1 + m.Len()
	}
	arcs += k
	nw.to = make([]int32, 0, 2*arcs)
	nw.res = make([]int64, 0, 2*arcs)
	deg := make([]int32, nodes+1)
	from := make([]int32, 0, 2*arcs)
	addArc := func(u, v int32, c int64) int32 {
		e := int32(len(nw.to))
		nw.to = append(nw.to, v, u)
		nw.res = append(nw.res, c, 0)
		from = append(from, u, v)
		deg[u]++
		deg[v]++
		return e
	}
	nw.sArc = make([]int32, G)
	nw.gArc = make([]int32, G)
	for g, m := range p.gmask {
		gn := int32(1 + g)
		nw.sArc[g] = addArc(nw.s, gn, gcap[g])
		nw.gArc[g] = int32(len(nw.to))
		for mm := m; mm != 0; mm &= mm - 1 {
			r := trailing(mm)
			addArc(gn, p.regionNode(r), infCap)
		}
	}
	nw.tArc = make([]int32, k)
	nw.rcap = make([]int64, k)
	for r := range k {
		nw.tArc[r] = addArc(p.regionNode(r), nw.t, 0)
	}
	nw.start = make([]int32, nodes+1)
	for v := range nodes {
		nw.start[v+1] = nw.start[v] + deg[v]
	}
	fill := make([]int32, nodes)
	copy(fill, nw.start[:nodes])
	nw.adj = make([]int32, len(nw.to))
	for e := range nw.to {
		u := from[e]
		nw.adj[fill[u]] = int32(e)
		fill[u]++
	}
	nw.level = make([]int32, nodes)
	nw.it = make([]int32, nodes)
	nw.queue = make([]int32, 0, nodes)
	return nw
}

// setRegionCap raises the capacity of region r's sink arc to c; c must not
// be below the current capacity.
func (nw *network) setRegionCap(r int, c int64) {
	if c > nw.rcap[r] {
		nw.res[nw.tArc[r]] += c - nw.rcap[r]
		nw.rcap[r] = c
	}
}

// reset removes all flow and sets every region capacity to 0.
func (nw *network) reset(gcap []int64) {
	for e := 0; e < len(nw.res); e += 2 {
		nw.res[e] += nw.res[e+1]
		nw.res[e+1] = 0
	}
	for g, e := range nw.sArc {
		nw.res[e] = gcap[g]
	}
	for r, e := range nw.tArc {
		nw.res[e] = 0
		nw.rcap[r] = 0
	}
	nw.value = 0
}

// flowOn returns the flow on arc e.
func (nw *network) flowOn(e int32) int64 { return nw.res[e^1] }

// maxflow augments the current flow to a maximum flow and returns its value.
func (nw *network) maxflow() int64 {
	if nw.saturated() {
		return nw.value
	}
	for nw.bfs() {
		copy(nw.it, nw.start[:len(nw.it)])
		for {
			f := nw.dfs(nw.s, infCap)
			if f == 0 {
				break
			}
			nw.value += f
		}
	}
	return nw.value
}

// bfs computes BFS levels in the residual graph and reports whether the
// sink is reachable.
func (nw *network) bfs() bool {
	for i := range nw.level {
		nw.level[i] = -1
	}
	q := nw.queue[:0]
	q = append(q, nw.s)
	nw.level[nw.s] = 0
	for h := 0; h < len(q); h++ {
		u := q[h]
		if nw.level[nw.t] >= 0 && nw.level[u] >= nw.level[nw.t] {
			break
		}
		for _, e := range nw.adj[nw.start[u]:nw.start[u+1]] {
			v := nw.to[e]
			if nw.res[e] > 0 && nw.level[v] < 0 {
				nw.level[v] = nw.level[u] + 1
				q = append(q, v)
			}
		}
	}
	nw.queue = q
	return nw.level[nw.t] >= 0
}

// dfs pushes up to f units from u to the sink along level-increasing
// residual arcs and returns the amount pushed. Recursion depth is at most
// the sink's level, which is below the number of nodes on a simple path
// (at most 2·regions+3 here).
func (nw *network) dfs(u int32, f int64) int64 {
	if u == nw.t {
		return f
	}
	var pushed int64
	end := nw.start[u+1]
	for ; nw.it[u] < end; nw.it[u]++ {
		e := nw.adj[nw.it[u]]
		v := nw.to[e]
		if nw.res[e] <= 0 || nw.level[v] != nw.level[u]+1 {
			continue
		}
		d := nw.dfs(v, min(f-pushed, nw.res[e]))
		if d > 0 {
			nw.res[e] -= d
			nw.res[e^1] += d
			pushed += d
			if pushed == f {
				return pushed
			}
		}
	}
	nw.level[u] = -1 // dead end for the rest of this phase
	return pushed
}

// cutRegions returns the regions on the source side of a minimum cut:
// those reachable from the source in the residual graph of a maximum flow.
func (nw *network) cutRegions() RegionSet {
	seen := nw.level // reuse: -1 unseen
	for i := range seen {
		seen[i] = -1
	}
	q := nw.queue[:0]
	q = append(q, nw.s)
	seen[nw.s] = 0
	for h := 0; h < len(q); h++ {
		u := q[h]
		for _, e := range nw.adj[nw.start[u]:nw.start[u+1]] {
			v := nw.to[e]
			if nw.res[e] > 0 && seen[v] < 0 {
				seen[v] = 0
				q = append(q, v)
			}
		}
	}
	nw.queue = q
	var U RegionSet
	for r := range nw.k {
		if seen[1+nw.groups+r] >= 0 {
			U |= 1 << uint(r)
		}
	}
	return U
}

// groupFlows calls fn(r, f) for every region r receiving f > 0 units from
// group g, in ascending r.
func (nw *network) groupFlows(p *problem, g int, fn func(r int, f int64)) {
	e := nw.gArc[g]
	for m := p.gmask[g]; m != 0; m &= m - 1 {
		if f := nw.flowOn(e); f > 0 {
			fn(trailing(m), f)
		}
		e += 2
	}
}

func trailing(m RegionSet) int {
	// bits.TrailingZeros64, spelled out to keep the call sites short.
	return trailingZeros(uint64(m))
}

// greedy routes flow straight along source -> group -> region -> sink
// paths before Dinic runs: groups with the fewest holders first, each to
// its holders with the most residual sink capacity. It only finds a
// feasible starting flow, so it changes the cost but not the result of
// maxflow, which then augments the (usually small) rest.
func (nw *network) greedy(p *problem) {
	byLen := make([][]int32, p.k+1)
	for g, m := range p.gmask {
		byLen[m.Len()] = append(byLen[m.Len()], int32(g))
	}
	for _, gs := range byLen {
		for _, g := range gs {
			se := nw.sArc[g]
			for nw.res[se] > 0 {
				best, bestArc := int32(-1), int32(-1)
				e := nw.gArc[g]
				for m := p.gmask[g]; m != 0; m &= m - 1 {
					ta := nw.tArc[trailing(m)]
					if nw.res[ta] > 0 && (best < 0 || nw.res[ta] > nw.res[best]) {
						best, bestArc = ta, e
					}
					e += 2
				}
				if best < 0 {
					break
				}
				d := min(nw.res[se], nw.res[best])
				for _, a := range [3]int32{se, bestArc, best} {
					nw.res[a] -= d
					nw.res[a^1] += d
				}
				nw.value += d
			}
		}
	}
}

// saturated reports whether every source arc is saturated, in which case
// the flow is maximum and no search is needed.
func (nw *network) saturated() bool {
	for _, e := range nw.sArc {
		if nw.res[e] > 0 {
			return false
		}
	}
	return true
}
