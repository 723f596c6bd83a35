package fetch

// Hedged, deadline-driven fetching (issue 13 item 1). Every running stream
// has a deadline for its next frame, from the plan: the chunk's stored size
// at the link's estimated rate (hedgeRateSlack times, for streams sharing
// the link), after the stream's last progress, plus one RTT, and the bytes
// other fetches had queued on the region ahead of it, for the first frame;
// plus a slack of max(Config.HedgeAfter, hedgeRTTs RTT). A stream whose
// next frame misses that deadline is stalled: its unarrived chunks that
// another live source holds are planned again at once over the sources
// that are not stalled, and the other running streams are cut short so
// that the new plan delivers in object order (the chunk the reader waits
// on first); the stalled stream keeps running. First arrival wins: a
// chunk is stored once, from whichever stream delivers it first (a
// stream that asked for it before it moved still counts, see jchunk.alt);
// the later copy is dropped (Stats.HedgeWasted). Once a hedged chunk
// arrives from elsewhere, the stalled stream is cancelled if it owes
// nothing else. A stalled source is left out of plans, in this job and
// for stallMemory in new ones, until it delivers a frame again; a chunk
// that only stalled sources hold stays with them.

import (
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
	// stallMemory is how long new jobs leave out a region whose stream
	// stalled and that has not delivered since.
	stallMemory = 30 * time.Second
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
	return s.progressAt.Add(exp + max(j.f.cfg.HedgeAfter, hedgeRTTs*rtt))
}

// checkStall hedges every stream past its next frame's deadline; j.mu
// held.
func (j *job) checkStall() {
	if j.f.cfg.HedgeAfter < 0 {
		return
	}
	now := time.Now()
	for _, s := range j.srcs {
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

// stall marks s stalled and plans its chunks again over the others; j.mu
// held.
func (j *job) stall(s *jsrc, late time.Duration) {
	f := j.f
	s.stalled = true
	f.mu.Lock()
	f.stalledAt[s.URL] = time.Now()
	f.stats.Hedges++
	f.stats.StalledSources++
	f.mu.Unlock()
	f.transfers.update(j.tr, func(t *Transfer) { t.Hedges++ })
	me, others := indexOf(j.srcs, s), j.alive()&^j.stalledSet()
	moved := 0
	for _, c := range s.batch[s.next:] {
		if c.state == stQueued && c.owner == me && c.holders&others != 0 {
			f.addQueued(s.Peer, -c.est)
			c.state, c.alt, c.hedged, c.serial = stPlan, c.alt|s.bit, true, 0
			moved++
		}
	}
	j.requeue(s)
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
		zap.String("region", s.Region), zap.String("node", s.name()), zap.Duration("late", late), zap.Int("chunks_moved", moved),
		zap.Int64("received_bytes", s.streamBytes))
	j.poke()
}

// recovered notes that stalled s delivered again; j.mu held.
func (j *job) recovered(s *jsrc) {
	s.stalled = false
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
