package chunkstore

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

// Has reports for each id whether the chunk is stored: len(result) ==
// len(ids). It reads one Badger snapshot and no values. On a cluster
// (Config.Cluster) it asks the cluster about the IDs its index lacks
// (concurrently, see Config.ClusterConcurrency) and indexes what it holds.
func (s *Store) Has(ctx context.Context, ids []recipe.ChunkID) ([]bool, error) {
	out := make([]bool, len(ids))
	var sizes []int64
	if s.cluster != nil {
		sizes = make([]int64, len(ids))
	}
	err := s.eachChunkItem(ctx, ids, "has", func(i int, item *badger.Item) {
		out[i] = item != nil
		if sizes != nil && item == nil {
			sizes[i] = -1
		}
	})
	if err != nil {
		return nil, err
	}
	if sizes != nil {
		if err := s.clusterStat(ctx, ids, sizes); err != nil {
			return nil, err
		}
		for i, n := range sizes {
			out[i] = out[i] || n >= 0
		}
	}
	return out, nil
}

// eachChunkItem calls fn(i, item) for each of ids in one read-only
// transaction, with item nil for a chunk not stored; item is valid only
// during the call. It reads keys and value pointers, never the value log.
// what names the operation in errors.
func (s *Store) eachChunkItem(ctx context.Context, ids []recipe.ChunkID, what string, fn func(i int, item *badger.Item)) error {
	return s.db.View(func(txn *badger.Txn) error {
		key := make([]byte, 1+len(recipe.ChunkID{}))
		key[0] = prefixChunk
		for i, id := range ids {
			if i%1024 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			copy(key[1:], id[:])
			item, err := txn.Get(key)
			switch {
			case err == nil:
				fn(i, item)
			case errors.Is(err, badger.ErrKeyNotFound):
				fn(i, nil)
			default:
				return fmt.Errorf("chunkstore: %s %s: %w", what, id.Short(), err)
			}
		}
		return nil
	})
}

// Missing returns the ids not stored, in input order, without duplicates.
func (s *Store) Missing(ctx context.Context, ids []recipe.ChunkID) ([]recipe.ChunkID, error) {
	have, err := s.Has(ctx, ids)
	if err != nil {
		return nil, err
	}
	var out []recipe.ChunkID
	seen := make(map[recipe.ChunkID]struct{})
	for i, id := range ids {
		if have[i] {
			continue
		}
		if _, ok := seen[id]; ok {
			continue
		}
		seen[id] = struct{}{}
		out = append(out, id)
	}
	return out, nil
}

// Chunk implements ChunkSource: the plain, verified bytes of ref. Errors:
// ErrNotFound (wrapped), *CorruptChunkError (also when the plain size is
// not ref.Size).
func (s *Store) Chunk(ctx context.Context, ref recipe.Ref) ([]byte, error) {
	return s.get(ctx, ref.ID, int(ref.Size))
}

// Get returns the plain, verified bytes of chunk id; the caller owns them.
// Errors: ErrNotFound (wrapped), *CorruptChunkError.
func (s *Store) Get(ctx context.Context, id recipe.ChunkID) ([]byte, error) {
	return s.get(ctx, id, 0)
}

// get reads, decodes (inside the transaction: Badger's slice never leaves
// it) and verifies chunk id; size > 0 is the expected plain size.
func (s *Store) get(ctx context.Context, id recipe.ChunkID, size int) ([]byte, error) {
	return s.getInto(ctx, nil, id, size)
}

// getInto is get decoding into dst's capacity when it suffices.
func (s *Store) getInto(ctx context.Context, dst []byte, id recipe.ChunkID, size int) ([]byte, error) {
	plain, remote, err := s.getLocalInto(ctx, dst, id, size)
	if remote || (s.cluster != nil && errors.Is(err, badger.ErrKeyNotFound)) {
		return s.clusterGet(ctx, dst, id, size, remote, false)
	}
	if err != nil {
		return nil, chunkErr(id, err)
	}
	return plain, nil
}

