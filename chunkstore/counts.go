package chunkstore

// Incremental counts of the store's contents, so that Stats (and the
// node's /metrics and /status, scraped every few seconds) never walk the
// chunk keys: Open counts once (a key-only scan), then every write and
// delete of a chunk or recipe adjusts the counts.
//
// Exactness: recipe writes and deletes, GC sweeps and Drop read the key in
// their transaction, so they count exactly what they change. Chunk writes
// are blind (Write and PutStored look the chunk up first, then set it
// without a read in the transaction, to keep the write path cheap), so
// two writers that store the same new chunk at the same moment count it
// twice; the counts then run high by that chunk until the store is opened
// again (or Recount is called). fsck --repair recounts.
//
// Stored bytes: writes add the exact value sizes; the walk at open and the
// deletes use Badger's Item.ValueSize, which for a value in the value log
// estimates its header and may be a few bytes off per chunk. The sum
// drifts by at most that much per chunk deleted since the open.

import (
	"context"
	"sync/atomic"

	"github.com/dgraph-io/badger/v4"
)

// counts are the store's incremental Stats.
type counts struct {
	chunks, storedBytes, recipes atomic.Int64
}

func (c *counts) load() Stats {
	return Stats{Chunks: c.chunks.Load(), StoredBytes: c.storedBytes.Load(), Recipes: c.recipes.Load()}
}

func (c *counts) chunk(n, bytes int64) {
	c.chunks.Add(n)
	c.storedBytes.Add(bytes)
}

// Recount sets the incremental counts to a walk of the store's keys
// (Count): O(chunks) key reads. Open calls it; writes racing it may be
// counted twice or not at all, so call it on a quiet store.
func (s *Store) Recount(ctx context.Context) error {
	st, err := s.Count(ctx)
	if err != nil {
		return err
	}
	s.counts.chunks.Store(st.Chunks)
	s.counts.storedBytes.Store(st.StoredBytes)
	s.counts.recipes.Store(st.Recipes)
	return nil
}

// chunkValueSize returns the stored size of chunk key in txn (0, false:
// absent); the read makes txn conflict with a concurrent write of it.
func chunkValueSize(txn *badger.Txn, key []byte) (int64, bool, error) {
	item, err := txn.Get(key)
	if err == badger.ErrKeyNotFound {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	if isIndexLen(item.ValueSize()) {
		return itemStoredLen(item), true, nil // an index entry (cluster.go)
	}
	return item.ValueSize(), true, nil
}
