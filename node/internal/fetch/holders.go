package fetch

// Holders that come back (issue 13: no stalls, and no failed reads, on a
// peer that looks dead for a moment). Membership under load flaps: a node
// starved for a few hundred milliseconds misses its probes, is suspected
// and declared dead, and refutes a moment later. A job used to take one
// snapshot of the live members and fail every chunk none of them held, so
// a read that started during the flap, or whose only holder's stream
// broke during it, was cut short mid-body after its 200/206 was sent.
//
// Now a chunk with no live holder (none of its holders is in the job, or
// every one of them failed) waits for one: while such chunks exist, the
// job looks at the live members every refreshEvery and
//   - asks a have request of every live node it does not know yet (not
//     live when the job started, or whose have request failed; a
//     speculative source that did not answer), at most one at a time per
//     node, again after askBackoff if it fails, and adds the nodes that
//     answer as sources (LateSources);
//   - tries again a failed source node that holds such a chunk and that
//     membership lists live (alive or merely suspected: memberlist keeps a
//     suspect alive until it is declared dead), after a back-off that
//     doubles from reviveBackoff to reviveBackoffMax while its streams keep
//     failing without delivering (Revived).
// The chunks are then planned as usual (hedges, re-plans, first arrival
// wins). A chunk fails with a *NoHolderError only after Config.HolderWait
// with no live holder and no frame from any of its holders: a holder that
// delivers starts a new wait. A read's Source waits until each of its
// chunks has been placed on a live holder or has failed (future.placed),
// so a read none of whose holders comes back fails before its first byte
// (the object service answers 503), and only a holder lost mid-body, for
// longer than HolderWait, cuts a body short (detectably: short of its
// Content-Length).

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"github.com/nitro-cloud/nitro/planner"
	"go.uber.org/zap"
)

const (
	// DefaultHolderWait is Config.HolderWait's default.
	DefaultHolderWait = 5 * time.Second
	// refreshEvery: how often a job with chunks that have no live holder
	// looks at the live members.
	refreshEvery = 100 * time.Millisecond
	// askBackoff: how long after a failed have request a node is asked
	// again.
	askBackoff = 500 * time.Millisecond
	// reviveBackoff and reviveBackoffMax bound how soon a failed source
	// that membership lists live is tried again.
	reviveBackoff    = 100 * time.Millisecond
	reviveBackoffMax = time.Second
)

// orphanWait reports whether chunk c, which has no live holder, is to
// wait for one rather than fail (first: its wait starts now); j.mu held.
func (j *job) orphanWait(c *jchunk, now time.Time) (wait, first bool) {
	hw := j.f.cfg.HolderWait
	if hw < 0 || j.ctx.Err() != nil {
		return false, false
	}
	if !c.orphanSince.IsZero() {
		// A holder that delivered since the wait began came back: this
		// is a new loss, with a wait of its own.
		for i, s := range j.srcs {
			if c.holders.Has(i) && s.deliveredAt.After(c.orphanSince) {
				c.orphanSince = time.Time{}
				break
			}
		}
	}
	if c.orphanSince.IsZero() {
		c.orphanSince = now
		j.f.count(func(st *Stats) { st.HolderWaits++ })
		return true, true
	}
	return now.Sub(c.orphanSince) < hw, false
}

// noHolderReason says why chunk c failed for want of a holder; j.mu held.
func (j *job) noHolderReason(c *jchunk) string {
	why := c.lastErr
	if j.f.cfg.HolderWait > 0 && !c.orphanSince.IsZero() {
		w := fmt.Sprintf("no holder came back within %v", j.f.cfg.HolderWait)
		if why == "" {
			return w
		}
		return why + "; " + w
	}
	return why
}

// orphanHolders returns the failed sources that hold a chunk waiting for
// a live holder; j.mu held.
func (j *job) orphanHolders() planner.RegionSet {
	alive := j.alive()
	var h planner.RegionSet
	for _, c := range j.chunks {
		if c.state == stPlan && c.holders&alive == 0 {
			h |= c.holders
		}
	}
	return h
}

// refresh looks at the live members for chunks that have no live holder:
// it asks the nodes the job does not know and tries again failed sources
// that hold such chunks (see the file's comment); j.mu held.
func (j *job) refresh(now time.Time) {
	if now.Sub(j.refreshedAt) < refreshEvery {
		return
	}
	j.refreshedAt = now
	if j.asking == nil {
		j.asking, j.askAfter = map[string]bool{}, map[string]time.Time{}
	}
	want := j.orphanHolders()
	for _, p := range j.f.livePeers() {
		i := slices.IndexFunc(j.srcs, func(s *jsrc) bool { return s.URL == p.URL })
		if i < 0 || j.srcs[i].noAnswer {
			if a, ok := j.groupAnswer(p); ok {
				// A node of a region whose shared store already
				// answered: its answer is p's too (haveregion.go).
				j.addSource(p, a.chunks, a.sizes)
				continue
			}
			j.ask(p, now)
			continue
		}
		s := j.srcs[i]
		if !s.failed || !want.Has(i) {
			continue
		}
		back := min(reviveBackoffMax, reviveBackoff<<min(max(s.fails-1, 0), 8))
		if now.Sub(s.failedAt) < back {
			continue
		}
		s.failed = false
		if p.RTT > 0 {
			s.RTT = p.RTT
		}
		j.f.count(func(st *Stats) { st.Revived++ })
		j.f.log.Info("a failed source node that alone holds chunks of a read is live again; asking it again",
			zap.String("region", s.Region), zap.String("node", s.name()), zap.Int("failed_streams", s.fails))
	}
}

