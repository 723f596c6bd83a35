package fetch

// Hedged, deadline-driven fetching (issue 13 item 1). Every running stream
// has a deadline for its next frame, from the plan: the chunk's stored size
// at the link's estimated rate (hedgeRateSlack times, for streams sharing
// the link), after the stream's last progress, plus one RTT, and the bytes
// other fetches had queued on the region ahead of it, for the first frame;
// plus a slack of max(Config.HedgeAfter, hedgeRTTs RTT). A stream whose
// next frame misses that deadline is stalled: its next unarrived chunks
// that another live source holds, those due in the next few RTTs (a
// window: what the stalled link was to carry in max(hedgeWindowRTTs RTT,
// hedgeWindowMin), at least hedgeMinBytes), are planned again at once
// over the sources that are not stalled, and the other running streams
// are cut short so that the new plan delivers in object order (the chunk
// the reader waits on first); the stalled stream keeps running and keeps
// its other chunks, so a short gap (a lost packet's retransmission
// timeout) costs a window, not the whole stream. While it stays stalled,
// the next window is moved when half of the last one has arrived (or
// after another deadline's slack), and after hedgeRounds windows
// everything it still owes (a frozen holder). First arrival wins: a
// chunk is stored once, from whichever stream delivers it first (a
// stream that asked for it before it moved still counts, see jchunk.alt);
// the other stream is asked to leave it out (skipLosers: a skip request,
// so a stream that resumes, or the hedge's, does not send a window
// twice), and a later copy that crossed all the same is dropped
// (Stats.HedgeWasted). Once a hedged chunk arrives from elsewhere, the
// stalled stream is cancelled if it owes nothing else. A stalled source is left out of plans, in this job and
// for stallMemory in new ones, until it delivers a frame again; a chunk
// that only stalled sources hold stays with them.

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/nitro-cloud/nitro/planner"
	"go.uber.org/zap"
)

const (
	// loopTick is how often a job checks its streams' deadlines.
	loopTick = 50 * time.Millisecond
	// hedgeRateSlack: a frame may take this many times its time at the
	// link's estimated rate before it is late.
	hedgeRateSlack = 2
	// hedgeRTTs: the deadline's slack is at least this many RTTs.
	hedgeRTTs = 2
	// tcpInitialWindow is the congestion window a stream starts with
	// (Linux: 10 segments; after an idle period too, with the default
	// net.ipv4.tcp_slow_start_after_idle), for the plans' start-up time
	// (planner.SlowStart). That uses the configured RTT (links rtt_ms):
	// memberlist's measured RTT includes the nodes' scheduling delays,
	// which on loaded cores are many times a loopback or LAN RTT, and
	// slow start multiplies it.
	tcpInitialWindow = 10 * 1460
	// tcpMinRTO is Linux's least TCP retransmission timeout: one lost
	// segment can hold a healthy stream's next byte back by that plus
	// about two RTTs (the timeout runs from the last send; the
	// retransmission then crosses the link). Measured on the WAN
	// benchmark (bench/wan, 197-359 ms links, load 16-25): every hedge of
	// a 2-RTT slack was followed by the "stalled" source delivering again
	// within 5-150 ms, having moved 200-980 chunks and made the read
	// receive 12-20 MB twice. The slack past a long link's two RTTs is
	// therefore at least this; short links keep HedgeAfter.
	tcpMinRTO = 200 * time.Millisecond
	// stallMemory is how long new jobs leave out a region whose stream
	// stalled and that has not delivered since.
	stallMemory = 30 * time.Second
	// A hedge moves a window of the stalled stream's chunks: those its
	// link was to carry in max(hedgeWindowRTTs RTT, hedgeWindowMin) at
	// its estimated rate, at least hedgeMinBytes (and one chunk); after
	// hedgeRounds windows without a frame, the rest.
	hedgeWindowRTTs = 4
	hedgeWindowMin  = 250 * time.Millisecond
	hedgeMinBytes   = 256 << 10
	hedgeRounds     = 3
)

