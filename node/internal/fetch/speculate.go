package fetch

// Speculative start (issue 13 item 2: no have round trip when the
// holdings are known). A read whose holdings are not in the have cache
// (holdings.go) would wait a full have round trip before its first chunk
// flows. When the namespace's holdings say regions hold the whole recipe
// (Config.Holders: the regions X-Nitro-Regions lists), the job plans the
// read over every such live region that has not stalled recently, with
// the planner and the links' estimates as for any plan (rate, RTT, slow
// start, bytes other fetches queued), each chunk's stored size estimated
// as its plain size times the links' compression ratio, and starts a
// stream from each region the plan uses at once, in parallel with the
// have requests to every peer. Each stream asks for the first chunks of
// its share, in object order, up to what its link carries until the have
// answers arrive and a planned stream could follow: specRTTs round trips
// of the slowest peer plus its slow start, less the bytes queued on it
// (at least specMinBytes and one chunk). The rest waits for the answers
// and is then planned over every holder, partial holders included (the
// chunks already requested stay with their streams; the planner sees them
// as bytes queued on those regions). Each chunk is asked of one stream;
// the same first-arrival-wins bookkeeping as for hedges (jchunk.state,
// owner, alt) stores every chunk once. A holding is advisory: a chunk a
// region does not hold after all comes back not-held and is asked of its
// other holders, as after any have answer; a region whose answer says it
// lacks a chunk loses it from its holder set.
//
// So with k regions holding the whole image, all k links carry bytes from
// the first round trip on, instead of one (the old speculative start) or
// none (a plan after the answers). A variant read (an image that shares
// most chunks with a local one, the few missing ones held by a region
// that holds the whole variant) costs one round trip plus the transfer
// instead of two.
//
// What it does not cover: regions that hold part of the image (no
// holding record) wait for the have answers; and the planned rest on a
// region is a new request once its speculative stream ends (one more
// round trip on that link: a source's streams are not pipelined).

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

// specPick returns the indexes in peers of the nodes to start from
// speculatively: the live nodes of the regions whose holding covers rec
// (Config.Holders) that have not stalled recently and whose link has an
// estimate; nil when there is no Config.Holders, no such node, or the
// lookup failed.
func (f *Fetcher) specPick(ctx context.Context, rec *recipe.Recipe, peers []Peer) []int {
	if f.cfg.Holders == nil || rec == nil || len(peers) == 0 {
		return nil
	}
	holders, err := f.cfg.Holders(ctx, rec.ID())
	if err != nil {
		f.log.Debug("holdings lookup for a speculative start", zap.Error(err))
		return nil
	}
	var out []int
	for i, p := range peers {
		if i >= planner.MaxSources {
			break // specSources makes a source of every peer
		}
		if slices.Contains(holders, p.Region) && !f.recentlyStalled(p.URL) && f.links.get(p.Region).Bandwidth > 0 {
			out = append(out, i)
		}
	}
	return out
}

// specSources returns a job source for every peer, and the chunks all
// held by the nodes of the regions of peers[spec...] (their holdings) at
// their estimated stored sizes, before any have answer; it returns the
// set of those nodes. mergeHave corrects both when the answers arrive.
func (f *Fetcher) specSources(peers []Peer, spec []int, chunks []*jchunk) ([]*jsrc, planner.RegionSet) {
	srcs := make([]*jsrc, len(peers))
	var held planner.RegionSet
	for i, p := range peers {
		srcs[i] = &jsrc{Peer: p, bit: planner.Regions(i)}
		if slices.ContainsFunc(spec, func(k int) bool { return peers[k].Region == p.Region }) {
			held |= srcs[i].bit
		}
	}
	ratio := f.links.compression()
	for _, c := range chunks {
		c.holders = held
		c.est = max(1, int64(float64(c.plain)*ratio+0.5))
	}
	return srcs, held
}

