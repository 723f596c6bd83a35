package chunkstore

import (
	"container/list"
	"context"
	"sync"
	"unsafe"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

// DefaultRecipeCacheBytes is the default Config.RecipeCacheBytes: 64 MiB,
// about 1.5 million refs (e.g. 13 images of 7 GiB at 64 KiB chunks).
const DefaultRecipeCacheBytes = 64 << 20

// recipeEntryOverhead is the cost in bytes charged per cached recipe on
// top of its refs and offsets (entry, list element, map slots).
const recipeEntryOverhead = 256

// recipeCache holds decoded recipes with their cumulative-offset index,
// least recently used first out once their cost passes max bytes. Recipes
// are named by the hash of their encoding, so an entry never goes stale;
// it is dropped only when the store deletes the recipe (GC, fsck repair).
// This makes a Range read of a large object cost O(log n) in its recipe
// (binary search in the offsets) instead of a Badger read, a decode, a
// validation and a prefix sum over all n refs per request.
//
// Safe for concurrent use. Concurrent misses on one ID share one load.
type recipeCache struct {
	max int64 // bytes; <= 0: cache nothing

	mu      sync.Mutex
	used    int64
	lru     list.List // of *recipeEntry, most recent at the front
	byID    map[recipe.ID]*list.Element
	byRec   map[*recipe.Recipe]*list.Element
	loading map[recipe.ID]*recipeLoad
	gen     uint64 // bumped by forget: a load that began before does not insert
}

// recipeEntry is one cached recipe: the decoded recipe (shared, immutable)
// and its offsets (recipe.Recipe.Offsets).
type recipeEntry struct {
	id      recipe.ID
	rec     *recipe.Recipe
	offsets []int64
	cost    int64
}

// recipeLoad is a load in flight that other callers wait for.
type recipeLoad struct {
	done    chan struct{}
	rec     *recipe.Recipe
	offsets []int64
	err     error
}

func newRecipeCache(maxBytes int64) *recipeCache {
	return &recipeCache{
		max: maxBytes, byID: map[recipe.ID]*list.Element{},
		byRec: map[*recipe.Recipe]*list.Element{}, loading: map[recipe.ID]*recipeLoad{},
	}
}

// recipeCost is the memory in bytes a cached recipe of n refs takes.
func recipeCost(n int) int64 {
	return int64(n)*int64(unsafe.Sizeof(recipe.Ref{})+8) + 8 + recipeEntryOverhead
}

// get returns the recipe id and its offsets: from the cache, else from
// load (once for all concurrent callers), caching the result if it fits.
// The recipe returned is shared: callers must not modify it.
func (c *recipeCache) get(ctx context.Context, id recipe.ID, load func() (*recipe.Recipe, error)) (*recipe.Recipe, []int64, error) {
	c.mu.Lock()
	if el := c.byID[id]; el != nil {
		c.lru.MoveToFront(el)
		e := el.Value.(*recipeEntry)
		c.mu.Unlock()
		return e.rec, e.offsets, nil
	}
	if l := c.loading[id]; l != nil {
		c.mu.Unlock()
		select {
		case <-l.done:
			return l.rec, l.offsets, l.err
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
	l := &recipeLoad{done: make(chan struct{})}
	c.loading[id] = l
	gen := c.gen
	c.mu.Unlock()

	l.rec, l.err = load()
	if l.err == nil {
		l.offsets = l.rec.Offsets()
	}
	c.mu.Lock()
	delete(c.loading, id)
	if l.err == nil && gen == c.gen {
		c.insert(&recipeEntry{id: id, rec: l.rec, offsets: l.offsets, cost: recipeCost(len(l.rec.Refs))})
	}
	c.mu.Unlock()
	close(l.done)
	return l.rec, l.offsets, l.err
}

// insert adds e (c.mu held) unless it cannot fit, evicting the least
// recently used entries to make room.
func (c *recipeCache) insert(e *recipeEntry) {
	if e.cost > c.max || c.byID[e.id] != nil {
		return
	}
	for c.used+e.cost > c.max {
		c.remove(c.lru.Back())
	}
	el := c.lru.PushFront(e)
	c.byID[e.id] = el
	c.byRec[e.rec] = el
	c.used += e.cost
}

// remove drops the entry of el (c.mu held).
func (c *recipeCache) remove(el *list.Element) {
	e := c.lru.Remove(el).(*recipeEntry)
	delete(c.byID, e.id)
	delete(c.byRec, e.rec)
	c.used -= e.cost
}

// peek returns the cached recipe id without loading it or touching the
// LRU order (for GC and fsck, which walk every recipe once).
func (c *recipeCache) peek(id recipe.ID) *recipe.Recipe {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el := c.byID[id]; el != nil {
		return el.Value.(*recipeEntry).rec
	}
	return nil
}

// offsetsOf returns the offsets of rec if rec is a cached recipe (the very
// pointer Store.Recipe returned): rec is then known valid.
func (c *recipeCache) offsetsOf(rec *recipe.Recipe) ([]int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el := c.byRec[rec]; el != nil {
		return el.Value.(*recipeEntry).offsets, true
	}
	return nil, false
}

// forget drops the recipes ids (deleted from the store) and keeps loads in
// flight from caching what they read.
func (c *recipeCache) forget(ids ...recipe.ID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, id := range ids {
		if el := c.byID[id]; el != nil {
			c.remove(el)
		}
	}
}

// RecipeCacheStats are the recipe cache's current contents.
type RecipeCacheStats struct {
	Recipes int   // recipes cached
	Bytes   int64 // their estimated memory in bytes
	Max     int64 // Config.RecipeCacheBytes in effect (<= 0: off)
}

// RecipeCacheStats returns the recipe cache's current contents.
func (s *Store) RecipeCacheStats() RecipeCacheStats {
	c := s.recipeCache
	c.mu.Lock()
	defer c.mu.Unlock()
	return RecipeCacheStats{Recipes: len(c.byID), Bytes: c.used, Max: c.max}
}

// Span returns the half-open range [first, last) of the indexes of rec's
// refs that cover the bytes [off, off+length) of its object (see
// recipe.Span): O(log n) for a recipe Store.Recipe returned while it is
// cached, else O(n).
func (s *Store) Span(rec *recipe.Recipe, off, length int64) (first, last int) {
	offsets, ok := s.recipeCache.offsetsOf(rec)
	if !ok {
		offsets = rec.Offsets()
	}
	return recipe.Span(offsets, off, length)
}

// readerIndex returns rec's offsets for NewReader: the cached ones for a
// cached recipe (valid by construction), else rec validated and its
// offsets computed (O(n)).
func (s *Store) readerIndex(rec *recipe.Recipe) ([]int64, error) {
	if offsets, ok := s.recipeCache.offsetsOf(rec); ok {
		return offsets, nil
	}
	if err := rec.Validate(); err != nil {
		return nil, err
	}
	return rec.Offsets(), nil
}
