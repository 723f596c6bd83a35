package chunkstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

// GC removes recipes not in live and chunks no live recipe references, that
// are older than grace, then runs Badger's value-log GC.
func (s *Store) GC(ctx context.Context, live []recipe.ID, grace time.Duration) (GCStats, error) {
	return GCStats{}, errors.New("chunkstore: GC not implemented yet")
}

var _ = fmt.Sprint
