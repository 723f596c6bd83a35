package fetch

// Speculative start (issue 13 item 2): a read whose holdings are not in
// the have cache (holdings.go) would wait a full have round trip before
// its first chunk flows. When the namespace's holdings say a region holds
// the whole recipe (Config.Holders: the regions X-Nitro-Regions lists),
// the job asks the best such live region (least estimated time for the
// missing bytes: RTT + slow start + bytes at the link's rate) at once for
// the first chunks in object order, those the reader needs first, up to
// what that link carries in specRTTs round trips of the slowest peer (at
// least specMinBytes), in parallel with the have requests to every peer.
// When the answers arrive, the rest is planned over all holders as usual:
// the chunks already requested stay with the speculative stream (the
// planner sees them as bytes queued on that region), and the same
// first-arrival-wins bookkeeping as for hedges (jchunk.state, owner, alt)
// stores every chunk once. A holding is advisory: a chunk the region does
// not hold after all comes back not-held and is asked of its other
// holders, as after any have answer; a region whose answer says it lacks a
// chunk loses it from its holder set.
//
// A variant read (an image that shares most chunks with a local one, the
// few missing ones held by a region that holds the whole variant) then
// costs one round trip plus the transfer instead of two.

import (
	"context"
	"slices"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"github.com/nitro-cloud/nitro/planner"
	"go.uber.org/zap"
)

const (
	// specRTTs: the speculative stream asks for what its link carries in
	// this many round trips of the slowest peer (plus its slow start):
	// about the time until a planned stream would deliver.
	specRTTs = 2
	// specMinBytes is the least the speculative stream asks for (stored
	// bytes, estimated), at least one chunk.
	specMinBytes = 256 << 10
)

// specPick returns the index in peers of the region to start from
// speculatively, or -1: no Config.Holders, no live region with a holding
// of rec that has not stalled recently, or the lookup failed.
func (f *Fetcher) specPick(ctx context.Context, rec *recipe.Recipe, peers []Peer, chunks []*jchunk) int {
	if f.cfg.Holders == nil || rec == nil || len(peers) == 0 {
		return -1
	}
	holders, err := f.cfg.Holders(ctx, rec.ID())
	if err != nil {
		f.log.Debug("holdings lookup for a speculative start", zap.Error(err))
		return -1
	}
	if len(holders) == 0 {
		return -1
	}
	ratio := f.links.compression()
	var bytes float64
	for _, c := range chunks {
		bytes += float64(c.plain) * ratio
	}
	best, bestT := -1, time.Duration(0)
	for i, p := range peers {
		if !slices.Contains(holders, p.Region) || f.recentlyStalled(p.URL) {
			continue
		}
		est := f.links.get(p.Region)
		if est.Bandwidth <= 0 {
			continue
		}
		rtt := p.RTT
		if rtt <= 0 {
			rtt = est.RTT
		}
		t := rtt + planner.SlowStart(est.Bandwidth, est.PriorRTT, tcpInitialWindow) +
			secs((bytes+float64(f.queuedOn(p.Region)))/est.Bandwidth)
		// Among the nodes of one region, the least loaded (the streams of
		// concurrent reads spread over them).
		if best < 0 || t < bestT || (t == bestT && peers[best].Region == p.Region &&
			f.queuedOnNode(p.URL) < f.queuedOnNode(peers[best].URL)) {
			best, bestT = i, t
		}
	}
	return best
}

// specSources returns a job source for every peer, the chunks all held by
// the nodes of peers[spec]'s region (its holding) at their estimated
// stored sizes, before any have answer; mergeHave corrects both when the
// answers arrive.
func (f *Fetcher) specSources(peers []Peer, spec int, chunks []*jchunk) []*jsrc {
	srcs := make([]*jsrc, len(peers))
	var region planner.RegionSet
	for i, p := range peers {
		srcs[i] = &jsrc{Peer: p, bit: planner.Regions(i)}
		if p.Region == peers[spec].Region {
			region |= srcs[i].bit
		}
	}
	ratio := f.links.compression()
	for _, c := range chunks {
		c.holders = region
		c.est = max(1, int64(float64(c.plain)*ratio+0.5))
	}
	return srcs
}

