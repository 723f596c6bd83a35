package chunkstore

// This file is the contract other packages build on. The bodies are filled
// in by the chunkstore implementation; the signatures are fixed.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"go.uber.org/zap"
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
	// SyncWrites makes every commit durable before it returns (Badger
	// SyncWrites). Default true via Open's normalisation unless NoSync.
	NoSync bool
}

// ErrNotFound is returned (wrapped) when a chunk, recipe or record is absent.
var ErrNotFound = errors.New("chunkstore: not found")

// CorruptChunkError reports a stored chunk whose bytes do not hash to its ID.
type CorruptChunkError struct {
	ID  recipe.ChunkID
	Got recipe.ChunkID
}

func (e *CorruptChunkError) Error() string {
	return fmt.Sprintf("chunkstore: chunk %s is corrupt (hashes to %s)", e.ID, e.Got)
}

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

// GCStats reports what a garbage collection removed.
type GCStats struct {
	RecipesRemoved, ChunksRemoved int
	BytesRemoved                  int64 // stored bytes
	VlogRewrites                  int
}

// FsckReport lists what fsck found.
type FsckReport struct {
	ChunksChecked int
	Corrupt       []recipe.ChunkID
	Missing       map[recipe.ID][]recipe.ChunkID // live recipe → absent chunks
	Repaired      int
}

var _ = io.EOF
var _ = time.Second
var _ *zap.Logger
