package fetch

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"github.com/nitro-cloud/nitro/planner"
	"go.uber.org/zap"
)

// Store is what the fetcher needs of the local chunk store;
// *chunkstore.Store implements it.
type Store interface {
	Has(ctx context.Context, ids []recipe.ChunkID) ([]bool, error)
	Chunk(ctx context.Context, ref recipe.Ref) ([]byte, error)
	// Receive verifies st against id and stores it, readable on return;
	// it need not be durable yet (chunkstore.Store.Receive syncs in the
	// background): a fetched chunk lost in a crash is a cache miss, since
	// nothing is recorded on the strength of it before the store's next
	// sync (see Config.OnComplete).
	Receive(ctx context.Context, id recipe.ChunkID, st chunkstore.Stored) error
	// Drop deletes a chunk that failed verification, so that it can be
	// stored again.
	Drop(ctx context.Context, id recipe.ChunkID) error
}

// Transport is the peer protocol client; *peer.Client implements it.
type Transport interface {
	// Have returns the stored (wire) size of each of ids at the peer,
	// -1 (or 0) for a chunk it does not hold.
	Have(ctx context.Context, base string, ids []recipe.ChunkID) ([]int64, error)
	// FetchChunks streams ids from the peer at base, calling fn for each
	// in request order: its stored form, or an error for a chunk the
	// peer did not send; an error with a method Skipped() bool that
	// returns true is a chunk it left out because this node asked it to
	// (Skip).
	FetchChunks(ctx context.Context, base, region string, ids []recipe.ChunkID,
		fn func(id recipe.ChunkID, st chunkstore.Stored, err error) error) error
	// Skip asks the peer at base to leave ids out of the streams it is
	// sending this node, where it has not started on them (they arrived
	// from elsewhere: the losing copies of hedged chunks, hedge.go); it
	// returns how many it will leave out. Best effort: an error only
	// means the copies may still come.
	Skip(ctx context.Context, base string, ids []recipe.ChunkID) (int, error)
}

// Peer is a live node of the cluster other than this one: of another
// region, or of this region (a sibling). A region may have several.
type Peer struct {
	Region string
	// Node is the node's name, unique in the cluster; the owner of a
	// missing chunk among this region's nodes is chosen by it (see
	// owner.go). "" means the URL.
	Node string
	URL  string        // base URL of its peer listener
	RTT  time.Duration // measured round trip; 0: unknown
	// Store identifies the node's chunk store (membership.Member.Store):
	// "" for one of its own; nodes of a region with the same non-empty
	// Store share it (the region's Swift cluster), so one have answer is
	// all of theirs (haveregion.go).
	Store string
}

// name returns the node's name, or its URL when it has none.
func (p Peer) name() string {
	if p.Node != "" {
		return p.Node
	}
	return p.URL
}

// LANBandwidth and LANRTT are the link prior for this region's other nodes
// when Config.Priors has none for Config.Region: 1 Gbit/s, 1 ms.
const (
	LANBandwidth = 125e6
	LANRTT       = time.Millisecond
)

