package planner

import "slices"

// forest holds the group -> region byte flows of a saturating flow while
// they are turned into a forest and then rounded to whole chunks.
type forest struct {
	p     *problem
	start []int32 // entries of group g: [start[g], start[g+1])
	reg   []int32 // region of an entry
	amt   []int64 // flow of an entry; 0 once cancelled
	deg   []int32 // alive entries per group

	radj [][]int32 // per region: groups in H (groups with >= 2 alive entries, plus the current one)

	// BFS scratch, indexed by group / region.
	gSeen, rSeen  []int32
	gFrom         []int32 // entry of group g through which BFS entered g
	rFrom         []int32 // entry through which BFS entered region r
	stamp         int32
	queue         []int32
	parent        []int32 // per region: entry of its parent group, -1 for roots
	gParentRegion []int32 // per group: parent region
}

// roundForest assigns whole chunks to regions from a saturating flow in nw
// and returns owner[rank] = source position.
//
// Guarantee (the Lenstra–Shmoys–Tardos rounding, Math. Programming 46,
// 1990, specialised to groups): every region r receives at most its
// fractional load Σ_g f(g,r) plus less than one chunk, the largest chunk r
// holds. Proof sketch: (1) cycle cancelling — adding and removing δ
// alternately around a cycle of the bipartite graph of positive flows
// keeps every group total and every region total — turns the flow into a
// forest F without changing any region's load; (2) root every tree of F at
// a region; every other region then has exactly one parent group, and
// every group one parent region and some child regions; (3) lay each
// group's chunks out in object order and cut the line into consecutive
// segments of the flow amounts, the parent's segment first; give each chunk
// to the segment holding its last byte. The parent segment receives no
// more than its flow; a child segment receives its flow plus less than the
// chunk that straddles its left end. A region straddles only in its one
// parent group, so its overshoot is below one chunk.
func roundForest(p *problem, nw *network) []int8 {
	G := len(p.gmask)
	f := &forest{p: p, start: make([]int32, G+1)}
	for g := range G {
		nw.groupFlows(p, g, func(r int, a int64) {
			f.reg = append(f.reg, int32(r))
			f.amt = append(f.amt, a)
		})
		f.start[g+1] = int32(len(f.reg))
	}
	f.deg = make([]int32, G)
	f.radj = make([][]int32, p.k)
	f.gSeen = make([]int32, G)
	f.gFrom = make([]int32, G)
	f.rSeen = make([]int32, p.k)
	f.rFrom = make([]int32, p.k)
	for g := range G {
		f.addGroup(int32(g))
	}
	f.orient()
	return f.assign()
}

// addGroup adds group g's entries one at a time, cancelling every cycle an
// entry would close.
func (f *forest) addGroup(g int32) {
	for e := f.start[g]; e < f.start[g+1]; e++ {
		r := f.reg[e]
		for f.amt[e] > 0 {
			if !f.findPath(r, g) {
				f.radj[r] = append(f.radj[r], g)
				f.deg[g]++
				break
			}
			f.cancel(e, g)
		}
	}
	if f.deg[g] == 1 { // a leaf: never on a cycle, drop it from H
		for e := f.start[g]; e < f.start[g+1]; e++ {
			if f.amt[e] > 0 {
				f.unlink(f.reg[e], g)
			}
		}
	}
}

// findPath searches H for a path from region r to group g, recording BFS
// parents. H has at most `regions` region nodes and fewer than `regions`
// groups of degree >= 2, so this is O(regions²) at worst.
func (f *forest) findPath(r, g int32) bool {
	if f.deg[g] == 0 {
		return false
	}
	f.stamp++
	f.rSeen[r] = f.stamp
	f.rFrom[r] = -1
	q := append(f.queue[:0], r)
	defer func() { f.queue = q[:0] }()
	for h := 0; h < len(q); h++ {
		x := q[h]
		for _, gg := range f.radj[x] {
			if f.gSeen[gg] == f.stamp {
				continue
			}
			f.gSeen[gg] = f.stamp
			f.gFrom[gg] = f.entry(gg, x)
			if gg == g {
				return true
			}
			for e := f.start[gg]; e < f.start[gg+1]; e++ {
				y := f.reg[e]
				if f.amt[e] > 0 && f.rSeen[y] != f.stamp {
					f.rSeen[y] = f.stamp
					f.rFrom[y] = e
					q = append(q, y)
				}
			}
		}
	}
	return false
}

// entry returns the alive entry of group g for region x.
func (f *forest) entry(g, x int32) int32 {
	for e := f.start[g]; e < f.start[g+1]; e++ {
		if f.reg[e] == x && f.amt[e] > 0 {
			return e
		}
	}
	panic("planner: internal: forest entry missing")
}

