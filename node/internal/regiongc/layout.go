package regiongc

import (
	"fmt"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"github.com/nitro-cloud/nitro/chunkstore/swiftstore"
)

// Kind is what a cluster object holds: a chunk or a recipe.
type Kind int

const (
	// KindChunk is a chunk object: name = the 64-hex chunk ID, body = the
	// stored form (codec byte, then the encoded bytes).
	KindChunk Kind = iota
	// KindRecipe is a recipe object: name = the 64-hex recipe ID, body =
	// the recipe's canonical encoding (recipe.Recipe.MarshalBinary).
	KindRecipe
)

// String returns "chunk" or "recipe".
func (k Kind) String() string {
	if k == KindRecipe {
		return "recipe"
	}
	return "chunk"
}

// Layout names the containers of a region's cluster, as the Swift
// backend does (chunkstore/swiftstore.Layout names them): Containers
// shards per kind, chosen by the first log16(Containers) hex digits of
// the object's ID.
//
//	<Prefix>-chunks-<H>          chunk objects
//	<Prefix>-recipes-<H>         recipe objects
//	<Prefix>-fossils-<H>         chunk fossils (GC's first step)
//	<Prefix>-recipe-fossils-<H>  recipe fossils
//	<Prefix>-gc                  the GC lease and the last run's report
//
// With Containers = 1 the "-<H>" suffix is absent. Recipe fossils have
// their own containers because a chunk ID and a recipe ID are both a
// SHA-256 and may be equal (a chunk whose bytes are a recipe encoding).
type Layout struct {
	// Prefix starts every container name (store.swift.container_prefix).
	Prefix string
	// Containers is the number of shards per kind: 1, 16, 256 or 4096.
	Containers int
}

// swift returns l as the Swift backend's layout, which names the
// containers (chunkstore/swiftstore.Layout); errors: a bad prefix or
// shard count.
func (l Layout) swift() (swiftstore.Layout, error) {
	sl, err := swiftstore.NewLayout(l.Prefix, l.Containers)
	if err != nil {
		return sl, fmt.Errorf("regiongc: %w", err)
	}
	return sl, nil
}

// Validate reports a bad prefix or shard count.
func (l Layout) Validate() error {
	_, err := l.swift()
	return err
}

// kind returns the swiftstore container kind of objects of kind k, live
// or fossil.
func kind(k Kind, fossil bool) string {
	switch {
	case k == KindRecipe && fossil:
		return swiftstore.KindRecipeFossils
	case k == KindRecipe:
		return swiftstore.KindRecipes
	case fossil:
		return swiftstore.KindFossils
	}
	return swiftstore.KindChunks
}

// Live returns the container of the object named idHex of kind k (l must
// be valid: New checks it).
func (l Layout) Live(k Kind, idHex string) string {
	sl, _ := l.swift()
	return sl.Container(kind(k, false), idHex)
}

// Fossil returns the fossil container of the object named idHex of kind k.
func (l Layout) Fossil(k Kind, idHex string) string {
	sl, _ := l.swift()
	return sl.Container(kind(k, true), idHex)
}

// Chunk returns the container of chunk id.
func (l Layout) Chunk(id recipe.ChunkID) string { return l.Live(KindChunk, id.String()) }

// Recipe returns the container of recipe id.
func (l Layout) Recipe(id recipe.ID) string { return l.Live(KindRecipe, id.String()) }

// GC returns the container of the lease and the run report.
func (l Layout) GC() string { return l.Prefix + "-gc" }

// shardContainers returns every live (fossil false) or fossil container
// of kind k.
func (l Layout) shardContainers(k Kind, fossil bool) []string {
	sl, _ := l.swift()
	return sl.Containers(kind(k, fossil))
}
