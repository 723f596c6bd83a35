package fetch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"github.com/nitro-cloud/nitro/planner"
	"go.uber.org/zap"
	"golang.org/x/sync/semaphore"
)

type chunkState int

const (
	stPlan   chunkState = iota // to be planned
	stQueued                   // assigned to a source, in its queue or stream
	stDone                     // stored locally
	stFailed                   // no holder left
)

// jchunk is one missing chunk of a job.
type jchunk struct {
	id      recipe.ChunkID
	index   int    // ref index in the recipe (object order)
	plain   uint32 // plain size, bytes
	est     int64  // estimated stored size, bytes
	holders planner.RegionSet
	// spec is the sources assumed to hold the chunk before their have
	// answers (speculate.go: whole holders, summaries); zero otherwise.
	spec    planner.RegionSet
	fut     *future
	state   chunkState
	owner   int
	lastErr string
	healing bool // fetched again after the local copy failed verification
	got     int  // frames received for it (any source); > 1: duplicates
	// alt is the set of sources whose streams asked for the chunk before
	// it moved (a stalled source's stream, or one cut short to re-plan
	// in object order): their copy is still welcome if it comes first.
	alt planner.RegionSet
	// hedged: asked of a second source after its first stalled; a later
	// copy is the hedge's expected waste, not a duplicate request.
	hedged bool
	// serial is the stream that asked for the chunk as its owner.
	serial uint64
	// orphanSince is when the chunk was found with no live holder
	// (zero: it has one); it fails once that lasts Config.HolderWait
	// without a frame from any of its holders (see holders.go).
	orphanSince time.Time
}

// jsrc is one source region of a job.
type jsrc struct {
	Peer
	bit     planner.RegionSet
	failed  bool
	queue   []*jchunk // assigned, not yet streaming; object order
	running bool      // a worker goroutine owns the source
	// the current stream, guarded by job.mu
	cancel      context.CancelFunc
	streamStart time.Time
	streamBytes int64
	streamLeft  int // chunks of the stream not yet arrived
	// first and last frame arrivals, for the throughput sample
	firstAt, lastAt time.Time
	firstBytes      int64
	frames          int
	slow            bool
	// The plan's prediction for the stream: batchBytes stored bytes of
	// chunks behind ahead bytes other fetches had queued on the region.
	batchBytes, ahead int64
	batchChunks       int
	// behindSince is when the stream was first seen far behind its
	// predicted progress (zero: it is not), with the bytes and local
	// stall time of that moment.
	behindSince time.Time
	behindBytes int64
	behindStall time.Duration
	// Local back-pressure of the stream: the time its frames waited for
	// the local store (putQueue full: disk syncs), which is not the
	// link's fault. stall is the finished waits; stallSince the start of
	// the current one (zero: none).
	stall      time.Duration
	stallSince time.Time
	// Hedging (see checkStall): batch is the current stream's chunks and
	// next the position of the frame expected next; progressAt is when
	// the stream last made progress (its start, a frame, or the end of a
	// local stall). stalled: it missed a frame's deadline and is left
	// out of plans until it delivers again; restream: its stream was cut
	// short on purpose (not a failure).
	batch      []*jchunk
	next       int
	serial     uint64
	progressAt time.Time
	stalled    bool
	restream   bool
	// Proportional hedging (hedge.go): hedgePos is the position in batch
	// up to which chunks were moved by hedges; hedgeRound counts the
	// windows moved since the stream stalled, hedgeWin is the last one and
	// hedgeAt when it was moved.
	hedgePos   int
	hedgeRound int
	hedgeWin   []*jchunk
	hedgeAt    time.Time
	// Skip requests to the node (hedge.go, skipLosers): skipWant are the
	// chunks to ask it to leave out of its stream, skipping whether a
	// request is out (its sender takes skipWant when it is back).
	skipWant []recipe.ChunkID
	skipping bool
	// Holders that come back (holders.go): deliveredAt is when the node
	// last delivered a frame; failedAt when its last stream failed and
	// fails how many failed in a row since it last delivered; noAnswer:
	// it did not answer the job's have request (a source of a
	// speculative start), so its holdings are unknown.
	deliveredAt time.Time
	failedAt    time.Time
	fails       int
	noAnswer    bool
	// cutAt, if > 0, is the position in batch of the first chunk a
	// speculative start's correction moved away (speculate.go): the
	// stream stops reading there.
	cutAt int
}

