package chunkstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"go.uber.org/zap"
)

// ErrGrace is returned (wrapped) by GC for a grace period shorter than
// 2×Config.TouchAfter, which would not protect writes in progress.
var ErrGrace = errors.New("chunkstore: grace period too short")

// sweepBatch is the number of deletions per GC transaction.
const sweepBatch = 256

// Roots returns the IDs of the recipes that committed records name (the
// live objects' recipes): the roots GC marks from. GC calls it once, after
// it started protecting pins (see GC), so it must read the records as of
// the call, not return a list taken earlier.
type Roots func(ctx context.Context) ([]recipe.ID, error)

// GC removes the recipes that are not roots and the chunks that no kept
// recipe references, if they are older than grace and not pinned, then
// runs Badger's value-log GC until it has nothing to rewrite. One GC runs
// at a time per store.
//
// Steps, in this order:
//
//  1. cutoff = now − grace.
//  2. Under the pin lock: GC becomes active and every ID pinned now is
//     copied into the protected sets; until GC ends, every ID pinned
//     (even if released at once) is added to them too.
//  3. live = roots(ctx): the records as of now, after step 2.
//  4. Scan the recipes: a recipe is doomed if it is not live and its stamp
//     is older than cutoff; the chunks of every other recipe are marked.
//  5. Delete the doomed recipes, under the pin lock, batch by batch: a
//     protected one is kept and its chunks are marked; the others go if
//     their stamp (read in the deleting transaction) is still older than
//     cutoff.
//  6. Sweep the chunks, under the pin lock, batch by batch: delete those
//     unmarked, unprotected and with a stamp older than cutoff.
//  7. GC ends (protection dropped); value-log GC.
//
// Why nothing acknowledged is swept. An object is acknowledged once the
// record naming its recipe R is committed; before that, the writer (the
// object service's PUT through WritePinned, replication through
// Pin.Recipe and Pin.Chunks) holds a Pin on R and on every chunk it
// relies on, each taken before the writer looked the ID up, and releases
// it only after the commit. Take one GC and an object whose record is
// committed at some time and not deleted or overwritten before the GC's
// step 3:
//
//   - Record committed before step 3: R is live, so step 5 does not
//     delete it. R is stored (it was stored before its record, and no
//     earlier GC deleted it, by this same argument; this GC deletes
//     nothing before step 5), so step 4's snapshot, taken after step 3,
//     holds R and marks its chunks, and step 6 deletes no marked chunk.
//   - Record committed after step 3: every ID the writer relies on was
//     pinned before its lookup and stays pinned until the commit. If that
//     pin was held at step 2 or taken while the GC is active, the ID is
//     protected to the end of the GC, and steps 5 and 6 delete no
//     protected ID. If it was taken after the GC ended, the lookup came
//     after all of the GC's deletions. A deletion is decided (protection
//     checked) and committed in one critical section of the pin lock, and
//     a pin is taken under the same lock before its lookup, so the two
//     are ordered: either the deletion committed first, and the lookup
//     finds the ID absent and the writer stores it anew, or the pin came
//     first, and the ID is not deleted.
//
// Every acknowledged object is in one of the two cases for every GC, so
// none loses its recipe or a chunk to GC.
//
// This holds at any grace, even zero, and for writes, commits and
// replication pushes of any duration: no clock is involved. The stamps
// and the grace period (at least 2×Config.TouchAfter, else ErrGrace) are a
// second line of defence, for writers that use Write without a pin
// (benchmarks, tools), and the reason an abandoned upload's chunks are
// kept for a while.
//
// Deleted objects and overwritten versions are collected by the first GC
// that starts after the grace period, once no writer pins their recipe. A
// live ID whose recipe is absent is logged and skipped (Fsck reports it).
// GC's memory is about 50 bytes per marked chunk plus 40 per ID pinned
// during the run. Errors: ErrGrace (wrapped), roots' error, ctx's error,
// Badger's.
func (s *Store) GC(ctx context.Context, roots Roots, grace time.Duration) (GCStats, error) {
	var st GCStats
	s.maint.Lock()
	defer s.maint.Unlock()
	if grace < 2*s.cfg.TouchAfter {
		return st, fmt.Errorf("%w: %v < 2×TouchAfter (%v)", ErrGrace, grace, s.cfg.TouchAfter)
	}
	cutoff := s.now().Add(-grace).Unix()
	s.pins.begin()
	defer s.pins.end()
	live, err := roots(ctx)
	if err != nil {
		return st, fmt.Errorf("chunkstore: gc: roots: %w", err)
	}
	liveSet := make(map[recipe.ID]struct{}, len(live))
	for _, id := range live {
		liveSet[id] = struct{}{}
	}
	marked := make(map[recipe.ChunkID]struct{})
	found := make(map[recipe.ID]struct{}, len(live))

	// Recipes: mark the kept, sweep the rest.
	var doomed []recipe.ID
	err = s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixRecipe}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			item := it.Item()
			var id recipe.ID
			copy(id[:], item.Key()[1:])
			_, isLive := liveSet[id]
			err := item.Value(func(v []byte) error {
				t, enc, err := splitRecipeValue(v)
				if err != nil {
					return err
				}
				if !isLive && t < cutoff {
					doomed = append(doomed, id)
					return nil
				}
				found[id] = struct{}{}
				return markRefs(marked, enc)
			})
			if err != nil {
				// A bad recipe must not make GC sweep its chunks: stop.
				return fmt.Errorf("chunkstore: gc: recipe %s: %w", id, err)
			}
		}
		return nil
	})
	if err != nil {
		return st, err
	}
	for _, id := range live {
		if _, ok := found[id]; !ok {
			s.log.Warn("gc: live recipe is absent", zap.Stringer("recipe", id))
		}
	}
	for len(doomed) > 0 {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		n := min(len(doomed), sweepBatch)
		removed, kept, err := s.deleteRecipes(doomed[:n], cutoff)
		st.RecipesRemoved += removed
		if err != nil {
			return st, err
		}
		// Pinned since the scan: someone relies on it again.
		for _, id := range kept {
			if err := s.markRecipe(ctx, marked, id); err != nil {
				return st, err
			}
		}
		doomed = doomed[n:]
	}

	// Chunks.
	var batch []recipe.ChunkID
	flush := func() error {
		n, b, err := s.sweepChunks(batch, cutoff)
		st.ChunksRemoved += n
		st.BytesRemoved += b
		batch = batch[:0]
		return err
	}
	err = s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixStamp}, PrefetchValues: true, PrefetchSize: 256})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			var id recipe.ChunkID
			copy(id[:], it.Item().Key()[1:])
			if _, ok := marked[id]; ok {
				continue
			}
			old := true
			_ = it.Item().Value(func(v []byte) error {
				t, ok := decodeStamp(v)
				old = !ok || t < cutoff
				return nil
			})
			if !old {
				continue
			}
			if batch = append(batch, id); len(batch) == sweepBatch {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		return flush()
	})
	if err != nil {
		return st, err
	}
	s.pins.end() // nothing is deleted from here on
	if err := s.stampOrphans(ctx); err != nil {
		return st, err
	}

	// Value log. Badger learns which value-log bytes are garbage only when
	// compaction drops the deleted keys, so first push the memtables into
	// the tree and compact it (see compactForGC), then rewrite the value-log
	// files that are mostly garbage until none is left.
	if st.ChunksRemoved > 0 || st.RecipesRemoved > 0 {
		if err := s.compactForGC(); err != nil {
			return st, err
		}
	}
	for {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		err := s.db.RunValueLogGC(0.5)
		if errors.Is(err, badger.ErrNoRewrite) || errors.Is(err, badger.ErrRejected) {
			break
		}
		if err != nil {
			return st, fmt.Errorf("chunkstore: value-log gc: %w", err)
		}
		st.VlogRewrites++
	}
	s.log.Info("gc", zap.Int("recipes", st.RecipesRemoved), zap.Int("chunks", st.ChunksRemoved),
		zap.Int64("bytes", st.BytesRemoved), zap.Int("vlogRewrites", st.VlogRewrites))
	return st, s.sync()
}