// Config configures a Fetcher. Zero values mean the defaults.
type Config struct {
	// Region is this node's region. Its other nodes (siblings) are
	// sources over the LAN for the chunks they hold (their own stores,
	// with a per-node backend), and owners of the missing chunks they
	// are asked for (owner.go).
	Region string
	// Node is this node's name (membership's); "" turns ownership off:
	// every missing chunk is fetched by the node that reads it.
	Node string
	// SharedStore says that this region's nodes share one chunk store
	// (the region's Swift cluster): a chunk this node lacks, its siblings
	// lack too, so they are not asked for have answers nor planned as
	// sources (they remain owners). false (per-node stores, Badger) asks
	// them: over the LAN, a sibling may hold what this node lacks.
	SharedStore bool
	// Priors are the configured link estimates by source region.
	Priors map[string]Link
	// DefaultBandwidth is the prior for regions without one, bytes/s;
	// 0 means 12.5e6 (100 Mbit/s).
	DefaultBandwidth float64
	// Strategy is the planning strategy; zero: planner.Optimal.
	Strategy planner.Strategy
	// Grace is how long a stream runs before its rate is judged; 0: 2 s.
	Grace time.Duration
	// SlowFactor: a stream slower than predicted/SlowFactor is re-planned;
	// 0 means 3.
	SlowFactor float64
	// HedgeAfter is the least slack past a frame's expected arrival
	// after which a stream counts as stalled and its chunks are asked of
	// other holders at once (see checkStall); the slack is
	// max(HedgeAfter, 2 RTT). 0 means 300 ms; < 0 turns hedging off.
	HedgeAfter time.Duration
	// MaxStreams bounds concurrent chunk streams of this node; 0: 16.
	MaxStreams int
	// StreamsPerLink is how many connections one chunk stream is striped
	// over (stripe.go), at most MaxStreamsPerLink; 0 or 1: one (off),
	// -1: automatic (streamsForLink).
	StreamsPerLink int
	// FetchTimeout bounds one fetch; 0 means 30 min.
	FetchTimeout time.Duration
	// HaveTimeout bounds the have-bitmap requests; 0 means 10 s.
	HaveTimeout time.Duration
	// HolderWait is how long a chunk whose holders all look dead (not
	// live members, or their streams failed) waits for one to come back
	// before it fails with a *NoHolderError (see holders.go): membership
	// that flaps under load must not cut a read short. A read's Source
	// waits up to this long before it returns, so that a read none of
	// whose holders comes back fails before its first byte. 0 means 5 s;
	// < 0: no wait (fail at once).
	HolderWait time.Duration
	// OnComplete, if set, is called when a read (Source) or a Prefetch
	// finds or leaves every chunk of recipe id stored locally: a read of
	// the whole recipe that lacked nothing, or any read or prefetch whose
	// fetch succeeded and after which a lookup of the recipe's chunks
	// finds none missing. It is called on a goroutine of its own and may
	// block; it may be called more than once for a recipe. The node writes
	// the region's holding of the recipe with it, after a sync of the
	// store: the fetched chunks were stored by Receive, which does not
	// wait for the disk.
	OnComplete func(id recipe.ID)
	// Holders, if set, returns the regions whose holdings (the
	// namespace's holding records, what X-Nitro-Regions lists) say they
	// hold every chunk of recipe id; it must not block on the network.
	// A read that has no cached have answers then plans its chunks over
	// every such live region and starts streaming each one's share at
	// once, in parallel with the have requests, whose answers correct
	// the plan (see speculate.go). nil: no speculative start.
	Holders func(ctx context.Context, id recipe.ID) ([]string, error)
	// Summary, if set, returns the chunk summary of peer p's store
	// (node/internal/summary, replicated from it), nil if none; it must
	// not block on the network. A read that has no cached have answers
	// then also plans its chunks over every live node whose summary may
	// hold them, as advisory holdings, and starts their shares at once
	// with the whole holders' (see speculate.go). nil: no summaries.
	Summary func(p Peer) Summary
	// OnTransfer, if set, is called with the record of every fetch job
	// when it finishes (see Transfers), on the job's goroutine; it must
	// not block. The node's metrics observe durations with it.
	OnTransfer func(Transfer)
}

// Summary is an approximate set of the chunks a peer's store holds
// (*summary.Remote): false positives (about 1 %) and chunks dropped since
// it was built answer true; a chunk stored when it was built or added
// since never answers false.
type Summary interface {
	MayHold(id recipe.ChunkID) bool
}

// Fetcher implements the object service's RemoteReader. Safe for
// concurrent use.
type Fetcher struct {
	cfg     Config
	store   Store
	peers   func() []Peer
	tr      Transport
	log     *zap.Logger
	links   *links
	streams chan struct{}

	mu       sync.Mutex
	inflight map[recipe.ChunkID]*future
	queued   map[string]int64 // estimated bytes queued per source region
	// queuedNode is the same per source node (by URL), to spread the
	// streams of a region over its nodes.
	queuedNode map[string]int64
	stats      Stats
	holdings   holdings // cached have answers
	// stalledAt: source nodes (by URL) whose stream last stalled (see
	// checkStall) and has not delivered since; new plans leave them out
	// for stallMemory.
	stalledAt map[string]time.Time

	transfers transfers // recent jobs, for Transfers
}

