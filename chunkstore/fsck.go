package chunkstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"

	"github.com/dgraph-io/badger/v4"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
)

// Fsck verifies every chunk's hash (decoding it), every stored recipe's
// encoding, that every chunk has a GC stamp, and that every live recipe
// and its chunks exist. With repair it deletes corrupt chunks and bad
// recipes, stamps unstamped chunks and deletes stray stamps; live recipes
// whose chunks are missing are reported, not repaired (the node fetches
// them from peers). The error is for failures to run, not for findings.
func (s *Store) Fsck(ctx context.Context, live []recipe.ID, repair bool) (FsckReport, error) {
	rep := FsckReport{Missing: map[recipe.ID][]recipe.ChunkID{}}
	s.maint.Lock()
	defer s.maint.Unlock()
	var mu sync.Mutex
	var unstamped, stray []recipe.ChunkID

	// Chunks, verified by Workers goroutines; the iterator copies values.
	type item struct {
		id  recipe.ChunkID
		val []byte
	}
	g, gctx := errgroup.WithContext(ctx)
	items := make(chan item, 2*s.cfg.Workers)
	for range s.cfg.Workers {
		g.Go(func() error {
			for it := range items {
				var err error
				if len(it.val) < 1 {
					err = &CorruptChunkError{ID: it.id, Err: fmt.Errorf("%w: empty value", ErrCodec)}
				} else if _, remote := clusterSize(it.val); remote {
					// An index entry: verify the cluster's object.
					_, err = s.clusterGet(gctx, nil, it.id, 0, true, false)
					if errors.Is(err, ErrNotFound) {
						err = &CorruptChunkError{ID: it.id, Err: err}
					}
				} else {
					_, err = s.codec.verify(it.id, nil, Codec(it.val[0]), it.val[1:], 0)
				}
				if err != nil {
					s.log.Warn("fsck: corrupt chunk", zap.Error(err))
					mu.Lock()
					rep.Corrupt = append(rep.Corrupt, it.id)
					mu.Unlock()
				}
			}
			return nil
		})
	}
	g.Go(func() error {
		defer close(items)
		return s.db.View(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixChunk}, PrefetchValues: true, PrefetchSize: 16})
			defer it.Close()
			sk := stampKey(recipe.ChunkID{})
			for it.Rewind(); it.Valid(); it.Next() {
				var x item
				copy(x.id[:], it.Item().Key()[1:])
				v, err := it.Item().ValueCopy(nil)
				if err != nil {
					return fmt.Errorf("chunkstore: fsck: read chunk %s: %w", x.id.Short(), err)
				}
				x.val = v
				copy(sk[1:], x.id[:])
				if _, err := txn.Get(sk); errors.Is(err, badger.ErrKeyNotFound) {
					unstamped = append(unstamped, x.id)
				} else if err != nil {
					return err
				}
				select {
				case items <- x:
					rep.ChunksChecked++
				case <-gctx.Done():
					return gctx.Err()
				}
			}
			return nil
		})
	})
	if err := g.Wait(); err != nil {
		return rep, err
	}

	// Stamps without chunks, and recipes.
	var badRecipes []recipe.ID
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixStamp}})
		ck := chunkKey(recipe.ChunkID{})
		for it.Rewind(); it.Valid(); it.Next() {
			copy(ck[1:], it.Item().Key()[1:])
			if _, err := txn.Get(ck); errors.Is(err, badger.ErrKeyNotFound) {
				var id recipe.ChunkID
				copy(id[:], ck[1:])
				stray = append(stray, id)
			} else if err != nil {
				it.Close()
				return err
			}
		}
		it.Close()
		it = txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixRecipe}, PrefetchValues: true, PrefetchSize: 16})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			var id recipe.ID
			copy(id[:], it.Item().Key()[1:])
			rep.RecipesChecked++
			err := it.Item().Value(func(v []byte) error {
				_, enc, err := splitRecipeValue(v)
				if err != nil {
					return err
				}
				var rec recipe.Recipe
				if err := rec.UnmarshalBinary(enc); err != nil {
					return err
				}
				if sum := sha256.Sum256(enc); !bytes.Equal(sum[:], id[:]) {
					return fmt.Errorf("%w: encoding hashes to %x", recipe.ErrMalformed, sum)
				}
				return nil
			})
			if err != nil {
				s.log.Warn("fsck: bad recipe", zap.Stringer("recipe", id), zap.Error(err))
				badRecipes = append(badRecipes, id)
			}
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	rep.BadRecipes = badRecipes
	rep.Unstamped, rep.StrayStamps = len(unstamped), len(stray)

	if repair {
		n, err := s.repair(rep.Corrupt, badRecipes, unstamped, stray)
		rep.Repaired = n
		if err != nil {
			return rep, err
		}
	}

	// Live recipes and their chunks (after repair: dropped chunks are missing).
	for _, id := range live {
		rec, err := s.loadRecipe(ctx, id) // what is on disk, not the cache
		if err != nil {
			if errors.Is(err, ErrNotFound) || errors.Is(err, recipe.ErrMalformed) {
				rep.MissingRecipes = append(rep.MissingRecipes, id)
				continue
			}
			return rep, err
		}
		missing, err := s.Missing(ctx, rec.Unique())
		if err != nil {
			return rep, err
		}
		if !repair {
			// Corrupt chunks are still stored but unusable: count them missing.
			bad := make(map[recipe.ChunkID]bool, len(rep.Corrupt))
			for _, c := range rep.Corrupt {
				bad[c] = true
			}
			for _, c := range rec.Unique() {
				if bad[c] {
					missing = append(missing, c)
				}
			}
		}
		if len(missing) > 0 {
			rep.Missing[id] = missing
		}
	}
	return rep, nil
}

func (s *Store) repair(corrupt []recipe.ChunkID, bad []recipe.ID, unstamped, stray []recipe.ChunkID) (int, error) {
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	n := 0
	for _, id := range corrupt {
		if err := wb.Delete(chunkKey(id)); err != nil {
			return n, err
		}
		if err := wb.Delete(stampKey(id)); err != nil {
			return n, err
		}
		n++
	}
	for _, id := range bad {
		if err := wb.Delete(recipeKey(id)); err != nil {
			return n, err
		}
		n++
	}
	stamp := encodeStamp(s.now().Unix())
	for _, id := range unstamped {
		if err := wb.Set(stampKey(id), stamp); err != nil {
			return n, err
		}
		n++
	}
	for _, id := range stray {
		if err := wb.Delete(stampKey(id)); err != nil {
			return n, err
		}
		n++
	}
	if err := wb.Flush(); err != nil {
		return n, fmt.Errorf("chunkstore: fsck repair: %w", err)
	}
	if err := s.Recount(context.Background()); err != nil {
		return n, fmt.Errorf("chunkstore: fsck repair: %w", err)
	}
	s.recipeCache.forget(bad...)
	return n, s.sync()
}