// getLocalInto is getInto from Badger only: remote is true (and plain nil)
// for a chunk whose bytes are in the cluster; err is Badger's or the
// codec's error, not yet wrapped by chunkErr.
func (s *Store) getLocalInto(ctx context.Context, dst []byte, id recipe.ChunkID, size int) (plain []byte, remote bool, err error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	err = s.db.View(func(txn *badger.Txn) error {
		plain, remote, err = s.getTxnInto(txn, dst, chunkKey(id), id, size)
		return err
	})
	return plain, remote, err
}

// getTxnInto is getLocalInto in the read transaction txn, key being
// chunkKey(id).
func (s *Store) getTxnInto(txn *badger.Txn, dst, key []byte, id recipe.ChunkID, size int) (plain []byte, remote bool, err error) {
	item, err := txn.Get(key)
	if err != nil {
		return nil, false, err
	}
	err = item.Value(func(val []byte) error {
		if len(val) < 1 {
			return &CorruptChunkError{ID: id, Err: fmt.Errorf("%w: empty value", ErrCodec)}
		}
		if _, remote = clusterSize(val); remote {
			return nil
		}
		plain, err = s.codec.verify(id, dst, Codec(val[0]), val[1:], size)
		return err
	})
	return plain, remote, err
}

func chunkErr(id recipe.ChunkID, err error) error {
	if errors.Is(err, badger.ErrKeyNotFound) {
		return fmt.Errorf("%w: chunk %s", ErrNotFound, id)
	}
	var ce *CorruptChunkError
	if errors.As(err, &ce) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("chunkstore: chunk %s: %w", id.Short(), err)
}

// GetStored returns chunk id in its stored form, verified (decoded and
// hashed) before return; the caller owns Data. Errors as Get.
func (s *Store) GetStored(ctx context.Context, id recipe.ChunkID) (Stored, error) {
	if err := ctx.Err(); err != nil {
		return Stored{}, err
	}
	var st Stored
	remote := false
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(chunkKey(id))
		if err != nil {
			return err
		}
		return item.Value(func(val []byte) error {
			if len(val) < 1 {
				return &CorruptChunkError{ID: id, Err: fmt.Errorf("%w: empty value", ErrCodec)}
			}
			if _, remote = clusterSize(val); remote {
				return nil
			}
			// Verified where it lies (raw) or decoded into a pooled
			// buffer (zstd): only the stored form is kept.
			if err := s.verifyStored(id, Stored{Codec: Codec(val[0]), Data: val[1:]}); err != nil {
				return err
			}
			st = Stored{Codec: Codec(val[0]), Data: append([]byte(nil), val[1:]...)}
			return nil
		})
	})
	if remote || (s.cluster != nil && errors.Is(err, badger.ErrKeyNotFound)) {
		val, err := s.clusterGet(ctx, nil, id, 0, remote, true)
		if err != nil {
			return Stored{}, err
		}
		return Stored{Codec: Codec(val[0]), Data: val[1:]}, nil
	}
	if err != nil {
		return Stored{}, chunkErr(id, err)
	}
	return st, nil
}

// Put stores plain chunk bytes (1 <= len <= recipe.MaxChunkSize) and
// returns the chunk ID; a present chunk writes nothing but may be
// re-stamped (see doc.go). Durable on return unless Config.NoSync.
func (s *Store) Put(ctx context.Context, plain []byte) (recipe.ChunkID, error) {
	if len(plain) == 0 || len(plain) > recipe.MaxChunkSize {
		return recipe.ChunkID{}, fmt.Errorf("chunkstore: put: chunk of %d bytes", len(plain))
	}
	id := recipe.Sum(plain)
	present, err := s.present(ctx, nil, id)
	if err != nil || present {
		return id, err
	}
	val := s.codec.encodeValue(plain)
	if s.cluster != nil {
		if val, err = s.upload(ctx, id, val); err != nil {
			return id, err
		}
	}
	if err := s.putValue(id, val); err != nil {
		return id, err
	}
	return id, s.sync()
}

