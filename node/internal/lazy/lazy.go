// Package lazy makes booting a VM from an image in a region that lacks it
// cheap: it wraps the fetcher (the object service's RemoteReader) and adds,
// on top of the fetch of exactly the chunks a Range read covers,
//
//   - readahead: a reader whose consecutive reads of a recipe are
//     sequential (a read's first ref is the previous read's last or the one
//     after) gets the next chunks fetched in the background, in one planned
//     job per window, before it asks for them, so that a sequential scan
//     is not a chain of WAN round trips; the window grows from 256 KiB to
//     Config.ReadaheadBytes as the scan goes on, and opens only when a
//     read of the scan lacked chunks here (a scan of what is local, a
//     second boot, moves nothing);
//   - boot profiles (VMThunder's boot-time prefetching): the first Range
//     reads of a recipe that has no profile yet, in any region, are
//     recorded (distinct ref indices in first-touch order, at most
//     Config.ProfileChunks, for Config.ProfileWindow after the first read),
//     stored as the recipe's profile record (namespace.KindProfile) after
//     every Config.ProfileIdle without a new chunk, and replicated; a
//     region that does not hold the recipe and starts reading it fetches
//     the profile's chunks first, in first-touch order (successive planned
//     jobs of Config.ProfileBatch chunks), while its reads go on and share
//     those fetches.
//
// Reads of the whole object (a download) are neither recorded nor
// read ahead: the fetcher's own job already covers them. Everything here is
// advisory: a failed prefetch is logged and the reads fetch what they need
// themselves.
package lazy

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"github.com/nitro-cloud/nitro/node/internal/namespace"
	"go.uber.org/zap"
)

// Fetcher is what Reader needs of the fetcher; *fetch.Fetcher implements
// it.
type Fetcher interface {
	// Source returns a ChunkSource for refs [first, last) of rec that
	// fetches the chunks missing here.
	Source(ctx context.Context, rec *recipe.Recipe, first, last int) (chunkstore.ChunkSource, error)
	// Prefetch makes refs [first, last) of rec local and waits.
	Prefetch(ctx context.Context, rec *recipe.Recipe, first, last int) error
	// PrefetchRefs makes the given refs of rec local in one job, waits,
	// and returns how many chunks it fetched itself.
	PrefetchRefs(ctx context.Context, rec *recipe.Recipe, refs []int) (int, error)
}

// Profiles is what Reader needs of the namespace; *namespace.Namespace
// implements it.
type Profiles interface {
	Profile(ctx context.Context, id recipe.ID) (*namespace.Record, error)
	PutProfile(ctx context.Context, id recipe.ID, refs []int32) (*namespace.Record, error)
	Holds(ctx context.Context, id recipe.ID) (bool, error)
}

// Config configures a Reader. Zero values mean the defaults.
type Config struct {
	// ReadaheadBytes is the largest readahead window: how far (plain
	// bytes of whole chunks) ahead of a sequential reader chunks are
	// fetched at most. The window starts at 256 KiB on the third
	// sequential read in a row and doubles each time the reader has
	// consumed half of it. 0 means 4 MiB, < 0 turns readahead off.
	ReadaheadBytes int64
	// ProfileChunks bounds a recorded profile (distinct chunks); 0 means
	// 8192 (512 MiB at the default average chunk size), < 0 turns boot
	// profiles off (neither recorded nor followed).
	ProfileChunks int
	// ProfileIdle: the profile is stored after this long without a new
	// chunk touched; 0 means 5 s.
	ProfileIdle time.Duration
	// ProfileWindow: recording stops this long after the first read; 0
	// means 10 min.
	ProfileWindow time.Duration
	// ProfileBatch is the chunks of one profile prefetch job; 0 means 256.
	ProfileBatch int
	// Recheck: a recipe seen before is looked up again (does a profile
	// exist now, does this region hold it) after this long; 0 means 1 min.
	Recheck time.Duration
	// Replicate pushes a stored profile record to the other regions; nil:
	// not pushed (anti-entropy still spreads it).
	Replicate func(ctx context.Context, recs ...namespace.Record) error
}

// maxTracked bounds the recipes a Reader keeps state for; the least
// recently read is forgotten first.
const maxTracked = 1024

// readaheadAfter is the sequential reads in a row after which readahead
// starts; initialWindow is its first window (plain bytes).
const (
	readaheadAfter = 2
	initialWindow  = 256 << 10
)

// maxReadaheads bounds the readahead jobs in flight per node; a read that
// finds them all busy does not read ahead.
const maxReadaheads = 4

