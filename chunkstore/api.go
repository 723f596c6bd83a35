package chunkstore

// This file is the contract other packages build on: the types here and
// the Store and Records method sets (store.go, chunk.go, writer.go,
// reader.go, recipes.go, records.go, gc.go, fsck.go).

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

// DefaultPolynomial is Nitro's cluster-wide Rabin polynomial for
// restic/chunker. Every region must cut with the same polynomial, so it is a
// constant, never chosen at random per node.
const DefaultPolynomial uint64 = 0x3DA3358B4DC173

// Config configures a Store. The zero value of a field means its default.
type Config struct {
	// Dir is the directory of the Badger database. Required.
	Dir string
	// Polynomial is the Rabin polynomial; it must be irreducible of degree
	// 53 (validated by Open). Zero means DefaultPolynomial.
	Polynomial uint64
	// MinSize, AvgSize and MaxSize bound chunk sizes in bytes. AvgSize must
	// be a power of two. Zero means the defaults chosen by measurement (see
	// README).
	MinSize, AvgSize, MaxSize int
	// CompressionLevel is the zstd level (1 fastest … 4 best, as
	// klauspost/compress's EncoderLevel); 0 means the default; -1 disables
	// compression.
	CompressionLevel int
	// Workers is the size of the hash+compress worker pool; 0 means
	// GOMAXPROCS.
	Workers int
	// NoSync skips the DB.Sync that Write, Put, PutStored, PutRecipe and
	// Records.Update otherwise run before they return (see doc.go); for
	// tests and benchmarks only: an acknowledged write may then be lost on
	// power failure.
	NoSync bool
	// Window is the number of chunks a Write keeps in flight (chunked but
	// not yet committed), which bounds its memory to about Window×MaxSize
	// bytes; 0 means max(32, 8×Workers).
	Window int
	// ReadAhead is the number of chunks a reader from NewReader fetches and
	// decodes ahead of the consumer; 0 means max(8, 4×Workers).
	ReadAhead int
	// TouchAfter is the age after which a write that finds a chunk already
	// stored re-stamps it, protecting it from GC (see doc.go); 0 means
	// DefaultTouchAfter. GC refuses a grace period under 2×TouchAfter.
	TouchAfter time.Duration
	// ReserveBytes is the free space in bytes that writes of chunks and
	// recipes never eat into on Dir's file system: they fail with
	// ErrNoSpace instead (see space.go). 0 means DefaultReserve (what
	// Badger may need in one go); negative turns the check off.
	ReserveBytes int64
	// ReservePercent, if positive, raises the reserve to this percentage of
	// the file system's size (Swift's fallocate_reserve in %).
	ReservePercent float64
	// WriteBudget bounds the bytes of chunk buffers (plain and compressed)
	// that all concurrent Writes hold together, from cutting until their
	// transaction commits; a Write past it waits (back-pressure). 0 means
	// DefaultWriteBudget. Each Write's Window still applies.
	WriteBudget int64
	// ReadBudget bounds the bytes of decoded chunks that all readers from
	// NewReader hold together ahead of their consumers; 0 means
	// DefaultReadBudget. Each reader's ReadAhead still applies.
	ReadBudget int64
	// RecipeCacheBytes bounds the memory, in bytes, of the cache of decoded
	// recipes and their offset indexes that Recipe, NewReader and Span use
	// (about 44 bytes per ref: a 2 GiB object in 16 KiB chunks takes 6 MB);
	// 0 means DefaultRecipeCacheBytes, negative turns the cache off.
	RecipeCacheBytes int64
	// ChunkCacheBytes bounds the memory, in bytes, of the cache of
	// verified plain chunks that small Range reads cut (chunkcache.go: the
	// next 4 KiB read of a VM's block layer is then a copy, not a Badger
	// read, a decode and a hash of the whole chunk), and that a
	// sequential reader's next chunks are verified into ahead of its
	// next read (verifyahead.go); 0 means DefaultChunkCacheBytes,
	// negative turns the cache (and verify-ahead) off.
	ChunkCacheBytes int64
	// Cluster, when set, keeps chunk data and recipes on the region's
	// object cluster (backend "swift", cluster.go): Badger then holds an
	// index of the chunks known to be there and a cache of recipes, never
	// the only copy of a chunk. nil is backend "badger": chunks inline in
	// Badger.
	Cluster Cluster
	// ClusterConcurrency bounds the cluster requests a Write keeps in
	// flight and that Has, Missing and StoredSizes make at once; 0 means
	// DefaultClusterConcurrency. Unused without Cluster.
	ClusterConcurrency int
}

// Defaults of Config's memory budgets, in bytes: with Badger's caches and
// memtables (about 100 MiB, see badgerOptions) they keep a store's memory
// under half a GiB at any concurrency.
const (
	DefaultWriteBudget = 144 << 20
	DefaultReadBudget  = 48 << 20
)

