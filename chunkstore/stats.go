package chunkstore

// Store.Stats was first written by the node engineer for node/ops.go
// (/metrics and /stats); the chunkstore owner adopted it as is.

import (
	"context"

	"github.com/dgraph-io/badger/v4"
)

// Stats is what a Store holds.
type Stats struct {
	// Chunks is the number of stored chunks.
	Chunks int64
	// StoredBytes is the sum of the chunks' stored sizes in bytes (codec
	// byte plus compressed data), approximate by a few bytes per chunk
	// that lives in the value log (Badger's Item.ValueSize).
	StoredBytes int64
	// Recipes is the number of stored recipes.
	Recipes int64
}

// Stats returns the store's counts, kept incrementally (counts.go): no
// walk of the keys. The error is ctx's.
func (s *Store) Stats(ctx context.Context) (Stats, error) {
	return s.counts.load(), ctx.Err()
}

// Count counts the stored chunks and recipes and sums the chunks' stored
// sizes by walking their keys (no value reads): O(chunks) key reads. Open
// uses it to start the incremental counts Stats returns.
func (s *Store) Count(ctx context.Context) (Stats, error) {
	var st Stats
	err := s.db.View(func(txn *badger.Txn) error {
		for _, p := range []byte{prefixChunk, prefixRecipe} {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{p}, PrefetchValues: false})
			for it.Rewind(); it.Valid(); it.Next() {
				if err := ctx.Err(); err != nil {
					it.Close()
					return err
				}
				if p == prefixChunk {
					st.Chunks++
					if vs := it.Item().ValueSize(); !isIndexLen(vs) {
						st.StoredBytes += vs
					} else {
						st.StoredBytes += itemStoredLen(it.Item()) // index entry
					}
				} else {
					st.Recipes++
				}
			}
			it.Close()
		}
		return nil
	})
	return st, err
}
