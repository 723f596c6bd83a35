package chunkstore

import (
	"context"
	"errors"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

// Fsck verifies every chunk's hash and that every live recipe's chunks
// exist; with repair it drops corrupt chunks.
func (s *Store) Fsck(ctx context.Context, live []recipe.ID, repair bool) (FsckReport, error) {
	return FsckReport{}, errors.New("chunkstore: Fsck not implemented yet")
}
