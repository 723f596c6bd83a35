package chunkstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

func unixTime(sec int64) time.Time { return time.Unix(sec, 0) }

// Recipe returns the stored recipe id (on a cluster, read from there when
// Badger lacks it, then cached). Errors: ErrNotFound (wrapped), or
// one wrapping recipe.ErrMalformed for a stored value that does not decode.
//
// Recipes come from a bounded cache of decoded recipes with their offset
// index (Config.RecipeCacheBytes, recipeindex.go), so the recipe returned
// may be shared with other callers: it must not be modified. NewReader and
// Span find a recipe from this cache in O(log n) instead of O(n).
func (s *Store) Recipe(ctx context.Context, id recipe.ID) (*recipe.Recipe, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rec, _, err := s.recipeCache.get(ctx, id, func() (*recipe.Recipe, error) { return s.loadRecipe(ctx, id) })
	return rec, err
}

// loadRecipe reads and decodes the stored recipe id, bypassing the cache.
func (s *Store) loadRecipe(ctx context.Context, id recipe.ID) (*recipe.Recipe, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rec := new(recipe.Recipe)
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(recipeKey(id))
		if err != nil {
			return err
		}
		return item.Value(func(val []byte) error {
			_, enc, err := splitRecipeValue(val)
			if err != nil {
				return err
			}
			return rec.UnmarshalBinary(enc)
		})
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		if s.cluster != nil {
			return s.clusterRecipe(ctx, id) // a cache miss (cluster.go)
		}
		return nil, fmt.Errorf("%w: recipe %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("chunkstore: recipe %s: %w", id, err)
	}
	return rec, nil
}

// splitRecipeValue splits a stored recipe value into stamp and encoding.
func splitRecipeValue(val []byte) (int64, []byte, error) {
	if len(val) < 8 {
		return 0, nil, fmt.Errorf("%w: recipe value of %d bytes", recipe.ErrMalformed, len(val))
	}
	t, _ := decodeStamp(val[:8])
	return t, val[8:], nil
}

// PutRecipe validates and stores rec (idempotent; an existing recipe is
// re-stamped when older than TouchAfter) and returns its ID. On a cluster
// it is written there first, then cached in Badger. Durable on
// return unless Config.NoSync. PutRecipe does not check that rec's chunks
// are stored.
//
// GC: the recipe is pinned only for the call (see Pin). A caller that
// commits a record naming the recipe pins it first with its own Pin
// (Pin.Recipe) and releases that after the commit.
func (s *Store) PutRecipe(ctx context.Context, rec *recipe.Recipe) (recipe.ID, error) {
	return s.putRecipePinned(ctx, nil, rec)
}

// putRecipePinned is PutRecipe pinning the recipe into p (nil: only for
// the call) before it looks it up.
func (s *Store) putRecipePinned(ctx context.Context, p *Pin, rec *recipe.Recipe) (recipe.ID, error) {
	enc, err := rec.MarshalBinary()
	if err != nil {
		return recipe.ID{}, err
	}
	id := recipe.ID(recipe.Sum(enc))
	s.pins.pinRecipe(p, id)
	if s.cluster != nil {
		if err := s.cluster.PutRecipe(ctx, id, enc); err != nil {
			return id, fmt.Errorf("chunkstore: put recipe %s in the cluster: %w", id, err)
		}
	}
	if err := s.putRecipe(ctx, id, enc); err != nil {
		return id, err
	}
	return id, s.sync()
}

// putRecipe stores the encoding enc under id unless a fresh copy exists.
// The transaction reads the key, so a concurrent GC delete conflicts.
func (s *Store) putRecipe(ctx context.Context, id recipe.ID, enc []byte) error {
	key := recipeKey(id)
	if err := s.space.Charge(spaceCost(len(enc))); err != nil {
		return fmt.Errorf("chunkstore: put recipe %s: %w", id, err)
	}
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		now := s.now()
		added := false
		err := s.db.Update(func(txn *badger.Txn) error {
			added = false
			item, err := txn.Get(key)
			if err == nil {
				fresh := false
				_ = item.Value(func(v []byte) error {
					if t, _, err := splitRecipeValue(v); err == nil && now.Sub(unixTime(t)) < s.cfg.TouchAfter {
						fresh = true
					}
					return nil
				})
				if fresh {
					return nil
				}
			} else if !errors.Is(err, badger.ErrKeyNotFound) {
				return err
			} else {
				added = true
			}
			val := make([]byte, 0, 8+len(enc))
			val = append(encodeStamp(now.Unix()), enc...)
			return txn.Set(key, val)
		})
		if err == nil {
			if added {
				s.counts.recipes.Add(1)
			}
			return nil
		}
		if blockedRetry(err, attempt) {
			continue
		}
		if !errors.Is(err, badger.ErrConflict) || attempt > 10 {
			return fmt.Errorf("chunkstore: put recipe %s: %w", id, err)
		}
	}
}
