package chunkstore

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"golang.org/x/sync/errgroup"
)

// wjob is one chunk moving through a Write's pipeline.
type wjob struct {
	buf    *[]byte // pooled buffer (Store.bufs): a codec byte, then data
	data   []byte  // plain bytes, (*buf)[1:]
	id     recipe.ChunkID
	val    []byte  // Badger value to store; nil: already stored or claimed
	vbuf   *[]byte // pooled buffer (Store.vals) holding val; nil: val is (*buf)[:1+len(data)], a raw value
	err    error
	done   chan struct{} // closed by the worker
	hashed chan struct{} // closed by the MD5 goroutine
}

// Write is WritePinned with a pin released when it returns: once Write
// returns, only the stamps protect the recipe from GC (for one grace
// period). A caller that commits a record naming the recipe must use
// WritePinned instead.
func (s *Store) Write(ctx context.Context, r io.Reader) (*recipe.Recipe, recipe.ID, error) {
	p := s.NewPin()
	defer p.Release()
	return s.WritePinned(ctx, r, p)
}

// WritePinned chunks r, stores new chunks and the recipe, and returns the
// recipe and its ID. The returned recipe and everything it names are
// durable when it returns nil (unless Config.NoSync). Nothing is visible
// under a name until the caller commits a record naming the recipe; chunks
// of an abandoned write are swept by GC after the grace period.
//
// GC: every chunk ID is pinned into p before it is looked up, and the
// recipe ID before it is looked up and stored, so nothing the write relies
// on can be swept while p is held (see GC). The caller releases p after
// it committed the record naming the recipe, or gave up. p must not be
// nil.
//
// Pipeline: one goroutine cuts chunks into pooled buffers; Workers
// goroutines hash each chunk, look it up, and compress only chunks that are
// neither stored nor already claimed by this Write; one goroutine computes
// the MD5 of the stream in order, as chunks are cut; the calling goroutine
// consumes chunks in order, appends refs and adds new chunks to batched,
// asynchronously committed transactions (batcher). At most Config.Window chunks are
// in flight, so memory is bounded whatever the size of r; and every chunk
// holds chunkCost bytes of the store's write budget (Config.WriteBudget),
// shared by all Writes, from before it is cut until its transaction
// commits, so memory is bounded whatever the number of Writes. Hashing and
// compression take one of the store's Config.Workers CPU tokens.
//
// Cancelling ctx stops the pipeline, but Write returns only once a Read of
// r in progress returns (an HTTP request body does when its request's
// context ends). Errors: ctx's error, r's error (wrapped), or a store error.
func (s *Store) WritePinned(ctx context.Context, r io.Reader, p *Pin) (*recipe.Recipe, recipe.ID, error) {
	g, gctx := errgroup.WithContext(ctx)
	window := s.cfg.Window
	slots := make(chan struct{}, window)
	order := make(chan *wjob, window)
	work := make(chan *wjob, window)
	hashq := make(chan *wjob, window)
	// Up to the buffers of all the chunks the write budget lets be in
	// flight (the cutter's window, then the batcher's commits).
	keep := int(s.cfg.WriteBudget / s.chunkCost())
	bufs, vals := newRecycler(&s.bufs, keep), newRecycler(&s.vals, keep)
	defer bufs.close()
	defer vals.close()

	// cctx ends when the cutter fails, before it closes order: errgroup
	// cancels gctx only after the cutter has returned, so the committer
	// could otherwise find order closed and gctx alive, and store the
	// recipe of a stream cut short (a stalled client's upload).
	cctx, ccancel := context.WithCancelCause(gctx)
	defer ccancel(nil)

	// Cutter.
	g.Go(func() (err error) {
		defer close(order)
		defer close(work)
		defer close(hashq)
		defer func() {
			if err != nil {
				ccancel(err) // runs first: before the closes above
			}
		}()
		ch := s.cutters.newCutter(r)
		defer ch.release()
		for {
			select {
			case slots <- struct{}{}:
			case <-gctx.Done():
				return gctx.Err()
			}
			if err := s.wbudget.acquire(gctx, s.chunkCost()); err != nil {
				return err
			}
			buf := bufs.get()
			// Cut after a free byte, so that a raw value is the codec
			// byte and the plain bytes where they lie, with no copy.
			c, err := ch.Next((*buf)[1:1])
			if err == io.EOF {
				bufs.Put(buf)
				s.wbudget.release(s.chunkCost())
				return nil
			}
			if err != nil {
				bufs.Put(buf)
				s.wbudget.release(s.chunkCost())
				return fmt.Errorf("chunkstore: write: read: %w", err)
			}
			j := &wjob{buf: buf, data: c, done: make(chan struct{}), hashed: make(chan struct{})}
			work <- j // never blocks: at most window jobs exist
			hashq <- j
			order <- j
		}
	})

	// MD5 of the stream, off the committer so that it overlaps the cutter
	// and the workers.
	sum := md5.New()
	var md5wg sync.WaitGroup
	md5wg.Add(1)
	go func() {
		defer md5wg.Done()
		for j := range hashq {
			if gctx.Err() == nil {
				sum.Write(j.data)
			}
			close(j.hashed)
		}
	}()

	// Workers: hash, look up, compress new chunks.
	var claimMu sync.Mutex
	var claimed idSet
	var wg sync.WaitGroup
	for range s.writeWorkers() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				if gctx.Err() != nil {
					j.err = gctx.Err()
					close(j.done)
					continue
				}
				s.cpu <- struct{}{}
				j.id = s.chunkID(j.data)
				<-s.cpu
				claimMu.Lock()
				dup := claimed.addSeen(j.id)
				claimMu.Unlock()
				if !dup {
					present, err := s.present(gctx, p, j.id)
					switch {
					case err != nil:
						j.err = err
					case !present:
						vb := vals.get()
						s.cpu <- struct{}{}
						v, ok := s.codec.compressValue((*vb)[:0], j.data)
						<-s.cpu
						if ok {
							*vb = v
							j.vbuf, j.val = vb, v
						} else if v := (*j.buf)[:1+len(j.data)]; &v[1] == &j.data[0] {
							// Raw, where it lies (see the cutter).
							vals.Put(vb)
							v[0] = byte(CodecRaw)
							j.val = v
						} else {
							*vb = s.codec.appendValue((*vb)[:0], j.data)
							j.vbuf, j.val = vb, *vb
						}
						if s.cluster != nil && s.packs == nil {
							// The stored form goes to the cluster; the
							// batch commits its index entry (cluster.go).
							j.val, j.err = s.upload(gctx, j.id, j.val)
						}
					}
				}
				close(j.done)
			}
		}()
	}

	// Committer (this goroutine).
	rec, id, err := s.commitWrite(cctx, order, slots, sum, p, bufs, vals)
	if err != nil {
		// Unblock the cutter and the workers, and drain.
		g.Go(func() error { return err })
		for j := range order {
			<-j.done
			<-j.hashed
			bufs.Put(j.buf)
			s.wbudget.release(s.chunkCost())
		}
	}
	gerr := g.Wait()
	wg.Wait()
	md5wg.Wait()
	if gerr != nil {
		err = gerr // the first failure, not the cancellation it caused
	}
	if err != nil {
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, recipe.ID{}, err
	}
	return rec, id, nil
}

