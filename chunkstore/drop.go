package chunkstore

import (
	"context"
	"fmt"

	"github.com/dgraph-io/badger/v4"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

// Drop deletes chunk id and its GC stamp, whatever their state; dropping
// an absent chunk is not an error. It is used to quarantine a chunk whose
// bytes failed verification (a *CorruptChunkError from Get, Chunk,
// GetStored or a reader): once dropped the chunk is missing, so Has says
// so, fsck lists it under Missing, and the next Put or PutStored of its
// bytes (a fetch from another region, a new upload) stores it again,
// which it would not do over a present chunk. Durable on return unless
// Config.NoSync.
//
// On a cluster, Drop removes the index entry and marks id suspect: the
// next write of its bytes uploads them over the cluster's object.
//
// Drop does not check the bytes itself: a caller that read the chunk
// before another goroutine replaced it with good bytes must re-read it (or
// serialize its repairs) before dropping, or it drops the good copy.
func (s *Store) Drop(ctx context.Context, id recipe.ChunkID) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var size int64
	var had bool
	err := s.update(func(txn *badger.Txn) error {
		var err error
		if size, had, err = chunkValueSize(txn, chunkKey(id)); err != nil {
			return err
		}
		if err := txn.Delete(chunkKey(id)); err != nil {
			return err
		}
		return txn.Delete(stampKey(id))
	})
	if err != nil {
		return fmt.Errorf("chunkstore: drop chunk %s: %w", id.Short(), err)
	}
	if had {
		s.counts.chunk(-1, -size)
	}
	if s.cluster != nil {
		s.suspect.add(id) // the next write uploads it over the cluster's copy
	}
	return s.sync()
}