// PutStored verifies that st decodes to bytes hashing to id (else a
// *CorruptChunkError) and stores it as-is; a present chunk writes nothing
// but may be re-stamped. Durable on return unless Config.NoSync. It does
// not retain st.Data.
//
// Concurrent calls share their Badger transaction and their fsync (see
// putGroup), so the receive path costs about one commit and one sync per
// group of arrivals, not per chunk; a raw chunk is hashed where it lies,
// a compressed one decoded into a pooled buffer.
func (s *Store) PutStored(ctx context.Context, id recipe.ChunkID, st Stored) error {
	return s.putStored(ctx, id, st, true)
}

// Receive is PutStored for chunks fetched from a peer to serve a read:
// the chunk is committed, so readable, when it returns, but Receive does
// not wait for the fsync. The store syncs received chunks in the
// background, at most receiveSyncDelay or receiveSyncBytes after they
// were committed, and on Close. Nothing is acknowledged to anyone on the
// strength of a received chunk (a crash before the sync merely loses a
// copy that its holders still have; a value lost with its key still in
// the tree fails verification on read and is fetched again), and an fsync
// per arrival group would cost more CPU than all the rest of the receive
// path (BenchmarkReceive). Errors as PutStored's.
func (s *Store) Receive(ctx context.Context, id recipe.ChunkID, st Stored) error {
	return s.putStored(ctx, id, st, false)
}

// Sync makes every chunk committed so far durable, those of Receive
// included: one DB.Sync, shared with concurrent callers (see sync); a
// no-op under Config.NoSync. A caller that records that this store holds
// chunks it may have received (a region's holding of a recipe) calls it
// before writing the record, so that a crash cannot leave the record
// without the chunks. Errors: the sync's, wrapped.
func (s *Store) Sync(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.sync()
}

// putStored is PutStored, waiting for the fsync if durable, else
// scheduling one (see Receive).
func (s *Store) putStored(ctx context.Context, id recipe.ChunkID, st Stored, durable bool) error {
	if err := s.verifyStored(id, st); err != nil {
		return err
	}
	present, err := s.present(ctx, nil, id)
	if err != nil || present {
		return err
	}
	vb := s.vals.Get().(*[]byte)
	val := append((*vb)[:0], byte(st.Codec))
	*vb = append(val, st.Data...)
	if s.cluster != nil {
		iv, err := s.upload(ctx, id, *vb)
		if err != nil {
			s.vals.Put(vb)
			return err
		}
		*vb = append((*vb)[:0], iv...)
	}
	if err := s.space.Charge(spaceCost(len(*vb))); err != nil {
		s.vals.Put(vb)
		return fmt.Errorf("chunkstore: put chunk %s: %w", id.Short(), err)
	}
	return s.puts.put(s, &putReq{id: id, val: vb, durable: durable})
}

// verifyStored checks that st decodes to a non-empty chunk hashing to id,
// without keeping the plain bytes: raw data is hashed in place, zstd
// decoded into a pooled buffer. Errors: *CorruptChunkError.
func (s *Store) verifyStored(id recipe.ChunkID, st Stored) error {
	if st.Codec == CodecRaw {
		if len(st.Data) == 0 || len(st.Data) > recipe.MaxChunkSize {
			return &CorruptChunkError{ID: id, Err: fmt.Errorf("%w: raw chunk of %d bytes", ErrCodec, len(st.Data))}
		}
		if got := recipe.ChunkID(sha256.Sum256(st.Data)); got != id {
			return &CorruptChunkError{ID: id, Got: got}
		}
		return nil
	}
	buf := s.plainBuf()
	plain, err := s.codec.verify(id, buf, st.Codec, st.Data, 0)
	if cap(plain) > cap(buf) && cap(plain) <= 2*s.cfg.MaxSize {
		buf = plain[:0] // grown: keep the bigger buffer, not an outsized one
	}
	s.plain.Put(&buf)
	if err != nil {
		return err
	}
	if len(plain) == 0 {
		return &CorruptChunkError{ID: id, Err: fmt.Errorf("%w: empty chunk", ErrCodec)}
	}
	return nil
}

// putGroup commits the values of concurrent PutStored calls together:
// a caller queues its value; if no commit is running it leads: it takes
// the whole queue, writes it in as few transactions as batchBytes allows,
// syncs once, and hands the lead to the first caller queued meanwhile (so
// no caller commits for others for longer than one group). Followers wait
// for their group's result. A chunk queued twice in one group (two
// streams delivering the same chunk) is written once.
type putGroup struct {
	mu      sync.Mutex
	queue   []*putReq
	leading bool
}