// stalledSet returns the job's stalled sources; j.mu held.
func (j *job) stalledSet() planner.RegionSet {
	var a planner.RegionSet
	for _, s := range j.srcs {
		if s.stalled {
			a |= s.bit
		}
	}
	return a
}

// deadline returns when s's next frame is late; j.mu held, s streaming.
func (j *job) deadline(s *jsrc) time.Time {
	est := j.f.links.get(s.Region)
	rtt := s.RTT
	if rtt <= 0 {
		rtt = est.RTT
	}
	bw := est.Bandwidth
	c := s.batch[s.next]
	exp := secs(hedgeRateSlack * float64(c.est) / bw)
	if s.frames == 0 {
		exp += rtt + planner.SlowStart(bw, est.PriorRTT, tcpInitialWindow) + secs(float64(s.ahead)/bw)
	}
	return s.progressAt.Add(exp + j.slack(rtt))
}

// slack is a deadline's slack past a frame's expected arrival on a link
// of round trip rtt.
func (j *job) slack(rtt time.Duration) time.Duration {
	return max(j.f.cfg.HedgeAfter, hedgeRTTs*rtt+tcpMinRTO)
}

// rttOf returns s's round trip: measured, else its link's prior.
func (j *job) rttOf(s *jsrc) time.Duration {
	if s.RTT > 0 {
		return s.RTT
	}
	return j.f.links.get(s.Region).RTT
}

// checkStall hedges every stream past its next frame's deadline; j.mu
// held.
func (j *job) checkStall() {
	if j.f.cfg.HedgeAfter < 0 {
		return
	}
	now := time.Now()
	for _, s := range j.srcs {
		if s.stalled {
			j.hedgeMore(s, now)
			continue
		}
		if s.cancel == nil || s.stalled || s.restream || s.slow || s.streamStart.IsZero() ||
			s.next >= len(s.batch) || !s.stallSince.IsZero() || j.f.links.get(s.Region).Bandwidth <= 0 {
			continue
		}
		if due := j.deadline(s); now.Before(due) {
			continue
		} else if j.movable(s) > 0 {
			j.stall(s, now.Sub(due))
		}
	}
}

// movable counts s's unarrived chunks that a live source that is not
// stalled holds; j.mu held.
func (j *job) movable(s *jsrc) int {
	me, others := indexOf(j.srcs, s), j.alive()&^j.stalledSet()&^s.bit
	n := 0
	for _, c := range s.batch[s.next:] {
		if c.state == stQueued && c.owner == me && c.holders&others != 0 {
			n++
		}
	}
	return n
}

// stall marks s stalled and moves the first window of its chunks to the
// others (hedge); j.mu held.
func (j *job) stall(s *jsrc, late time.Duration) {
	f := j.f
	s.stalled = true
	s.hedgeRound, s.hedgeWin = 0, nil
	f.mu.Lock()
	f.stalledAt[s.URL] = time.Now()
	f.stats.StalledSources++
	f.mu.Unlock()
	j.hedge(s, time.Now(), late)
}

// hedgeMore moves the next window of stalled s's chunks when half of the
// last one has arrived from elsewhere, or a deadline's slack after it
// was moved. Only a stream that stalled in this job is hedged further (a
// source left out of plans because it stalled in an earlier job, used
// only for chunks no other source holds, is not: hedgeRound 0); j.mu
// held.
func (j *job) hedgeMore(s *jsrc, now time.Time) {
	if s.hedgeRound == 0 || s.cancel == nil || s.restream || s.hedgePos >= len(s.batch) || s.next >= len(s.batch) {
		return
	}
	arrived := 0
	for _, c := range s.hedgeWin {
		if c.state == stDone {
			arrived++
		}
	}
	if 2*arrived < len(s.hedgeWin) && now.Sub(s.hedgeAt) < j.slack(j.rttOf(s)) {
		return
	}
	if j.movable(s) > 0 {
		j.hedge(s, now, 0)
	}
}