// markRefs adds the chunks of the recipe encoding enc to marked.
func markRefs(marked map[recipe.ChunkID]struct{}, enc []byte) error {
	var rec recipe.Recipe
	if err := rec.UnmarshalBinary(enc); err != nil {
		return err
	}
	for _, ref := range rec.Refs {
		marked[ref.ID] = struct{}{}
	}
	return nil
}

// markRecipe adds the chunks of stored recipe id, if any, to marked.
func (s *Store) markRecipe(ctx context.Context, marked map[recipe.ChunkID]struct{}, id recipe.ID) error {
	rec := s.recipeCache.peek(id) // GC walks every live recipe: no caching
	var err error
	if rec == nil {
		rec, err = s.loadRecipe(ctx, id)
	}
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("chunkstore: gc: %w", err)
	}
	for _, ref := range rec.Refs {
		marked[ref.ID] = struct{}{}
	}
	return nil
}

// deleteRecipes deletes, in one transaction committed under the pin lock,
// the recipes of ids that are not protected and whose stamp is still
// older than cutoff (one transaction per recipe if that conflicts). It
// returns how many it deleted and the protected ones it kept.
func (s *Store) deleteRecipes(ids []recipe.ID, cutoff int64) (int, []recipe.ID, error) {
	s.pins.mu.Lock()
	defer s.pins.mu.Unlock()
	var kept, doomed []recipe.ID
	for _, id := range ids {
		if s.pins.recipeProtected(id) {
			kept = append(kept, id)
		} else {
			doomed = append(doomed, id)
		}
	}
	n, err := s.deleteRecipeTxn(doomed, cutoff)
	if !errors.Is(err, badger.ErrConflict) {
		return n, kept, err
	}
	n = 0
	for _, id := range doomed {
		n1, err := s.deleteRecipeTxn([]recipe.ID{id}, cutoff)
		if errors.Is(err, badger.ErrConflict) {
			continue // re-stamped concurrently: keep it
		}
		if err != nil {
			return n, kept, err
		}
		n += n1
	}
	return n, kept, nil
}