// ErrNotFound is returned (wrapped) when a chunk, recipe or record is absent.
var ErrNotFound = errors.New("chunkstore: not found")

// CorruptChunkError reports a stored chunk whose bytes do not hash to its ID.
// Got is the hash of the decoded bytes; when the stored bytes do not even
// decode (unknown codec, bad zstd frame, wrong size), Got is zero and Err
// says why.
type CorruptChunkError struct {
	ID  recipe.ChunkID
	Got recipe.ChunkID
	Err error
}

func (e *CorruptChunkError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("chunkstore: chunk %s is corrupt: %v", e.ID, e.Err)
	}
	return fmt.Sprintf("chunkstore: chunk %s is corrupt (hashes to %s)", e.ID, e.Got)
}

// Unwrap returns the decoding error, if any.
func (e *CorruptChunkError) Unwrap() error { return e.Err }

// Codec says how a chunk's stored bytes encode its plain bytes.
type Codec byte

// Codecs.
const (
	CodecRaw  Codec = 0 // stored bytes are the plain bytes
	CodecZstd Codec = 1 // stored bytes are one zstd frame of the plain bytes
)

// Stored is a chunk in its stored form, as it crosses the network between
// regions: the codec and the encoded bytes. Data is owned by the holder.
type Stored struct {
	Codec Codec
	Data  []byte
}

// ChunkSource yields a chunk's plain, verified bytes. Store implements it;
// the node wraps it to fetch chunks that are missing locally from peers.
type ChunkSource interface {
	// Chunk returns the plain bytes of ref; the caller owns the slice.
	Chunk(ctx context.Context, ref recipe.Ref) ([]byte, error)
}

// LocalSource is a ChunkSource that knows how many chunks of the span it
// was made for were missing from the store when it was made. NewReader
// reads a small range (≤ 256 KiB) of a LocalSource with none missing from
// the store itself, as when src is the store (no read-ahead goroutines,
// the chunk cache), and asks the source only for a chunk whose copy in the
// store is missing or fails verification (the source may fetch it again);
// what the source returns is verified again.
type LocalSource interface {
	ChunkSource
	// Missing returns how many distinct chunks of the span were not in
	// the store when the source was made.
	Missing() int
}

// StoreSource is a ChunkSource that makes the chunks of the span it was
// made for local in the store it reads (the node's fetcher: it fetches
// the missing ones from peers and stores them). NewReader reads such a
// source's chunks from the store itself, as the store's own: it waits
// for each with Ready, then reads it into its pooled buffers, verified
// once, by the store (a reader of a plain ChunkSource verifies what
// Chunk returns, which a store-backed source has verified already, and
// owns a new buffer per chunk). It asks Chunk only for a chunk whose copy
// in the store is missing or fails verification after Ready (the source
// may fetch it again), and verifies what Chunk returns.
type StoreSource interface {
	ChunkSource
	// Ready returns once ref's chunk is in the store (at once for one
	// that was there when the source was made), or the error that keeps
	// it out (the fetch's, or ctx's).
	Ready(ctx context.Context, ref recipe.Ref) error
}

// GCStats reports what a garbage collection removed.
type GCStats struct {
	RecipesRemoved, ChunksRemoved int
	BytesRemoved                  int64 // stored bytes
	VlogRewrites                  int
}

// FsckReport lists what fsck found.
type FsckReport struct {
	ChunksChecked int                            `json:"chunks_checked"`
	Corrupt       []recipe.ChunkID               `json:"corrupt_chunks"`
	Missing       map[recipe.ID][]recipe.ChunkID `json:"missing_chunks"` // live recipe → absent chunks
	Repaired      int                            `json:"repaired"`
	// RecipesChecked counts stored recipes decoded and hashed.
	RecipesChecked int `json:"recipes_checked"`
	// BadRecipes are stored recipes that do not decode or whose encoding
	// does not hash to their key (repair deletes them).
	BadRecipes []recipe.ID `json:"bad_recipes"`
	// MissingRecipes are live recipe IDs with no stored recipe.
	MissingRecipes []recipe.ID `json:"missing_recipes"`
	// Unstamped counts chunks without a GC stamp (repair stamps them now);
	// StrayStamps counts stamps without a chunk (repair deletes them).
	Unstamped   int `json:"unstamped_chunks"`
	StrayStamps int `json:"stray_stamps"`
}

// OK reports whether fsck found nothing wrong (repairs of stamps aside).
func (r *FsckReport) OK() bool {
	return len(r.Corrupt) == 0 && len(r.Missing) == 0 && len(r.BadRecipes) == 0 && len(r.MissingRecipes) == 0
}
