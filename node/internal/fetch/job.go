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
	fut     *future
	state   chunkState
	owner   int
	lastErr string
	healing bool // fetched again after the local copy failed verification
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
	// Local back-pressure of the stream: the time its frames waited for
	// the local store (putQueue full: disk syncs), which is not the
	// link's fault. stall is the finished waits; stallSince the start of
	// the current one (zero: none).
	stall      time.Duration
	stallSince time.Time
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
	wg        sync.WaitGroup
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

// haveBitmaps asks every peer concurrently which of ids it holds; a peer
// that fails to answer is left out (its slot is nil).
func (f *Fetcher) haveBitmaps(ctx context.Context, peers []Peer, ids []recipe.ChunkID) [][]bool {
	out := make([][]bool, len(peers))
	var wg sync.WaitGroup
	for i, p := range peers {
		wg.Go(func() {
			hctx, cancel := context.WithTimeout(ctx, f.cfg.HaveTimeout)
			defer cancel()
			has, err := f.tr.Have(hctx, p.URL, ids)
			if err != nil {
				f.log.Warn("have request failed; region left out of this plan",
					zap.String("region", p.Region), zap.Error(err))
				return
			}
			out[i] = has
		})
	}
	wg.Wait()
	return out
}

// sources turns the peers that answered into job sources and sets the
// chunks' holder sets.
func (f *Fetcher) sources(peers []Peer, bitmaps [][]bool, chunks []*jchunk) []*jsrc {
	var srcs []*jsrc
	ratio := f.links.compression()
	for k, c := range chunks {
		c.est = max(1, int64(float64(c.plain)*ratio+0.5))
		_ = k
	}
	for i, p := range peers {
		if bitmaps[i] == nil {
			continue
		}
		s := &jsrc{Peer: p, bit: planner.Regions(len(srcs))}
		srcs = append(srcs, s)
		for k, c := range chunks {
			if bitmaps[i][k] {
				c.holders |= s.bit
			}
		}
	}
	return srcs
}

// input builds the planner input for chunks over srcs.
func (f *Fetcher) input(srcs []*jsrc, chunks []*jchunk) planner.Input {
	in := planner.Input{Chunks: make([]planner.Chunk, len(chunks)), Sources: make([]planner.Source, len(srcs))}
	for i, s := range srcs {
		est := f.links.get(s.Region)
		rtt := s.RTT
		if rtt <= 0 {
			rtt = est.RTT
		}
		bw := est.Bandwidth
		if s.failed {
			bw = 0
		}
		in.Sources[i] = planner.Source{Region: s.Region, Bandwidth: bw, RTT: rtt,
			CostPerByte: f.cfg.Priors[s.Region].CostPerByte, Queued: f.queuedOn(s.Region)}
	}
	for i, c := range chunks {
		in.Chunks[i] = planner.Chunk{Index: c.index, ID: c.id.Short(), Size: c.est, Holders: c.holders}
	}
	return in
}

