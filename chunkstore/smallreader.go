package chunkstore

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"github.com/dgraph-io/badger/v4"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

// smallRangeBytes is the largest range, in bytes, that NewReader serves
// from the local store with a smallReader: no read-ahead goroutines, the
// chunks fetched one by one in the caller's goroutine as it reads. A block
// device's 4–128 KiB reads then cost no goroutine hand-offs, which on a
// busy machine each wait for a scheduler slot (they made the tail latency
// of small Range GETs).
const smallRangeBytes = 256 << 10

// smallReader reads the bytes [start, end) of the refs whose offsets are
// given (offsets[i] is where refs[i] starts, offsets[len(refs)] the end),
// fetching and verifying each chunk from the store on demand.
type smallReader struct {
	s          *Store
	ctx        context.Context
	refs       []recipe.Ref
	offsets    []int64
	start, end int64
	src        ChunkSource // asked for a chunk the store lacks or fails (LocalSource); nil: none
	i          int         // next ref to fetch
	buf        *[]byte
	rest       []byte
	err        error
}

func (s *Store) newSmallReader(ctx context.Context, refs []recipe.Ref, offsets []int64, start, end int64, src ChunkSource) *smallReader {
	return &smallReader{s: s, ctx: ctx, refs: refs, offsets: offsets, start: start, end: end, src: src}
}

// Read implements io.Reader.
func (r *smallReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) && r.err == nil {
		if len(r.rest) == 0 {
			r.next()
			continue
		}
		c := copy(p[n:], r.rest)
		r.rest = r.rest[c:]
		n += c
	}
	if n > 0 {
		return n, nil
	}
	return 0, r.err
}

// next fetches the next chunk into rest, or sets err (io.EOF at the end).
func (r *smallReader) next() {
	if r.i >= len(r.refs) {
		r.err = io.EOF
		return
	}
	if err := r.ctx.Err(); err != nil {
		r.err = err
		return
	}
	ref, lo, hi := r.refs[r.i], r.offsets[r.i], r.offsets[r.i+1]
	r.i++
	from, to := int64(0), hi-lo
	if r.start > lo {
		from = r.start - lo
	}
	if r.end < hi {
		to = r.end - lo
	}
	// A chunk the range cuts is probably read again by the next small
	// read (a block layer's next 4 KiB): it is read into the chunk cache.
	if data := r.s.chunkCache.get(ref.ID); len(data) == int(ref.Size) {
		r.s.ahead.count(func(st *VerifyAheadStats) { st.Hits++ })
		r.rest = data[from:to]
		return
	}
	// Verify-ahead may be reading it: verify the range's chunks after it
	// from the last one backwards meanwhile (see fillFromEnd), then wait
	// for it rather than read it twice.
	if r.s.ahead.busy(ref.ID) {
		r.fillFromEnd()
	}
	if r.s.ahead.wait(r.ctx, ref.ID) {
		r.s.ahead.count(func(st *VerifyAheadStats) { st.Waits++ })
		if data := r.s.chunkCache.get(ref.ID); len(data) == int(ref.Size) {
			r.rest = data[from:to]
			return
		}
	}
	// Read it here; the claim keeps verify-ahead off it while the store
	// reads it (not while a source repairs it: that may cross the WAN).
	release := r.s.ahead.claim(ref.ID)
	r.s.ahead.count(func(st *VerifyAheadStats) { st.Own++ })
	if from > 0 || to < hi-lo {
		gen := r.s.chunkCache.generation()
		data, err := r.s.getInto(r.ctx, nil, ref.ID, int(ref.Size))
		release()
		if err != nil {
			if data, err = r.repair(ref, err); err != nil {
				r.err = err
				return
			}
		}
		r.s.chunkCache.add(ref.ID, data, gen)
		r.rest = data[from:to]
		return
	}
	var dst []byte
	if r.buf == nil {
		if b, ok := r.s.plain.Get().(*[]byte); ok {
			r.buf = b
		}
	}
	if r.buf != nil {
		dst = (*r.buf)[:0]
	}
	data, err := r.s.getInto(r.ctx, dst, ref.ID, int(ref.Size))
	release()
	if err != nil {
		if data, err = r.repair(ref, err); err != nil {
			r.err = err
			return
		}
		r.rest = data[from:to] // the source's own slice
		return
	}
	if r.buf == nil || cap(data) > cap(*r.buf) {
		r.buf = &data // grown: keep the larger buffer for the pool
	}
	r.rest = data[from:to]
}

