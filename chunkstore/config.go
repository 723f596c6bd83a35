package chunkstore

import (
	"errors"
	"fmt"
	"math/bits"
	"runtime"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"github.com/restic/chunker"
)

// Default chunk sizes in bytes, chosen by measuring dedup on real VM images
// (see README.md in this directory): an average of 64 KiB keeps most of the
// dedup a 16 KiB average finds, at a quarter of the per-chunk metadata.
const (
	DefaultMinSize = 16 << 10
	DefaultAvgSize = 64 << 10
	DefaultMaxSize = 256 << 10
)

// DefaultCompressionLevel is the zstd level used when Config leaves it 0
// (klauspost/compress SpeedFastest: the 2-core ingest target needs it).
const DefaultCompressionLevel = 1

// DefaultTouchAfter is the default Config.TouchAfter.
const DefaultTouchAfter = 10 * time.Minute

// ErrConfig is returned (wrapped) by Open and Analyze for an invalid Config.
var ErrConfig = errors.New("chunkstore: invalid config")

// ChunkingConfig is the part of Config that decides where chunks are cut.
// Every region of a cluster must use the same values: a change moves cuts
// and loses dedup against everything stored before (TestGoldenChunking
// guards the defaults). Zero fields mean defaults (see Normalize).
type ChunkingConfig struct {
	// Polynomial is the Rabin polynomial (irreducible, degree 53); 0 means
	// DefaultPolynomial.
	Polynomial uint64
	// MinSize, AvgSize and MaxSize bound chunk sizes in bytes; AvgSize is a
	// power of two, the expected distance between cut points after MinSize
	// (restic/chunker's SetAverageBits). All zero means DefaultMinSize,
	// DefaultAvgSize, DefaultMaxSize; AvgSize alone implies MinSize =
	// AvgSize/4 and MaxSize = 4×AvgSize.
	MinSize, AvgSize, MaxSize int
}

// chunking returns cfg's chunking parameters.
func (cfg Config) chunking() ChunkingConfig {
	return ChunkingConfig{cfg.Polynomial, cfg.MinSize, cfg.AvgSize, cfg.MaxSize}
}

// Normalize returns c with zero fields filled with their defaults.
func (c ChunkingConfig) Normalize() ChunkingConfig {
	if c.Polynomial == 0 {
		c.Polynomial = DefaultPolynomial
	}
	if c.MinSize == 0 && c.AvgSize == 0 && c.MaxSize == 0 {
		c.MinSize, c.AvgSize, c.MaxSize = DefaultMinSize, DefaultAvgSize, DefaultMaxSize
	}
	if c.AvgSize == 0 {
		c.AvgSize = DefaultAvgSize
	}
	if c.MinSize == 0 {
		c.MinSize = c.AvgSize / 4
	}
	if c.MaxSize == 0 {
		c.MaxSize = c.AvgSize * 4
	}
	return c
}

// Validate checks a normalized ChunkingConfig: the polynomial must be
// irreducible of degree 53, 64 <= MinSize <= AvgSize <= MaxSize <=
// recipe.MaxChunkSize and AvgSize a power of two. Errors wrap ErrConfig.
func (c ChunkingConfig) Validate() error {
	p := chunker.Pol(c.Polynomial)
	if p.Deg() != 53 || !p.Irreducible() {
		return fmt.Errorf("%w: polynomial %#x is not irreducible of degree 53", ErrConfig, c.Polynomial)
	}
	if c.MinSize < 64 || c.MinSize > c.AvgSize || c.AvgSize > c.MaxSize || c.MaxSize > recipe.MaxChunkSize {
		return fmt.Errorf("%w: chunk sizes min %d avg %d max %d: want 64 <= min <= avg <= max <= %d",
			ErrConfig, c.MinSize, c.AvgSize, c.MaxSize, recipe.MaxChunkSize)
	}
	if bits.OnesCount(uint(c.AvgSize)) != 1 {
		return fmt.Errorf("%w: average chunk size %d is not a power of two", ErrConfig, c.AvgSize)
	}
	return nil
}

// averageBits is log2(AvgSize), for chunker.SetAverageBits.
func (c ChunkingConfig) averageBits() int { return bits.TrailingZeros(uint(c.AvgSize)) }

// newChunker returns a chunker for r with c's parameters (c validated).
func (c ChunkingConfig) newChunker(r interface{ Read([]byte) (int, error) }) *chunker.Chunker {
	ch := chunker.NewWithBoundaries(r, chunker.Pol(c.Polynomial), uint(c.MinSize), uint(c.MaxSize))
	ch.SetAverageBits(c.averageBits())
	return ch
}

// normalize fills cfg's zero fields and validates it.
func (cfg Config) normalize() (Config, error) {
	if cfg.Dir == "" {
		return cfg, fmt.Errorf("%w: Dir is required", ErrConfig)
	}
	ck := cfg.chunking().Normalize()
	if err := ck.Validate(); err != nil {
		return cfg, err
	}
	cfg.Polynomial, cfg.MinSize, cfg.AvgSize, cfg.MaxSize = ck.Polynomial, ck.MinSize, ck.AvgSize, ck.MaxSize
	if cfg.CompressionLevel == 0 {
		cfg.CompressionLevel = DefaultCompressionLevel
	}
	if cfg.CompressionLevel < -1 || cfg.CompressionLevel > int(zstd.SpeedBestCompression) {
		return cfg, fmt.Errorf("%w: compression level %d: want -1 or 1..4", ErrConfig, cfg.CompressionLevel)
	}
	if cfg.Workers < 0 {
		return cfg, fmt.Errorf("%w: Workers %d < 0", ErrConfig, cfg.Workers)
	}
	if cfg.Workers == 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.Window <= 0 {
		cfg.Window = max(32, 8*cfg.Workers)
	}
	if cfg.ReadAhead <= 0 {
		cfg.ReadAhead = max(8, 4*cfg.Workers)
		if cfg.Cluster != nil {
			cfg.ReadAhead = max(cfg.ReadAhead, 32) // hide the cluster's latency
		}
		if pc, ok := cfg.Cluster.(PackCluster); ok && pc.PackSize() > 0 {
			// Chunks arrive by the pack range (packread.go): keep a
			// range's worth of them decoding.
			cfg.ReadAhead = max(cfg.ReadAhead, 128)
		}
	}
	if cfg.ClusterConcurrency <= 0 {
		cfg.ClusterConcurrency = DefaultClusterConcurrency
	}
	if cfg.TouchAfter <= 0 {
		cfg.TouchAfter = DefaultTouchAfter
	}
	if cfg.WriteBudget <= 0 {
		cfg.WriteBudget = DefaultWriteBudget
	}
	if cfg.ReadBudget <= 0 {
		cfg.ReadBudget = DefaultReadBudget
	}
	if cfg.RecipeCacheBytes == 0 {
		cfg.RecipeCacheBytes = DefaultRecipeCacheBytes
	}
	if cfg.ChunkCacheBytes == 0 {
		cfg.ChunkCacheBytes = DefaultChunkCacheBytes
	}
	return cfg, nil
}
