package chunkstore

import (
	"container/list"
	"sync"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

// DefaultChunkCacheBytes is the default Config.ChunkCacheBytes: 16 MiB,
// 256 chunks of the default 64 KiB average.
const DefaultChunkCacheBytes = 16 << 20

// chunkEntryOverhead is the cost in bytes charged per cached chunk on top
// of its plain bytes (entry, list element, map slot).
const chunkEntryOverhead = 128

// chunkCache holds the plain bytes of chunks that small Range reads
// (smallReader) cut, verified against their IDs when they were read from
// Badger, least recently used first out once their cost passes max bytes.
// A VM's block layer reads an image in 4–128 KiB pieces, mostly in order:
// without the cache each 4 KiB read of a 64 KiB chunk reads, decodes and
// hashes the whole chunk again (16 times per chunk).
//
// A chunk's bytes never change for its ID (the ID is their SHA-256), so an
// entry is never stale; entries are still dropped when the store deletes
// the chunk (GC, Drop, fsck repair), so that a read of a deleted chunk
// fails as it would without the cache. Cached slices are shared and must
// not be modified.
//
// Safe for concurrent use.
type chunkCache struct {
	max int64 // bytes; <= 0: cache nothing

	mu   sync.Mutex
	used int64
	lru  list.List // of *cachedChunk, most recent at the front
	byID map[recipe.ChunkID]*list.Element
	gen  uint64 // bumped by forget: a read that began before does not insert
}

type cachedChunk struct {
	id   recipe.ChunkID
	data []byte
}

func newChunkCache(maxBytes int64) *chunkCache {
	return &chunkCache{max: maxBytes, byID: map[recipe.ChunkID]*list.Element{}}
}

// generation returns the cache's generation, to be passed to add by a
// caller that reads a chunk from Badger after calling it.
func (c *chunkCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// get returns the cached plain bytes of id, or nil.
func (c *chunkCache) get(id recipe.ChunkID) []byte {
	if c.max <= 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el := c.byID[id]
	if el == nil {
		return nil
	}
	c.lru.MoveToFront(el)
	return el.Value.(*cachedChunk).data
}

// has reports whether id is cached (without making it recent).
func (c *chunkCache) has(id recipe.ChunkID) bool {
	if c.max <= 0 {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byID[id] != nil
}

// add caches data, the verified plain bytes of id read from Badger after
// generation returned gen (unless a forget came in between: the chunk may
// have been deleted since), evicting the least recently used chunks to
// make room. The cache keeps data: the caller must not modify it.
func (c *chunkCache) add(id recipe.ChunkID, data []byte, gen uint64) {
	cost := int64(len(data)) + chunkEntryOverhead
	if c.max <= 0 || cost > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen || c.byID[id] != nil {
		return
	}
	for c.used+cost > c.max {
		e := c.lru.Remove(c.lru.Back()).(*cachedChunk)
		delete(c.byID, e.id)
		c.used -= int64(len(e.data)) + chunkEntryOverhead
	}
	c.byID[id] = c.lru.PushFront(&cachedChunk{id: id, data: data})
	c.used += cost
}

// forget drops the chunks ids (deleted from the store) and keeps reads in
// flight from caching what they read.
func (c *chunkCache) forget(ids ...recipe.ChunkID) {
	if c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, id := range ids {
		if el := c.byID[id]; el != nil {
			e := c.lru.Remove(el).(*cachedChunk)
			delete(c.byID, id)
			c.used -= int64(len(e.data)) + chunkEntryOverhead
		}
	}
}

// ChunkCacheStats are the chunk cache's current contents.
type ChunkCacheStats struct {
	Chunks int   // chunks cached
	Bytes  int64 // their cost in bytes (plain bytes plus overhead)
	Max    int64 // Config.ChunkCacheBytes in effect (<= 0: off)
}

// ChunkCacheStats returns the chunk cache's current contents.
func (s *Store) ChunkCacheStats() ChunkCacheStats {
	c := s.chunkCache
	c.mu.Lock()
	defer c.mu.Unlock()
	return ChunkCacheStats{Chunks: len(c.byID), Bytes: c.used, Max: c.max}
}