// job fetches a set of missing chunks: plan, stream, re-plan.
type job struct {
	f         *Fetcher
	ctx       context.Context
	cancel    context.CancelFunc
	chunks    []*jchunk
	srcs      []*jsrc
	asked     []string
	kick      chan struct{}
	mu        sync.Mutex
	remaining int
	serial    uint64 // streams started
	wg        sync.WaitGroup
	tr        *Transfer // this job in f.transfers
	g         groups    // j.srcs by region
	// rec is the recipe read, for a speculative start (nil: none, as
	// for a heal).
	rec *recipe.Recipe
	// lastLoop is when the job's loop last ran (see noteLoop).
	lastLoop time.Time
	// Waiting for holders (holders.go): orphans is how many chunks the
	// last planPending found with no live holder; refreshedAt when the
	// job last looked at the live members for them; asking the nodes
	// (by URL) a have request is out to, askAfter when a node whose
	// request failed may be asked again.
	orphans     int
	refreshedAt time.Time
	asking      map[string]bool
	askAfter    map[string]time.Time
	// answers is the have answer of each have group (haveKey) that
	// answered, for nodes of the group found late (haveregion.go);
	// haveFailed the nodes (by URL) whose own have request failed.
	answers    map[string]haveAnswer
	haveFailed map[string]bool
}

func (f *Fetcher) newJob(ctx context.Context, cancel context.CancelFunc, chunks []*jchunk) *job {
	return &job{f: f, ctx: ctx, cancel: cancel, chunks: chunks, remaining: len(chunks), kick: make(chan struct{}, 1)}
}

func (j *job) poke() {
	select {
	case j.kick <- struct{}{}:
	default:
	}
}

// haveSizes asks every group of peers (haveregion.go: one node per region
// whose nodes share a store, else every node) concurrently which of ids
// it holds and their stored sizes (-1: not held); the answer is every
// node's of the group. A node whose group did not answer, or that failed
// to answer itself, is left out (its slot is nil).
func (f *Fetcher) haveSizes(ctx context.Context, peers []Peer, ids []recipe.ChunkID) [][]int64 {
	out := make([][]int64, len(peers))
	if len(ids) == 0 {
		return out
	}
	var wg sync.WaitGroup
	for _, group := range haveGroups(peers, ids[0]) {
		wg.Go(func() {
			has, failed := f.haveOfGroup(ctx, peers, group, ids)
			if has == nil {
				return
			}
			f.holdings.note(haveKey(peers[group[0]]), ids, has)
			for _, i := range group {
				if !slices.Contains(failed, i) {
					out[i] = has
				}
			}
		})
	}
	wg.Wait()
	return out
}

// sources turns the peers that answered into job sources and sets the
// chunks' holder sets and sizes: the stored (wire) size the holders
// reported (the largest if they differ, which they should not with the
// same codec settings), so that plans are made with the bytes that will
// cross the links.
func (f *Fetcher) sources(peers []Peer, sizes [][]int64, chunks []*jchunk) []*jsrc {
	var srcs []*jsrc
	for _, c := range chunks {
		c.est = 0
	}
	for i, p := range peers {
		if sizes[i] == nil {
			continue
		}
		s := &jsrc{Peer: p, bit: planner.Regions(len(srcs))}
		srcs = append(srcs, s)
		for k, c := range chunks {
			if n := sizes[i][k]; n > 0 {
				c.holders |= s.bit
				c.est = max(c.est, n)
			}
		}
	}
	ratio := f.links.compression()
	for _, c := range chunks {
		if c.est <= 0 { // held nowhere: the estimate only matters for reports
			c.est = max(1, int64(float64(c.plain)*ratio+0.5))
		}
	}
	return srcs
}

// groups is a job's sources (nodes) grouped by region: the planner's
// sources are regions (a region is one source, its WAN link), each served
// by any of its usable nodes (see assign).
type groups struct {
	names []string            // region names, in order of their first node
	of    []int               // of[i]: the group of srcs[i]
	nodes []planner.RegionSet // nodes[g]: the bits of group g's nodes
	// identity: one node per region, so node bits are region bits.
	identity bool
}

func groupSources(srcs []*jsrc) groups {
	g := groups{identity: true}
	idx := make(map[string]int, len(srcs))
	for i, s := range srcs {
		k, ok := idx[s.Region]
		if !ok {
			k = len(g.names)
			idx[s.Region] = k
			g.names = append(g.names, s.Region)
			g.nodes = append(g.nodes, 0)
		}
		g.of = append(g.of, k)
		g.nodes[k] |= s.bit
		g.identity = g.identity && k == i && s.bit == planner.Regions(i)
	}
	return g
}

