package fetch

import (
	"context"
	"fmt"
	"slices"
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
// same peer: chunk i of the batch goes on connection i mod k at first (a
// connection that is ahead takes over chunks of a slower one later), and
// the frames are handed to the job in batch order, so the job's bookkeeping
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
// Hence work-conserving stripes (stealMinChunks): a connection that is
// ahead takes chunks from the tail of a slower one.
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
	return stripe(ctx, f.tr, base, region, ids, k, f.stripeReadAhead(region)/int64(k), fn)
}

// Work-conserving stripes. The k connections of a striped stream do not
// get equal shares of the link (BBR flows that start together diverge
// 2-4x within a read, see stripeMinSaving), so fixed equal shares end
// with the slowest connection while the others idle. A connection that
// has sent its share therefore takes the second half of what the
// connection furthest behind has yet to send (at least stealMinChunks):
// it asks the peer to leave those out of the slower stream (Skip, one
// round trip) and requests them itself, and again until nothing is worth
// taking. A chunk that both send is handed on once (the first copy).
// Frames may then arrive ahead of the one the job waits for by more than
// a few frames: each connection holds at most readAhead stored bytes (and
// stripeBuffer frames) beyond it, stripeReadAheadRTTs bandwidth-delay
// products of the link over the k connections.
const (
	stealMinChunks      = 16
	stripeReadAheadRTTs = 8
	stripeMinReadAhead  = 1 << 20
	stripeMaxReadAhead  = 32 << 20
)

// stripeReadAhead is how many stored bytes the connections of a striped
// stream from region may hold, together, ahead of the frame the job waits
// for: stripeReadAheadRTTs bandwidth-delay products of the link (estimated
// bandwidth, prior RTT else measured), within [stripeMinReadAhead,
// stripeMaxReadAhead].
func (f *Fetcher) stripeReadAhead(region string) int64 {
	est := f.links.get(region)
	rtt := est.PriorRTT
	if rtt <= 0 {
		rtt = est.RTT
	}
	b := stripeReadAheadRTTs * est.Bandwidth * rtt.Seconds()
	return int64(min(max(b, stripeMinReadAhead), stripeMaxReadAhead))
}

// frame is one chunk read by a striped connection.
type frame struct {
	id  recipe.ChunkID
	st  chunkstore.Stored
	err error
}

// stripeSlot is one position of a striped batch.
type stripeSlot struct {
	have   bool
	fr     frame
	lane   int // the connection whose frame it holds
	askers int // connections asked for it that have not answered
}

// stripeLane is one connection of a striped batch: the positions of its
// current request, how far it has read them, and where what it still owes
// ends (the rest was taken by another connection).
type stripeLane struct {
	req      []int
	next     int
	end      int
	bytes    int64
	finished bool
	space    chan struct{}
}

// striper is the shared state of stripe; mu guards all but the fields
// set at the start.
type striper struct {
	tr        Transport
	base      string
	region    string
	ids       []recipe.ChunkID
	readAhead int64

	mu    sync.Mutex
	slots []stripeSlot
	want  int // the position fn waits for
	lanes []*stripeLane
	err   error // the first connection error
	ready chan struct{}
}

// stripe fetches ids from the peer at base over k concurrent connections
// (at first chunk i on connection i mod k, then work-conserving: see
// stealMinChunks) and calls fn for each in the order of ids, once. It
// returns fn's first error, or the first connection error; it cancels and
// waits for every connection before returning. Each connection holds at
// most readAhead stored bytes (or stripeBuffer frames) ahead of the frame
// fn waits for.
func stripe(ctx context.Context, tr Transport, base, region string, ids []recipe.ChunkID, k int, readAhead int64,
	fn func(id recipe.ChunkID, st chunkstore.Stored, err error) error) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	sp := &striper{tr: tr, base: base, region: region, ids: ids, readAhead: readAhead,
		slots: make([]stripeSlot, len(ids)), ready: make(chan struct{}, 1)}
	for s := range k {
		var req []int
		for i := s; i < len(ids); i += k {
			req = append(req, i)
			sp.slots[i].askers = 1
		}
		sp.lanes = append(sp.lanes, &stripeLane{req: req, end: len(req), space: make(chan struct{}, 1)})
	}
	for s := range k {
		wg.Go(func() { sp.run(ctx, s) })
	}
	for sp.want < len(ids) {
		fr, err := sp.pop(ctx)
		if err != nil {
			return err
		}
		if err := fn(fr.id, fr.st, fr.err); err != nil {
			return err
		}
	}
	// Every chunk is handed on; each connection ends by checking its
	// response's trailer (peer.Client: the stream was not cut short), and
	// stays open for the next request.
	wg.Wait()
	return sp.err
}

