package chunkstore

import (
	"context"
	"errors"
	"fmt"
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

// GC removes recipes not in live and chunks no kept recipe references, that
// are older than grace, then runs Badger's value-log GC until it has
// nothing to rewrite.
//
// Mark: the chunks of every live recipe and of every recipe kept because
// it is younger than grace (an upload whose record is not yet committed).
// Sweep: unmarked chunks whose stamp is older than grace. Deletions run in
// transactions that read the stamp, so a write re-stamping the chunk at the
// same moment makes one of the two fail (see doc.go). A live ID whose
// recipe is absent is logged and skipped (Fsck reports it). GC's memory
// is about 50 bytes per marked chunk.
func (s *Store) GC(ctx context.Context, live []recipe.ID, grace time.Duration) (GCStats, error) {
	var st GCStats
	s.maint.Lock()
	defer s.maint.Unlock()
	if grace < 2*s.cfg.TouchAfter {
		return st, fmt.Errorf("%w: %v < 2×TouchAfter (%v)", ErrGrace, grace, s.cfg.TouchAfter)
	}
	cutoff := s.now().Add(-grace).Unix()
	liveSet := make(map[recipe.ID]struct{}, len(live))
	for _, id := range live {
		liveSet[id] = struct{}{}
	}
	marked := make(map[recipe.ChunkID]struct{})
	found := make(map[recipe.ID]struct{}, len(live))

	// Recipes: mark the kept, sweep the rest.
	var doomed []recipe.ID
	err := s.db.View(func(txn *badger.Txn) error {
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
				var rec recipe.Recipe
				if err := rec.UnmarshalBinary(enc); err != nil {
					return err
				}
				found[id] = struct{}{}
				for _, ref := range rec.Refs {
					marked[ref.ID] = struct{}{}
				}
				return nil
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
	for _, id := range doomed {
		ok, err := s.deleteRecipe(id, cutoff)
		if err != nil {
			return st, err
		}
		if ok {
			st.RecipesRemoved++
		}
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

// deleteRecipe deletes recipe id if its stamp is still older than cutoff.
func (s *Store) deleteRecipe(id recipe.ID, cutoff int64) (bool, error) {
	deleted := false
	err := s.db.Update(func(txn *badger.Txn) error {
		deleted = false
		item, err := txn.Get(recipeKey(id))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
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
			return nil
		}
		deleted = true
		return txn.Delete(recipeKey(id))
	})
	if errors.Is(err, badger.ErrConflict) {
		return false, nil // re-stamped concurrently: keep it
	}
	if err != nil {
		return false, fmt.Errorf("chunkstore: gc: delete recipe %s: %w", id, err)
	}
	return deleted, nil
}

// sweepChunks deletes the chunks of ids whose stamp is still older than
// cutoff, in one transaction, or one by one if that conflicts. It returns
// the number of chunks and stored bytes removed.
func (s *Store) sweepChunks(ids []recipe.ChunkID, cutoff int64) (int, int64, error) {
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
