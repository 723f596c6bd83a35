package chunkstore

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

// ErrRange is returned (wrapped) by NewReader for an offset outside the
// object.
var ErrRange = errors.New("chunkstore: range not satisfiable")

// NewReader returns the plain bytes [off, off+length) of the object rec
// describes (length < 0, or a range past the end: to the end), reading
// chunks from src (nil: the store itself), decoding ahead in parallel with
// bounded memory: Config.ReadAhead chunks, each holding MaxSize bytes of
// the read budget (Config.ReadBudget) that all readers of the store share,
// until the consumer is done with it. 0 <= off <= rec.Size, else
// ErrRange.
//
// Every chunk is verified against its ID before it is returned: the
// store's own chunks by the store, chunks from another src again by the
// reader (cheap insurance: SHA-256 costs less than the WAN fetch that
// produced them). A chunk that fails is a *CorruptChunkError (or the
// source's error) from Read; the reader then stays failed. Close stops the
// read-ahead; the reader is not safe for concurrent Reads.
func (s *Store) NewReader(ctx context.Context, rec *recipe.Recipe, off, length int64, src ChunkSource) (io.ReadCloser, error) {
	offsets, err := s.readerIndex(rec) // O(log n) for a cached recipe
	if err != nil {
		return nil, err
	}
	if off < 0 || off > rec.Size {
		return nil, fmt.Errorf("%w: offset %d of %d bytes", ErrRange, off, rec.Size)
	}
	if length < 0 || length > rec.Size-off {
		length = rec.Size - off
	}
	first, last := recipe.Span(offsets, off, length)
	if length <= smallRangeBytes {
		switch ls, _ := src.(LocalSource); {
		case src == nil || src == ChunkSource(s):
			s.ahead.after(rec, offsets, first, last, off, off+length)
			return s.newSmallReader(ctx, rec.Refs[first:last], offsets[first:last+1], off, off+length, nil), nil
		case ls != nil && ls.Missing() == 0:
			// Every chunk is here: read like the store's own, the source
			// asked only to repair a chunk that fails.
			s.ahead.after(rec, offsets, first, last, off, off+length)
			return s.newSmallReader(ctx, rec.Refs[first:last], offsets[first:last+1], off, off+length, ls), nil
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &reader{
		s:      s,
		src:    src,
		ctx:    ctx,
		cancel: cancel,
		jobs:   make(chan *rjob, s.cfg.ReadAhead),
		slots:  make(chan struct{}, s.cfg.ReadAhead),
	}
	if cs, ok := src.(*Store); ok && cs == s {
		r.src = nil
	}
	r.ss, _ = r.src.(StoreSource)
	if r.src == nil {
		r.plan = s.newRangePlan(ctx, &r.wg, rec.Refs, first, last) // packread.go
	}
	r.wg.Add(1)
	go r.dispatch(rec.Refs, offsets, first, last, off, off+length)
	return r, nil
}

type rjob struct {
	ref    recipe.Ref
	lo, hi int        // the part of the chunk in the range
	slot   *rangeSlot // its pack range (packread.go); nil: read alone
	data   []byte
	pooled bool // data is the store's to pool again (Store.plain)
	err    error
	done   chan struct{}
}

type reader struct {
	s      *Store
	src    ChunkSource
	ss     StoreSource // src, when it is one: chunks read from the store
	ctx    context.Context
	cancel context.CancelFunc
	jobs   chan *rjob
	slots  chan struct{}
	wg     sync.WaitGroup // dispatcher, fetchers and range GETs
	plan   *rangePlan     // coalesced pack reads; nil: none (packread.go)

	cur    *rjob
	rest   []byte
	err    error
	closed bool
}

func (r *reader) dispatch(refs []recipe.Ref, offsets []int64, first, last int, start, end int64) {
	defer r.wg.Done()
	defer close(r.jobs)
	for i := first; i < last; i++ {
		select {
		case r.slots <- struct{}{}:
		case <-r.ctx.Done():
			return
		}
		if r.s.rbudget.acquire(r.ctx, r.s.readCost()) != nil {
			return
		}
		j := &rjob{ref: refs[i], lo: 0, hi: int(refs[i].Size), done: make(chan struct{})}
		if start > offsets[i] {
			j.lo = int(start - offsets[i])
		}
		if end < offsets[i+1] {
			j.hi = int(end - offsets[i])
		}
		if r.plan != nil {
			if sl, ok := r.plan.slot(i); ok {
				j.slot = &sl
			}
		}
		r.wg.Add(1)
		go r.fetch(j)
		r.jobs <- j // never blocks: at most ReadAhead jobs exist
	}
}

func (r *reader) fetch(j *rjob) {
	defer r.wg.Done()
	defer close(j.done)
	if r.src == nil {
		j.pooled = true
		dst := r.s.plainBuf()
		if j.slot != nil {
			j.data, j.err = r.s.rangeGet(r.ctx, dst, j.ref, *j.slot)
			return
		}
		j.data, j.err = r.s.getInto(r.ctx, dst, j.ref.ID, int(j.ref.Size))
		return
	}
	if r.ss != nil {
		// The source makes the chunk local: read it as the store's own
		// (verified once, into a pooled buffer). Only a chunk missing or
		// corrupt here after all goes to the source, which repairs it.
		if err := r.ss.Ready(r.ctx, j.ref); err != nil {
			j.err = err
			return
		}
		data, err := r.s.getInto(r.ctx, r.s.plainBuf(), j.ref.ID, int(j.ref.Size))
		var ce *CorruptChunkError
		switch {
		case err == nil:
			j.data, j.pooled = data, true
			return
		case !errors.As(err, &ce) && !errors.Is(err, ErrNotFound):
			j.err = err
			return
		}
	}
	data, err := r.src.Chunk(r.ctx, j.ref)
	switch {
	case err != nil:
		j.err = err
	case len(data) != int(j.ref.Size):
		j.err = &CorruptChunkError{ID: j.ref.ID, Err: fmt.Errorf("%w: source returned %d bytes, want %d", ErrCodec, len(data), j.ref.Size)}
	default:
		if got := recipe.ChunkID(sha256.Sum256(data)); got != j.ref.ID {
			j.err = &CorruptChunkError{ID: j.ref.ID, Got: got}
		} else {
			j.data = data
		}
	}
}

// plainBuf returns an empty buffer from the pool of plain chunk buffers,
// or a new one that holds a chunk of MaxSize (so that it is never grown).
func (s *Store) plainBuf() []byte {
	if b, ok := s.plain.Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, s.cfg.MaxSize)
}

func (r *reader) release() {
	if r.cur != nil {
		if r.cur.pooled && r.cur.data != nil {
			b := r.cur.data
			r.s.plain.Put(&b)
		}
		r.cur = nil
		<-r.slots
		r.s.rbudget.release(r.s.readCost())
	}
}

// readCost is the read budget a chunk in flight holds.
func (s *Store) readCost() int64 { return int64(s.cfg.MaxSize) }

// Read implements io.Reader.
func (r *reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n := 0
	for n < len(p) {
		if len(r.rest) == 0 {
			r.release()
			j, ok := <-r.jobs
			if !ok {
				if err := r.ctx.Err(); err != nil && !r.closed {
					r.err = err
				} else {
					r.err = io.EOF
				}
				break
			}
			<-j.done
			r.cur = j
			if j.err != nil {
				r.err = j.err
				r.release()
				break
			}
			r.rest = j.data[j.lo:j.hi]
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

// Close stops the read-ahead and waits for it; it is idempotent.
func (r *reader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	r.cancel()
	r.release()
	for j := range r.jobs {
		<-j.done
		<-r.slots
		r.s.rbudget.release(r.s.readCost())
	}
	r.wg.Wait()
	if r.err == nil {
		r.err = errors.New("chunkstore: read after close")
	}
	return nil
}