func (j *job) run() {
	defer j.cancel()
	f := j.f
	peers := f.livePeers()
	for _, p := range peers {
		j.asked = append(j.asked, p.Region)
	}
	ids := make([]recipe.ChunkID, len(j.chunks))
	for i, c := range j.chunks {
		ids[i] = c.id
	}
	j.srcs = f.sources(peers, f.haveBitmaps(j.ctx, peers, ids), j.chunks)

	tick := time.NewTicker(max(j.f.cfg.Grace/4, 50*time.Millisecond))
	defer tick.Stop()
	for {
		j.mu.Lock()
		if j.remaining == 0 {
			j.mu.Unlock()
			break
		}
		j.planPending()
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
		j.f.addQueued(j.srcs[c.owner].Region, -c.est)
	}
	c.state = stFailed
	j.remaining--
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

// planPending plans every chunk in stPlan; j.mu held.
func (j *job) planPending() {
	alive := j.alive()
	var todo []*jchunk
	for _, c := range j.chunks {
		if c.state != stPlan {
			continue
		}
		if c.holders&alive == 0 {
			j.fail(c, &NoHolderError{ID: c.id, Index: c.index, Asked: j.asked, Reason: c.lastErr})
			continue
		}
		todo = append(todo, c)
	}
	if len(todo) == 0 {
		return
	}
	in := j.f.input(j.srcs, todo)
	plan, err := planner.Solve(in, j.f.cfg.Strategy)
	if err != nil {
		for _, c := range todo {
			j.fail(c, fmt.Errorf("fetch: plan chunk %s: %w", c.id.Short(), err))
		}
		return
	}
	for r, sp := range plan.Sources {
		s := j.srcs[r]
		for _, pos := range sp.Chunks {
			c := todo[pos]
			c.state, c.owner = stQueued, r
			s.queue = append(s.queue, c)
			j.f.addQueued(s.Region, c.est)
		}
		slices.SortFunc(s.queue, func(a, b *jchunk) int { return a.index - b.index })
	}
	j.f.log.Debug("planned", zap.Int("chunks", len(todo)), zap.Float64("makespan_s", plan.Makespan),
		zap.Float64("lower_bound_s", plan.LowerBound))
}

// checkSlow cancels streams far behind their predicted rate; j.mu held.
func (j *job) checkSlow() {
	now := time.Now()
	for _, s := range j.srcs {
		if s.cancel == nil || s.slow || s.streamLeft == 0 {
			continue
		}
		est := j.f.links.get(s.Region)
		rtt := s.RTT
		if rtt <= 0 {
			rtt = est.RTT
		}
		el := now.Sub(s.streamStart) - rtt - s.stalled(now)
		if el < j.f.cfg.Grace {
			continue
		}
		observed := float64(s.streamBytes) / el.Seconds()
		if observed >= est.Bandwidth/j.f.cfg.SlowFactor {
			continue
		}
		if !j.othersHold(s) {
			// No other live source holds any chunk s still owes:
			// re-planning would only ask s again for them and send the
			// bytes already in flight twice. Let the stream finish; its
			// rate becomes the link's sample as usual.
			continue
		}
		s.slow = true
		// Floor: a stalled stream says little about the link later on.
		j.f.links.set(s.Region, max(observed, est.Prior/100), true)
		j.f.count(func(st *Stats) { st.SlowSources++; st.Replans++ })
		j.f.log.Warn("source far behind its predicted rate; re-planning its chunks",
			zap.String("region", s.Region), zap.Float64("observed_Bps", observed),
			zap.Float64("predicted_Bps", est.Bandwidth))
		s.cancel()
		j.requeue(s)
	}
}

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

// stalled returns the stream's local back-pressure time so far; j.mu held.
func (s *jsrc) stalled(now time.Time) time.Duration {
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
			j.f.addQueued(s.Region, -c.est)
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
		n := min(len(s.queue), 4096)
		batch := slices.Clone(s.queue[:n])
		s.queue = s.queue[n:]
		sctx, cancel := context.WithCancel(j.ctx)
		s.cancel, s.streamStart, s.streamBytes, s.streamLeft, s.slow = cancel, time.Now(), 0, len(batch), false
		s.frames, s.firstBytes, s.stall, s.stallSince = 0, 0, 0, time.Time{}
		j.mu.Unlock()

		select {
		case f.streams <- struct{}{}:
		case <-sctx.Done():
		}
		j.mu.Lock()
		s.streamStart = time.Now() // the wait for a stream slot is not the link's fault
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
			// disk's syncs; at most putQueue frames wait in memory.
			puts := make(chan arrival, putQueue)
			var pwg sync.WaitGroup
			for range putWorkers {
				pwg.Go(func() {
					for a := range puts {
						j.store(s, a)
					}
				})
			}
			err = f.tr.FetchChunks(sctx, s.URL, s.Region, ids, func(id recipe.ChunkID, st chunkstore.Stored, ferr error) error {
				c := batch[next]
				next++
				j.mu.Lock()
				now := time.Now()
				if s.frames == 0 {
					s.firstAt, s.firstBytes = now, int64(len(st.Data))
				}
				s.lastAt = now
				s.frames++
				s.streamBytes += int64(len(st.Data))
				s.streamLeft--
				j.mu.Unlock()
				if ferr != nil {
					j.chunkFailed(s, c, fmt.Sprintf("%s: %v", s.Region, ferr))
					return nil
				}
				a := arrival{c: c, st: st}
				select {
				case puts <- a:
					return nil
				default:
				}
				// The local store is behind: time the wait so that the
				// rate checks do not blame the link for it.
				j.mu.Lock()
				s.stallSince = time.Now()
				j.mu.Unlock()
				defer func() {
					j.mu.Lock()
					s.stall += time.Since(s.stallSince)
					s.stallSince = time.Time{}
					j.mu.Unlock()
				}()
				select {
				case puts <- a:
					return nil
				case <-sctx.Done():
					return sctx.Err() // c stays queued: re-planned below
				}
			})
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
			if c.state == stQueued && c.owner == indexOf(j.srcs, s) {
				f.addQueued(s.Region, -c.est)
				c.state = stPlan
				leftover++
			}
		}
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
		default:
			s.failed = true
			f.count(func(st *Stats) { st.SourceFails++; st.Replans++ })
			f.log.Warn("source failed; re-planning its chunks onto the others",
				zap.String("region", s.Region), zap.Int("chunks_left", leftover+len(s.queue)), zap.Error(err))
			j.requeue(s)
		}
		s.streamLeft = 0
		j.mu.Unlock()
		j.poke()
	}
}

// Arrival pipeline bounds: putWorkers concurrent PutStored calls and at
// most putQueue arrived chunks waiting for them, per stream.
const (
	putWorkers = 4
	putQueue   = 4
)

type arrival struct {
	c  *jchunk
	st chunkstore.Stored
}

// store verifies and stores an arrived chunk and resolves it.
func (j *job) store(s *jsrc, a arrival) {
	f := j.f
	if err := f.store.PutStored(j.ctx, a.c.id, a.st); err != nil {
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
	j.f.addQueued(s.Region, -c.est)
	c.state = stDone
	j.remaining--
	j.f.count(func(st *Stats) { st.StoredBytes += stored })
	j.f.complete(c, nil, true)
}

// chunkFailed takes s out of c's holders and plans c again.
func (j *job) chunkFailed(s *jsrc, c *jchunk, reason string) {
	j.mu.Lock()
	if c.state != stQueued { // already re-planned (cancelled stream)
		j.mu.Unlock()
		return
	}
	j.f.addQueued(s.Region, -c.est)
	c.holders &^= s.bit
	c.lastErr = reason
	c.state = stPlan
	j.mu.Unlock()
	j.poke()
}