// bgTimeout bounds one background prefetch or profile write.
const bgTimeout = 10 * time.Minute

// Stats counts what a Reader did.
type Stats struct {
	// Readaheads counts readahead jobs started; ReadaheadRefs the refs
	// they covered.
	Readaheads    int64 `json:"readaheads"`
	ReadaheadRefs int64 `json:"readahead_refs"`
	// ProfilesRecorded counts profile records stored (each flush of a
	// growing profile counts).
	ProfilesRecorded int64 `json:"profiles_recorded"`
	// ProfilePrefetches counts recipes whose profile this node followed;
	// ProfileChunks the chunks those prefetches fetched themselves.
	ProfilePrefetches int64 `json:"profile_prefetches"`
	ProfileChunks     int64 `json:"profile_chunks"`
	// ProfileErrors counts failed profile lookups, writes and prefetches.
	ProfileErrors int64 `json:"profile_errors"`
}

// Reader is the object service's RemoteReader with readahead and boot
// profiles. Safe for concurrent use.
type Reader struct {
	cfg Config
	f   Fetcher
	p   Profiles
	log *zap.Logger

	life context.Context
	stop context.CancelFunc
	bg   sync.WaitGroup
	ra   chan struct{}

	mu     sync.Mutex
	closed bool
	objs   map[recipe.ID]*state
	stats  Stats
}

// state is what a Reader knows of one recipe.
type state struct {
	lastUse   time.Time
	checkedAt time.Time // zero: look the profile and holding up
	holds     bool      // this region held every chunk when checked
	following bool      // a profile prefetch runs or ran

	lastEnd  int   // the previous read's last ref (exclusive); -1: none
	frontier int   // readahead covers refs up to here (exclusive)
	streak   int   // sequential reads in a row
	window   int64 // current readahead window, plain bytes; 0: none yet

	rec *recorder // non-nil while recording
}

// recorder is a profile being recorded.
type recorder struct {
	start   time.Time
	seen    map[int32]struct{}
	refs    []int32
	flushed int // len(refs) at the last store
	timer   *time.Timer
}

// New returns a Reader over f and p.
func New(cfg Config, f Fetcher, p Profiles, log *zap.Logger) *Reader {
	if cfg.ReadaheadBytes == 0 {
		cfg.ReadaheadBytes = 4 << 20
	}
	if cfg.ProfileChunks == 0 {
		cfg.ProfileChunks = 8192
	}
	if cfg.ProfileIdle <= 0 {
		cfg.ProfileIdle = 5 * time.Second
	}
	if cfg.ProfileWindow <= 0 {
		cfg.ProfileWindow = 10 * time.Minute
	}
	if cfg.ProfileBatch <= 0 {
		cfg.ProfileBatch = 256
	}
	if cfg.Recheck <= 0 {
		cfg.Recheck = time.Minute
	}
	if log == nil {
		log = zap.NewNop()
	}
	r := &Reader{cfg: cfg, f: f, p: p, log: log.Named("lazy"), ra: make(chan struct{}, maxReadaheads),
		objs: map[recipe.ID]*state{}}
	r.life, r.stop = context.WithCancel(context.Background())
	return r
}

// Stats returns the counters.
func (r *Reader) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// Close stores the profiles being recorded, stops the background
// prefetches and waits for them. Reads after Close still work, without
// readahead or profiles.
func (r *Reader) Close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	var flush []recipe.ID
	for id, st := range r.objs {
		if st.rec != nil {
			st.rec.timer.Stop()
			flush = append(flush, id)
		}
	}
	r.mu.Unlock()
	for _, id := range flush {
		r.flush(id, true)
	}
	r.stop()
	r.bg.Wait()
}

// Forget drops what the Reader knows of recipe id (an operator cleared its
// profile): its next read looks the profile up again and, if there is
// none, records a new one.
func (r *Reader) Forget(id recipe.ID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if st := r.objs[id]; st != nil && st.rec != nil {
		st.rec.timer.Stop()
	}
	delete(r.objs, id)
}

// Source implements the object service's RemoteReader: the fetcher's
// Source for refs [first, last) of rec, after which the read is recorded
// (boot profile) and may start a readahead or a profile prefetch.
func (r *Reader) Source(ctx context.Context, rec *recipe.Recipe, first, last int) (chunkstore.ChunkSource, error) {
	src, err := r.f.Source(ctx, rec, first, last)
	if err != nil {
		return nil, err
	}
	cold := true
	if m, ok := src.(interface{ Missing() int }); ok {
		cold = m.Missing() > 0
	}
	r.observe(ctx, rec, first, last, cold)
	return src, nil
}