// regionsOf maps a set of nodes to the set of their regions.
func (g *groups) regionsOf(nodes planner.RegionSet) planner.RegionSet {
	if g.identity {
		return nodes
	}
	var out planner.RegionSet
	for r, m := range g.nodes {
		if nodes&m != 0 {
			out |= planner.Regions(r)
		}
	}
	return out
}

// usable returns the sources in use (in use and not failed).
func usable(srcs []*jsrc, use planner.RegionSet) planner.RegionSet {
	var u planner.RegionSet
	for _, s := range srcs {
		if !s.failed && s.bit&use != 0 {
			u |= s.bit
		}
	}
	return u
}

// input builds the planner input for chunks over the regions of the
// sources of srcs in use: a region's link (its estimate, the least RTT
// of its usable nodes, the bytes queued on it) is planned when one of its
// nodes is usable (failed nodes and those not in use are not), and a
// chunk's holders are the regions of its usable holder nodes.
func (f *Fetcher) input(srcs []*jsrc, chunks []*jchunk, use planner.RegionSet) (planner.Input, groups) {
	g := groupSources(srcs)
	u := usable(srcs, use)
	in := planner.Input{Chunks: make([]planner.Chunk, len(chunks)), Sources: make([]planner.Source, len(g.names))}
	for r, region := range g.names {
		est := f.links.get(region)
		rtt := time.Duration(0)
		for i, s := range srcs {
			if g.of[i] == r && s.bit&u != 0 && s.RTT > 0 && (rtt == 0 || s.RTT < rtt) {
				rtt = s.RTT
			}
		}
		if rtt <= 0 {
			rtt = est.RTT
		}
		bw := est.Bandwidth
		if g.nodes[r]&u == 0 {
			bw = 0
		}
		in.Sources[r] = planner.Source{Region: region, Bandwidth: bw, RTT: rtt,
			CostPerByte: f.cfg.Priors[region].CostPerByte, Queued: f.queuedOn(region),
			Startup: f.startup(region, bw, est)}
	}
	for i, c := range chunks {
		in.Chunks[i] = planner.Chunk{Index: c.index, ID: c.id.Short(), Size: c.est, Holders: g.regionsOf(c.holders & u)}
	}
	return in, g
}

// assign gives the chunks a plan put on region r to its usable nodes u:
// all to the one with the least bytes queued in this fetcher (so that the
// streams of concurrent fetches spread over the region's nodes), a chunk
// it does not hold to the least loaded usable node that does; it returns
// the bytes given to each source. j.mu held.
func (j *job) assign(g *groups, r int, u planner.RegionSet, chunks []*jchunk, bytes []int64) {
	cand := g.nodes[r] & u
	var loads map[int]int64
	load := func(i int) int64 {
		if loads == nil {
			loads = map[int]int64{}
		}
		l, ok := loads[i]
		if !ok {
			l = j.f.queuedOnNode(j.srcs[i].URL)
			loads[i] = l
		}
		return l
	}
	best := -1
	if cand&(cand-1) == 0 { // one node: no load to compare
		best = trailingBit(cand)
	} else {
		for i := range j.srcs {
			if cand.Has(i) && (best < 0 || load(i) < load(best)) {
				best = i
			}
		}
	}
	for _, c := range chunks {
		if best < 0 { // cannot happen: the planner gives chunks only to regions with a usable node
			j.fail(c, fmt.Errorf("fetch: chunk %s planned on region %s, which has no usable node", c.id.Short(), g.names[r]))
			continue
		}
		o := best
		if !c.holders.Has(o) {
			o = -1
			for i := range j.srcs {
				if (cand & c.holders).Has(i) && (o < 0 || load(i) < load(o)) {
					o = i
				}
			}
			if o < 0 { // the planner gave r a chunk no usable node of r holds
				o = best
			}
		}
		s := j.srcs[o]
		c.state, c.owner = stQueued, o
		c.fut.place()
		s.queue = append(s.queue, c)
		j.f.addQueued(s.Peer, c.est)
		bytes[o] += c.est
	}
}

func trailingBit(m planner.RegionSet) int {
	for i := 0; i < planner.MaxSources; i++ {
		if m.Has(i) {
			return i
		}
	}
	return -1
}