// putReq is one PutStored's value waiting for its group's commit.
type putReq struct {
	id  recipe.ChunkID
	val *[]byte // from Store.vals; returned to it after the commit
	// durable: the caller waits for the fsync (PutStored), else the
	// group schedules one (Receive).
	durable bool
	lead    bool // set before wake: the receiver leads the next group
	err     error
	wake    chan struct{}
}

// put queues r and returns once its group is committed (and synced).
func (g *putGroup) put(s *Store, r *putReq) error {
	r.wake = make(chan struct{}, 1)
	g.mu.Lock()
	g.queue = append(g.queue, r)
	if g.leading {
		g.mu.Unlock()
		<-r.wake
		if !r.lead {
			return r.err
		}
		g.mu.Lock()
	}
	g.leading = true
	batch := g.queue
	g.queue = nil
	g.mu.Unlock()

	err := s.commitPuts(batch)

	g.mu.Lock()
	if len(g.queue) > 0 {
		next := g.queue[0]
		next.lead = true
		next.wake <- struct{}{}
	} else {
		g.leading = false
	}
	g.mu.Unlock()
	for _, q := range batch {
		if q != r {
			q.err = err
			q.wake <- struct{}{}
		}
	}
	return err
}

// commitPuts writes batch (chunk values and stamps) in transactions of at
// most about batchBytes of values, syncs if a request of batch is durable
// (else schedules a background sync), returns the value buffers to their
// pool, and returns the first error.
func (s *Store) commitPuts(batch []*putReq) error {
	defer func() {
		for _, q := range batch {
			s.vals.Put(q.val)
		}
	}()
	stamp := encodeStamp(s.now().Unix())
	seen := make(map[recipe.ChunkID]struct{}, len(batch))
	var n, bytes int64
	for i := 0; i < len(batch); {
		var part []*putReq
		size := 0
		for ; i < len(batch) && (len(part) == 0 || size+len(*batch[i].val) <= batchBytes); i++ {
			if _, dup := seen[batch[i].id]; dup {
				continue
			}
			seen[batch[i].id] = struct{}{}
			part = append(part, batch[i])
			size += len(*batch[i].val)
		}
		if len(part) == 0 {
			continue
		}
		err := s.update(func(txn *badger.Txn) error {
			for _, q := range part {
				if err := txn.Set(chunkKey(q.id), *q.val); err != nil {
					return err
				}
				if err := txn.Set(stampKey(q.id), stamp); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("chunkstore: put chunk %s: %w", part[0].id.Short(), err)
		}
		for _, q := range part {
			n++
			bytes += valueStoredLen(*q.val)
			s.stored(q.id)
		}
	}
	s.counts.chunk(n, bytes)
	for _, q := range batch {
		if q.durable {
			return s.sync()
		}
	}
	s.lazy.add(s, bytes)
	return nil
}

// Background sync of received chunks (Receive).
const (
	receiveSyncDelay = 200 * time.Millisecond
	receiveSyncBytes = 32 << 20
)

// lazySync schedules the background syncs of Receive: one at most
// receiveSyncDelay after the first unsynced commit, or at once when
// receiveSyncBytes are unsynced. Sync errors are left for the next
// durable sync (DB.Sync reports them again) and Close.
type lazySync struct {
	mu      sync.Mutex
	pending int64
	timer   *time.Timer
	closed  bool
	wg      sync.WaitGroup // syncs running
}

// add records n committed, unsynced bytes.
func (l *lazySync) add(s *Store, n int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.pending += n
	switch {
	case l.pending >= receiveSyncBytes:
		if l.timer != nil {
			l.timer.Stop()
			l.timer = nil
		}
		l.start(s)
	case l.timer == nil:
		l.timer = time.AfterFunc(receiveSyncDelay, func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.timer = nil
			if !l.closed && l.pending > 0 {
				l.start(s)
			}
		})
	}
}

// start runs a sync in the background; l.mu held.
func (l *lazySync) start(s *Store) {
	l.pending = 0
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		s.sync() //nolint:errcheck // best effort: see lazySync
	}()
}

