package chunkstore

// The chunk backend seam. A store keeps its chunk data either inline in
// Badger (backend "badger", Config.Cluster nil: the value of 'c'+ID is the
// stored form) or on the region's object cluster (backend "swift",
// Config.Cluster set: chunk objects and recipes live in the cluster, and
// the value of 'c'+ID is an index entry saying "this chunk is in the
// cluster", with the 't' stamp the time this node last wrote or touched
// it). The layout in the cluster is the implementation's (package
// chunkstore/swiftstore); the rules a store
// follows are here:
//
//   - A write relies on an index entry only while its stamp is younger than
//     Config.TouchAfter; otherwise it asks the cluster (StatChunk) and, if
//     the object's touch time is older than TouchAfter, touches it
//     (TouchChunk). A chunk the cluster lacks is uploaded (PutChunk); a
//     fossil is never relied on.
//   - Every read goes to the cluster (GetChunk falls back to fossils) and
//     is verified against the ID; a chunk absent from both loses its
//     index entry (ErrNotFound), a corrupt one (CorruptChunkError) is
//     marked suspect: the next write of it uploads it again, over the
//     corrupt object, whatever the cluster or the index say.
//   - Has, Missing and StoredSizes ask the cluster (StatChunk, concurrently)
//     for IDs the index lacks, and index what it holds.
//   - Recipes are written to the cluster and to Badger, which caches them;
//     Recipe reads a recipe missing in Badger from the cluster.
//   - On a PackCluster with a positive PackSize, Writes pack their new
//     chunks into pack objects instead (packs.go has the rules at pack
//     granularity; packread.go coalesces reads); Put, PutStored and
//     Receive still write one object per chunk.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
)

// Cluster is an object cluster holding a region's chunks and recipes (the
// "swift" backend: package chunkstore/swiftstore over Swift or Ceph RGW).
// Chunk values are stored forms: a codec byte, then the encoded data, as
// Badger holds them in the "badger" backend. Implementations are safe for
// concurrent use and bound their own concurrency. Absent objects are
// reported with an error wrapping ErrNotFound.
type Cluster interface {
	// PutChunk stores val as chunk id's object (overwriting: the same ID
	// is the same bytes, so racing writers are harmless).
	PutChunk(ctx context.Context, id recipe.ChunkID, val []byte) error
	// GetChunk returns chunk id's object from the chunk container, or if
	// it is absent there from the fossil container (info.Fossil), appended
	// to dst[:0]. It does not verify the bytes.
	GetChunk(ctx context.Context, id recipe.ChunkID, dst []byte) ([]byte, ObjectInfo, error)
	// StatChunk describes chunk id's object in the chunk container only
	// (never a fossil).
	StatChunk(ctx context.Context, id recipe.ChunkID) (ObjectInfo, error)
	// TouchChunk sets chunk id's touch time to now (Swift: POST of
	// X-Object-Meta-Nitro-Touched).
	TouchChunk(ctx context.Context, id recipe.ChunkID, now time.Time) error
	// PutRecipe stores the encoding enc of recipe id.
	PutRecipe(ctx context.Context, id recipe.ID, enc []byte) error
	// GetRecipe returns the encoding of recipe id, unverified.
	GetRecipe(ctx context.Context, id recipe.ID) ([]byte, error)
}

// ObjectInfo describes an object in the cluster.
type ObjectInfo struct {
	// Size is the object's length in bytes (for a chunk: its stored form,
	// codec byte included).
	Size int64
	// Touched is the object's touch time: the later of its Last-Modified
	// and its X-Object-Meta-Nitro-Touched, to the second.
	Touched time.Time
	// Fossil reports that GetChunk found the chunk in the fossil
	// container only.
	Fossil bool
}

// DefaultClusterConcurrency is Config.ClusterConcurrency's default.
const DefaultClusterConcurrency = 32

// An index entry: the value of 'c'+ID for a chunk in the cluster is
// clusterMarker then the length of its stored form (codec byte included)
// as a big-endian uint32. Inline values start with a Codec (0 or 1), so
// the two never mix up, and a store may hold both (a data dir moved from
// the badger to the swift backend keeps serving its inline chunks).
const (
	clusterMarker   = 0xC1
	clusterValueLen = 5
)