func (j *job) run() {
	defer j.cancel()
	f := j.f
	peers := f.livePeers()
	for _, p := range peers {
		if !slices.Contains(j.asked, p.Region) {
			j.asked = append(j.asked, p.Region)
		}
	}
	ids := make([]recipe.ChunkID, len(j.chunks))
	for i, c := range j.chunks {
		ids[i] = c.id
	}
	sizes, cached := f.holdings.lookup(peers, ids)
	var spec []int
	var sums []Summary
	var held planner.RegionSet
	if !cached {
		spec, sums = f.specPick(j.ctx, j.rec, peers, j.chunks)
	}
	switch {
	case cached:
		f.count(func(st *Stats) { st.HaveCached++ })
		j.srcs = f.sources(peers, sizes, j.chunks)
		j.mu.Lock()
		j.noteAnswers(peers, sizes)
		j.mu.Unlock()
	case len(spec) > 0:
		j.srcs, held = f.specSources(peers, spec, sums, j.chunks)
	default:
		sizes = f.haveSizes(j.ctx, peers, ids)
		j.srcs = f.sources(peers, sizes, j.chunks)
		j.mu.Lock()
		j.noteAnswers(peers, sizes)
		j.mu.Unlock()
	}
	j.g = groupSources(j.srcs)
	nodes := make([]Peer, len(j.srcs))
	for i, s := range j.srcs {
		nodes[i] = s.Peer
	}
	j.tr = f.transfers.start(len(j.chunks), nodes)
	defer f.transfers.finish(j.tr, f.cfg.OnTransfer)
	for _, s := range j.srcs {
		s.stalled = f.recentlyStalled(s.URL)
	}
	if len(spec) > 0 {
		j.speculate(peers, spec, held, ids)
	}

	tick := time.NewTicker(loopTick)
	defer tick.Stop()
	for {
		j.mu.Lock()
		if j.remaining == 0 {
			j.mu.Unlock()
			break
		}
		j.planPending()
		if j.orphans > 0 {
			j.refresh(time.Now())
		}
		j.noteLoop(time.Now())
		j.checkStall()
		j.checkSlow()
		j.startWorkers()
		j.mu.Unlock()
		select {
		case <-j.kick:
		case <-tick.C:
		case <-j.ctx.Done():
			j.mu.Lock()
			for _, c := range j.chunks {
				if c.state == stPlan || c.state == stQueued {
					j.fail(c, fmt.Errorf("fetch: chunk %s (ref %d): %w", c.id.Short(), c.index, j.ctx.Err()))
				}
			}
			j.mu.Unlock()
			j.cancel()
			j.wg.Wait()
			return
		}
	}
	j.wg.Wait()
}

// fail resolves c with err; j.mu held.
func (j *job) fail(c *jchunk, err error) {
	if c.state == stQueued {
		j.f.addQueued(j.srcs[c.owner].Peer, -c.est)
	}
	c.state = stFailed
	j.remaining--
	j.f.transfers.update(j.tr, func(t *Transfer) { t.FailedChunks++ })
	j.f.complete(c, err, false)
}

func (j *job) alive() planner.RegionSet {
	var a planner.RegionSet
	for _, s := range j.srcs {
		if !s.failed {
			a |= s.bit
		}
	}
	return a
}

// planPending plans every chunk in stPlan; one with no live holder waits
// for one to come back (holders.go) and fails after Config.HolderWait;
// j.mu held.
func (j *job) planPending() {
	alive := j.alive()
	now := time.Now()
	var todo []*jchunk
	orphans, fresh := 0, 0
	for _, c := range j.chunks {
		if c.state != stPlan {
			continue
		}
		if c.holders&alive == 0 {
			switch wait, first := j.orphanWait(c, now); {
			case wait:
				orphans++
				if first {
					fresh++
				}
			default:
				j.fail(c, &NoHolderError{ID: c.id, Index: c.index, Asked: j.asked, Reason: j.noHolderReason(c)})
			}
			continue
		}
		todo = append(todo, c)
	}
	j.orphans = orphans
	if fresh > 0 {
		j.f.log.Warn("no live holder for chunks of a read; waiting for one to come back",
			zap.Int("chunks", fresh), zap.Duration("up_to", j.f.cfg.HolderWait), zap.Strings("asked", j.asked))
	}
	if len(todo) == 0 {
		return
	}
	// Stalled sources are left out unless a chunk has no other holder.
	use := alive &^ j.stalledSet()
	for _, c := range todo {
		if c.holders&use == 0 {
			use = alive
			break
		}
	}
	in, g := j.f.input(j.srcs, todo, use)
	t0 := time.Now()
	plan, err := planner.Solve(in, j.f.cfg.Strategy)
	d := time.Since(t0).Nanoseconds()
	j.f.count(func(st *Stats) { st.Plans++; st.PlanNanos += d; st.LastPlanNanos = d })
	if err != nil {
		for _, c := range todo {
			j.fail(c, fmt.Errorf("fetch: plan chunk %s: %w", c.id.Short(), err))
		}
		return
	}
	u := usable(j.srcs, use)
	planned, finish := make([]int64, len(j.srcs)), make([]float64, len(j.srcs))
	for r, sp := range plan.Sources {
		if len(sp.Chunks) == 0 {
			continue
		}
		part := make([]*jchunk, len(sp.Chunks))
		for k, pos := range sp.Chunks {
			part[k] = todo[pos]
		}
		j.assign(&g, r, u, part, planned)
		for i := range j.srcs {
			if g.of[i] == r {
				finish[i] = sp.Finish
			}
		}
	}
	j.f.transfers.planned(j.tr, plan.Makespan, plan.LowerBound, planned, finish)
	for _, s := range j.srcs {
		if len(s.queue) > 1 {
			slices.SortFunc(s.queue, func(a, b *jchunk) int { return a.index - b.index })
		}
	}
	j.f.log.Debug("planned", zap.Int("chunks", len(todo)), zap.Float64("makespan_s", plan.Makespan),
		zap.Float64("lower_bound_s", plan.LowerBound))
}