// ask sends a have request for the job's unresolved chunks to live node
// p, which is not a source of the job (or did not answer before), unless
// one is out or p failed to answer less than askBackoff ago; a node that
// answers becomes a source (addSource). j.mu held.
func (j *job) ask(p Peer, now time.Time) {
	// One request out per have group: a node of a region sharing a store
	// answers for the others (haveregion.go).
	if j.asking[haveKey(p)] || now.Before(j.askAfter[p.URL]) {
		return
	}
	if slices.IndexFunc(j.srcs, func(s *jsrc) bool { return s.URL == p.URL }) < 0 && len(j.srcs) >= planner.MaxSources {
		return
	}
	var chunks []*jchunk
	var ids []recipe.ChunkID
	for _, c := range j.chunks {
		if c.state == stPlan || c.state == stQueued {
			chunks = append(chunks, c)
			ids = append(ids, c.id)
		}
	}
	if len(ids) == 0 {
		return
	}
	j.asking[haveKey(p)] = true
	j.f.count(func(st *Stats) {
		st.HaveRequests++
		if st.HaveByRegion == nil {
			st.HaveByRegion = map[string]int64{}
		}
		st.HaveByRegion[p.Region]++
	})
	go func() {
		hctx, cancel := context.WithTimeout(j.ctx, j.f.cfg.HaveTimeout)
		sizes, err := j.f.tr.Have(hctx, p.URL, ids)
		cancel()
		if err == nil && len(sizes) == len(ids) {
			j.f.holdings.note(haveKey(p), ids, sizes)
		}
		j.mu.Lock()
		delete(j.asking, haveKey(p))
		switch {
		case err != nil || len(sizes) != len(ids):
			if j.haveFailed != nil {
				j.haveFailed[p.URL] = true
			}
			j.askAfter[p.URL] = time.Now().Add(askBackoff)
			if j.ctx.Err() == nil {
				j.f.log.Debug("have request to a node that came back failed", zap.String("node", p.name()), zap.Error(err))
			}
		case j.remaining > 0:
			if p.Store != "" {
				if j.answers == nil {
					j.answers, j.haveFailed = map[string]haveAnswer{}, map[string]bool{}
				}
				j.answers[haveKey(p)] = haveAnswer{chunks: chunks, sizes: sizes}
				delete(j.haveFailed, p.URL)
			}
			j.addSource(p, chunks, sizes)
		}
		j.mu.Unlock()
		j.poke()
	}()
}

// addSource makes node p, which answered sizes for chunks, a source of
// the job (or updates the source of the same URL that had not answered);
// j.mu held.
func (j *job) addSource(p Peer, chunks []*jchunk, sizes []int64) {
	f := j.f
	i := slices.IndexFunc(j.srcs, func(s *jsrc) bool { return s.URL == p.URL })
	if i < 0 {
		if len(j.srcs) >= planner.MaxSources {
			return
		}
		i = len(j.srcs)
		j.srcs = append(j.srcs, &jsrc{Peer: p, bit: planner.Regions(i)})
		j.g = groupSources(j.srcs)
		f.transfers.update(j.tr, func(t *Transfer) {
			t.Sources = append(t.Sources, TransferSource{Region: p.Region, Node: p.name()})
		})
	}
	s := j.srcs[i]
	s.failed, s.noAnswer = false, false
	s.stalled = f.recentlyStalled(s.URL)
	if !slices.Contains(j.asked, p.Region) {
		j.asked = append(j.asked, p.Region)
	}
	held := 0
	for k, c := range chunks {
		n := sizes[k]
		if n <= 0 || (c.state != stPlan && c.state != stQueued) {
			continue
		}
		held++
		if c.state == stPlan {
			if c.holders == 0 {
				c.est = n // it was an estimate: no holder had reported a size
			} else {
				c.est = max(c.est, n)
			}
		}
		c.holders |= s.bit
	}
	f.count(func(st *Stats) { st.LateSources++ })
	f.log.Info("a node that was not live when the read started answered; it is a source now",
		zap.String("region", p.Region), zap.String("node", p.name()), zap.Int("chunks_held", held))
}
