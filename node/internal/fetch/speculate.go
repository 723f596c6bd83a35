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
// stream from each region the plan uses at once, with its whole share in
// object order, in parallel with the have requests to every peer. Each
// chunk is asked of one stream; the same first-arrival-wins bookkeeping
// as for hedges (jchunk.state, owner, alt) stores every chunk once.
//
// The have answers then only correct the plan (specCut). A holding is
// advisory: a chunk a region does not hold after all comes back not-held
// and is asked of its other holders, as after any have answer, and a
// region whose answer says it lacks a chunk loses it from its holder set.
// When the answers name partial holders (regions without a holding record
// that hold chunks still to come), the tail of each speculative stream,
// past what it delivers until a new request to it could (RTT and slow
// start at its rate), is planned again over every holder if that plan
// finishes sooner than the streams as they are; a cut stream stops
// reading at its cut (cutAfter), so a moved chunk crosses once, and its
// link pays one round trip for its new request, as a plan after the
// answers would. When no partial holder helps (every holder holds the
// whole image; a variant whose new chunks only its whole holders have),
// the whole plan stands and no link waits for anything but its own first
// round trip.
//
// So with k regions holding the whole image, all k links carry bytes from
// the first round trip on, instead of one (the first speculative start)
// or none (a plan after the answers). BenchmarkWholeHoldersRead (two
// whole holders, 4 MiB/s each, 80 ms RTT, 4 MiB: fluid bound 580 ms)
// measured 0.59-0.60 s with the whole plan standing, against 0.68 s with
// shares bounded to the have round trip (one more round trip per link for
// the rest) and 0.67-0.74 s with no speculative start (load 2.5-5). With
// only c's holding known it took 0.68-0.69 s: c's head start of a round
// trip is spent again on the cut when a answers.

// Chunk summaries (Config.Summary: each peer store's Bloom filter of the
// chunks it holds, replicated by the node, node/internal/summary) extend
// the holdings past the whole holders: a region that holds only part of
// the object (through dedup with other images: issue 13's scenario (a))
// is assumed to hold each chunk its summary may hold, and its share
// starts with the whole holders' instead of after its have answer. A
// summary is advisory like a holding (jchunk.spec records what was
// assumed of each chunk): a false positive, or a chunk dropped since the
// summary was built, comes back not-held and is asked of another holder;
// a chunk the summary missed (it over-approximates, so only one stored
// after it was fetched) joins after the have answer, as a partial holder
// does without summaries (specCut). BenchmarkPartialHolderRead (a holds
// 4 MiB whole, d every other chunk of it, 4 MiB/s each, 80 ms RTT: fluid
// bound 0.58 s) measured 0.60 s with d's summary against 0.87-0.88 s
// without (load 1.9-2.1).

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"github.com/nitro-cloud/nitro/planner"
	"go.uber.org/zap"
)

// specPick returns the indexes in peers of the nodes to start from
// speculatively, and their summaries: the live nodes that have not
// stalled recently and whose link has an estimate, of the regions whose
// holding covers rec (Config.Holders; their summary nil: they hold every
// chunk) or whose chunk summary (Config.Summary) may hold one of chunks
// at least. nil when there is no such node.
func (f *Fetcher) specPick(ctx context.Context, rec *recipe.Recipe, peers []Peer, chunks []*jchunk) ([]int, []Summary) {
	if len(peers) == 0 || (f.cfg.Holders == nil && f.cfg.Summary == nil) {
		return nil, nil
	}
	var holders []string
	if f.cfg.Holders != nil && rec != nil {
		var err error
		if holders, err = f.cfg.Holders(ctx, rec.ID()); err != nil {
			f.log.Debug("holdings lookup for a speculative start", zap.Error(err))
			holders = nil
		}
	}
	var out []int
	var sums []Summary
	for i, p := range peers {
		if i >= planner.MaxSources {
			break // specSources makes a source of every peer
		}
		if f.recentlyStalled(p.URL) || f.links.get(p.Region).Bandwidth <= 0 {
			continue
		}
		if slices.Contains(holders, p.Region) {
			out, sums = append(out, i), append(sums, nil)
			continue
		}
		if f.cfg.Summary == nil {
			continue
		}
		if sum := f.cfg.Summary(p); sum != nil && slices.ContainsFunc(chunks, func(c *jchunk) bool { return sum.MayHold(c.id) }) {
			out, sums = append(out, i), append(sums, sum)
		}
	}
	return out, sums
}

