package chunkstore

import (
	"context"
	"io"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

// Adapters: the GC race tests call the store through these two functions,
// so that the same tests ran against the store before pins existed (GC
// given a live list taken first, Write unpinned), where they failed.

// gcRoots runs one GC whose live set is taken by roots.
func gcRoots(ctx context.Context, s *Store, roots func(context.Context) ([]recipe.ID, error), grace time.Duration) (GCStats, error) {
	return s.GC(ctx, roots, grace)
}

// writePinned writes r; release must be called once the caller's record
// naming the recipe is committed (or abandoned).
func writePinned(ctx context.Context, s *Store, r io.Reader) (*recipe.Recipe, recipe.ID, func(), error) {
	p := s.NewPin()
	rec, id, err := s.WritePinned(ctx, r, p)
	return rec, id, p.Release, err
}

// fixedRoots returns Roots that always return ids (tests without
// concurrent records).
func fixedRoots(ids ...recipe.ID) Roots {
	return func(context.Context) ([]recipe.ID, error) { return ids, nil }
}