func (s *Store) deleteRecipeTxn(ids []recipe.ID, cutoff int64) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	n := 0
	err := s.db.Update(func(txn *badger.Txn) error {
		n = 0
		for _, id := range ids {
			item, err := txn.Get(recipeKey(id))
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			old := false
			_ = item.Value(func(v []byte) error {
				t, _, err := splitRecipeValue(v)
				old = err == nil && t < cutoff
				return nil
			})
			if !old {
				continue
			}
			if err := txn.Delete(recipeKey(id)); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err == nil {
		s.counts.recipes.Add(int64(-n))
	}
	if err != nil && !errors.Is(err, badger.ErrConflict) {
		err = fmt.Errorf("chunkstore: gc: delete recipes: %w", err)
	}
	if err == nil && n > 0 {
		s.recipeCache.forget(ids...) // some of ids (the others are reloaded if read)
	}
	return n, err
}

// sweepChunks deletes the chunks of ids that are not protected and whose
// stamp is still older than cutoff, in one transaction committed under
// the pin lock, or one by one if that conflicts. It returns the number of
// chunks and stored bytes removed.
func (s *Store) sweepChunks(ids []recipe.ChunkID, cutoff int64) (int, int64, error) {
	s.pins.mu.Lock()
	defer s.pins.mu.Unlock()
	ids = slices.DeleteFunc(ids, s.pins.chunkProtected)
	if len(ids) == 0 {
		return 0, 0, nil
	}
	n, b, err := s.sweepTxn(ids, cutoff)
	if !errors.Is(err, badger.ErrConflict) {
		return n, b, err
	}
	n, b = 0, 0
	for _, id := range ids {
		n1, b1, err := s.sweepTxn([]recipe.ChunkID{id}, cutoff)
		if errors.Is(err, badger.ErrConflict) {
			continue // re-stamped by a write: keep it
		}
		if err != nil {
			return n, b, err
		}
		n, b = n+n1, b+b1
	}
	return n, b, nil
}

func (s *Store) sweepTxn(ids []recipe.ChunkID, cutoff int64) (int, int64, error) {
	var n int
	var b int64
	err := s.db.Update(func(txn *badger.Txn) error {
		n, b = 0, 0
		for _, id := range ids {
			item, err := txn.Get(stampKey(id))
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			old := true
			_ = item.Value(func(v []byte) error {
				t, ok := decodeStamp(v)
				old = !ok || t < cutoff
				return nil
			})
			if !old {
				continue
			}
			ci, err := txn.Get(chunkKey(id))
			switch {
			case err == nil:
				b += ci.ValueSize()
				n++
				if err := txn.Delete(chunkKey(id)); err != nil {
					return err
				}
			case !errors.Is(err, badger.ErrKeyNotFound):
				return err
			}
			if err := txn.Delete(stampKey(id)); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		s.counts.chunk(int64(-n), -b)
		s.chunkCache.forget(ids...) // (some of ids were kept: they are read again)
	}
	if err != nil && !errors.Is(err, badger.ErrConflict) {
		err = fmt.Errorf("chunkstore: gc: sweep: %w", err)
	}
	return n, b, err
}

// stampOrphans gives a stamp of now to chunks that have none (left by a
// crash between the two keys of a split WriteBatch): they are kept for one
// more grace period and swept by a later GC if still unreferenced.
func (s *Store) stampOrphans(ctx context.Context) error {
	var orphans []recipe.ChunkID
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixChunk}})
		defer it.Close()
		sk := stampKey(recipe.ChunkID{})
		for it.Rewind(); it.Valid(); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			copy(sk[1:], it.Item().Key()[1:])
			if _, err := txn.Get(sk); errors.Is(err, badger.ErrKeyNotFound) {
				var id recipe.ChunkID
				copy(id[:], sk[1:])
				orphans = append(orphans, id)
			} else if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || len(orphans) == 0 {
		return err
	}
	stamp := encodeStamp(s.now().Unix())
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	for _, id := range orphans {
		if err := wb.Set(stampKey(id), stamp); err != nil {
			return err
		}
	}
	s.log.Info("gc: stamped chunks without a stamp", zap.Int("chunks", len(orphans)))
	return wb.Flush()
}

// prefixFlush is the prefix of a sentinel key that compactForGC writes and
// drops: Badger's DropPrefix is its only public way to flush memtables.
const prefixFlush = 'z'

// compactForGC flushes Badger's memtables and compacts the LSM tree into
// one level, so that compaction sees the deletions of the sweep and records
// the value-log bytes they free (Badger's discard stats), which is what
// RunValueLogGC selects files by. Writes pause during the flush; the
// compaction runs beside them. Cost: one rewrite of the LSM tree (keys,
// stamps and small values: about 100 bytes per chunk), not of the chunks.
func (s *Store) compactForGC() error {
	key := []byte{prefixFlush}
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(key, nil) }); err != nil {
		return fmt.Errorf("chunkstore: gc: %w", err)
	}
	if err := s.db.DropPrefix(key); err != nil {
		return fmt.Errorf("chunkstore: gc: flush memtables: %w", err)
	}
	if err := s.db.Flatten(2); err != nil {
		return fmt.Errorf("chunkstore: gc: compact: %w", err)
	}
	return nil
}