// observe updates rec's state for a read of refs [first, last); cold
// says the read lacked chunks here (only a reader that waits for the WAN
// gets readahead: a scan of what is already local moves nothing).
func (r *Reader) observe(ctx context.Context, rec *recipe.Recipe, first, last int, cold bool) {
	if first >= last {
		return
	}
	id := rec.ID()
	whole := first == 0 && last == len(rec.Refs)
	now := time.Now()

	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	st := r.objs[id]
	if st == nil {
		r.evictLocked()
		st = &state{lastEnd: -1}
		r.objs[id] = st
	}
	st.lastUse = now
	check := st.rec == nil && (st.checkedAt.IsZero() || now.Sub(st.checkedAt) > r.cfg.Recheck)
	if check {
		st.checkedAt = now // one lookup at a time; a failed one is retried after Recheck
	}
	r.mu.Unlock()

	if check {
		r.check(ctx, rec, st, whole)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if st.rec != nil && !whole {
		r.recordLocked(id, st, first, last, now)
	}
	// Readahead: a read that starts where the previous one ended (its
	// last chunk, or the next) continues a sequential scan. As in Linux's
	// readahead, the window starts small after a few sequential reads and
	// doubles each time the reader has consumed half of it, up to
	// ReadaheadBytes: a boot's many short runs (a binary's pages, a
	// directory) cost little, a long scan gets the whole window.
	sequential := st.lastEnd >= 0 && first >= st.lastEnd-1 && first <= st.lastEnd
	st.lastEnd = last
	if !sequential {
		st.frontier, st.streak, st.window = 0, 0, 0
		return
	}
	st.streak++
	if whole || st.holds || r.cfg.ReadaheadBytes < 0 || r.closed || st.streak < readaheadAfter || (!cold && st.window == 0) {
		return
	}
	var ahead int64 // bytes already fetched or asked for ahead of the reader
	for i := last; i < st.frontier && i < len(rec.Refs); i++ {
		ahead += int64(rec.Refs[i].Size)
	}
	if st.window > 0 && ahead > st.window/2 {
		return
	}
	switch {
	case st.window == 0:
		st.window = min(initialWindow, r.cfg.ReadaheadBytes)
	default:
		st.window = min(2*st.window, r.cfg.ReadaheadBytes)
	}
	from := max(last, st.frontier)
	target, n := last, int64(0)
	for target < len(rec.Refs) && n < st.window {
		n += int64(rec.Refs[target].Size)
		target++
	}
	if from >= target {
		return
	}
	select {
	case r.ra <- struct{}{}:
	default:
		return // enough readaheads in flight
	}
	st.frontier = target
	r.stats.Readaheads++
	r.stats.ReadaheadRefs += int64(target - from)
	r.bg.Add(1)
	go func() {
		defer r.bg.Done()
		defer func() { <-r.ra }()
		pctx, cancel := context.WithTimeout(r.life, bgTimeout)
		defer cancel()
		if err := r.f.Prefetch(pctx, rec, from, target); err != nil && pctx.Err() == nil {
			r.log.Debug("readahead", zap.Stringer("recipe", id), zap.Int("from", from), zap.Int("to", target), zap.Error(err))
		}
	}()
}

// check looks up whether this region holds rec and whether it has a
// profile: a region that lacks it follows the profile; with no profile,
// the reads of anything but the whole object start recording one.
func (r *Reader) check(ctx context.Context, rec *recipe.Recipe, st *state, whole bool) {
	id := rec.ID()
	holds, err := r.p.Holds(ctx, id)
	if err != nil {
		r.fail("holding lookup", id, err)
		return
	}
	var prof *namespace.Record
	if r.cfg.ProfileChunks > 0 {
		prof, err = r.p.Profile(ctx, id)
		if err != nil && !errors.Is(err, namespace.ErrNotFound) {
			r.fail("profile lookup", id, err)
			return
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	st.holds = holds
	if r.closed || r.cfg.ProfileChunks <= 0 {
		return
	}
	switch {
	case prof == nil && !whole && st.rec == nil:
		st.rec = &recorder{start: time.Now(), seen: map[int32]struct{}{}}
		st.rec.timer = time.AfterFunc(r.cfg.ProfileIdle, func() { r.flush(id, false) })
		st.rec.timer.Stop() // armed by the first new chunk
	case prof != nil && !holds && !st.following:
		st.following = true
		r.stats.ProfilePrefetches++
		refs := make([]int, 0, len(prof.Profile))
		for _, i := range prof.Profile {
			if int(i) < len(rec.Refs) && i >= 0 {
				refs = append(refs, int(i))
			}
		}
		r.bg.Add(1)
		go r.follow(rec, refs)
	}
}

// follow prefetches a profile's refs in first-touch order, in successive
// jobs of ProfileBatch chunks.
func (r *Reader) follow(rec *recipe.Recipe, refs []int) {
	defer r.bg.Done()
	ctx, cancel := context.WithTimeout(r.life, bgTimeout)
	defer cancel()
	t0 := time.Now()
	total := 0
	for len(refs) > 0 {
		n := min(len(refs), r.cfg.ProfileBatch)
		got, err := r.f.PrefetchRefs(ctx, rec, refs[:n])
		total += got
		r.mu.Lock()
		r.stats.ProfileChunks += int64(got)
		r.mu.Unlock()
		if err != nil {
			if ctx.Err() == nil {
				r.fail("profile prefetch", rec.ID(), err)
			}
			return
		}
		refs = refs[n:]
	}
	r.log.Info("followed a boot profile", zap.Stringer("recipe", rec.ID()), zap.Int("fetched_chunks", total),
		zap.Duration("took", time.Since(t0)))
}

// recordLocked adds the refs of [first, last) not seen yet to st's
// profile; r.mu is held.
func (r *Reader) recordLocked(id recipe.ID, st *state, first, last int, now time.Time) {
	rc := st.rec
	if now.Sub(rc.start) > r.cfg.ProfileWindow || len(rc.refs) >= r.cfg.ProfileChunks {
		return // the idle flush stores what there is and ends it
	}
	grew := false
	for i := first; i < last && len(rc.refs) < r.cfg.ProfileChunks; i++ {
		if _, ok := rc.seen[int32(i)]; !ok {
			rc.seen[int32(i)] = struct{}{}
			rc.refs = append(rc.refs, int32(i))
			grew = true
		}
	}
	if grew {
		rc.timer.Reset(r.cfg.ProfileIdle)
	}
}

// flush stores recipe id's profile if it grew since it was last stored,
// and pushes it; the recording ends when its window is over, it is full,
// or final is set.
func (r *Reader) flush(id recipe.ID, final bool) {
	r.mu.Lock()
	st := r.objs[id]
	if st == nil || st.rec == nil {
		r.mu.Unlock()
		return
	}
	rc := st.rec
	refs := rc.refs[:len(rc.refs):len(rc.refs)]
	grew := len(refs) > rc.flushed
	rc.flushed = len(refs)
	if final || time.Since(rc.start) > r.cfg.ProfileWindow || len(refs) >= r.cfg.ProfileChunks {
		st.rec = nil
	}
	r.mu.Unlock()
	if grew {
		r.store(id, refs)
	}
}

// store writes refs as recipe id's profile and pushes it.
func (r *Reader) store(id recipe.ID, refs []int32) {
	ctx, cancel := context.WithTimeout(context.Background(), bgTimeout)
	defer cancel()
	prof, err := r.p.PutProfile(ctx, id, refs)
	if err != nil {
		r.fail("profile write", id, err)
		return
	}
	if prof == nil {
		return // a newer profile or a clear won
	}
	r.mu.Lock()
	r.stats.ProfilesRecorded++
	r.mu.Unlock()
	r.log.Info("stored a boot profile", zap.Stringer("recipe", id), zap.Int("chunks", len(refs)))
	if r.cfg.Replicate != nil {
		if err := r.cfg.Replicate(ctx, *prof); err != nil {
			r.fail("profile push", id, err)
		}
	}
}

func (r *Reader) fail(what string, id recipe.ID, err error) {
	r.mu.Lock()
	r.stats.ProfileErrors++
	r.mu.Unlock()
	r.log.Warn(what, zap.Stringer("recipe", id), zap.Error(err))
}

// evictLocked forgets the least recently read recipe when maxTracked are
// tracked (storing its profile first); r.mu is held.
func (r *Reader) evictLocked() {
	if len(r.objs) < maxTracked {
		return
	}
	var oldest recipe.ID
	var t time.Time
	for id, st := range r.objs {
		if t.IsZero() || st.lastUse.Before(t) {
			oldest, t = id, st.lastUse
		}
	}
	if rc := r.objs[oldest].rec; rc != nil {
		rc.timer.Stop()
		if len(rc.refs) > rc.flushed {
			refs := rc.refs
			r.bg.Add(1)
			go func() {
				defer r.bg.Done()
				r.store(oldest, refs)
			}()
		}
	}
	delete(r.objs, oldest)
}
