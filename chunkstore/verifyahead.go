package chunkstore

import (
	"context"
	"sync"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

// aheadStreams is how many sequential readers (an object read in order,
// e.g. one per qemu connection) verify-ahead follows at once; the least
// recently used is forgotten first.
const aheadStreams = 16

// aheadGap is how far past where a read ended the next may start and
// still count as sequential, in bytes.
const aheadGap = 4 << 10

// aheadMinBytes is the least that verify-ahead reads past a sequential
// small read, in bytes (the next reads of a block layer reading 4 KiB at a
// time are then copies from the chunk cache).
const aheadMinBytes = 64 << 10

// aheadReads is how many reads of its own length verify-ahead keeps ready
// past a sequential small read: the window's length over the read's. Four,
// not two: on a busy machine the worker loses its core for a while now
// and then, and a window of only the next two reads let a sequential
// 64–128 KiB reader catch up with it and wait for a chunk in flight, or
// verify it itself, every few reads (issue 15's BenchmarkSmallReads).
const aheadReads = 4

// aheadMaxBytes bounds a verify-ahead window, in bytes.
const aheadMaxBytes = 512 << 10

// aheadMaxRefs bounds the chunks of one verify-ahead job (a window of tiny
// chunks).
const aheadMaxRefs = 64

// verifyAhead reads, decodes and verifies, in the background, the chunks
// that follow a sequential small read (smallReader) into the chunk cache,
// so that the next read of the sequence copies verified bytes instead of
// reading and hashing them while its client waits. A read is sequential
// when it starts where an earlier small read of the same object ended (up
// to its own length before, to re-read a tail, or aheadGap after); the
// window read ahead starts at its end and is aheadReads times as long as
// the read (the next reads, so that the worker keeps ahead of a reader
// that comes back quickly; at least aheadMinBytes, at most aheadMaxBytes
// and half the chunk cache, at most aheadMaxRefs chunks).
//
// Bounded: one worker goroutine at most, started at the first job and
// parked between jobs until the store closes (a goroutine per job paid
// for growing its stack through Badger's calls each time), reading a
// job's chunks in one Badger transaction and holding one chunk at a time
// until it is in the chunk cache, which is bounded by
// Config.ChunkCacheBytes; a job that arrives while the worker is busy
// replaces the one waiting (the newest window is the one a reader needs
// next). Only the store's own chunks are read ahead (none that live in the
// cluster), and only verified bytes enter the cache (chunkCache.add, with
// its generation check against GC's, Drop's and fsck's forget). Off when
// the chunk cache is off.
//
// Safe for concurrent use.
type verifyAhead struct {
	s      *Store
	ctx    context.Context // cancelled by close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the worker

	wake chan struct{} // buffered 1: a job is pending

	mu           sync.Mutex
	closed       bool
	started      bool                             // the worker goroutine exists
	running      bool                             // the worker has a job (pending or in hand)
	pending      []recipe.Ref                     // the next job; nil: none
	pendingAlong bool                             // the next job is along's (see along)
	inflight     map[recipe.ChunkID]chan struct{} // chunks the worker is reading or a reader claimed; closed when done
	streams      [aheadStreams]aheadStream        // recent small reads' ends
	tick         uint64                           // LRU clock of streams
	stats        VerifyAheadStats
}

// aheadStream is where the last small read of an object ended.
type aheadStream struct {
	key  aheadKey
	end  int64
	used uint64 // tick of the last read; 0: empty slot
}

// aheadKey names an object's content (its recipe) without holding it.
type aheadKey struct {
	size int64
	md5  [16]byte
}

func newVerifyAhead(s *Store) *verifyAhead {
	ctx, cancel := context.WithCancel(context.Background())
	return &verifyAhead{s: s, ctx: ctx, cancel: cancel, wake: make(chan struct{}, 1), inflight: map[recipe.ChunkID]chan struct{}{}}
}

// VerifyAheadStats count the work of verify-ahead (the background
// verification of the chunks after sequential small Range reads into the
// chunk cache) and what small reads found, since the store opened; all
// counts are of chunks unless said otherwise.
type VerifyAheadStats struct {
	Jobs     uint64 // windows scheduled after a sequential small read (jobs, not chunks)
	Along    uint64 // random reads' own chunks scheduled (see along; jobs, not chunks)
	Verified uint64 // read, decoded and verified into the chunk cache by the worker
	Failed   uint64 // failed to read or verify in the worker (left to the reader, which reports them)
	// What small readers found, per chunk they needed: cached (read
	// ahead, or by an earlier read), in flight (they waited for it), or
	// neither (read and verified it themselves); Filled counts the chunks
	// they read and verified from the end of their range while the worker
	// held the one they needed (fillFromEnd).
	Hits, Waits, Own, Filled uint64
}

// VerifyAheadStats returns verify-ahead's counts (the worker's stay zero
// when Config.ChunkCacheBytes turns the chunk cache off).
func (s *Store) VerifyAheadStats() VerifyAheadStats { return s.ahead.counts() }

// count adds to a reader's counts (see VerifyAheadStats) under a.mu.
func (a *verifyAhead) count(f func(*VerifyAheadStats)) {
	a.mu.Lock()
	f(&a.stats)
	a.mu.Unlock()
}

// counts returns verify-ahead's counts.
func (a *verifyAhead) counts() VerifyAheadStats {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stats
}

// idle reports whether the worker is neither running nor has a job
// waiting.
func (a *verifyAhead) idle() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return !a.running && a.pending == nil
}