// hedge plans the next window of stalled s's unarrived chunks (all of
// them after hedgeRounds windows) again over the sources that are not
// stalled, and cuts the others' streams short so that they deliver in
// object order; j.mu held.
func (j *job) hedge(s *jsrc, now time.Time, late time.Duration) {
	f := j.f
	s.hedgeRound++
	full := s.hedgeRound > hedgeRounds
	est := f.links.get(s.Region)
	budget := max(int64(hedgeMinBytes),
		int64(est.Bandwidth*max(hedgeWindowRTTs*j.rttOf(s), hedgeWindowMin).Seconds()))
	me, others := indexOf(j.srcs, s), j.alive()&^j.stalledSet()
	var moved []*jchunk
	var used int64
	i := max(s.next, s.hedgePos)
	for ; i < len(s.batch); i++ {
		c := s.batch[i]
		if !full && len(moved) > 0 && used+c.est > budget {
			break
		}
		if c.state == stQueued && c.owner == me && c.holders&others != 0 {
			f.addQueued(s.Peer, -c.est)
			c.state, c.alt, c.hedged, c.serial = stPlan, c.alt|s.bit, true, 0
			moved = append(moved, c)
			used += c.est
		}
	}
	s.hedgePos, s.hedgeWin, s.hedgeAt = i, moved, now
	if full {
		j.requeue(s)
	}
	if len(moved) == 0 {
		return
	}
	f.count(func(st *Stats) { st.Hedges++; st.HedgedChunks += int64(len(moved)) })
	f.transfers.update(j.tr, func(t *Transfer) { t.Hedges++ })
	// The others' streams are cut short, their unarrived chunks planned
	// again with the stalled one's: each source then streams its share in
	// object order, so the reader's next chunk comes first. What they
	// have in flight is still welcome (alt).
	for ri, r := range j.srcs {
		if r == s || r.cancel == nil || r.stalled || r.restream || r.slow || r.next >= len(r.batch) {
			continue
		}
		for _, c := range r.batch[r.next:] {
			if c.state == stQueued && c.owner == ri {
				f.addQueued(r.Peer, -c.est)
				c.state, c.alt, c.serial = stPlan, c.alt|r.bit, 0
			}
		}
		j.requeue(r)
		r.restream = true
		r.cancel()
	}
	f.log.Warn("source missed its next chunk's deadline; asking other holders at once",
		zap.String("region", s.Region), zap.String("node", s.name()), zap.Duration("late", late),
		zap.Int("round", s.hedgeRound), zap.Bool("all", full), zap.Int("chunks_moved", len(moved)),
		zap.Int64("bytes_moved", used), zap.Int64("received_bytes", s.streamBytes))
	j.poke()
}

// recovered notes that stalled s delivered again; j.mu held.
func (j *job) recovered(s *jsrc) {
	s.stalled = false
	s.hedgeRound, s.hedgeWin = 0, nil // its chunks past the moved windows stay its own
	j.f.mu.Lock()
	delete(j.f.stalledAt, s.URL)
	j.f.mu.Unlock()
	j.f.log.Info("stalled source delivers again", zap.String("region", s.Region))
}

// hedgeWon cancels the stalled streams that asked for hedged chunk c,
// which winner delivered, if they owe nothing else; j.mu held.
func (j *job) hedgeWon(winner *jsrc, c *jchunk) {
	for oi, o := range j.srcs {
		if o == winner || c.alt&o.bit == 0 || !o.stalled || o.cancel == nil || o.restream {
			continue
		}
		owes := false
		for _, k := range o.batch[o.next:] {
			if k.state == stQueued && k.owner == oi {
				owes = true
				break
			}
		}
		if !owes {
			o.restream = true
			o.cancel()
		}
	}
}

