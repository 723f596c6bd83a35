package chunkstore

import (
	"sync"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

// Pin holds chunk and recipe IDs safe from GC until Release: GC never
// deletes a pinned ID, nor one that was pinned at any moment while it ran
// (see GC). A write pins every ID it relies on before it looks the ID up,
// so it cannot find an ID present and then lose it to a sweep.
//
// The object service writes with WritePinned and releases the pin only
// after the record naming the recipe is committed (or the write is
// abandoned); replication pins a recipe (and its chunks) before it stores
// the recipe and releases after the record is merged. Pins live in memory:
// a crash drops them together with the unacknowledged writes they
// protected. A Pin is safe for concurrent use; its memory is about 40
// bytes per ID pinned.
type Pin struct {
	reg     *pinRegistry
	chunks  []recipe.ChunkID
	recipes []recipe.ID
	done    bool
}

// NewPin returns an empty pin registered with the store. The caller must
// Release it.
func (s *Store) NewPin() *Pin {
	p := &Pin{reg: &s.pins}
	s.pins.mu.Lock()
	if s.pins.leases == nil {
		s.pins.leases = make(map[*Pin]struct{})
	}
	s.pins.leases[p] = struct{}{}
	s.pins.mu.Unlock()
	return p
}

// Chunks pins ids; a no-op after Release.
func (p *Pin) Chunks(ids ...recipe.ChunkID) {
	p.reg.mu.Lock()
	defer p.reg.mu.Unlock()
	for _, id := range ids {
		p.reg.chunkLocked(p, id)
	}
}

// Recipe pins recipe id; a no-op after Release.
func (p *Pin) Recipe(id recipe.ID) {
	p.reg.mu.Lock()
	defer p.reg.mu.Unlock()
	p.reg.recipeLocked(p, id)
}

// Release unpins everything p holds. Idempotent. IDs pinned while a GC
// runs stay protected until that GC ends.
func (p *Pin) Release() {
	p.reg.mu.Lock()
	defer p.reg.mu.Unlock()
	if p.done {
		return
	}
	p.done = true
	delete(p.reg.leases, p)
	p.chunks, p.recipes = nil, nil
}

// pinRegistry is the store's set of pins and, while a GC runs, the set of
// IDs it must not delete.
//
// Protocol (the argument is in GC's doc comment): a pin is taken under mu
// before the pinned ID is looked up; GC, under mu, first sets active and
// copies every pin into the protected sets, and from then on every pin
// taken also lands in them until GC ends; GC checks an ID against the
// protected sets and commits its deletion under mu.
type pinRegistry struct {
	mu      sync.Mutex
	leases  map[*Pin]struct{}
	active  bool
	chunks  map[recipe.ChunkID]struct{} // protected while active
	recipes map[recipe.ID]struct{}      // protected while active
}

// chunkLocked pins chunk id into p (nil: a transient pin, which only
// matters while a GC runs). mu must be held.
func (r *pinRegistry) chunkLocked(p *Pin, id recipe.ChunkID) {
	if p != nil && !p.done {
		p.chunks = append(p.chunks, id)
	}
	if r.active {
		r.chunks[id] = struct{}{}
	}
}

// recipeLocked pins recipe id into p (nil: transient). mu must be held.
func (r *pinRegistry) recipeLocked(p *Pin, id recipe.ID) {
	if p != nil && !p.done {
		p.recipes = append(p.recipes, id)
	}
	if r.active {
		r.recipes[id] = struct{}{}
	}
}

// pinChunk pins chunk id into p (nil: transiently).
func (r *pinRegistry) pinChunk(p *Pin, id recipe.ChunkID) {
	r.mu.Lock()
	r.chunkLocked(p, id)
	r.mu.Unlock()
}

// pinRecipe pins recipe id into p (nil: transiently).
func (r *pinRegistry) pinRecipe(p *Pin, id recipe.ID) {
	r.mu.Lock()
	r.recipeLocked(p, id)
	r.mu.Unlock()
}

// begin starts a GC's protection: every ID pinned now or until end is
// protected.
func (r *pinRegistry) begin() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.active = true
	r.chunks = make(map[recipe.ChunkID]struct{})
	r.recipes = make(map[recipe.ID]struct{})
	for p := range r.leases {
		for _, id := range p.chunks {
			r.chunks[id] = struct{}{}
		}
		for _, id := range p.recipes {
			r.recipes[id] = struct{}{}
		}
	}
}

// end ends a GC's protection.
func (r *pinRegistry) end() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.active = false
	r.chunks, r.recipes = nil, nil
}

// recipeProtected reports whether recipe id is protected. mu must be held.
func (r *pinRegistry) recipeProtected(id recipe.ID) bool {
	_, ok := r.recipes[id]
	return ok
}

// chunkProtected reports whether chunk id is protected. mu must be held.
func (r *pinRegistry) chunkProtected(id recipe.ChunkID) bool {
	_, ok := r.chunks[id]
	return ok
}