// specSources returns a job source for every peer, and each chunk's
// assumed holders before any have answer: every node of the regions of
// the whole holders among peers[spec...] (sums[k] nil), and each node of
// spec whose summary sums[k] may hold it; chunks get their estimated
// stored sizes. It returns the set of the nodes assumed to hold some
// chunk. mergeHave corrects both when the answers arrive.
func (f *Fetcher) specSources(peers []Peer, spec []int, sums []Summary, chunks []*jchunk) ([]*jsrc, planner.RegionSet) {
	srcs := make([]*jsrc, len(peers))
	var whole, held planner.RegionSet
	for i, p := range peers {
		srcs[i] = &jsrc{Peer: p, bit: planner.Regions(i)}
		for k, n := range spec {
			if sums[k] == nil && peers[n].Region == p.Region {
				whole |= srcs[i].bit
			}
		}
	}
	held = whole
	ratio := f.links.compression()
	for _, c := range chunks {
		c.holders = whole
		for k, n := range spec {
			if sums[k] != nil && !whole.Has(n) && sums[k].MayHold(c.id) {
				c.holders |= srcs[n].bit
			}
		}
		c.spec = c.holders
		held |= c.holders
		c.est = max(1, int64(float64(c.plain)*ratio+0.5))
	}
	return srcs, held
}

// speculate plans the job's chunks over the sources j.srcs[spec...] (the
// nodes of the regions holding the whole recipe), starts a stream from
// each with its share, asks every peer for its have answer and merges
// the answers (held: the nodes whose holdings specSources assumed), and
// corrects the plan with them (specCut); the caller plans what is left
// (chunks denied, moved, or of failed streams) afterwards.
func (j *job) speculate(peers []Peer, spec []int, held planner.RegionSet, ids []recipe.ChunkID) {
	f := j.f
	j.mu.Lock()
	var use planner.RegionSet
	for _, i := range spec {
		use |= j.srcs[i].bit
	}
	// Only the chunks some node of use is assumed to hold: the others
	// (no summary has them) wait for the have answers.
	var todo []*jchunk
	for _, c := range j.chunks {
		if c.holders&use != 0 {
			todo = append(todo, c)
		}
	}
	in, g := f.input(j.srcs, todo, use)
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
				part[k] = todo[pos]
			}
			// The reader's first chunks of the region's share first.
			slices.SortFunc(part, func(a, b *jchunk) int { return a.index - b.index })
			j.assign(&g, r, u, part, asked)
			n += len(part)
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
	j.specCut()
	j.recordSpec()
	j.mu.Unlock()
}

// errSpecCut ends a stream at its jsrc.cutAt (not a failure).
var errSpecCut = errors.New("fetch: stream cut short after the have answers")