// recentlyStalled reports whether the last stream from the node at url
// stalled less than stallMemory ago and it has not delivered since.
func (f *Fetcher) recentlyStalled(url string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.stalledAt[url]
	if ok && time.Since(t) > stallMemory {
		delete(f.stalledAt, url)
		return false
	}
	return ok
}

// The losing copy of a hedged chunk. A hedge leaves two streams asking
// for the same chunks: the stalled source's, which keeps running (a short
// gap costs a window, not the stream), and the stream of the source the
// window moved to. Whichever delivers a chunk first wins (chunkDone);
// the other stream would still send its copy, and on a WAN link a window
// is hundreds of chunks. skipLosers asks every other source whose running
// stream asked for the chunk and has not reached it to leave it out
// (Transport.Skip, peer POST /skip): the source sends a skipped frame in
// its place and goes on with the chunks nobody else has sent. What the
// loser had started on when the request reached it (the frame in
// progress, what its socket buffers hold: about one RTT of the link)
// still crosses and is dropped (Stats.HedgeWasted). Requests to one
// source are sent one at a time, each with every chunk that arrived
// while the previous one was out.

// skipLosers asks the other running streams that asked for c, which s
// delivered first, to leave it out; j.mu held.
func (j *job) skipLosers(s *jsrc, c *jchunk) {
	for oi, o := range j.srcs {
		if o == s || o.cancel == nil || o.restream || o.slow || o.failed {
			continue
		}
		asked := c.alt&o.bit != 0 || (c.state == stQueued && c.owner == oi && c.serial == o.serial)
		if !asked || !slices.Contains(o.batch[min(o.next, len(o.batch)):], c) {
			continue
		}
		o.skipWant = append(o.skipWant, c.id)
		if !o.skipping {
			o.skipping = true
			j.wg.Add(1)
			go j.sendSkips(o)
		}
	}
}

// sendSkips sends o's wanted skips until none is left.
func (j *job) sendSkips(o *jsrc) {
	defer j.wg.Done()
	f := j.f
	for {
		j.mu.Lock()
		ids := o.skipWant
		o.skipWant = nil
		if len(ids) == 0 || j.ctx.Err() != nil {
			o.skipping = false
			j.mu.Unlock()
			return
		}
		j.mu.Unlock()
		ctx, cancel := context.WithTimeout(j.ctx, f.cfg.HaveTimeout)
		n, err := f.tr.Skip(ctx, o.URL, ids)
		cancel()
		f.count(func(st *Stats) { st.SkipRequests++ })
		if err != nil {
			f.log.Debug("skip request failed; the losing copies may still come",
				zap.String("region", o.Region), zap.String("node", o.name()), zap.Int("chunks", len(ids)), zap.Error(err))
			continue
		}
		f.log.Debug("asked a source to leave out chunks that arrived from elsewhere",
			zap.String("region", o.Region), zap.String("node", o.name()), zap.Int("chunks", len(ids)), zap.Int("left_out", n))
	}
}

// skipped reports whether err is a chunk a source left out at this
// node's request (Transport.FetchChunks).
func skipped(err error) bool {
	var sk interface{ Skipped() bool }
	return err != nil && errors.As(err, &sk) && sk.Skipped()
}

// skippedFrame notes that s left c, the stream's chunk next-1, out on
// request: the stream has moved on (progress, not a delivery). c arrived
// from elsewhere; should it not have (a request meant for another
// stream of this node), it is planned again, with s still a holder.
func (j *job) skippedFrame(s *jsrc, c *jchunk, next int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	s.progressAt, s.next = time.Now(), next
	s.streamLeft--
	j.f.count(func(st *Stats) { st.HedgeSkipped++ })
	c.alt &^= s.bit
	if c.state == stQueued && c.owner == indexOf(j.srcs, s) && c.serial == s.serial {
		j.f.addQueued(s.Peer, -c.est)
		c.state = stPlan
		j.poke()
	}
}
