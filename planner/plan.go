package planner

// Plan says which source sends which chunk. A Plan is immutable once
// returned; its slices belong to the caller.
type Plan struct {
	// Strategy is the strategy that produced the plan; Replan reuses it.
	Strategy Strategy
	// Sources has one entry per Input.Sources, in the same order.
	Sources []SourcePlan
	// Owner[i] is the position in Input.Sources of the source that sends
	// Input.Chunks[i], or -1 for a chunk not in this plan (Replan: arrived
	// or in flight).
	Owner []int
	// Makespan is the predicted time in seconds, from now, at which the
	// last planned byte arrives: the largest SourcePlan.Finish, and at
	// least TotalBytes/IngressCap.
	Makespan float64
	// LowerBound is the fractional lower bound T* in seconds (see
	// LowerBound): no plan can have a smaller Makespan.
	LowerBound float64
	// WANBytes is the number of bytes the plan moves, the sum of the
	// planned chunk sizes.
	WANBytes int64
	// Cost is Σ over sources of Bytes·CostPerByte.
	Cost float64
}

// SourcePlan is the work of one source region.
type SourcePlan struct {
	Region string
	// Chunks lists positions in Input.Chunks, in object order (ascending
	// Chunk.Index), so the destination can stream the object as it
	// arrives. Empty when the source sends nothing.
	Chunks []int
	// Bytes is the sum of the sizes of Chunks.
	Bytes int64
	// Finish is the predicted arrival time in seconds of the source's
	// last byte: RTT + (Queued + Bytes)/Bandwidth, or 0 when Chunks is
	// empty.
	Finish float64
}

// buildPlan turns owner[rank] into a Plan.
func (p *problem) buildPlan(owner []int8, st Strategy, tstar float64) *Plan {
	n := p.n()
	pl := &Plan{
		Strategy:   st,
		Sources:    make([]SourcePlan, p.k),
		Owner:      make([]int, n),
		LowerBound: tstar,
		WANBytes:   p.total,
		Makespan:   p.ingressBound(),
	}
	counts := make([]int, p.k)
	for _, o := range owner {
		counts[o]++
	}
	for r := range pl.Sources {
		pl.Sources[r].Region = p.in.Sources[r].Region
		if counts[r] > 0 {
			pl.Sources[r].Chunks = make([]int, 0, counts[r])
		}
	}
	chunks := p.in.Chunks
	for rank, o := range owner {
		i := p.pos(rank)
		sp := &pl.Sources[o]
		sp.Chunks = append(sp.Chunks, i)
		sp.Bytes += chunks[i].Size
		pl.Owner[i] = int(o)
	}
	for r := range pl.Sources {
		sp := &pl.Sources[r]
		if sp.Bytes > 0 {
			sp.Finish = p.avail[r] + float64(sp.Bytes)/p.bw[r]
			pl.Makespan = max(pl.Makespan, sp.Finish)
			pl.Cost += float64(sp.Bytes) * p.in.Sources[r].CostPerByte
		}
	}
	return pl
}