// commitWrite consumes the jobs in order; sum is the MD5 of the stream,
// complete once every job's hashed is closed. The recipe is pinned into p.
// Plain and value buffers go back to bufs and vals.
func (s *Store) commitWrite(ctx context.Context, order <-chan *wjob, slots <-chan struct{}, sum hash.Hash, p *Pin, bufs, vals *recycler) (*recipe.Recipe, recipe.ID, error) {
	wb := newBatcher(s.db, !s.cfg.NoSync)
	wb.counts = &s.counts
	wb.budget, wb.cost = s.wbudget, s.chunkCost()
	defer wb.cancel()
	rec := &recipe.Recipe{}
	var stamp []byte
	var pk *packer
	if s.packs != nil {
		// New chunks go to packs, uploaded before the recipe (packs.go).
		pk = s.newPacker(ctx)
		defer pk.abort()
	}
	for {
		// While another Write waits for the budget, commit what this one
		// holds before waiting: budget held in an open transaction would
		// otherwise wait for this Write's next chunk, which may itself
		// wait for the budget (or for a stalled client).
		pressure := s.wbudget.pressured()
		var j *wjob
		var ok bool
		select {
		case j, ok = <-order:
		case <-pressure:
			wb.commit()
			j, ok = <-order
		}
		if !ok {
			break
		}
		select {
		case <-j.done:
		case <-pressure:
			wb.commit()
			select {
			case <-j.done:
			case <-ctx.Done():
			}
		case <-ctx.Done():
		}
		if err := ctx.Err(); err != nil {
			<-j.done // its worker may still read j.data
			<-j.hashed
			bufs.Put(j.buf)
			s.wbudget.release(s.chunkCost())
			return nil, recipe.ID{}, err
		}
		<-j.hashed
		if j.err != nil {
			bufs.Put(j.buf)
			s.wbudget.release(s.chunkCost())
			<-slots
			return nil, recipe.ID{}, j.err
		}
		rec.Refs = append(rec.Refs, recipe.Ref{ID: j.id, Size: uint32(len(j.data))})
		rec.Size += int64(len(j.data))
		<-slots
		// vb holds the value until its transaction commits: the value
		// buffer, or for a raw value the plain buffer itself.
		vb, pool := j.vbuf, vals
		if j.vbuf != nil || j.val == nil {
			bufs.Put(j.buf)
		} else {
			vb, pool = j.buf, bufs
		}
		if j.val == nil {
			s.wbudget.release(s.chunkCost())
			continue
		}
		if pk != nil {
			err := s.space.Charge(spaceCost(packValueLen))
			if err == nil {
				err = pk.add(j.id, j.val) // copies j.val
			}
			pool.Put(vb)
			s.wbudget.release(s.chunkCost())
			if err != nil {
				return nil, recipe.ID{}, fmt.Errorf("chunkstore: write: %w", err)
			}
			continue
		}
		if err := s.space.Charge(spaceCost(len(j.val))); err != nil {
			pool.Put(vb)
			s.wbudget.release(s.chunkCost())
			return nil, recipe.ID{}, fmt.Errorf("chunkstore: write: %w", err)
		}
		if stamp == nil {
			stamp = encodeStamp(s.now().Unix())
		}
		if err := setChunk(wb, j.id, j.val, stamp); err != nil {
			s.wbudget.release(s.chunkCost())
			return nil, recipe.ID{}, err
		}
		// Summarized before the batch commits: the summary over-approximates.
		s.stored(j.id)
		wb.release(vb, pool) // and its budget, once committed
	}
	if err := ctx.Err(); err != nil {
		return nil, recipe.ID{}, err
	}
	if pk != nil {
		// Every pack of this Write in the cluster, and its chunks
		// indexed, before the recipe names them.
		if err := pk.wait(); err != nil {
			return nil, recipe.ID{}, err
		}
	}
	if err := wb.flush(); err != nil {
		return nil, recipe.ID{}, err
	}
	copy(rec.MD5[:], sum.Sum(nil))
	id, err := s.putRecipePinned(ctx, p, rec)
	if err != nil {
		return nil, recipe.ID{}, err
	}
	return rec, id, nil
}