// after is called as a small read of [start, end) of rec opens; offsets
// are rec's cumulative offsets and [first, last) the indices of the refs
// the read covers. If the read continues a sequential stream, the window
// after end is scheduled for the worker; if not, the read's own chunks
// after its first are (see along).
func (a *verifyAhead) after(rec *recipe.Recipe, offsets []int64, first, last int, start, end int64) {
	if a.s.chunkCache.max <= 0 {
		return
	}
	// At most half the cache: the window's last chunks must not evict its
	// first before the reader gets there.
	window := min(max(aheadReads*(end-start), aheadMinBytes), aheadMaxBytes, a.s.chunkCache.max/2)
	if !a.sequential(aheadKey{size: rec.Size, md5: rec.MD5}, start, end) {
		a.along(rec.Refs[first:last])
		return
	}
	if last >= len(rec.Refs) {
		return
	}
	k := last
	for k < len(rec.Refs) && k-last < aheadMaxRefs && offsets[k] < end+window {
		k++
	}
	if k == last {
		return // the window ends inside the read's last chunk, which the read caches
	}
	refs := rec.Refs[last:k]
	// The worker goes in order: if the window's last chunk is cached or
	// on its way, an earlier job covered the window.
	tail := refs[len(refs)-1].ID
	if a.s.chunkCache.has(tail) {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed || a.inflight[tail] != nil {
		return
	}
	a.schedule(refs, false)
}

// along has the worker verify the chunks of a read that continues no
// stream (a random read) from its last chunk backwards, while the reader
// reads them from its first onwards: they meet in the middle, so a read
// of several chunks that are not cached costs about half their
// verification on each of two cores instead of all of it on one. The
// worker stops where it meets a chunk the reader has claimed (see
// claim). Reads of fewer than two chunks gain nothing and are left out.
func (a *verifyAhead) along(refs []recipe.Ref) {
	if len(refs) < 2 || len(refs) > aheadMaxRefs {
		return
	}
	tail := refs[len(refs)-1].ID
	if a.s.chunkCache.has(tail) {
		return // an earlier read of the same place (or verify-ahead) has them
	}
	job := make([]recipe.Ref, 0, len(refs)-1)
	for i := len(refs) - 1; i >= 1; i-- {
		job = append(job, refs[i])
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed || a.inflight[tail] != nil {
		return
	}
	a.schedule(job, true)
}

// schedule makes refs the next job (replacing one that waits: the newest
// is what a reader needs next) and wakes or starts the worker; along
// marks a job of along. a.mu is held.
func (a *verifyAhead) schedule(refs []recipe.Ref, along bool) {
	if along {
		a.stats.Along++
	} else {
		a.stats.Jobs++
	}
	a.pending, a.pendingAlong = refs, along
	if a.running {
		return
	}
	a.running = true
	if !a.started {
		a.started = true
		a.wg.Add(1)
		go a.run()
	}
	select {
	case a.wake <- struct{}{}:
	default: // a wake-up is pending already
	}
}

// sequential records that a read of [start, end) of the object key began
// and reports whether it continues an earlier one (see verifyAhead).
func (a *verifyAhead) sequential(key aheadKey, start, end int64) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.tick++
	lru := 0
	for i := range a.streams {
		st := &a.streams[i]
		if st.used != 0 && st.key == key && start >= st.end-(end-start) && start <= st.end+aheadGap {
			st.end, st.used = end, a.tick
			return true
		}
		if st.used < a.streams[lru].used {
			lru = i
		}
	}
	a.streams[lru] = aheadStream{key: key, end: end, used: a.tick}
	return false
}

// run is the worker: woken by after, it verifies the pending job, then
// the next one if any, until there is none, and parks again; it returns
// when the store closes.
func (a *verifyAhead) run() {
	defer a.wg.Done()
	for {
		select {
		case <-a.wake:
		case <-a.ctx.Done():
			return
		}
		for {
			a.mu.Lock()
			refs, along := a.pending, a.pendingAlong
			a.pending = nil
			if refs == nil || a.closed {
				a.running = false
				a.mu.Unlock()
				break
			}
			a.mu.Unlock()
			a.verifyJob(refs, along)
		}
	}
}

// verifyJob reads, decodes and verifies refs into the chunk cache in one
// Badger transaction, skipping those cached already or claimed by a
// reader (an along job stops at the first claimed: its reader has come
// that far, and read the rest itself); a chunk that fails is left out
// (its reader reads it itself and reports the failure, or has the source
// repair it). The cache's generation is taken before the
// transaction: a chunk deleted after the snapshot (GC, Drop, fsck) bumps
// it, and then nothing more of the job is cached.
func (a *verifyAhead) verifyJob(refs []recipe.Ref, along bool) {
	c := a.s.chunkCache
	gen := c.generation()
	txn := a.s.db.NewTransaction(false)
	defer txn.Discard()
	key := make([]byte, 1+len(recipe.ChunkID{}))
	key[0] = prefixChunk
	for _, ref := range refs {
		if a.ctx.Err() != nil {
			return
		}
		if c.has(ref.ID) {
			continue
		}
		a.mu.Lock()
		if a.inflight[ref.ID] != nil {
			a.mu.Unlock()
			if along {
				return
			}
			continue
		}
		done := make(chan struct{})
		a.inflight[ref.ID] = done
		a.mu.Unlock()
		copy(key[1:], ref.ID[:])
		data, remote, err := a.s.getTxnInto(txn, nil, key, ref.ID, int(ref.Size))
		ok := err == nil && !remote && len(data) == int(ref.Size)
		if ok {
			c.add(ref.ID, data, gen)
		}
		a.mu.Lock()
		delete(a.inflight, ref.ID)
		if ok {
			a.stats.Verified++
		} else if !remote && a.ctx.Err() == nil {
			a.stats.Failed++
		}
		a.mu.Unlock()
		close(done)
	}
}

// wait waits until the worker is done with chunk id if it is reading it
// (or until ctx ends), so that a reader does not read and verify a second
// time what the worker is about to cache; it reports whether it waited.
func (a *verifyAhead) wait(ctx context.Context, id recipe.ChunkID) bool {
	a.mu.Lock()
	done := a.inflight[id]
	a.mu.Unlock()
	if done == nil {
		return false
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
	return true
}

// busy reports whether the worker is reading chunk id or a reader has
// claimed it (see claim), without waiting.
func (a *verifyAhead) busy(id recipe.ChunkID) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.inflight[id] != nil
}

// claim marks chunk id as being read by a reader (that found it neither
// cached nor in flight), so that the worker skips it, and along's job
// stops there; the returned func ends the claim, and is a no-op if
// someone else was reading id already or verify-ahead is off.
func (a *verifyAhead) claim(id recipe.ChunkID) (release func()) {
	release, _ = a.tryClaim(id)
	return release
}

// tryClaim is claim reporting whether it claimed id (false: someone else
// is reading it, or verify-ahead is off; release is then a no-op).
func (a *verifyAhead) tryClaim(id recipe.ChunkID) (release func(), ok bool) {
	if a.s.chunkCache.max <= 0 {
		return func() {}, false
	}
	done := make(chan struct{})
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.inflight[id] != nil {
		return func() {}, false
	}
	a.inflight[id] = done
	return func() {
		a.mu.Lock()
		if a.inflight[id] == done {
			delete(a.inflight, id)
		}
		a.mu.Unlock()
		close(done)
	}, true
}

// close stops the worker and waits for it; no job starts after.
func (a *verifyAhead) close() {
	a.mu.Lock()
	a.closed = true
	a.pending = nil
	a.mu.Unlock()
	a.cancel()
	a.wg.Wait()
}