// Slow-source detection. A stream's predicted progress is the plan's: its
// first byte one RTT after the request, once the ahead bytes other
// fetches had queued on the region are through, then the link's estimated
// rate: expected(t) = (t - RTT - stall)·bw - ahead, at most the stream's
// bytes. A stream is judged only once it has run judgeRTTs round trips
// plus the time for judgeChunks chunks at the predicted rate, and at least
// Grace, so that TCP's slow start on a long-RTT link (several round trips
// below the link's rate) is not taken for a slow source. It is slow when it
// has received less than expected/SlowFactor bytes and, over a further
// max(Grace/2, sustainRTTs·RTT), both stayed that far behind and received
// at less than bw/SlowFactor: a link that was slow to start but now runs
// at its rate keeps its chunks.
const (
	judgeRTTs   = 6
	judgeChunks = 4
	sustainRTTs = 2
)

// checkSlow cancels streams far behind their predicted progress; j.mu held.
func (j *job) checkSlow() {
	now := time.Now()
	for _, s := range j.srcs {
		if s.cancel == nil || s.slow || s.stalled || s.restream || s.streamLeft == 0 || s.streamStart.IsZero() {
			continue
		}
		est := j.f.links.get(s.Region)
		rtt := s.RTT
		if rtt <= 0 {
			rtt = est.RTT
		}
		bw := est.Bandwidth
		if bw <= 0 {
			continue
		}
		stall := s.localStall(now)
		avg := float64(s.batchBytes) / float64(max(s.batchChunks, 1))
		judgeAfter := max(j.f.cfg.Grace, judgeRTTs*rtt+secs(judgeChunks*avg/bw)+secs(float64(s.ahead)/bw))
		if now.Sub(s.streamStart)-stall < rtt+judgeAfter {
			s.behindSince = time.Time{}
			continue
		}
		el := now.Sub(s.streamStart) - rtt - stall
		expected := min(el.Seconds()*bw-float64(s.ahead), float64(s.batchBytes))
		if float64(s.streamBytes) >= expected/j.f.cfg.SlowFactor {
			s.behindSince = time.Time{}
			continue
		}
		if s.behindSince.IsZero() {
			s.behindSince, s.behindBytes, s.behindStall = now, s.streamBytes, stall
			continue
		}
		win := now.Sub(s.behindSince) - (stall - s.behindStall)
		if win < max(j.f.cfg.Grace/2, sustainRTTs*rtt) {
			continue
		}
		recent := float64(s.streamBytes-s.behindBytes) / win.Seconds()
		if recent >= bw/j.f.cfg.SlowFactor {
			// Behind, but catching up at the link's rate: slow start.
			s.behindSince, s.behindBytes, s.behindStall = now, s.streamBytes, stall
			continue
		}
		if !j.othersHold(s) {
			// No other live source holds any chunk s still owes:
			// re-planning would only ask s again for them and send the
			// bytes already in flight twice. Let the stream finish; its
			// rate becomes the link's sample as usual.
			continue
		}
		observed := float64(s.streamBytes) / el.Seconds()
		s.slow = true
		// Floor: a stalled stream says little about the link later on.
		j.f.links.set(s.Region, max(observed, recent, est.Prior/100), true)
		j.f.count(func(st *Stats) { st.SlowSources++; st.Replans++ })
		j.replanned(s, false)
		j.f.log.Warn("source far behind its predicted progress; re-planning its chunks",
			zap.String("region", s.Region), zap.Float64("observed_Bps", observed),
			zap.Float64("recent_Bps", recent), zap.Float64("predicted_Bps", bw),
			zap.Int64("received_bytes", s.streamBytes), zap.Float64("expected_bytes", expected),
			zap.Duration("rtt", rtt))
		// The stream's chunks in flight stay its own until the worker has
		// unwound it (those that arrive before the cancel takes effect are
		// stored); only its queue is planned again now.
		s.cancel()
		j.requeue(s)
	}
}