// speculate starts the speculative stream from j.srcs[spec], asks every
// peer for its have answer and merges the answers; the caller plans the
// rest afterwards.
func (j *job) speculate(peers []Peer, spec int, ids []recipe.ChunkID) {
	f := j.f
	j.mu.Lock()
	s := j.srcs[spec]
	est := f.links.get(s.Region)
	slowest := time.Duration(0)
	for _, p := range peers {
		rtt := p.RTT
		if rtt <= 0 {
			rtt = f.links.get(p.Region).RTT
		}
		slowest = max(slowest, rtt)
	}
	budget := max(int64(specMinBytes), int64(est.Bandwidth*
		(specRTTs*slowest+planner.SlowStart(est.Bandwidth, est.PriorRTT, tcpInitialWindow)).Seconds()))
	// j.chunks is in object order (Source's missing): the reader's first.
	var used int64
	n := 0
	for _, c := range j.chunks {
		if n > 0 && used+c.est > budget {
			break
		}
		c.state, c.owner = stQueued, spec
		c.fut.place()
		s.queue = append(s.queue, c)
		f.addQueued(s.Peer, c.est)
		used += c.est
		n++
	}
	j.startWorkers()
	j.mu.Unlock()
	f.count(func(st *Stats) { st.SpecStarts++; st.SpecChunks += int64(n) })
	f.log.Debug("speculative start from a region holding the whole object",
		zap.String("region", s.Region), zap.Int("chunks", n), zap.Int64("est_bytes", used))

	sizes := f.haveSizes(j.ctx, peers, ids)
	j.mu.Lock()
	j.mergeHave(sizes, spec)
	j.noteAnswers(peers, sizes)
	j.recordSpec(spec)
	j.mu.Unlock()
}

// recordSpec notes the job's prediction in its Transfer when the
// speculative stream has every chunk and no plan will follow: the
// stream's own estimate (RTT, slow start, its bytes at the link's rate),
// beside the lower bound of a plan of the whole job over every holder;
// j.mu held.
func (j *job) recordSpec(spec int) {
	f := j.f
	// own: the bytes each source was asked for (done or on their way);
	// queued: those of them still counted in f.queued.
	own, queued := make([]int64, len(j.srcs)), make([]int64, len(j.srcs))
	for _, c := range j.chunks {
		switch c.state {
		case stPlan:
			return // the first plan of the rest is the record
		case stQueued:
			queued[c.owner] += c.est
			own[c.owner] += c.est
		case stDone:
			own[c.owner] += c.est
		}
	}
	in, g := f.input(j.srcs, j.chunks, j.alive())
	for i := range j.srcs {
		in.Sources[g.of[i]].Queued -= queued[i]
	}
	for r := range in.Sources {
		in.Sources[r].Queued = max(0, in.Sources[r].Queued)
	}
	t0 := time.Now()
	plan, err := planner.Solve(in, f.cfg.Strategy)
	d := time.Since(t0).Nanoseconds()
	f.count(func(st *Stats) { st.Plans++; st.PlanNanos += d; st.LastPlanNanos = d })
	if err != nil {
		return
	}
	s, src := j.srcs[spec], in.Sources[g.of[spec]]
	if src.Bandwidth <= 0 {
		return
	}
	pred := (src.RTT + src.Startup).Seconds() + float64(src.Queued+own[spec])/src.Bandwidth
	finish := make([]float64, len(j.srcs))
	finish[spec] = pred
	f.transfers.planned(j.tr, pred, plan.LowerBound, own, finish)
	f.log.Debug("speculative stream covers the read", zap.String("region", s.Region),
		zap.Float64("predicted_s", pred), zap.Float64("lower_bound_s", plan.LowerBound))
}

// mergeHave applies the have answers to the sources of specSources: a
// peer that answered holds what it said (the speculative region keeps its
// holding only where it did not deny it), one that did not is left out
// (the speculative region's holding stands), and every chunk gets the
// largest stored size reported, its queued bytes corrected; j.mu held.
func (j *job) mergeHave(sizes [][]int64, spec int) {
	for i, s := range j.srcs {
		if sizes[i] == nil {
			s.failed = s.failed || i != spec
			s.noAnswer = i != spec
			continue
		}
		for k, c := range j.chunks {
			n := sizes[i][k]
			switch {
			case n <= 0:
				c.holders &^= s.bit
			case i != spec: // a chunk spec's stream denied stays denied
				c.holders |= s.bit
			}
		}
	}
	for k, c := range j.chunks {
		var size int64
		for i := range j.srcs {
			if sizes[i] != nil {
				size = max(size, sizes[i][k])
			}
		}
		if size <= 0 || size == c.est {
			continue
		}
		if c.state == stQueued {
			j.f.addQueued(j.srcs[c.owner].Peer, size-c.est)
		}
		c.est = size
	}
}
