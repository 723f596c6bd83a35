package planner

import (
	"cmp"
	"math"
	"math/bits"
	"slices"
	"time"
)

// MaxSources is the largest number of source regions an Input may name:
// holder sets are bitmasks over Input.Sources.
const MaxSources = 64

// MaxTotalBytes bounds the sum of the chunk sizes of one Input (2^53 bytes,
// 8 PiB), so that every byte count is exact in a float64.
const MaxTotalBytes = 1 << 53

// RegionSet is a set of source regions: bit i stands for Input.Sources[i].
// The zero value is the empty set.
type RegionSet uint64

// Regions returns the set of the given source positions (0 <= i < 64).
func Regions(i ...int) RegionSet {
	var s RegionSet
	for _, j := range i {
		s |= 1 << uint(j)
	}
	return s
}

// Has reports whether source position i is in s.
func (s RegionSet) Has(i int) bool { return i >= 0 && i < MaxSources && s&(1<<uint(i)) != 0 }

// Len returns the number of regions in s.
func (s RegionSet) Len() int { return bits.OnesCount64(uint64(s)) }

// Chunk is one missing chunk, opaque to the planner apart from its
// position in the object, its size and the regions holding it.
type Chunk struct {
	// Index is the chunk's position in the object (object order). Indices
	// must be distinct; they need not be dense or sorted in Input.Chunks.
	Index int
	// ID is carried for error messages only; it may be empty.
	ID string
	// Size is the number of bytes sent on the wire for this chunk (after
	// compression, if any); > 0.
	Size int64
	// Holders is the set of regions (bits over Input.Sources) that hold
	// the chunk. Holders with Bandwidth 0 are ignored; at least one
	// holder must have Bandwidth > 0.
	Holders RegionSet
}

// Source is a peer region that may send chunks to the destination, with
// the current estimate of its link to the destination.
type Source struct {
	// Region names the source; names must be distinct and non-empty.
	Region string
	// Bandwidth is the link's throughput to the destination in bytes/s,
	// finite and >= 0. Zero means unreachable (failed): the source is
	// never used.
	Bandwidth float64
	// RTT is the round-trip time of the link, >= 0. The model charges one
	// RTT of start-up latency before the first new byte arrives.
	RTT time.Duration
	// CostPerByte is the egress price of the link per byte, finite and
	// >= 0, in any currency; zero means free. Used by the cost-aware
	// strategy and reported in Plan.Cost.
	CostPerByte float64
	// Queued is the number of bytes already queued (or in flight) on the
	// link, >= 0; they are delivered before any byte of this plan.
	Queued int64
	// Startup is further start-up time before the link delivers at
	// Bandwidth, >= 0: a connection still to be opened (a TCP handshake,
	// one RTT; TLS, one more) and the rate lost to TCP slow start (see
	// SlowStart). Zero: a warm link at full rate after one RTT.
	Startup time.Duration
}

// SlowStart returns the time TCP slow start costs a transfer over a link
// of bandwidth bytes/s and round trip rtt, starting from a congestion
// window of window bytes (Linux: 10 segments, about 14 KiB, after a new
// connection or an idle period): the window doubles each round trip until
// it covers the bandwidth-delay product, so the ramp takes
// k = ceil(log2(BDP/window)) round trips and delivers window·(2^k − 1)
// bytes, which at full rate would have taken that many bytes/bandwidth;
// the difference is the cost. Zero when the window covers the BDP or an
// argument is not positive.
func SlowStart(bandwidth float64, rtt time.Duration, window int64) time.Duration {
	if bandwidth <= 0 || rtt <= 0 || window <= 0 {
		return 0
	}
	bdp := bandwidth * rtt.Seconds()
	if bdp <= float64(window) {
		return 0
	}
	k := math.Ceil(math.Log2(bdp / float64(window)))
	sent := float64(window) * (math.Exp2(k) - 1)
	lost := k*rtt.Seconds() - sent/bandwidth
	if lost <= 0 {
		return 0
	}
	return time.Duration(lost * float64(time.Second))
}

// Input is one planning problem: the chunks a destination region lacks and
// the regions it may fetch them from. The planner never modifies or
// retains an Input.
type Input struct {
	Chunks  []Chunk
	Sources []Source // len(Sources) <= MaxSources
	// IngressCap caps the destination's total download rate in bytes/s;
	// 0 means unlimited. It is modelled as an aggregate budget: all the
	// planned bytes need at least TotalBytes/IngressCap seconds.
	IngressCap float64
}

// available returns the time in seconds at which source s can start
// delivering new bytes: one RTT plus Startup plus the time to drain
// Queued.
func (s *Source) available() float64 {
	return s.RTT.Seconds() + s.Startup.Seconds() + float64(s.Queued)/s.Bandwidth
}

// problem is a validated Input with chunks grouped by holder set.
type problem struct {
	in      Input
	k       int
	order   []int // order[rank] = position in in.Chunks, ascending Index; nil if identity
	bw      []float64
	avail   []float64 // seconds; see Source.available
	reach   RegionSet // sources with Bandwidth > 0
	byAvail []int     // reachable sources, ascending avail, then position
	total   int64
	maxSize int64
	minSize int64
	tflow   float64 // time at which solveFractional's flow saturated (>= T*)

	// Groups: one per distinct effective holder set (Holders & reach),
	// numbered in order of first appearance in object order.
	gmask  []RegionSet
	gbytes []int64
	gcount []int64
	cgroup []int32 // cgroup[rank] = group of the chunk at that rank
}

func (p *problem) n() int { return len(p.in.Chunks) }

