package fetch

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"github.com/nitro-cloud/nitro/planner"
)

// Parallel streams per link (issue #13, fixed costs): one TCP connection
// starts with a congestion window of 10 segments and doubles it each round
// trip, so on a link whose bandwidth-delay product is many windows a cold
// stream spends several RTTs below the link's rate (planner.SlowStart). A
// stream of a job's batch is therefore striped over k connections to the
// same peer: chunk i of the batch goes on connection i mod k, and the
// frames are handed to the job in batch order, so the job's bookkeeping
// (deadlines, rate samples, first arrival wins) sees one ordered stream.
// k connections start with k windows: the ramp is log2(k) RTTs shorter.
// The emulated and real links are shared by the k connections (the peer
// server paces per destination region), so striping gains no bandwidth,
// only start-up.

const (
	// MaxStreamsPerLink bounds the connections one stream is striped over.
	MaxStreamsPerLink = 4
	// stripeMinChunks: a batch gets at most one connection per this many
	// chunks (a short batch is not worth the extra requests).
	stripeMinChunks = 4
	// stripeBuffer is how many frames a connection may read ahead of the
	// one the job waits for (the others' TCP windows do the rest).
	stripeBuffer = 4
)

// streamsFor returns how many connections to stripe a batch of n chunks
// from region over: Config.StreamsPerLink (0: 1), or for -1 by the link's
// bandwidth and RTT (prior RTT, else the estimate's; see streamsForLink).
func (f *Fetcher) streamsFor(region string, n int) int {
	k := f.cfg.StreamsPerLink
	if k < 0 {
		est := f.links.get(region)
		rtt := est.PriorRTT
		if rtt <= 0 {
			rtt = est.RTT
		}
		k = streamsForLink(est.Bandwidth, rtt)
	}
	k = min(k, MaxStreamsPerLink, max(1, n/stripeMinChunks))
	return max(1, k)
}

// stripeMinSaving is the least start-up time striping must save (by
// planner.SlowStart) to be used automatically: on short fast links (fog:
// 200 Mbit/s, 5 ms) it would save ~10 ms and cost the receiver more
// connections, and the WAN benchmark measured it 16 % slower there (median
// of 6 pairs, load 17-23).
//
// Striping is off unless configured: on the benchmark's 20 Mbit/s, 74 ms
// fog link four connections in slow start overflowed the link's queue
// (184 → 509 drops), the losses' recovery gaps set off hedges (1 → 5-8)
// and the read took 31.2-31.3 s instead of 19.5-19.9 s in both paired
// sets, while no set showed a gain on the AWS-like links (load 16-33).
//
// Why it gains nothing there (issue 13, ss -tin in the benchmark's
// namespaces, BBR, tun shaper, 170-360 ms links): the k connections get
// equal shares (chunk i on connection i mod k), so the read ends with the
// slowest, and BBR flows that start together do not share a link evenly
// within a read: with a few frames of read-ahead the job waits on the
// slowest, the others' receive windows close (holders' sockets receive-
// window limited 0.7-1.7 s per read, 0.1-1.3 MB unread at the reader),
// their delivery rate stops growing and BBR leaves STARTUP after ~1.3 s
// at 4-16 Mbit/s each, then grows 25 % per 8 round trips; with a read-
// ahead of 8 bandwidth-delay products instead (tried and measured), the
// siblings decouple but the slowest still sets the end: one holder's 4
// connections reached 90 % of their shares at 2.7, 3.8, 4.8 and 5.6 s.
// Work-conserving shares did not help either (tried and measured, branch
// stripe13 commit 3238da1: a connection that has read its share takes
// the second half of what the slowest still owes, Skip then its own
// request): the striped reads of two draws took 4.10 and 4.61 s instead
// of 4.94 and 5.39 s, but one stream took 3.64 and 4.01 s, and on the
// third draw the frames the job waits for, on the connection left with
// the smallest share of the link, missed their deadlines (2 hedges, 962
// chunks twice, 9.89 s against 7.32 s; load 2-3). Frames handed on in
// order cannot come faster than the slowest connection carries them.
const stripeMinSaving = 100 * time.Millisecond

// streamsForLink is the automatic choice of streamsFor for a link of bw
// bytes/s and round trip rtt: the k of 2 and 4 that saves the most slow
// start (k windows instead of one), if it saves at least stripeMinSaving;
// else 1.
func streamsForLink(bw float64, rtt time.Duration) int {
	one := planner.SlowStart(bw, rtt, tcpInitialWindow)
	best, saved := 1, time.Duration(0)
	for _, k := range []int{2, 4} {
		if d := one - planner.SlowStart(bw, rtt, int64(k)*tcpInitialWindow); d > saved {
			best, saved = k, d
		}
	}
	if saved < stripeMinSaving {
		return 1
	}
	return best
}

// startup is the plan's start-up time of a source (planner.Source.Startup)
// of bandwidth bw: TCP slow start with the windows of the connections its
// streams are striped over.
func (f *Fetcher) startup(region string, bw float64, est LinkEstimate) time.Duration {
	k := f.streamsFor(region, 1<<30)
	return planner.SlowStart(bw, est.PriorRTT, int64(k)*tcpInitialWindow)
}

// fetchChunks is Transport.FetchChunks striped over streamsFor
// connections; fn is called in the order of ids, as FetchChunks does.
func (f *Fetcher) fetchChunks(ctx context.Context, base, region string, ids []recipe.ChunkID,
	fn func(id recipe.ChunkID, st chunkstore.Stored, err error) error) error {
	k := f.streamsFor(region, len(ids))
	if k <= 1 {
		return f.tr.FetchChunks(ctx, base, region, ids, fn)
	}
	return stripe(ctx, f.tr, base, region, ids, k, fn)
}

// frame is one chunk read by a striped connection.
type frame struct {
	id  recipe.ChunkID
	st  chunkstore.Stored
	err error
}

// stripe fetches ids from the peer at base over k concurrent FetchChunks
// (chunk i on connection i mod k) and calls fn for each in the order of
// ids. It returns fn's first error, or the first connection's error in
// the order of ids; it cancels and waits for every connection before
// returning. At most stripeBuffer+1 frames per connection are in memory.
func stripe(ctx context.Context, tr Transport, base, region string, ids []recipe.ChunkID, k int,
	fn func(id recipe.ChunkID, st chunkstore.Stored, err error) error) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	chans := make([]chan frame, k)
	errs := make([]error, k)
	for s := range k {
		sub := make([]recipe.ChunkID, 0, len(ids)/k+1)
		for i := s; i < len(ids); i += k {
			sub = append(sub, ids[i])
		}
		ch := make(chan frame, stripeBuffer)
		chans[s] = ch
		wg.Go(func() {
			defer close(ch)
			errs[s] = tr.FetchChunks(ctx, base, region, sub, func(id recipe.ChunkID, st chunkstore.Stored, err error) error {
				select {
				case ch <- frame{id, st, err}:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			})
		})
	}
	for i := range ids {
		s := i % k
		fr, ok := <-chans[s]
		if !ok {
			// Connection s ended before its share: its error (set before
			// the channel closed), or a short stream.
			if errs[s] != nil {
				return errs[s]
			}
			return fmt.Errorf("fetch: stream %d of %d from %s ended after %d of %d chunks", s+1, k, region, i, len(ids))
		}
		if err := fn(fr.id, fr.st, fr.err); err != nil {
			return err
		}
	}
	// Every connection has sent its share; each ends by checking its
	// response's trailer (peer.Client: the stream was not cut short).
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