// specCut corrects the speculative plan with the have answers: when
// sources not assumed to hold a chunk still to come (outside its
// jchunk.spec: not a whole holder, not in a summary, and not in the
// region of one that is) turn out to hold it, the tail of each speculative
// stream, past what it delivers until a new request to it could (its
// link's RTT and slow start at its rate, at least one chunk), is planned
// again over every holder if that plan finishes sooner than the streams
// as they are; the streams stop reading at their cut (cutAfter), so a
// moved chunk crosses once. Otherwise the whole speculative plan stands
// and no stream pays a new request. j.mu held.
func (j *job) specCut() {
	f := j.f
	use := j.alive() &^ j.stalledSet()
	// A holder in the region of an assumed one is not another holder:
	// it reaches this node over the same WAN link, so moving a tail to it
	// gains no capacity, and the chunks the cut stream has already sent
	// past its cut would cross twice (TestRegionOfTwoNodes: a region of
	// two nodes with their own stores, one picked through its summary).
	mates := make([]planner.RegionSet, len(j.srcs))
	for i, s := range j.srcs {
		for k, o := range j.srcs {
			if o.Region == s.Region {
				mates[i] |= planner.Regions(k)
			}
		}
	}
	others := false
	for _, c := range j.chunks {
		if c.state != stQueued && c.state != stPlan {
			continue
		}
		assumed := c.spec
		for i := range j.srcs {
			if c.spec.Has(i) {
				assumed |= mates[i]
			}
		}
		if c.holders&use&^assumed != 0 {
			others = true
			break
		}
	}
	if !others {
		return
	}
	type moved struct {
		c      *jchunk
		serial uint64
	}
	var undo []moved
	cutAt := make([]int, len(j.srcs))
	keep := 0.0 // when the streams as they are finish, seconds from now
	for i, s := range j.srcs {
		est := f.links.get(s.Region)
		bw := est.Bandwidth
		if bw <= 0 {
			continue
		}
		rtt := j.rttOf(s)
		window := int64(bw * (rtt + f.startup(s.Region, bw, est)).Seconds())
		var kept, left int64
		n, cutting := 0, false
		take := func(c *jchunk, pos int) {
			left += c.est
			if !cutting && (n == 0 || kept+c.est <= window) {
				kept += c.est
				n++
				return
			}
			cutting = true
			if pos >= 0 && cutAt[i] == 0 {
				cutAt[i] = pos
			}
			f.addQueued(s.Peer, -c.est)
			undo = append(undo, moved{c, c.serial})
			c.state, c.serial = stPlan, 0
		}
		if s.batch != nil {
			for pos := s.next; pos < len(s.batch); pos++ {
				if c := s.batch[pos]; c.state == stQueued && c.owner == i {
					take(c, pos)
				}
			}
		}
		for _, c := range s.queue {
			if c.state == stQueued && c.owner == i {
				take(c, -1)
			}
		}
		if left > 0 {
			t := float64(left) / bw
			if s.frames == 0 {
				t += rtt.Seconds()
			}
			keep = max(keep, t)
		}
	}
	if len(undo) == 0 {
		return
	}
	var todo []*jchunk
	for _, c := range j.chunks {
		if c.state == stPlan {
			todo = append(todo, c)
		}
	}
	in, _ := f.input(j.srcs, todo, use)
	t0 := time.Now()
	plan, err := planner.Solve(in, f.cfg.Strategy)
	d := time.Since(t0).Nanoseconds()
	f.count(func(st *Stats) { st.Plans++; st.PlanNanos += d; st.LastPlanNanos = d })
	if err != nil || plan.Makespan >= keep {
		for _, m := range undo {
			m.c.state, m.c.serial = stQueued, m.serial
			f.addQueued(j.srcs[m.c.owner].Peer, m.c.est)
		}
		return
	}
	for i, s := range j.srcs {
		if cutAt[i] > 0 {
			s.cutAt = cutAt[i]
		}
	}
	f.count(func(st *Stats) { st.SpecCuts++; st.SpecMoved += int64(len(undo)) })
	f.log.Debug("have answers name more holders: the tails of the speculative streams are planned again",
		zap.Int("chunks_moved", len(undo)), zap.Float64("streams_s", keep), zap.Float64("replan_s", plan.Makespan))
}

// cutAfter wraps a stream's frame callback fn: the stream stops reading
// (errSpecCut) once it has delivered the chunks before its cut
// (jsrc.cutAt, specCut); next is the worker's position in the batch.
func (j *job) cutAfter(s *jsrc, next *int, fn func(recipe.ChunkID, chunkstore.Stored, error) error) func(recipe.ChunkID, chunkstore.Stored, error) error {
	cut := func() bool {
		j.mu.Lock()
		defer j.mu.Unlock()
		if s.cutAt > 0 && *next >= s.cutAt {
			// Cut short on purpose, not a failure. Until here the
			// stream was judged (stalls, slowness) like any other.
			s.restream = true
			return true
		}
		return false
	}
	return func(id recipe.ChunkID, st chunkstore.Stored, err error) error {
		if cut() {
			return errSpecCut
		}
		if err := fn(id, st, err); err != nil {
			return err
		}
		if cut() {
			return errSpecCut
		}
		return nil
	}
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
			case c.spec&s.bit == 0: // a chunk an assumed holder's stream denied stays denied
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