// cancel cancels the cycle closed by the new entry ne of group g with the
// path found by findPath. Walking back from g: the entry through which BFS
// entered g gains, the entry through which BFS entered that region loses,
// and so on alternately until the start region; the new entry loses.
func (f *forest) cancel(ne, g int32) {
	var plus, minus []int32
	delta := f.amt[ne]
	e := f.gFrom[g]
	for {
		plus = append(plus, e)
		x := f.reg[e]
		m := f.rFrom[x]
		if m < 0 {
			break
		}
		minus = append(minus, m)
		delta = min(delta, f.amt[m])
		// m belongs to the group through which BFS entered region x.
		e = f.gFrom[f.groupOf(m)]
	}
	f.amt[ne] -= delta
	for _, e := range plus {
		f.amt[e] += delta
	}
	for _, m := range minus {
		f.amt[m] -= delta
		if f.amt[m] == 0 {
			h := f.groupOf(m)
			f.unlink(f.reg[m], h)
			f.deg[h]--
			if f.deg[h] == 1 && h != g {
				for e := f.start[h]; e < f.start[h+1]; e++ {
					if f.amt[e] > 0 {
						f.unlink(f.reg[e], h)
					}
				}
			}
		}
	}
}

func (f *forest) groupOf(e int32) int32 {
	// start is ascending; find the last g with start[g] <= e.
	g, _ := slices.BinarySearch(f.start, e+1)
	return int32(g - 1)
}

func (f *forest) unlink(r, g int32) {
	if i := slices.Index(f.radj[r], g); i >= 0 {
		f.radj[r] = slices.Delete(f.radj[r], i, i+1)
	}
}

// orient roots every tree of H at its slowest region (which then never
// receives a straddling chunk) and records every region's parent group and
// every group's parent region.
func (f *forest) orient() {
	p := f.p
	f.parent = make([]int32, p.k)
	for i := range f.parent {
		f.parent[i] = -1
	}
	f.gParentRegion = make([]int32, len(p.gmask))
	for i := range f.gParentRegion {
		f.gParentRegion[i] = -1
	}
	done := make([]bool, p.k)
	for _, r0 := range p.byAvail {
		if done[r0] {
			continue
		}
		// Collect the component, pick its root.
		f.stamp++
		comp := f.bfsFrom(int32(r0), false)
		root := comp[0]
		for _, x := range comp {
			if p.bw[x] < p.bw[root] || (p.bw[x] == p.bw[root] && x < root) {
				root = x
			}
		}
		f.stamp++
		for _, x := range f.bfsFrom(root, true) {
			done[x] = true
		}
	}
	// Leaf groups hang off their only region.
	for g := range f.gParentRegion {
		if f.gParentRegion[g] < 0 {
			for e := f.start[g]; e < f.start[g+1]; e++ {
				if f.amt[e] > 0 {
					f.gParentRegion[g] = f.reg[e]
					break
				}
			}
		}
	}
}

// bfsFrom walks H from region r0 and returns the regions reached; with
// record it stores parents.
func (f *forest) bfsFrom(r0 int32, record bool) []int32 {
	f.rSeen[r0] = f.stamp
	q := []int32{r0}
	for h := 0; h < len(q); h++ {
		x := q[h]
		for _, g := range f.radj[x] {
			if f.gSeen[g] == f.stamp {
				continue
			}
			f.gSeen[g] = f.stamp
			if record {
				f.gParentRegion[g] = x
			}
			for e := f.start[g]; e < f.start[g+1]; e++ {
				y := f.reg[e]
				if f.amt[e] > 0 && f.rSeen[y] != f.stamp {
					f.rSeen[y] = f.stamp
					if record {
						f.parent[y] = e
					}
					q = append(q, y)
				}
			}
		}
	}
	return q
}

// assign cuts every group's chunk line into segments (parent first, then
// children in ascending region) and gives each chunk to the segment that
// holds its last byte.
func (f *forest) assign() []int8 {
	p := f.p
	G := len(p.gmask)
	// Segments per group, flattened: seg[segStart[g]:segStart[g+1]].
	segStart := make([]int32, G+1)
	segReg := make([]int8, 0, len(f.reg))
	segAmt := make([]int64, 0, len(f.reg))
	for g := range G {
		pr := f.gParentRegion[g]
		for e := f.start[g]; e < f.start[g+1]; e++ {
			if f.amt[e] > 0 && f.reg[e] == pr {
				segReg = append(segReg, int8(pr))
				segAmt = append(segAmt, f.amt[e])
			}
		}
		for e := f.start[g]; e < f.start[g+1]; e++ {
			if f.amt[e] > 0 && f.reg[e] != pr {
				segReg = append(segReg, int8(f.reg[e]))
				segAmt = append(segAmt, f.amt[e])
			}
		}
		segStart[g+1] = int32(len(segReg))
	}
	cur := make([]int32, G)   // current segment
	cum := make([]int64, G)   // bytes laid out so far
	limit := make([]int64, G) // end of the current segment on the line
	for g := range G {
		cur[g] = segStart[g]
		limit[g] = segAmt[segStart[g]]
	}
	owner := make([]int8, p.n())
	chunks := p.in.Chunks
	u := p.unit()
	for rank := range owner {
		g := p.cgroup[rank]
		end := cum[g] + chunks[p.pos(rank)].Size*u
		for end > limit[g] && cur[g]+1 < segStart[g+1] {
			cur[g]++
			limit[g] += segAmt[cur[g]]
		}
		owner[rank] = segReg[cur[g]]
		cum[g] = end
	}
	return owner
}