// recycler keeps the buffers of one Write for reuse by that Write. A
// sync.Pool drops its items every other GC, and a fresh 256 KiB buffer
// costs clearing and, on the benchmark VM, page faults: 5 % of the CPU of
// BenchmarkWriteNewRandom went to allocating the pools' buffers. Buffers
// beyond its capacity, and all of them at close, go back to the pool. Safe
// for concurrent use (commits return buffers from Badger's goroutines).
type recycler struct {
	free chan *[]byte
	pool *sync.Pool
}

// newRecycler returns a recycler of pool's buffers keeping up to n.
func newRecycler(pool *sync.Pool, n int) *recycler {
	return &recycler{free: make(chan *[]byte, n), pool: pool}
}

// get returns a kept buffer, else one of the pool.
func (r *recycler) get() *[]byte {
	select {
	case b := <-r.free:
		return b
	default:
		return r.pool.Get().(*[]byte)
	}
}

// Put keeps x (a *[]byte of the pool), or returns it to the pool when full.
func (r *recycler) Put(x any) {
	select {
	case r.free <- x.(*[]byte):
	default:
		r.pool.Put(x)
	}
}

// close returns the kept buffers to the pool; call it once nothing puts.
func (r *recycler) close() {
	for {
		select {
		case b := <-r.free:
			r.pool.Put(b)
		default:
			return
		}
	}
}

