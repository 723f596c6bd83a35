package chunkstore

import (
	"context"
	"fmt"

	"github.com/dgraph-io/badger/v4"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

// EachChunk calls fn with the ID of every chunk the store holds (inline
// chunks and, for a Swift-backed store, its index of the cluster's
// chunks), in key order, reading keys only. It stops at fn's first error
// or ctx's end and returns it wrapped. A chunk stored or dropped while it
// runs may or may not be seen.
func (s *Store) EachChunk(ctx context.Context, fn func(id recipe.ChunkID) error) error {
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixChunk}})
		defer it.Close()
		var id recipe.ChunkID
		for it.Rewind(); it.Valid(); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			k := it.Item().Key()
			if len(k) != 1+len(id) {
				continue
			}
			copy(id[:], k[1:])
			if err := fn(id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("chunkstore: listing chunks: %w", err)
	}
	return nil
}

// OnStored sets fn to be called with the ID of each chunk this store
// newly commits (Put, PutStored, Receive, Write) or indexes (a Swift
// cluster's chunk), after the commit, on the committing goroutine; fn
// must be fast and must not block. nil turns it off. The node keeps its
// chunk summary current with it.
func (s *Store) OnStored(fn func(id recipe.ChunkID)) {
	if fn == nil {
		s.onStored.Store(nil)
		return
	}
	s.onStored.Store(&fn)
}

// stored calls the OnStored hook for id, if any.
func (s *Store) stored(id recipe.ChunkID) {
	if fn := s.onStored.Load(); fn != nil {
		(*fn)(id)
	}
}