// close stops scheduling and waits for the syncs running; the caller
// closes the DB (which syncs) after.
func (l *lazySync) close() {
	l.mu.Lock()
	l.closed = true
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	l.mu.Unlock()
	l.wg.Wait()
}

// putValue writes a chunk value and its stamp in one transaction.
func (s *Store) putValue(id recipe.ChunkID, val []byte) error {
	if err := s.space.Charge(spaceCost(len(val))); err != nil {
		return fmt.Errorf("chunkstore: put chunk %s: %w", id.Short(), err)
	}
	stamp := encodeStamp(s.now().Unix())
	err := s.update(func(txn *badger.Txn) error {
		if err := txn.Set(chunkKey(id), val); err != nil {
			return err
		}
		return txn.Set(stampKey(id), stamp)
	})
	if err != nil {
		return fmt.Errorf("chunkstore: put chunk %s: %w", id.Short(), err)
	}
	s.counts.chunk(1, valueStoredLen(val))
	s.stored(id)
	return nil
}

// lookupNow is lookup of chunk id at the current time in a read-only
// transaction: whether its index entry exists, and whether its stamp is
// fresh (younger than TouchAfter).
func (s *Store) lookupNow(id recipe.ChunkID) (found, fresh bool, err error) {
	err = s.db.View(func(txn *badger.Txn) error {
		var err error
		found, fresh, err = s.lookup(txn, chunkKey(id), stampKey(id), s.now())
		return err
	})
	if err != nil {
		return false, false, fmt.Errorf("chunkstore: lookup %s: %w", id.Short(), err)
	}
	return found, fresh, nil
}

// present reports whether chunk id is stored and may be relied on by a
// write: if its stamp is older than TouchAfter (or missing), it is
// re-stamped in a transaction that reads the chunk key, so that a
// concurrent GC sweep and this touch cannot both succeed (see doc.go). A
// touch that loses the race retries and then finds the chunk absent.
//
// It first pins id into p (nil: only while a GC runs, see Pin), so a GC
// cannot delete the chunk after this lookup found it.
func (s *Store) present(ctx context.Context, p *Pin, id recipe.ChunkID) (bool, error) {
	s.pins.pinChunk(p, id)
	if s.cluster != nil {
		return s.clusterPresent(ctx, id)
	}
	// Fast path, a read-only transaction: absent, or present and fresh.
	found, fresh, err := s.lookupNow(id)
	if err != nil {
		return false, err
	}
	if !found || fresh {
		return found, nil
	}
	ck, sk := chunkKey(id), stampKey(id)
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		now := s.now()
		txn := s.db.NewTransaction(true)
		found, fresh, err := s.lookup(txn, ck, sk, now)
		if err != nil || !found || fresh {
			txn.Discard()
			if err != nil {
				return false, fmt.Errorf("chunkstore: lookup %s: %w", id.Short(), err)
			}
			return found, nil
		}
		err = txn.Set(sk, encodeStamp(now.Unix()))
		if err == nil {
			err = txn.Commit()
		}
		txn.Discard()
		if err == nil {
			return true, nil
		}
		if blockedRetry(err, attempt) {
			continue
		}
		if !errors.Is(err, badger.ErrConflict) || attempt > 10 {
			return false, fmt.Errorf("chunkstore: stamp %s: %w", id.Short(), err)
		}
	}
}

// lookup reads chunk key ck and stamp key sk in txn: found reports the
// chunk is stored, fresh that its stamp is younger than TouchAfter.
func (s *Store) lookup(txn *badger.Txn, ck, sk []byte, now time.Time) (found, fresh bool, err error) {
	_, err = txn.Get(ck)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, false, nil
	}
	if err != nil {
		return false, false, err
	}
	item, err := txn.Get(sk)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return true, false, nil
	}
	if err != nil {
		return false, false, err
	}
	err = item.Value(func(v []byte) error {
		t, ok := decodeStamp(v)
		fresh = ok && now.Sub(unixTime(t)) < s.cfg.TouchAfter
		return nil
	})
	return true, fresh, err
}