// clusterValue returns the index entry of a chunk whose stored form is n
// bytes long.
func clusterValue(n int) []byte {
	v := make([]byte, clusterValueLen)
	v[0] = clusterMarker
	binary.BigEndian.PutUint32(v[1:], uint32(n))
	return v
}

// clusterSize returns the stored length recorded in an index entry; ok is
// false for an inline value.
func clusterSize(val []byte) (int64, bool) {
	if loc, ok := packLocOf(val); ok {
		return loc.len, true
	}
	if len(val) != clusterValueLen || val[0] != clusterMarker {
		return 0, false
	}
	return int64(binary.BigEndian.Uint32(val[1:])), true
}

// valueStoredLen is the stored length a 'c' value stands for: its own
// length inline, the recorded one for an index entry.
func valueStoredLen(val []byte) int64 {
	if n, ok := clusterSize(val); ok {
		return n
	}
	return int64(len(val))
}

// itemStoredLen is valueStoredLen of a Badger item, reading the value only
// when it may be an index entry (they live in the LSM tree).
func itemStoredLen(item *badger.Item) int64 {
	if !isIndexLen(item.ValueSize()) {
		return storedValueSize(item)
	}
	n := item.ValueSize()
	_ = item.Value(func(v []byte) error { n = valueStoredLen(v); return nil })
	return n
}

// writeWorkers is the number of goroutines of a Write's pipeline: one per
// CPU for Badger; with a cluster, enough to keep a window of uploads and
// lookups in flight (CPU work still takes a Workers token).
func (s *Store) writeWorkers() int {
	if s.cluster == nil {
		return s.cfg.Workers
	}
	return max(s.cfg.Workers, min(s.cfg.Window, s.cfg.ClusterConcurrency))
}

// zeroChunkID returns the ID of n zero bytes.
func zeroChunkID(n int) recipe.ChunkID { return recipe.Sum(make([]byte, n)) }

// suspects are chunk IDs whose cluster object failed verification (or
// that were dropped): a write uploads them again instead of relying on the
// cluster's copy.
type suspects struct {
	mu  sync.Mutex
	ids map[recipe.ChunkID]struct{}
}

func (x *suspects) add(id recipe.ChunkID) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.ids == nil {
		x.ids = make(map[recipe.ChunkID]struct{})
	}
	x.ids[id] = struct{}{}
}

func (x *suspects) has(id recipe.ChunkID) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	_, ok := x.ids[id]
	return ok
}

func (x *suspects) remove(id recipe.ChunkID) {
	x.mu.Lock()
	defer x.mu.Unlock()
	delete(x.ids, id)
}

// upload puts the stored form val of chunk id into the cluster and returns
// the index entry to store in its place.
func (s *Store) upload(ctx context.Context, id recipe.ChunkID, val []byte) ([]byte, error) {
	if err := s.cluster.PutChunk(ctx, id, val); err != nil {
		return nil, fmt.Errorf("chunkstore: upload chunk %s: %w", id.Short(), err)
	}
	s.suspect.remove(id)
	return clusterValue(len(val)), nil
}

// clusterPresent is present for a store on a cluster: the index entry if
// it is fresh, else the cluster's object (touched if older than
// TouchAfter, then indexed). A suspect chunk is never present.
func (s *Store) clusterPresent(ctx context.Context, id recipe.ChunkID) (bool, error) {
	if s.suspect.has(id) {
		return false, nil
	}
	found, fresh, err := s.lookupNow(id)
	if err != nil {
		return false, err
	}
	if found && fresh {
		return true, nil
	}
	if s.packs != nil {
		var val []byte
		if found {
			if val, err = s.indexValue(id); err != nil {
				return false, err
			}
		}
		present, err := s.packedPresent(ctx, id, val)
		if !errors.Is(err, errNotPacked) {
			return present, err
		}
		// A per-chunk object's entry: cluster.go's rules.
	}
	info, err := s.cluster.StatChunk(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("chunkstore: lookup %s in the cluster: %w", id.Short(), err)
	}
	now := s.now()
	touched := info.Touched
	if now.Sub(touched) >= s.cfg.TouchAfter {
		if err := s.cluster.TouchChunk(ctx, id, now); err != nil {
			if errors.Is(err, ErrNotFound) { // swept meanwhile: upload it
				return false, nil
			}
			return false, fmt.Errorf("chunkstore: touch %s in the cluster: %w", id.Short(), err)
		}
		touched = now
	}
	return true, s.index(id, info.Size, touched)
}

