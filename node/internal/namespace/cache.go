package namespace

import (
	"container/list"
	"sync"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

// DefaultCacheBytes is the default Config.CacheBytes: 4 MiB of decoded
// records (about 10,000 object records of a few hundred bytes).
const DefaultCacheBytes = 4 << 20

// cacheEntryOverhead is the cost in bytes charged per cached entry on top
// of its encoded size (the decoded Record, list element, map slot).
const cacheEntryOverhead = 384

// writeWatcher is the part of a KV that reports the keys each write
// transaction wrote (chunkstore.Records.OnWrite): the record cache needs
// it to drop what a write replaced. A KV without it gets no cache.
type writeWatcher interface {
	OnWrite(fn func(keys [][]byte))
}

// recordCache holds the records Namespace.Get decoded (by key bytes) and
// the regions Namespace.Holders found (by the recipe's holding prefix),
// least recently used first out once their cost passes max bytes. A small
// Range GET of an object otherwise reads and JSON-decodes its record and
// scans its recipe's holdings on every request (issue 15: ~30 µs of a
// 64 KiB read's ~100 µs in the handler).
//
// Never stale: every write to the record space goes through the KV's
// Update, which calls invalidate with the keys it wrote after its
// transaction ran and before it returns, so a read that starts after a
// write (local, replicated from a peer, a delete, a purge) returned sees
// that write. invalidate also bumps gen; a reader notes gen before it
// reads the KV and inserts what it read only if gen has not moved (a
// write that committed after the read would otherwise be hidden by the
// older value). A cached Record is never handed out: get returns a clone.
//
// Safe for concurrent use.
type recordCache struct {
	max int64 // bytes

	mu    sync.Mutex
	used  int64
	gen   uint64
	lru   list.List // of *cacheEntry, most recent at the front
	byKey map[string]*list.Element
	stats CacheStats
}

type cacheEntry struct {
	key     string
	rec     *Record  // a Get's record; nil for holders
	holders []string // a Holders entry's regions
	cost    int64
}

// CacheStats count the record cache's work since the namespace opened.
type CacheStats struct {
	Hits, Misses  uint64 // Get and Holders lookups answered from the cache or not
	Invalidations uint64 // cached entries dropped because a write replaced them
	Entries       int    // entries cached now
	Bytes         int64  // their cost in bytes (encoded size plus overhead)
	Max           int64  // Config.CacheBytes in effect (0: off)
}

func newRecordCache(maxBytes int64) *recordCache {
	return &recordCache{max: maxBytes, byKey: map[string]*list.Element{}}
}

// generation returns the cache's generation, to be passed to put by a
// caller that reads the KV after calling it.
func (c *recordCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// lookup returns the entry at key (made most recent), or nil.
func (c *recordCache) lookup(key []byte) *cacheEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	el := c.byKey[string(key)]
	if el == nil {
		c.stats.Misses++
		return nil
	}
	c.stats.Hits++
	c.lru.MoveToFront(el)
	return el.Value.(*cacheEntry)
}

// record returns a clone of the cached record at key, or nil.
func (c *recordCache) record(key []byte) *Record {
	e := c.lookup(key)
	if e == nil || e.rec == nil {
		return nil
	}
	return e.rec.Clone() // immutable once cached: cloning needs no lock
}

// holders returns the cached regions holding id (ok false: not cached);
// the caller gets its own slice.
func (c *recordCache) holders(id recipe.ID) (regions []string, ok bool) {
	e := c.lookup(holdingPrefix(id))
	if e == nil || e.rec != nil {
		return nil, false
	}
	if e.holders == nil {
		return nil, true
	}
	return append([]string(nil), e.holders...), true
}

// putRecord caches rec, decoded from size encoded bytes at key after
// generation returned gen. The cache keeps rec: the caller must not
// modify it afterwards.
func (c *recordCache) putRecord(key []byte, rec *Record, size int, gen uint64) {
	c.put(&cacheEntry{key: string(key), rec: rec, cost: int64(size) + cacheEntryOverhead}, gen)
}

// putHolders caches the regions holding id, found after generation
// returned gen; it keeps regions.
func (c *recordCache) putHolders(id recipe.ID, regions []string, gen uint64) {
	cost := int64(cacheEntryOverhead)
	for _, r := range regions {
		cost += int64(len(r)) + 16
	}
	c.put(&cacheEntry{key: string(holdingPrefix(id)), holders: regions, cost: cost}, gen)
}

func (c *recordCache) put(e *cacheEntry, gen uint64) {
	if e.cost > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return // a write since the read began: what was read may be stale
	}
	if old := c.byKey[e.key]; old != nil {
		c.remove(old)
	}
	for c.used+e.cost > c.max {
		c.remove(c.lru.Back())
	}
	c.byKey[e.key] = c.lru.PushFront(e)
	c.used += e.cost
}

// remove drops el; c.mu is held.
func (c *recordCache) remove(el *list.Element) {
	e := c.lru.Remove(el).(*cacheEntry)
	delete(c.byKey, e.key)
	c.used -= e.cost
}

// invalidate drops keys (written by a transaction that has run) and the
// holders of the recipes of holding keys among them, and keeps reads in
// flight from caching what they read. It is the KV's OnWrite watcher.
func (c *recordCache) invalidate(keys [][]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, k := range keys {
		if el := c.byKey[string(k)]; el != nil {
			c.remove(el)
			c.stats.Invalidations++
		}
		if len(k) > 1+len(recipe.ID{}) && Kind(k[0]) == KindHolding {
			if el := c.byKey[string(k[:1+len(recipe.ID{})])]; el != nil {
				c.remove(el)
				c.stats.Invalidations++
			}
		}
	}
}

// counts returns the cache's stats.
func (c *recordCache) counts() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.Entries, s.Bytes, s.Max = len(c.byKey), c.used, c.max
	return s
}

// CacheStats returns the record cache's counts (all zero when it is off).
func (ns *Namespace) CacheStats() CacheStats {
	if ns.cache == nil {
		return CacheStats{}
	}
	return ns.cache.counts()
}