func secs(x float64) time.Duration { return time.Duration(x * float64(time.Second)) }

// othersHold reports whether another live source holds a chunk that is
// queued on s or in flight from it; j.mu held.
func (j *job) othersHold(s *jsrc) bool {
	me, others := indexOf(j.srcs, s), j.alive()&^s.bit
	for _, c := range j.chunks {
		if c.state == stQueued && c.owner == me && c.holders&others != 0 {
			return true
		}
	}
	return false
}

// localStall returns the stream's local back-pressure time so far; j.mu held.
func (s *jsrc) localStall(now time.Time) time.Duration {
	d := s.stall
	if !s.stallSince.IsZero() {
		d += now.Sub(s.stallSince)
	}
	return d
}

// requeue sends the chunks waiting in s's queue back to planning; j.mu held.
func (j *job) requeue(s *jsrc) {
	for _, c := range s.queue {
		if c.state == stQueued {
			j.f.addQueued(s.Peer, -c.est)
			c.state = stPlan
		}
	}
	s.queue = nil
}

func (j *job) startWorkers() {
	for _, s := range j.srcs {
		if !s.running && !s.failed && len(s.queue) > 0 {
			s.running = true
			j.wg.Add(1)
			go j.worker(s)
		}
	}
}

// worker streams s's queue, batch after batch, until it is empty.
func (j *job) worker(s *jsrc) {
	defer j.wg.Done()
	f := j.f
	for {
		j.mu.Lock()
		if len(s.queue) == 0 || s.failed || j.ctx.Err() != nil {
			s.running = false
			j.mu.Unlock()
			return
		}
		me := indexOf(j.srcs, s)
		var batch []*jchunk
		for len(s.queue) > 0 && len(batch) < 4096 {
			c := s.queue[0]
			s.queue = s.queue[1:]
			// Never ask for a chunk that is no longer this source's to
			// send (re-planned elsewhere, or already stored).
			if c.state == stQueued && c.owner == me {
				batch = append(batch, c)
			}
		}
		if len(batch) == 0 {
			j.mu.Unlock()
			continue
		}
		j.serial++
		serial := j.serial
		for _, c := range batch {
			c.serial = serial
		}
		s.batch, s.next, s.serial, s.restream = batch, 0, serial, false
		s.cutAt = 0
		s.hedgePos, s.hedgeRound, s.hedgeWin = 0, 0, nil
		sctx, cancel := context.WithCancel(j.ctx)
		// streamStart stays zero (not judged) until the stream has a slot.
		s.cancel, s.streamStart, s.streamBytes, s.streamLeft, s.slow = cancel, time.Time{}, 0, len(batch), false
		s.frames, s.firstBytes, s.stall, s.stallSince = 0, 0, 0, time.Time{}
		s.behindSince, s.behindBytes, s.behindStall = time.Time{}, 0, 0
		s.batchBytes, s.batchChunks = 0, len(batch)
		for _, c := range batch {
			s.batchBytes += c.est
		}
		j.mu.Unlock()

		select {
		case f.streams <- struct{}{}:
		case <-sctx.Done():
		}
		j.mu.Lock()
		s.streamStart = time.Now() // the wait for a stream slot is not the link's fault
		s.progressAt = s.streamStart
		// What other fetches have queued on the region goes first (the
		// planner's Source.Queued): this job's own chunks on s are not
		// ahead of the stream.
		own := int64(0)
		for _, c := range j.chunks {
			if c.state == stQueued && j.g.of[c.owner] == j.g.of[me] {
				own += c.est
			}
		}
		s.ahead = max(0, j.f.queuedOn(s.Region)-own)
		j.mu.Unlock()
		ids := make([]recipe.ChunkID, len(batch))
		for i, c := range batch {
			ids[i] = c.id
		}
		next := 0
		var err error
		if sctx.Err() == nil {
			// Arrived chunks are verified and stored by putWorkers
			// goroutines, so that the link is not held up by the local
			// store; at most putQueue frames and putBytes stored bytes
			// wait in memory or are being stored.
			puts := make(chan arrival, putQueue)
			held := semaphore.NewWeighted(putBytes)
			var pwg sync.WaitGroup
			for range putWorkers {
				pwg.Go(func() {
					for a := range puts {
						j.store(s, a)
						held.Release(a.held)
					}
				})
			}
			frame := func(id recipe.ChunkID, st chunkstore.Stored, ferr error) error {
				c := batch[next]
				next++
				if skipped(ferr) {
					j.skippedFrame(s, c, next)
					return nil
				}
				j.mu.Lock()
				now := time.Now()
				if s.frames == 0 {
					s.firstAt, s.firstBytes = now, int64(len(st.Data))
				}
				s.lastAt, s.progressAt, s.next = now, now, next
				s.deliveredAt, s.fails = now, 0
				s.frames++
				s.streamBytes += int64(len(st.Data))
				s.streamLeft--
				if s.stalled {
					j.recovered(s)
				}
				dup, hedged := false, c.hedged
				if ferr == nil {
					c.got++
					// First arrival wins: the owner's copy, or that of a
					// stream that asked for it before it moved.
					live := c.state == stQueued || c.state == stPlan
					ours := (c.state == stQueued && c.owner == me) || c.alt&s.bit != 0
					dup = c.got > 1 || !live || !ours
				}
				j.mu.Unlock()
				if ferr != nil {
					j.chunkFailed(s, c, fmt.Sprintf("%s: %v", s.Region, ferr))
					return nil
				}
				if dup && hedged {
					// The losing copy of a hedged chunk: expected, dropped.
					n := int64(len(st.Data))
					f.count(func(st *Stats) { st.HedgeWasted++; st.HedgeWastedBytes += n })
					return nil
				}
				if dup {
					// Received already (or no longer ours): count it, do not
					// store or resolve it again.
					f.count(func(st *Stats) { st.DuplicateChunks++ })
					f.log.Warn("chunk received twice", zap.String("region", s.Region),
						zap.String("chunk", c.id.Short()), zap.Int("ref", c.index))
					return nil
				}
				a := arrival{c: c, st: st, held: min(int64(len(st.Data)), putBytes)}
				got := held.TryAcquire(a.held)
				if got {
					select {
					case puts <- a:
						return nil
					default:
					}
				}
				// The local store is behind: time the wait so that the
				// rate checks do not blame the link for it.
				j.mu.Lock()
				s.stallSince = time.Now()
				j.mu.Unlock()
				defer func() {
					j.mu.Lock()
					s.stall += time.Since(s.stallSince)
					s.stallSince, s.progressAt = time.Time{}, time.Now()
					j.mu.Unlock()
				}()
				// Wait even if the stream was cancelled meanwhile (re-plan):
				// the chunk has crossed the link; dropping it would make
				// the re-plan fetch it a second time. Only the job's end
				// drops it.
				if !got {
					if err := held.Acquire(j.ctx, a.held); err != nil {
						return err // c stays queued: failed with the job
					}
				}
				select {
				case puts <- a:
					return sctx.Err() // nil unless cancelled: then stop reading
				case <-j.ctx.Done():
					held.Release(a.held)
					return j.ctx.Err() // c stays queued: failed with the job
				}
			}
			err = f.fetchChunks(sctx, s.URL, s.Region, ids, j.cutAfter(s, &next, frame))
			close(puts)
			pwg.Wait()
		} else {
			err = sctx.Err()
		}
		<-f.streams
		cancel()

		j.mu.Lock()
		s.cancel = nil
		leftover := 0
		for _, c := range batch { // every arrival is resolved: the rest never came
			if c.state == stQueued && c.owner == me && c.serial == serial {
				f.addQueued(s.Peer, -c.est)
				c.state = stPlan
				leftover++
			}
			c.alt &^= s.bit // this stream sends nothing more
		}
		s.batch, s.next = nil, 0
		s.hedgePos, s.hedgeWin = 0, nil
		switch {
		case j.ctx.Err() != nil:
		case err == nil:
			// The sample is the rate between the first and the last frame,
			// which leaves out the request's round trip and the sender's
			// start-up; short streams give no sample (see links.observe).
			// Local stalls stay in: frames the sender paced into the
			// socket buffers during a stall arrive in a burst after it,
			// so leaving the stall out would overrate the link.
			if s.frames >= 4 {
				f.links.observe(s.Region, s.streamBytes-s.firstBytes, s.lastAt.Sub(s.firstAt))
			}
		case s.slow:
			// checkSlow lowered the estimate and counted the re-plan.
		case s.restream:
			// Cut short on purpose (checkStall): its chunks are re-planned.
		default:
			s.failed, s.failedAt = true, time.Now()
			s.fails++
			f.count(func(st *Stats) { st.SourceFails++; st.Replans++ })
			j.replanned(s, true)
			f.log.Warn("source node failed; re-planning its chunks onto the others (its region's other nodes first)",
				zap.String("region", s.Region), zap.String("node", s.name()), zap.Int("chunks_left", leftover+len(s.queue)), zap.Error(err))
			j.requeue(s)
		}
		s.streamLeft = 0
		j.mu.Unlock()
		j.poke()
	}
}