// speculate plans the job's chunks over the sources j.srcs[spec...] (the
// nodes of the regions holding the whole recipe), starts a stream from
// each with the first chunks of its share (specBudget), asks every peer
// for its have answer and merges the answers (held: the nodes whose
// holdings specSources assumed); the caller plans the rest afterwards.
func (j *job) speculate(peers []Peer, spec []int, held planner.RegionSet, ids []recipe.ChunkID) {
	f := j.f
	j.mu.Lock()
	var use planner.RegionSet
	for _, i := range spec {
		use |= j.srcs[i].bit
	}
	slowest := time.Duration(0)
	for _, p := range peers {
		rtt := p.RTT
		if rtt <= 0 {
			rtt = f.links.get(p.Region).RTT
		}
		slowest = max(slowest, rtt)
	}
	in, g := f.input(j.srcs, j.chunks, use)
	t0 := time.Now()
	plan, err := planner.Solve(in, f.cfg.Strategy)
	d := time.Since(t0).Nanoseconds()
	f.count(func(st *Stats) { st.Plans++; st.PlanNanos += d; st.LastPlanNanos = d })
	asked := make([]int64, len(j.srcs))
	var regions []string
	n := 0
	if err != nil {
		f.log.Debug("plan of a speculative start", zap.Error(err))
	} else {
		u := usable(j.srcs, use)
		for r, sp := range plan.Sources {
			if len(sp.Chunks) == 0 {
				continue
			}
			part := make([]*jchunk, len(sp.Chunks))
			for k, pos := range sp.Chunks {
				part[k] = j.chunks[pos]
			}
			// The reader's first chunks of the region's share first.
			slices.SortFunc(part, func(a, b *jchunk) int { return a.index - b.index })
			budget := specBudget(in.Sources[r], slowest)
			var used int64
			k := 0
			for ; k < len(part); k++ {
				if k > 0 && used+part[k].est > budget {
					break
				}
				used += part[k].est
			}
			j.assign(&g, r, u, part[:k], asked)
			n += k
			regions = append(regions, g.names[r])
		}
	}
	j.startWorkers()
	j.mu.Unlock()
	if n > 0 {
		streams := 0
		for _, b := range asked {
			if b > 0 {
				streams++
			}
		}
		f.count(func(st *Stats) { st.SpecStarts++; st.SpecChunks += int64(n); st.SpecStreams += int64(streams) })
		f.log.Debug("speculative start from the regions holding the whole object",
			zap.Strings("regions", regions), zap.Int("chunks", n), zap.Int64s("est_bytes", asked))
	}

	sizes := f.haveSizes(j.ctx, peers, ids)
	j.mu.Lock()
	j.mergeHave(sizes, held)
	j.noteAnswers(peers, sizes)
	j.recordSpec()
	j.mu.Unlock()
}

// specBudget returns the stored bytes a speculative stream from source
// src asks for: what its link carries in specRTTs round trips of the
// slowest peer plus its slow start (until the have answers are in and a
// planned stream could follow), less the bytes other fetches queued on
// it; at least specMinBytes.
func specBudget(src planner.Source, slowest time.Duration) int64 {
	b := int64(src.Bandwidth*(specRTTs*slowest+src.Startup).Seconds()) - src.Queued
	return max(int64(specMinBytes), b)
}

// recordSpec notes the job's prediction in its Transfer when the
// speculative streams have every chunk and no plan will follow: each
// region's own estimate (RTT, slow start, its bytes at the link's rate),
// the latest as the job's, beside the lower bound of a plan of the whole
// job over every holder; j.mu held.
func (j *job) recordSpec() {
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
	ownRegion := make([]int64, len(in.Sources))
	for i := range j.srcs {
		in.Sources[g.of[i]].Queued -= queued[i]
		ownRegion[g.of[i]] += own[i]
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
	regionFinish := make([]float64, len(in.Sources))
	pred := 0.0
	for r, src := range in.Sources {
		if ownRegion[r] == 0 {
			continue
		}
		if src.Bandwidth <= 0 {
			return
		}
		regionFinish[r] = (src.RTT + src.Startup).Seconds() + float64(src.Queued+ownRegion[r])/src.Bandwidth
		pred = max(pred, regionFinish[r])
	}
	finish := make([]float64, len(j.srcs))
	for i := range j.srcs {
		if own[i] > 0 {
			finish[i] = regionFinish[g.of[i]]
		}
	}
	f.transfers.planned(j.tr, pred, plan.LowerBound, own, finish)
	f.log.Debug("speculative streams cover the read",
		zap.Float64("predicted_s", pred), zap.Float64("lower_bound_s", plan.LowerBound))
}

// mergeHave applies the have answers to the sources of specSources: a
// peer that answered holds what it said (a node of held, whose holding
// specSources assumed, keeps it only where it did not deny it: by its
// answer or a not-held frame), one that did not answer is left out
// unless it is in held (its holding stands), and every chunk gets the
// largest stored size reported, its queued bytes corrected; j.mu held.
func (j *job) mergeHave(sizes [][]int64, held planner.RegionSet) {
	for i, s := range j.srcs {
		if sizes[i] == nil {
			s.failed = s.failed || !held.Has(i)
			s.noAnswer = !held.Has(i)
			continue
		}
		for k, c := range j.chunks {
			n := sizes[i][k]
			switch {
			case n <= 0:
				c.holders &^= s.bit
			case !held.Has(i): // a chunk a held node's stream denied stays denied
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