// chunkCost is the write budget a chunk in flight holds: its plain buffer
// and its compressed value's, both of their pools' capacity.
func (s *Store) chunkCost() int64 {
	return int64(1+s.cfg.MaxSize) + int64(valueCap(s.cfg.MaxSize))
}

// valueCap is the capacity of the value buffers of s.vals: a marker byte
// and zstd's worst case for maxSize plain bytes.
func valueCap(maxSize int) int { return 1 + maxSize + maxSize/64 + 64 }

func setChunk(wb *batcher, id recipe.ChunkID, val, stamp []byte) error {
	if err := wb.set(chunkKey(id), val); err != nil {
		return fmt.Errorf("chunkstore: write chunk %s: %w", id.Short(), err)
	}
	if err := wb.set(stampKey(id), stamp); err != nil {
		return fmt.Errorf("chunkstore: write chunk %s: %w", id.Short(), err)
	}
	return nil
}

// idSet remembers the chunk IDs a Write has already handled, so that a
// chunk repeated within one stream (zero runs, copies) is looked up and
// compressed once: the first occurrence is stored (or found present)
// before the recipe, whichever occurrence commits first. It keeps two
// generations of at most idSetGen IDs, so memory stays bounded (under
// 1 MiB: it is per concurrent Write, outside the write budget) for any
// stream length; a repeat further back than that (256 MiB of average
// chunks) is merely looked up again.
type idSet struct{ cur, old map[recipe.ChunkID]struct{} }

const idSetGen = 1 << 12

// addSeen adds id and reports whether it was already there.
func (s *idSet) addSeen(id recipe.ChunkID) bool {
	if _, ok := s.cur[id]; ok {
		return true
	}
	if _, ok := s.old[id]; ok {
		return true
	}
	if s.cur == nil || len(s.cur) >= idSetGen {
		s.old, s.cur = s.cur, make(map[recipe.ChunkID]struct{}, 1024)
	}
	s.cur[id] = struct{}{}
	return false
}

// chunkID returns the SHA-256 of data, from a cache for zero chunks: zero
// runs of disk images (most of a sparse raw image) cut into MinSize
// chunks of zeros, and checking for zeros is ~20× cheaper than hashing.
func (s *Store) chunkID(data []byte) recipe.ChunkID {
	if len(data) == 0 || data[0] != 0 || !isZero(data) {
		return recipe.ChunkID(sha256.Sum256(data))
	}
	if z := s.lastZero.Load(); z != nil && z.n == len(data) {
		return z.id
	}
	z := &zeroID{n: len(data), id: recipe.ChunkID(sha256.Sum256(data))}
	s.lastZero.Store(z)
	return z.id
}

// zeroID is the ID of the zero chunk of n bytes.
type zeroID struct {
	n  int
	id recipe.ChunkID
}
