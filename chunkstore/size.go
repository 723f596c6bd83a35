package chunkstore

import (
	"context"
	"encoding/binary"

	"github.com/dgraph-io/badger/v4"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

// StoredSizes returns, for each of ids, the size of its stored form (the
// bytes GetStored returns in Stored.Data, which is what the peer protocol
// sends), or -1 for a chunk not stored. It reads only keys and value
// pointers, in one read-only transaction: never the value log, so it
// costs about what Has costs. On a cluster it asks the cluster about IDs
// its index lacks, as Has does. A chunk whose value is corrupt has the size
// of its stored bytes all the same (its reader finds out).
func (s *Store) StoredSizes(ctx context.Context, ids []recipe.ChunkID) ([]int64, error) {
	out := make([]int64, len(ids))
	err := s.eachChunkItem(ctx, ids, "stored size of", func(i int, item *badger.Item) {
		if item == nil {
			out[i] = -1
			return
		}
		out[i] = max(itemStoredLen(item)-1, 0) // less the codec byte
	})
	if err != nil {
		return nil, err
	}
	if s.cluster != nil {
		// IDs the index lacks: ask the cluster (sizes with the codec byte).
		for i := range out {
			if out[i] >= 0 {
				out[i]++
			}
		}
		if err := s.clusterStat(ctx, ids, out); err != nil {
			return nil, err
		}
		for i := range out {
			if out[i] >= 0 {
				out[i] = max(out[i]-1, 0)
			}
		}
	}
	return out, nil
}

// storedValueSize returns the exact length of item's value without
// reading it. Badger's Item.ValueSize is exact for values kept in the LSM
// tree; for a value in the value log it is the entry's length less the
// key, the checksum and an assumed 6-byte header, while the header is
// really meta, user meta and three varints (key length with timestamp,
// value length, expiry). Solve for the value length v with
// v + headerLen(v) = ValueSize + 6.
func storedValueSize(item *badger.Item) int64 {
	vs := item.ValueSize()
	if item.EstimatedSize()-vs == int64(len(item.Key())) {
		// Inline in the LSM tree: EstimatedSize is key + value, and
		// ValueSize exact. (For a value-log entry the difference is the
		// key, its timestamp, the checksum and the assumed header.)
		return vs
	}
	rest := vs + 6
	fixed := 2 + uvarintLen(uint64(len(item.Key())+8)) + uvarintLen(item.ExpiresAt())
	for vl := 1; vl <= binary.MaxVarintLen32; vl++ {
		v := rest - int64(fixed) - int64(vl)
		if v >= 0 && uvarintLen(uint64(v)) == vl {
			return v
		}
	}
	return vs
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}