// Arrival pipeline bounds, per stream: putWorkers concurrent Receive
// calls, at most putQueue arrived chunks waiting for them, and at most
// putBytes stored bytes of arrived chunks waiting or being stored (at
// least one chunk). Concurrent Receive calls share one Badger commit
// (chunkstore's put group), so the calls in flight are the commit's
// batch: a stream of small chunks on a fast link is as fast as the
// store commits putWorkers chunks (TestArrivalsStoredManyAtOnce). With
// 4 (before), the 975 chunks of issue 13's scenario (d) on the fog
// topology, 6.6 KB each, took 0.56-0.94 s to fetch (WAN bench, loads
// 2-9) where the link carries them in 0.26 s; with 32, 0.31-1.12 s: the
// GET they serve keeps both cores busy, and that contention, not the
// commits alone, sets the fetch's pace on this machine.
const (
	putWorkers = 32
	putQueue   = 32
	putBytes   = 4 << 20
)

type arrival struct {
	c    *jchunk
	st   chunkstore.Stored
	held int64 // of the stream's putBytes
}

// store verifies and stores an arrived chunk and resolves it.
func (j *job) store(s *jsrc, a arrival) {
	f := j.f
	if err := f.store.Receive(j.ctx, a.c.id, a.st); err != nil {
		var ce *chunkstore.CorruptChunkError
		if errors.As(err, &ce) {
			f.count(func(st *Stats) { st.CorruptFetch++ })
			f.log.Error("chunk from peer failed verification; asking another holder",
				zap.String("region", s.Region), zap.String("chunk", a.c.id.String()), zap.Error(err))
		}
		j.chunkFailed(s, a.c, fmt.Sprintf("%s sent a chunk that could not be stored: %v", s.Region, err))
		return
	}
	f.links.received(s.Region, int64(len(a.st.Data)), int64(a.c.plain))
	j.chunkDone(s, a.c, int64(len(a.st.Data)))
}