// fillFromEnd reads and verifies into the chunk cache the chunks of the
// range after the next one (r.refs[r.i:], r.i having moved past the chunk
// verify-ahead is reading), from the last one backwards, until it meets a
// chunk verify-ahead is reading or has claimed: the worker goes forwards
// through the same chunks, so the two meet in the middle instead of the
// reader waiting for each chunk in turn while it has a core of its own (a
// reader catching up with the worker on a busy machine). Chunks that are
// cached already are skipped; a chunk that fails to read, or lives in the
// cluster, ends the fill and is left to next, which reports it, fetches
// it, or has the source repair it. Nothing is read twice: each chunk is
// claimed before it is read (see verifyAhead.tryClaim).
func (r *smallReader) fillFromEnd() {
	c := r.s.chunkCache
	if c.max <= 0 || r.i >= len(r.refs) {
		return
	}
	// One read transaction for all (as verifyJob), the cache's generation
	// taken before it (see chunkCache.add).
	gen := c.generation()
	var txn *badger.Txn // begun at the first chunk to read
	defer func() {
		if txn != nil {
			txn.Discard()
		}
	}()
	key := make([]byte, 1+len(recipe.ChunkID{}))
	key[0] = prefixChunk
	for j := len(r.refs) - 1; j >= r.i; j-- {
		ref := r.refs[j]
		if c.has(ref.ID) {
			continue
		}
		if r.ctx.Err() != nil {
			return
		}
		release, ok := r.s.ahead.tryClaim(ref.ID)
		if !ok {
			return // met the worker
		}
		if txn == nil {
			txn = r.s.db.NewTransaction(false)
		}
		copy(key[1:], ref.ID[:])
		data, remote, err := r.s.getTxnInto(txn, nil, key, ref.ID, int(ref.Size))
		release()
		if err != nil || remote || len(data) != int(ref.Size) {
			return
		}
		c.add(ref.ID, data, gen)
		r.s.ahead.count(func(st *VerifyAheadStats) { st.Filled++ })
	}
}

// repair asks the reader's source (a LocalSource) for ref after the
// store's copy failed with err (missing, or corrupt: the source may fetch
// it again) and verifies what it returns; without a source, or for any
// other error, it returns err.
func (r *smallReader) repair(ref recipe.Ref, err error) ([]byte, error) {
	var ce *CorruptChunkError
	if r.src == nil || !(errors.As(err, &ce) || errors.Is(err, ErrNotFound)) {
		return nil, err
	}
	data, err := r.src.Chunk(r.ctx, ref)
	switch {
	case err != nil:
		return nil, err
	case len(data) != int(ref.Size):
		return nil, &CorruptChunkError{ID: ref.ID, Err: fmt.Errorf("%w: source returned %d bytes, want %d", ErrCodec, len(data), ref.Size)}
	}
	if got := recipe.ChunkID(sha256.Sum256(data)); got != ref.ID {
		return nil, &CorruptChunkError{ID: ref.ID, Got: got}
	}
	return data, nil
}

// Close releases the decode buffer; it is idempotent.
func (r *smallReader) Close() error {
	if r.buf != nil {
		r.s.plain.Put(r.buf)
		r.buf = nil
	}
	r.rest = nil
	if r.err == nil || r.err == io.EOF {
		r.err = errors.New("chunkstore: read after close")
	}
	return nil
}