// Stats counts what the fetcher did.
type Stats struct {
	Fetches      int64 // fetch jobs started
	Chunks       int64 // chunks fetched and stored
	StoredBytes  int64 // their stored bytes
	Shared       int64 // missing chunks a read found already being fetched
	Replans      int64 // re-plans after a failure or slow-down
	SourceFails  int64 // streams that failed
	SlowSources  int64 // streams cancelled for falling behind
	NoHolder     int64 // chunks no live region held
	CorruptFetch int64 // chunks a peer sent that failed verification
	// CorruptLocal counts local chunks that failed verification when read
	// and were dropped to be fetched again (self-heal); Healed counts
	// those fetched again successfully.
	CorruptLocal, Healed int64
	// DuplicateChunks counts chunk frames received for a chunk a job had
	// already received (from any source); they are not stored again. Zero
	// in the normal case: a re-plan never asks for a chunk that is in
	// flight.
	DuplicateChunks int64
	// Hedges counts the windows of chunks of streams that missed a
	// frame's deadline that were asked of other holders at once (one or
	// more per stall; StalledSources counts the stall events); HedgeWasted counts the losing
	// copies of hedged chunks that arrived after all and were dropped,
	// not stored.
	Hedges, StalledSources, HedgeWasted int64
	// HedgeWastedBytes is the stored bytes of the HedgeWasted copies (the
	// bytes a hedge made cross twice); HedgeSkipped counts the losing
	// copies the other holder left out of its stream because this node
	// asked it to (Transport.Skip) once the first copy had arrived, and
	// SkipRequests the skip requests sent.
	HedgeWastedBytes, HedgeSkipped, SkipRequests int64
	// HedgedChunks counts the chunks hedges moved to other holders (a
	// window of the next few RTTs per hedge, see hedge.go).
	HedgedChunks int64
	// HaveCached counts fetch jobs planned from cached have answers
	// (see holdings.go), without a have round trip.
	HaveCached int64
	// SpecStarts counts fetch jobs that started streaming from the
	// regions holding the whole object before the have answers
	// (speculate.go); SpecChunks the chunks they asked for that way, and
	// SpecStreams the source nodes they asked (one per region the
	// speculative plan used).
	SpecStarts, SpecChunks, SpecStreams int64
	// SpecCuts counts speculative starts whose streams were cut short
	// when the have answers named partial holders that made a better
	// plan of the rest; SpecMoved the chunks planned again that way.
	SpecCuts, SpecMoved int64
	// Plans counts planner.Solve calls of fetch jobs (first plans and
	// re-plans; not Explain); PlanNanos is their total duration and
	// LastPlanNanos the duration of the latest, in nanoseconds.
	Plans, PlanNanos, LastPlanNanos int64
	// Delegated counts missing chunks this node asked of their owner
	// among its region's nodes (owner.go); DelegatedGot those the owner
	// delivered; DelegateFallbacks those it then fetched itself (the
	// owner failed, died, or answered that it could not obtain them).
	Delegated, DelegatedGot, DelegateFallbacks int64
	// ObtainServed counts chunks this node delivered as their owner to
	// another node of its region.
	ObtainServed int64
	// HolderWaits counts chunks that found no live holder and waited for
	// one to come back (Config.HolderWait; those that waited in vain are
	// in NoHolder too); Revived counts failed source nodes asked again
	// because they were the only holders of such chunks and membership
	// listed them live; LateSources counts nodes added to a running job
	// that were not live (or did not answer) when it started.
	HolderWaits, Revived, LateSources int64
	// HaveRequests counts the have requests sent (one per node asked,
	// fallbacks included), HaveByRegion the same by the asked node's
	// region, and HaveFallbacks the requests to another node of a group
	// of nodes sharing a store after the one asked first failed
	// (haveregion.go).
	HaveRequests, HaveFallbacks int64
	HaveByRegion                map[string]int64
}