// index records that chunk id is in the cluster with a stored form of
// size bytes, stamped touched. The index is a cache: it is not synced.
func (s *Store) index(id recipe.ChunkID, size int64, touched time.Time) error {
	val, stamp := clusterValue(int(size)), encodeStamp(touched.Unix())
	added := false
	err := s.update(func(txn *badger.Txn) error {
		_, had, err := chunkValueSize(txn, chunkKey(id))
		if err != nil {
			return err
		}
		added = !had
		if err := txn.Set(chunkKey(id), val); err != nil {
			return err
		}
		return txn.Set(stampKey(id), stamp)
	})
	if errors.Is(err, badger.ErrConflict) {
		return nil // another goroutine indexed it at the same time
	}
	if err != nil {
		return fmt.Errorf("chunkstore: index chunk %s: %w", id.Short(), err)
	}
	if added {
		s.counts.chunk(1, size)
		s.stored(id)
	}
	return nil
}

// unindex drops chunk id's index entry, if it is one (never an inline
// chunk).
func (s *Store) unindex(id recipe.ChunkID) {
	var size int64
	removed := false
	err := s.update(func(txn *badger.Txn) error {
		removed = false
		item, err := txn.Get(chunkKey(id))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if !isIndexLen(item.ValueSize()) {
			return nil
		}
		var ok bool
		if err := item.Value(func(v []byte) error { size, ok = clusterSize(v); return nil }); err != nil || !ok {
			return err
		}
		removed = true
		if err := txn.Delete(chunkKey(id)); err != nil {
			return err
		}
		return txn.Delete(stampKey(id))
	})
	if err == nil && removed {
		s.counts.chunk(-1, -size)
	}
}