func indexOf(srcs []*jsrc, s *jsrc) int {
	return slices.Index(srcs, s)
}

func (j *job) chunkDone(s *jsrc, c *jchunk, stored int64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	switch c.state {
	case stQueued:
		j.f.addQueued(j.srcs[c.owner].Peer, -c.est)
	case stPlan: // an alt stream's copy came before the re-plan
	default: // resolved already: never twice
		return
	}
	if c.hedged {
		j.hedgeWon(s, c)
	}
	j.skipLosers(s, c)
	c.state = stDone
	j.remaining--
	j.f.count(func(st *Stats) { st.StoredBytes += stored })
	j.f.transfers.stored(j.tr, indexOf(j.srcs, s), stored)
	j.f.complete(c, nil, true)
}

// chunkFailed takes s out of c's holders and plans c again.
func (j *job) chunkFailed(s *jsrc, c *jchunk, reason string) {
	j.mu.Lock()
	if c.state != stQueued || c.owner != indexOf(j.srcs, s) {
		// Already re-planned (cancelled or stalled stream): the other
		// request stands; s is no holder of it after all.
		if c.alt&s.bit != 0 {
			c.alt &^= s.bit
			c.holders &^= s.bit
			c.got = 0
		}
		j.mu.Unlock()
		return
	}
	j.f.addQueued(s.Peer, -c.est)
	c.holders &^= s.bit
	c.lastErr = reason
	c.state = stPlan
	c.got = 0 // what arrived was unusable: the next copy is no duplicate
	j.mu.Unlock()
	j.poke()
}

// replanned counts a re-plan away from s in the job's Transfer.
func (j *job) replanned(s *jsrc, failed bool) {
	i := indexOf(j.srcs, s)
	j.f.transfers.update(j.tr, func(t *Transfer) {
		t.Replans++
		if failed && i >= 0 && i < len(t.Sources) {
			t.Sources[i].Failed = true
		}
	})
}