// future is one missing chunk being fetched; done closes when err is set.
// placed closes when a job first gives the chunk to a live holder (or
// delegates it to its owner), or when done closes: a read's Source waits
// for it (see waitPlaced).
type future struct {
	done   chan struct{}
	err    error
	placed chan struct{}
	once   sync.Once
}

func newFuture() *future {
	return &future{done: make(chan struct{}), placed: make(chan struct{})}
}

// place closes fu.placed once.
func (fu *future) place() { fu.once.Do(func() { close(fu.placed) }) }

// NoHolderError reports a chunk that no live region holds.
type NoHolderError struct {
	ID     recipe.ChunkID
	Index  int      // ref index in the recipe
	Asked  []string // regions asked (live peers)
	Reason string   // why the last holders failed, if any
}

// ErrNoHolder is wrapped by *NoHolderError.
var ErrNoHolder = errors.New("fetch: no live region holds the chunk")

func (e *NoHolderError) Error() string {
	s := fmt.Sprintf("fetch: chunk %s (ref %d) is held by no live region (asked: %s)",
		e.ID, e.Index, strings.Join(e.Asked, ", "))
	if len(e.Asked) == 0 {
		s = fmt.Sprintf("fetch: chunk %s (ref %d) is missing here and no peer region is live", e.ID, e.Index)
	}
	if e.Reason != "" {
		s += "; " + e.Reason
	}
	return s
}

// Unwrap returns ErrNoHolder.
func (e *NoHolderError) Unwrap() error { return ErrNoHolder }

// New returns a Fetcher over the local store, the live peers (called per
// read; must not block) and the peer transport.
func New(cfg Config, store Store, peers func() []Peer, tr Transport, log *zap.Logger) (*Fetcher, error) {
	if cfg.Region == "" {
		return nil, errors.New("fetch: region is required")
	}
	if store == nil || peers == nil || tr == nil {
		return nil, errors.New("fetch: store, peers and transport are required")
	}
	if cfg.DefaultBandwidth <= 0 {
		cfg.DefaultBandwidth = 12.5e6
	}
	if cfg.Grace <= 0 {
		cfg.Grace = 2 * time.Second
	}
	if cfg.SlowFactor <= 1 {
		cfg.SlowFactor = 3
	}
	if cfg.MaxStreams <= 0 {
		cfg.MaxStreams = 16
	}
	if cfg.HedgeAfter == 0 {
		cfg.HedgeAfter = 300 * time.Millisecond
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = 30 * time.Minute
	}
	if cfg.HaveTimeout <= 0 {
		cfg.HaveTimeout = 10 * time.Second
	}
	if cfg.HolderWait == 0 {
		cfg.HolderWait = DefaultHolderWait
	}
	if log == nil {
		log = zap.NewNop()
	}
	if _, ok := cfg.Priors[cfg.Region]; !ok {
		// This region's other nodes are a LAN away.
		priors := maps.Clone(cfg.Priors)
		if priors == nil {
			priors = map[string]Link{}
		}
		priors[cfg.Region] = Link{Bandwidth: LANBandwidth, RTT: LANRTT}
		cfg.Priors = priors
	}
	return &Fetcher{
		cfg: cfg, store: store, peers: peers, tr: tr, log: log.Named("fetch"),
		links:      &links{prior: cfg.Priors, def: cfg.DefaultBandwidth, est: map[string]*LinkEstimate{}, ratio: 1},
		streams:    make(chan struct{}, cfg.MaxStreams),
		inflight:   map[recipe.ChunkID]*future{},
		queued:     map[string]int64{},
		queuedNode: map[string]int64{},
		stalledAt:  map[string]time.Time{},
	}, nil
}

// Links returns the current link estimates, by region.
func (f *Fetcher) Links() []LinkEstimate {
	out := f.links.all()
	out = slices.DeleteFunc(out, func(l LinkEstimate) bool { return l.Region == f.cfg.Region })
	for i := range out {
		for _, p := range f.livePeers() {
			if p.Region == out[i].Region && p.RTT > 0 {
				out[i].RTT = p.RTT
			}
		}
	}
	return out
}