// pop returns the frame at position want, waiting for it.
func (sp *striper) pop(ctx context.Context) (frame, error) {
	for {
		sp.mu.Lock()
		if sl := &sp.slots[sp.want]; sl.have {
			fr := sl.fr
			sp.lanes[sl.lane].bytes -= int64(len(fr.st.Data))
			*sl = stripeSlot{}
			sp.want++
			sp.mu.Unlock()
			for _, l := range sp.lanes {
				signal(l.space)
			}
			return fr, nil
		}
		if sp.err != nil {
			err := sp.err
			sp.mu.Unlock()
			return frame{}, err
		}
		done := true
		for _, l := range sp.lanes {
			done = done && l.finished
		}
		if done {
			sp.mu.Unlock()
			return frame{}, fmt.Errorf("fetch: striped stream from %s ended after %d of %d chunks", sp.region, sp.want, len(sp.ids))
		}
		sp.mu.Unlock()
		select {
		case <-sp.ready:
		case <-ctx.Done():
			return frame{}, ctx.Err()
		}
	}
}

// run is connection s: its share, then chunks taken from slower ones.
func (sp *striper) run(ctx context.Context, s int) {
	l := sp.lanes[s]
	defer func() {
		sp.mu.Lock()
		l.finished = true
		sp.mu.Unlock()
		signal(sp.ready)
	}()
	for {
		sp.mu.Lock()
		req := l.req
		sp.mu.Unlock()
		ids := make([]recipe.ChunkID, len(req))
		for i, p := range req {
			ids[i] = sp.ids[p]
		}
		err := sp.tr.FetchChunks(ctx, sp.base, sp.region, ids, func(_ recipe.ChunkID, st chunkstore.Stored, ferr error) error {
			return sp.put(ctx, s, st, ferr)
		})
		if err != nil {
			sp.mu.Lock()
			if sp.err == nil && ctx.Err() == nil {
				sp.err = err
			}
			sp.mu.Unlock()
			signal(sp.ready)
			return
		}
		if !sp.steal(ctx, s) {
			return
		}
	}
}

// put files the next frame of connection s, waiting while s is more than
// its read-ahead ahead of the position fn waits for.
func (sp *striper) put(ctx context.Context, s int, st chunkstore.Stored, ferr error) error {
	l := sp.lanes[s]
	sp.mu.Lock()
	p := l.req[l.next]
	l.next++
	for {
		sl := &sp.slots[p]
		if p < sp.want || sl.have {
			sp.mu.Unlock() // handed on already: the other copy
			return nil
		}
		if skipped(ferr) && sl.askers > 1 {
			sl.askers-- // left out for the connection that took it
			sp.mu.Unlock()
			return nil
		}
		if p == sp.want || l.bytes < sp.readAhead {
			sl.have, sl.fr, sl.lane = true, frame{sp.ids[p], st, ferr}, s
			l.bytes += int64(len(st.Data))
			sp.mu.Unlock()
			signal(sp.ready)
			return nil
		}
		sp.mu.Unlock()
		select {
		case <-l.space:
		case <-ctx.Done():
			return ctx.Err()
		}
		sp.mu.Lock()
	}
}

// steal gives connection s, which has read its request, the second half
// of what the connection with the most left owes, if that is at least
// stealMinChunks: the peer is asked to leave them out of the other's
// stream first. It reports whether s has a new request.
func (sp *striper) steal(ctx context.Context, s int) bool {
	sp.mu.Lock()
	var from *stripeLane
	for i, l := range sp.lanes {
		if i != s && !l.finished && (from == nil || l.end-l.next > from.end-from.next) {
			from = l
		}
	}
	if from == nil || (from.end-from.next)/2 < stealMinChunks {
		sp.mu.Unlock()
		return false
	}
	mid := from.end - (from.end-from.next)/2
	take := slices.Clone(from.req[mid:from.end])
	from.end = mid
	for _, p := range take {
		sp.slots[p].askers++
	}
	sp.mu.Unlock()
	ids := make([]recipe.ChunkID, len(take))
	for i, p := range take {
		ids[i] = sp.ids[p]
	}
	// Best effort: what the peer has sent already arrives twice, and the
	// first copy is handed on.
	_, _ = sp.tr.Skip(ctx, sp.base, ids)
	sp.mu.Lock()
	l := sp.lanes[s]
	l.req, l.next, l.end = take, 0, len(take)
	sp.mu.Unlock()
	return ctx.Err() == nil
}

// signal wakes the one waiter of ch, if any, now or when it next waits.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
