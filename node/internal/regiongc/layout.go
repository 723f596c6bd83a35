package regiongc

import (
	"fmt"
	"strings"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
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

// Layout names the containers of a region's cluster (REGION-CONTRACT.md,
// owned by the Swift backend): Containers shards per kind, chosen by the
// first log16(Containers) hex digits of the object's ID.
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

// digits returns log16(Containers), or an error for another count.
func (l Layout) digits() (int, error) {
	switch l.Containers {
	case 1:
		return 0, nil
	case 16:
		return 1, nil
	case 256:
		return 2, nil
	case 4096:
		return 3, nil
	}
	return 0, fmt.Errorf("regiongc: containers = %d, want 1, 16, 256 or 4096", l.Containers)
}

// Validate reports a bad prefix or shard count.
func (l Layout) Validate() error {
	if l.Prefix == "" || strings.ContainsAny(l.Prefix, "/\x00") {
		return fmt.Errorf("regiongc: bad container prefix %q", l.Prefix)
	}
	_, err := l.digits()
	return err
}

func (l Layout) container(base, idHex string) string {
	k, _ := l.digits()
	if k == 0 {
		return l.Prefix + "-" + base
	}
	return l.Prefix + "-" + base + "-" + idHex[:k]
}

// Live returns the container of the object named idHex of kind k.
func (l Layout) Live(k Kind, idHex string) string {
	if k == KindRecipe {
		return l.container("recipes", idHex)
	}
	return l.container("chunks", idHex)
}

// Fossil returns the fossil container of the object named idHex of kind k.
func (l Layout) Fossil(k Kind, idHex string) string {
	if k == KindRecipe {
		return l.container("recipe-fossils", idHex)
	}
	return l.container("fossils", idHex)
}

// Chunk returns the container of chunk id.
func (l Layout) Chunk(id recipe.ChunkID) string { return l.Live(KindChunk, id.String()) }

// Recipe returns the container of recipe id.
func (l Layout) Recipe(id recipe.ID) string { return l.Live(KindRecipe, id.String()) }

// GC returns the container of the lease and the run report.
func (l Layout) GC() string { return l.Prefix + "-gc" }

// shards returns the hex prefixes of the shards: [""] for 1 container,
// "0".."f" for 16, and so on.
func (l Layout) shards() []string {
	k, _ := l.digits()
	out := []string{""}
	for range k {
		next := make([]string, 0, len(out)*16)
		for _, p := range out {
			for _, c := range "0123456789abcdef" {
				next = append(next, p+string(c))
			}
		}
		out = next
	}
	return out
}

// shardContainers returns every live (fossil false) or fossil container
// of kind k.
func (l Layout) shardContainers(k Kind, fossil bool) []string {
	var out []string
	for _, s := range l.shards() {
		// A shard prefix stands for any ID starting with it.
		id := s + strings.Repeat("0", 64-len(s))
		if fossil {
			out = append(out, l.Fossil(k, id))
		} else {
			out = append(out, l.Live(k, id))
		}
	}
	return out
}