// Stats returns the counters.
func (f *Fetcher) Stats() Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.stats
	st.HaveByRegion = maps.Clone(f.stats.HaveByRegion)
	return st
}

// livePeers returns the live nodes a fetch may ask: every node of every
// region (this region's siblings included, LAN sources for what their
// stores hold, unless Config.SharedStore), at most planner.MaxSources,
// sorted by region then name.
func (f *Fetcher) livePeers() []Peer {
	seen := map[string]bool{}
	var out []Peer
	for _, p := range f.peers() {
		if p.URL == "" || seen[p.URL] || (f.cfg.Node != "" && p.Node == f.cfg.Node) ||
			(f.cfg.SharedStore && p.Region == f.cfg.Region) {
			continue
		}
		seen[p.URL] = true
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b Peer) int {
		if c := strings.Compare(a.Region, b.Region); c != 0 {
			return c
		}
		return strings.Compare(a.name(), b.name())
	})
	if len(out) > planner.MaxSources {
		f.log.Warn("more live nodes than a plan can name; leaving some out", zap.Int("nodes", len(out)))
		out = out[:planner.MaxSources]
	}
	return out
}

// source is the ChunkSource of one read.
type source struct {
	f           *Fetcher
	rec         *recipe.Recipe
	first, last int                        // the span of refs read
	wait        map[recipe.ChunkID]*future // missing chunks of the span
}

// Chunk implements chunkstore.ChunkSource: local chunks at once, missing
// ones once their fetch has stored them. A local chunk that fails
// verification is healed (see heal) and read again; it is never returned.
// A small Range read whose chunks are all here is read from the store
// directly (chunkstore.LocalSource); a larger read waits for each chunk
// with Ready and reads it from the store itself (chunkstore.StoreSource),
// asking Chunk only to repair one that is missing or fails there.
var (
	_ chunkstore.LocalSource = (*source)(nil)
	_ chunkstore.StoreSource = (*source)(nil)
)

func (s *source) Chunk(ctx context.Context, ref recipe.Ref) ([]byte, error) {
	if err := s.Ready(ctx, ref); err != nil {
		return nil, err
	}
	b, err := s.f.store.Chunk(ctx, ref)
	var ce *chunkstore.CorruptChunkError
	if !errors.As(err, &ce) {
		return b, err
	}
	if herr := s.f.heal(ctx, ref, s.index(ref.ID)); herr != nil {
		return nil, fmt.Errorf("%w; fetching it again: %w", err, herr)
	}
	return s.f.store.Chunk(ctx, ref)
}