// clusterGet reads chunk id from the cluster, verifies it and returns its
// plain bytes decoded into dst's capacity (plain) or, with stored, its
// stored form (a fresh slice). indexed says whether the index has it.
func (s *Store) clusterGet(ctx context.Context, dst []byte, id recipe.ChunkID, size int, indexed, stored bool) ([]byte, error) {
	if s.cluster == nil {
		return nil, &CorruptChunkError{ID: id, Err: fmt.Errorf("%w: chunk is on a cluster, and the store has none configured", ErrCodec)}
	}
	if !stored && id == s.zeroMin && (size == 0 || size == s.cfg.MinSize) {
		// The zero chunk of MinSize bytes (the holes of a raw disk image,
		// tens of thousands of refs per GiB): its ID fixes its bytes, so
		// it needs no request.
		return append(dst[:0], make([]byte, s.cfg.MinSize)...), nil
	}
	val, info, packed, err := s.clusterFetch(ctx, id, indexed)
	if errors.Is(err, ErrNotFound) {
		if indexed {
			s.unindex(id)
		}
		return nil, fmt.Errorf("%w: chunk %s (not in the cluster)", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("chunkstore: chunk %s from the cluster: %w", id.Short(), err)
	}
	if len(val) < 1 {
		s.suspect.add(id)
		return nil, &CorruptChunkError{ID: id, Err: fmt.Errorf("%w: empty object", ErrCodec)}
	}
	plain, err := s.codec.verify(id, dst, Codec(val[0]), val[1:], size)
	if err != nil {
		s.suspect.add(id)
		return nil, err
	}
	switch {
	case packed:
		// Indexed when the view learned it; a fossil's entry stays (the
		// view would not find it again) but is no longer relied on.
	case info.Fossil && indexed:
		s.unindex(id) // not in the chunk container: no write may rely on it
	case !info.Fossil && !indexed:
		_ = s.index(id, int64(len(val)), info.Touched) // a cache: best effort
	}
	if stored {
		return val, nil
	}
	return plain, nil
}

// clusterFetch returns chunk id's stored form, unverified: from its pack
// if the index (or, with packs, the refreshed view) places it in one,
// else from its per-chunk object (or fossil). packed says it came from a
// pack.
func (s *Store) clusterFetch(ctx context.Context, id recipe.ChunkID, indexed bool) (val []byte, info ObjectInfo, packed bool, err error) {
	if s.packs != nil {
		v, err := s.indexValue(id)
		if err != nil {
			return nil, info, false, err
		}
		if v == nil {
			if err := s.refreshPacks(ctx, false); err != nil {
				s.log.Debug("refreshing the pack view", zap.Error(err))
			}
			if v, err = s.indexValue(id); err != nil {
				return nil, info, false, err
			}
		}
		if loc, ok := packLocOf(v); ok {
			val, info, err = s.packedGet(ctx, id, loc)
			if !errors.Is(err, ErrNotFound) {
				return val, info, true, err
			}
			// Pack gone from both containers: try a per-chunk object.
			s.unindex(id)
		}
	}
	val, info, err = s.cluster.GetChunk(ctx, id, nil)
	if s.packs != nil && errors.Is(err, ErrNotFound) {
		// Last resort: a pack the region GC moved to its fossils.
		if ferr := s.learnFossilPacks(ctx); ferr != nil {
			s.log.Debug("learning fossil packs", zap.Error(ferr))
		}
		if v, verr := s.indexValue(id); verr == nil {
			if loc, ok := packLocOf(v); ok {
				pv, pinfo, perr := s.packedGet(ctx, id, loc)
				if perr == nil {
					return pv, pinfo, true, nil
				}
				s.unindex(id)
			}
		}
	}
	return val, info, false, err
}

// clusterStat fills out[i] for the ids whose out[i] is negative with the
// stored length of their object in the cluster's chunk container (still
// -1 if absent), asking the cluster concurrently (at most
// ClusterConcurrency requests) and indexing what it holds. Suspect chunks
// stay absent.
func (s *Store) clusterStat(ctx context.Context, ids []recipe.ChunkID, out []int64) error {
	todo := make(map[recipe.ChunkID][]int)
	var order []recipe.ChunkID
	for i, id := range ids {
		if out[i] >= 0 || s.suspect.has(id) {
			continue
		}
		if _, ok := todo[id]; !ok {
			order = append(order, id)
		}
		todo[id] = append(todo[id], i)
	}
	if len(order) == 0 {
		return nil
	}
	if s.packs != nil {
		// The view first: chunks in packs need no request each.
		if err := s.refreshPacks(ctx, false); err != nil {
			s.log.Debug("refreshing the pack view", zap.Error(err))
		}
		rest := order[:0:0]
		for _, id := range order {
			v, err := s.indexValue(id)
			if err != nil {
				return err
			}
			if loc, ok := packLocOf(v); ok {
				for _, i := range todo[id] {
					out[i] = loc.len
				}
				continue
			}
			rest = append(rest, id)
		}
		if order = rest; len(order) == 0 {
			return nil
		}
	}
	sizes := make([]int64, len(order))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.cfg.ClusterConcurrency)
	for k, id := range order {
		sizes[k] = -1
		g.Go(func() error {
			info, err := s.cluster.StatChunk(gctx, id)
			if errors.Is(err, ErrNotFound) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("chunkstore: lookup %s in the cluster: %w", id.Short(), err)
			}
			sizes[k] = info.Size
			return s.index(id, info.Size, info.Touched)
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for k, id := range order {
		for _, i := range todo[id] {
			out[i] = sizes[k]
		}
	}
	return nil
}

// clusterRecipe reads recipe id from the cluster, checks that it hashes to
// id, and caches it in Badger. Errors: ErrNotFound (wrapped), the
// cluster's, recipe.ErrMalformed (wrapped).
func (s *Store) clusterRecipe(ctx context.Context, id recipe.ID) (*recipe.Recipe, error) {
	enc, err := s.cluster.GetRecipe(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: recipe %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("chunkstore: recipe %s from the cluster: %w", id, err)
	}
	if recipe.ID(recipe.Sum(enc)) != id {
		return nil, fmt.Errorf("chunkstore: recipe %s from the cluster: %w: does not hash to its ID", id, recipe.ErrMalformed)
	}
	rec := new(recipe.Recipe)
	if err := rec.UnmarshalBinary(enc); err != nil {
		return nil, fmt.Errorf("chunkstore: recipe %s from the cluster: %w", id, err)
	}
	if err := s.putRecipe(ctx, id, enc); err != nil {
		s.log.Debug("caching a recipe from the cluster failed")
	}
	return rec, nil
}