// pos returns the position in Input.Chunks of the chunk at object-order rank r.
func (p *problem) pos(r int) int {
	if p.order == nil {
		return r
	}
	return p.order[r]
}

func finiteNonNeg(x float64) bool { return x >= 0 && !math.IsInf(x, 1) } // false for NaN

// prepare validates in and groups its chunks. Cost: O(n) plus a sort when
// the chunks are not already in object order.
func prepare(in Input) (*problem, error) {
	k := len(in.Sources)
	if k > MaxSources {
		return nil, badInput("%d sources, at most %d", k, MaxSources)
	}
	if !finiteNonNeg(in.IngressCap) {
		return nil, badInput("ingress cap %v", in.IngressCap)
	}
	p := &problem{in: in, k: k, bw: make([]float64, k), avail: make([]float64, k)}
	for i := range in.Sources {
		s := &in.Sources[i]
		switch {
		case s.Region == "":
			return nil, badInput("source %d has no region name", i)
		case !finiteNonNeg(s.Bandwidth):
			return nil, badInput("source %q bandwidth %v", s.Region, s.Bandwidth)
		case s.RTT < 0:
			return nil, badInput("source %q RTT %v", s.Region, s.RTT)
		case s.Startup < 0:
			return nil, badInput("source %q start-up %v", s.Region, s.Startup)
		case !finiteNonNeg(s.CostPerByte):
			return nil, badInput("source %q cost per byte %v", s.Region, s.CostPerByte)
		case s.Queued < 0 || s.Queued > MaxTotalBytes:
			return nil, badInput("source %q queued %d bytes", s.Region, s.Queued)
		}
		for j := range i {
			if in.Sources[j].Region == s.Region {
				return nil, badInput("duplicate source region %q", s.Region)
			}
		}
		if s.Bandwidth > 0 {
			a := s.available()
			if math.IsInf(a, 0) || math.IsNaN(a) {
				return nil, badInput("source %q bandwidth %v too small", s.Region, s.Bandwidth)
			}
			p.reach |= 1 << uint(i)
			p.bw[i] = s.Bandwidth
			p.avail[i] = a
			p.byAvail = append(p.byAvail, i)
		}
	}
	slices.SortStableFunc(p.byAvail, func(a, b int) int { return cmp.Compare(p.avail[a], p.avail[b]) })

	all := RegionSet(0)
	if k > 0 {
		all = RegionSet(math.MaxUint64 >> uint(64-k))
	}
	chunks := in.Chunks
	sorted := true
	p.minSize = math.MaxInt64
	for i := range chunks {
		c := &chunks[i]
		if c.Size <= 0 || c.Size > MaxTotalBytes {
			return nil, &ChunkError{Pos: i, Index: c.Index, ID: c.ID, Err: badInput("size %d", c.Size)}
		}
		if c.Holders&^all != 0 {
			return nil, &ChunkError{Pos: i, Index: c.Index, ID: c.ID, Err: badInput("holder outside the %d sources", k)}
		}
		if c.Holders&p.reach == 0 {
			return nil, &ChunkError{Pos: i, Index: c.Index, ID: c.ID, Err: ErrNoHolder}
		}
		p.total += c.Size
		if p.total > MaxTotalBytes {
			return nil, badInput("total size exceeds %d bytes", int64(MaxTotalBytes))
		}
		p.maxSize = max(p.maxSize, c.Size)
		p.minSize = min(p.minSize, c.Size)
		if i > 0 && c.Index <= chunks[i-1].Index {
			sorted = false
		}
	}
	if len(chunks) == 0 {
		p.minSize = 0
	}
	if !sorted {
		p.order = make([]int, len(chunks))
		for i := range p.order {
			p.order[i] = i
		}
		slices.SortFunc(p.order, func(a, b int) int { return cmp.Compare(chunks[a].Index, chunks[b].Index) })
		for r := 1; r < len(p.order); r++ {
			if chunks[p.order[r]].Index == chunks[p.order[r-1]].Index {
				c := &chunks[p.order[r]]
				return nil, &ChunkError{Pos: p.order[r], Index: c.Index, ID: c.ID, Err: badInput("duplicate index")}
			}
		}
	}
	p.group()
	return p, nil
}

// group assigns every chunk to the group of its effective holder set.
func (p *problem) group() {
	n := p.n()
	p.cgroup = make([]int32, n)
	chunks := p.in.Chunks
	add := func(m RegionSet) int32 {
		p.gmask = append(p.gmask, m)
		p.gbytes = append(p.gbytes, 0)
		p.gcount = append(p.gcount, 0)
		return int32(len(p.gmask) - 1)
	}
	if p.k <= 16 {
		dense := make([]int32, 1<<uint(p.k))
		for i := range dense {
			dense[i] = -1
		}
		for r := range n {
			c := &chunks[p.pos(r)]
			m := c.Holders & p.reach
			g := dense[m]
			if g < 0 {
				g = add(m)
				dense[m] = g
			}
			p.cgroup[r] = g
			p.gbytes[g] += c.Size
			p.gcount[g]++
		}
		return
	}
	sparse := make(map[RegionSet]int32)
	for r := range n {
		c := &chunks[p.pos(r)]
		m := c.Holders & p.reach
		g, ok := sparse[m]
		if !ok {
			g = add(m)
			sparse[m] = g
		}
		p.cgroup[r] = g
		p.gbytes[g] += c.Size
		p.gcount[g]++
	}
}

// equalSizes reports whether every chunk has the same size.
func (p *problem) equalSizes() bool { return p.n() > 0 && p.minSize == p.maxSize }

func trailingZeros(x uint64) int { return bits.TrailingZeros64(x) }