// Ready implements chunkstore.StoreSource: it returns at once for a chunk
// that was local when the source was made, and for a missing one once its
// fetch has stored it (or with the fetch's error).
func (s *source) Ready(ctx context.Context, ref recipe.Ref) error {
	fu := s.wait[ref.ID]
	if fu == nil {
		return nil
	}
	select {
	case <-fu.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return fu.err
}

// index returns the index of the first ref of id in the span (for logs
// and plans).
func (s *source) index(id recipe.ChunkID) int {
	for i := s.first; i < s.last; i++ {
		if s.rec.Refs[i].ID == id {
			return i
		}
	}
	return s.first
}

// heal repairs the local chunk ref, which failed verification when read:
// it drops it and fetches it again from a region that holds it, through
// the same per-chunk futures as missing chunks, so that concurrent readers
// of the corrupt chunk share one repair. The reader that registers the
// repair reads the chunk once more first: if it verifies, another repair
// finished in between and there is nothing to drop. heal returns when the
// chunk is stored again, or why it could not be.
func (f *Fetcher) heal(ctx context.Context, ref recipe.Ref, index int) error {
	f.mu.Lock()
	fu := f.inflight[ref.ID]
	var c *jchunk
	if fu == nil {
		fu = newFuture()
		f.inflight[ref.ID] = fu
		c = &jchunk{id: ref.ID, index: index, plain: ref.Size, fut: fu}
	}
	f.mu.Unlock()
	if c != nil {
		_, err := f.store.Chunk(ctx, ref)
		var ce *chunkstore.CorruptChunkError
		switch {
		case err == nil:
			f.complete(c, nil, false)
		case !errors.As(err, &ce):
			f.complete(c, err, false)
		default:
			if derr := f.store.Drop(ctx, ref.ID); derr != nil {
				f.complete(c, fmt.Errorf("fetch: dropping corrupt chunk %s: %w", ref.ID.Short(), derr), false)
				break
			}
			f.count(func(st *Stats) { st.CorruptLocal++; st.Fetches++ })
			f.log.Warn("local chunk failed verification; dropped it, fetching it again from a region that holds it",
				zap.String("chunk", ref.ID.String()), zap.Int("ref", index), zap.Error(err))
			c.healing = true
			jctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.cfg.FetchTimeout)
			go f.newJob(jctx, cancel, []*jchunk{c}).run()
		}
	}
	select {
	case <-fu.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return fu.err
}

// Source implements the object service's RemoteReader: a ChunkSource for
// refs [first, last) of rec that fetches the chunks this region lacks.
func (f *Fetcher) Source(ctx context.Context, rec *recipe.Recipe, first, last int) (chunkstore.ChunkSource, error) {
	if first < 0 || last > len(rec.Refs) || first > last {
		return nil, fmt.Errorf("fetch: span [%d, %d) of %d refs", first, last, len(rec.Refs))
	}
	missing, err := f.missing(ctx, rec, first, last)
	if err != nil {
		return nil, err
	}
	src := &source{f: f, rec: rec, first: first, last: last, wait: map[recipe.ChunkID]*future{}}
	if len(missing) == 0 {
		if first == 0 && last == len(rec.Refs) && f.cfg.OnComplete != nil {
			go f.cfg.OnComplete(rec.ID())
		}
		return src, nil
	}
	var mine []*jchunk
	f.mu.Lock()
	for _, m := range missing {
		if fu := f.inflight[m.id]; fu != nil {
			src.wait[m.id] = fu
			f.stats.Shared++
			continue
		}
		fu := newFuture()
		f.inflight[m.id] = fu
		src.wait[m.id] = fu
		m.fut = fu
		mine = append(mine, m)
	}
	f.mu.Unlock()
	mine, err = f.recheckLocal(ctx, mine)
	if err != nil {
		return nil, err
	}
	f.launch(ctx, rec, mine, true)
	if f.cfg.OnComplete != nil && len(src.wait) > 0 {
		go f.whenComplete(rec, src.wait)
	}
	if err := waitPlaced(ctx, src.wait); err != nil {
		return nil, err
	}
	return src, nil
}

// waitPlaced waits until every chunk of wait is placed on a live holder
// or resolved, and returns the error of a chunk that failed meanwhile
// (the *NoHolderError of the lowest ref index, after Config.HolderWait,
// so the error names the first chunk the read lacks), or ctx's. So a read
// whose chunks have no live holder fails before the caller sends a byte
// (the object service answers 503), not with a body cut short.
func waitPlaced(ctx context.Context, wait map[recipe.ChunkID]*future) error {
	for _, fu := range wait {
		select {
		case <-fu.placed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	var first error
	var firstNH *NoHolderError
	for _, fu := range wait {
		select {
		case <-fu.done:
			if fu.err == nil {
				continue
			}
			var nh *NoHolderError
			switch {
			case errors.As(fu.err, &nh):
				if firstNH == nil || nh.Index < firstNH.Index {
					firstNH, first = nh, fu.err
				}
			case first == nil:
				first = fu.err
			}
		default:
		}
	}
	return first
}

// whenComplete waits for the fetches of a read and calls OnComplete if
// they all succeeded and no chunk of rec is missing then (a lookup of the
// recipe's distinct chunks: one Has, only for reads that fetched).
func (f *Fetcher) whenComplete(rec *recipe.Recipe, wait map[recipe.ChunkID]*future) {
	for _, fu := range wait {
		<-fu.done // every future resolves, at the latest at FetchTimeout
		if fu.err != nil {
			return
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.cfg.HaveTimeout)
	defer cancel()
	has, err := f.store.Has(ctx, rec.Unique())
	if err != nil {
		f.log.Warn("completeness lookup", zap.Stringer("recipe", rec.ID()), zap.Error(err))
		return
	}
	for _, h := range has {
		if !h {
			return
		}
	}
	f.cfg.OnComplete(rec.ID())
}

// missing returns the distinct chunks of refs [first, last) not stored
// locally, in object order, with the index of their first ref.
func (f *Fetcher) missing(ctx context.Context, rec *recipe.Recipe, first, last int) ([]*jchunk, error) {
	seen := map[recipe.ChunkID]bool{}
	var ids []recipe.ChunkID
	var refs []int
	for i := first; i < last; i++ {
		id := rec.Refs[i].ID
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
			refs = append(refs, i)
		}
	}
	has, err := f.store.Has(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("fetch: local lookup: %w", err)
	}
	var out []*jchunk
	for k, h := range has {
		if !h {
			i := refs[k]
			out = append(out, &jchunk{id: ids[k], index: i, plain: rec.Refs[i].Size})
		}
	}
	return out, nil
}

// complete resolves c's future with err (nil: stored; fetched: by us) and
// forgets it.
func (f *Fetcher) complete(c *jchunk, err error, fetched bool) {
	f.mu.Lock()
	if f.inflight[c.id] == c.fut {
		delete(f.inflight, c.id)
	}
	if err == nil && fetched {
		f.stats.Chunks++
		if c.healing {
			f.stats.Healed++
		}
	} else if errors.Is(err, ErrNoHolder) {
		f.stats.NoHolder++
	}
	f.mu.Unlock()
	c.fut.err = err
	close(c.fut.done)
	c.fut.place()
}

// addQueued adds n estimated bytes to what is queued on p (its region and
// itself).
func (f *Fetcher) addQueued(p Peer, n int64) {
	f.mu.Lock()
	f.queued[p.Region] += n
	if f.queued[p.Region] <= 0 {
		delete(f.queued, p.Region)
	}
	f.queuedNode[p.URL] += n
	if f.queuedNode[p.URL] <= 0 {
		delete(f.queuedNode, p.URL)
	}
	f.mu.Unlock()
}

func (f *Fetcher) queuedOnNode(url string) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.queuedNode[url]
}

func (f *Fetcher) queuedOn(region string) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.queued[region]
}

func (f *Fetcher) count(fn func(*Stats)) {
	f.mu.Lock()
	fn(&f.stats)
	f.mu.Unlock()
}

// Prefetch makes refs [first, last) of rec local: it fetches the missing
// chunks as Source does and waits until they are stored, without reading
// them back. Eager placement uses it.
func (f *Fetcher) Prefetch(ctx context.Context, rec *recipe.Recipe, first, last int) error {
	src, err := f.Source(ctx, rec, first, last)
	if err != nil {
		return err
	}
	for _, fu := range src.(*source).wait {
		select {
		case <-fu.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if fu.err != nil {
			return fu.err
		}
	}
	return nil
}

// recheckLocal completes the chunks of mine (registered as in flight by
// this caller) that are local by now and returns the others. A fetch that
// finished between the caller's lookup and its registration has stored
// its chunks (Receive happens before a future resolves), so this second
// lookup after registering closes the window. On a lookup error every
// chunk of mine is completed with it.
func (f *Fetcher) recheckLocal(ctx context.Context, mine []*jchunk) ([]*jchunk, error) {
	if len(mine) == 0 {
		return mine, nil
	}
	ids := make([]recipe.ChunkID, len(mine))
	for i, c := range mine {
		ids[i] = c.id
	}
	has, err := f.store.Has(ctx, ids)
	if err != nil {
		err = fmt.Errorf("fetch: local lookup: %w", err)
		for _, c := range mine {
			f.complete(c, err, false)
		}
		return nil, err
	}
	rest := mine[:0]
	for i, c := range mine {
		if has[i] {
			f.complete(c, nil, false)
		} else {
			rest = append(rest, c)
		}
	}
	return rest, nil
}
