package chunkstore

// GET coalescing for packed chunks (packs.go): a reader's consecutive refs
// whose stored forms lie back to back in one pack are fetched with one
// Range GET of at most maxRangeBytes (and maxRangeRefs refs), started when
// the reader dispatches the first of them, with the next range planned
// and started at the same time (one range ahead), so that a range is in
// flight while the previous one is decoded. Each chunk is still decoded
// and verified against its ID by its own fetcher, within the reader's
// ReadAhead and read budget; a range that fails (or a chunk in it that
// fails verification) sends its chunks to the single-chunk path
// (Store.getInto), which does the bookkeeping (fossils, suspects, the
// per-chunk fallback). A range's stored bytes are held until its last
// chunk is decoded: at most two ranges per reader, outside the read
// budget (2 × maxRangeBytes).

import (
	"context"
	"errors"
	"sync"

	"github.com/dgraph-io/badger/v4"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

const (
	maxRangeBytes = 4 << 20
	maxRangeRefs  = 256
)

// rangeFetch is one Range GET of a pack.
type rangeFetch struct {
	pack     string
	off, end int64
	done     chan struct{} // closed when buf, info and err are set
	buf      []byte
	info     ObjectInfo
	err      error
}

// rangePlan maps a reader's ref indexes to the ranges their chunks come
// from. Used by the dispatcher goroutine only (fetchers get their range
// and location with their job).
type rangePlan struct {
	s     *Store
	ctx   context.Context
	refs  []recipe.Ref
	last  int // refs[:last] are read
	next  int // first ref not yet planned
	byRef map[int]rangeSlot
	wg    *sync.WaitGroup // the reader's: range GETs end before Close returns
}

// rangeSlot is a ref's place in a range.
type rangeSlot struct {
	f   *rangeFetch
	loc packLoc
}

func (s *Store) newRangePlan(ctx context.Context, wg *sync.WaitGroup, refs []recipe.Ref, first, last int) *rangePlan {
	if s.packs == nil {
		return nil
	}
	return &rangePlan{s: s, ctx: ctx, wg: wg, refs: refs, last: last, next: first, byRef: map[int]rangeSlot{}}
}

// slot returns ref i's range (ok false: read it alone), planning and
// starting ranges as the dispatcher reaches them: when i is a range's
// first ref, the next range is started too.
func (p *rangePlan) slot(i int) (rangeSlot, bool) {
	for p.next <= i {
		p.plan()
	}
	sl, ok := p.byRef[i]
	delete(p.byRef, i)
	if ok && sl.loc.off == sl.f.off && p.next < p.last {
		p.plan() // one range ahead
	}
	return sl, ok
}

// plan looks up the locations of the refs from p.next and starts the
// range of those that lie back to back in one pack (none if the first
// is not packed).
func (p *rangePlan) plan() {
	start := p.next
	var f *rangeFetch
	var slots []rangeSlot
	unknown := false
	for attempt := 0; attempt < 2; attempt++ {
		if attempt == 1 {
			if !unknown {
				break
			}
			// A ref the index lacks: learn new packs (rate-limited), once.
			if p.s.refreshPacks(p.ctx, false) != nil {
				break
			}
		}
		f, slots, unknown = p.lookup(start)
		if f != nil {
			break
		}
	}
	if f == nil {
		p.next = start + 1 // read alone
		return
	}
	for k, sl := range slots {
		p.byRef[start+k] = sl
	}
	p.next = start + len(slots)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer close(f.done)
		f.buf, f.info, f.err = p.s.packs.cl.GetPackRange(p.ctx, f.pack, f.off, f.end-f.off, nil)
	}()
}

// lookup returns the range of the packed refs from start on, if any;
// unknown reports that start's chunk is not in the index.
func (p *rangePlan) lookup(start int) (f *rangeFetch, slots []rangeSlot, unknown bool) {
	_ = p.s.db.View(func(txn *badger.Txn) error {
		for i := start; i < p.last && len(slots) < maxRangeRefs; i++ {
			ref := p.refs[i]
			if ref.ID == p.s.zeroMin && int(ref.Size) == p.s.cfg.MinSize {
				break // needs no request (clusterGet)
			}
			item, err := txn.Get(chunkKey(ref.ID))
			if errors.Is(err, badger.ErrKeyNotFound) && i == start {
				unknown = true
			}
			if err != nil || item.ValueSize() != packValueLen {
				break
			}
			var loc packLoc
			var ok bool
			if err := item.Value(func(v []byte) error { loc, ok = packLocOf(v); return nil }); err != nil || !ok {
				break
			}
			if f == nil {
				f = &rangeFetch{pack: loc.pack, off: loc.off, end: loc.off, done: make(chan struct{})}
			} else if loc.pack != f.pack || loc.off != f.end || f.end+loc.len-f.off > maxRangeBytes {
				break
			}
			f.end = loc.off + loc.len
			slots = append(slots, rangeSlot{f: f, loc: loc})
		}
		return nil
	})
	return f, slots, unknown
}

// rangeGet is getInto for a chunk planned in a range: its stored form
// from the range, verified; on any failure the single-chunk path.
func (s *Store) rangeGet(ctx context.Context, dst []byte, ref recipe.Ref, sl rangeSlot) ([]byte, error) {
	select {
	case <-sl.f.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if sl.f.err == nil {
		val := sl.f.buf[sl.loc.off-sl.f.off : sl.loc.off-sl.f.off+sl.loc.len]
		if len(val) > 1 {
			plain, err := s.codec.verify(ref.ID, dst, Codec(val[0]), val[1:], int(ref.Size))
			if err == nil {
				if sl.f.info.Fossil {
					s.notReliable(ref.ID, sl.f.pack)
				}
				return plain, nil
			}
		}
	} else if errors.Is(sl.f.err, context.Canceled) && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return s.getInto(ctx, dst, ref.ID, int(ref.Size))
}
