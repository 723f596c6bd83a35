package chunkstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"golang.org/x/sync/errgroup"
)

// AnalyzeConfig configures an Analyzer.
type AnalyzeConfig struct {
	// Chunking is the content-defined chunking to measure (zero fields:
	// defaults). Ignored when Fixed > 0.
	Chunking ChunkingConfig
	// Fixed > 0 cuts fixed-size chunks of Fixed bytes instead (the last
	// chunk of a file may be shorter).
	Fixed int
	// Level is the zstd level (1..4) for the compressed size; 0 means
	// DefaultCompressionLevel, -1 no compression.
	Level int
	// Workers hash and compress in parallel; 0 means GOMAXPROCS.
	Workers int
}

// DedupStats is what an Analyzer measured over every stream added to it. All
// sizes are in bytes. Zero chunks (all bytes 0, the holes of sparse VM
// images) are counted in Total and Chunks and separately in Zero*, and
// never in Unique*: savings are meaningful only on non-zero data.
type DedupStats struct {
	Files      int   `json:"files"`
	Total      int64 `json:"total_bytes"`
	ZeroBytes  int64 `json:"zero_bytes"`
	Chunks     int64 `json:"chunks"`
	ZeroChunks int64 `json:"zero_chunks"`
	// Unique and UniqueStored are the bytes of distinct non-zero chunks,
	// plain and as the store would keep them (zstd or raw, plus the codec
	// byte); UniqueChunks counts them.
	Unique       int64 `json:"unique_bytes"`
	UniqueStored int64 `json:"unique_stored_bytes"`
	UniqueChunks int64 `json:"unique_chunks"`
	// MeanSize and StdDevSize describe the sizes of all chunks;
	// MeanNonZero and StdDevNonZero those of the non-zero chunks (runs of
	// zeros are cut at MinSize and would drag the mean down).
	MeanSize      float64 `json:"chunk_mean"`
	StdDevSize    float64 `json:"chunk_stddev"`
	MeanNonZero   float64 `json:"nonzero_chunk_mean"`
	StdDevNonZero float64 `json:"nonzero_chunk_stddev"`
}

// Saved returns the fraction of non-zero bytes that dedup removes
// (1 - Unique/(Total-ZeroBytes)); 0 for no data.
func (s DedupStats) Saved() float64 {
	nz := s.Total - s.ZeroBytes
	if nz <= 0 {
		return 0
	}
	return 1 - float64(s.Unique)/float64(nz)
}

// SavedStored is Saved with compression: 1 - UniqueStored/(Total-ZeroBytes).
func (s DedupStats) SavedStored() float64 {
	nz := s.Total - s.ZeroBytes
	if nz <= 0 {
		return 0
	}
	return 1 - float64(s.UniqueStored)/float64(nz)
}

// Analyzer measures dedup and compression of streams cut as the store would
// cut them, accumulating the set of distinct chunks across streams (about
// 40 bytes of memory per distinct chunk). It writes nothing. Add must not
// be called concurrently.
type Analyzer struct {
	cfg   AnalyzeConfig
	codec *codec
	mu    sync.Mutex
	seen  map[recipe.ChunkID]struct{}
	st    DedupStats
	sum2  float64 // sum of squared chunk sizes
	sum2z float64 // of zero chunks
}

// NewAnalyzer validates cfg (errors wrap ErrConfig) and returns an Analyzer.
// Call Close when done.
func NewAnalyzer(cfg AnalyzeConfig) (*Analyzer, error) {
	if cfg.Fixed < 0 || cfg.Fixed > recipe.MaxChunkSize {
		return nil, fmt.Errorf("%w: fixed size %d", ErrConfig, cfg.Fixed)
	}
	cfg.Chunking = cfg.Chunking.Normalize()
	if err := cfg.Chunking.Validate(); err != nil {
		return nil, err
	}
	if cfg.Level == 0 {
		cfg.Level = DefaultCompressionLevel
	}
	if cfg.Level < -1 || cfg.Level > int(zstd.SpeedBestCompression) {
		return nil, fmt.Errorf("%w: compression level %d", ErrConfig, cfg.Level)
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	maxSize := cfg.Chunking.MaxSize
	if cfg.Fixed > 0 {
		maxSize = cfg.Fixed
	}
	cd, err := newCodec(cfg.Level, maxSize, cfg.Workers)
	if err != nil {
		return nil, err
	}
	return &Analyzer{cfg: cfg, codec: cd, seen: map[recipe.ChunkID]struct{}{}}, nil
}

// Close releases the Analyzer's encoder.
func (a *Analyzer) Close() { a.codec.close() }

// Stats returns the accumulated statistics.
func (a *Analyzer) Stats() DedupStats {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := a.st
	if st.Chunks > 0 {
		n := float64(st.Chunks)
		st.MeanSize = float64(st.Total) / n
		st.StdDevSize = math.Sqrt(math.Max(0, a.sum2/n-st.MeanSize*st.MeanSize))
	}
	if nz := st.Chunks - st.ZeroChunks; nz > 0 {
		n := float64(nz)
		st.MeanNonZero = float64(st.Total-st.ZeroBytes) / n
		st.StdDevNonZero = math.Sqrt(math.Max(0, (a.sum2-a.sum2z)/n-st.MeanNonZero*st.MeanNonZero))
	}
	return st
}

// Add cuts r and adds its chunks to the statistics.
func (a *Analyzer) Add(ctx context.Context, r io.Reader) error {
	g, gctx := errgroup.WithContext(ctx)
	bufs := make(chan []byte, 4*a.cfg.Workers)
	maxSize := a.cfg.Chunking.MaxSize
	if a.cfg.Fixed > 0 {
		maxSize = a.cfg.Fixed
	}
	for range cap(bufs) {
		bufs <- make([]byte, 0, maxSize)
	}
	work := make(chan []byte, cap(bufs))
	g.Go(func() error {
		defer close(work)
		next := a.cutter(r)
		for {
			var buf []byte
			select {
			case buf = <-bufs:
			case <-gctx.Done():
				return gctx.Err()
			}
			data, err := next(buf[:0])
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			work <- data
		}
	})
	for range a.cfg.Workers {
		g.Go(func() error {
			for data := range work {
				a.add(data)
				bufs <- data[:0]
			}
			return nil
		})
	}
	err := g.Wait()
	if err == nil {
		a.mu.Lock()
		a.st.Files++
		a.mu.Unlock()
	}
	return err
}

// cutter returns a function that reads the next chunk of r into buf.
func (a *Analyzer) cutter(r io.Reader) func(buf []byte) ([]byte, error) {
	if a.cfg.Fixed > 0 {
		return func(buf []byte) ([]byte, error) {
			n, err := io.ReadFull(r, buf[:a.cfg.Fixed])
			if errors.Is(err, io.ErrUnexpectedEOF) {
				err = nil
			}
			if n == 0 && err == nil {
				err = io.EOF
			}
			return buf[:n], err
		}
	}
	return a.cfg.Chunking.newCutter(r).Next
}

// zeroBlock is compared against to find zero chunks (bytes.Equal is SIMD).
var zeroBlock [16 << 10]byte

func isZero(p []byte) bool {
	for len(p) > 0 {
		n := min(len(p), len(zeroBlock))
		if !bytes.Equal(p[:n], zeroBlock[:n]) {
			return false
		}
		p = p[n:]
	}
	return true
}

func (a *Analyzer) add(data []byte) {
	n := int64(len(data))
	zero := isZero(data)
	var id recipe.ChunkID
	if !zero {
		id = recipe.ChunkID(sha256.Sum256(data))
	}
	a.mu.Lock()
	a.st.Total += n
	a.st.Chunks++
	a.sum2 += float64(n) * float64(n)
	if zero {
		a.st.ZeroBytes += n
		a.st.ZeroChunks++
		a.sum2z += float64(n) * float64(n)
		a.mu.Unlock()
		return
	}
	_, dup := a.seen[id]
	if !dup {
		a.seen[id] = struct{}{}
		a.st.Unique += n
		a.st.UniqueChunks++
	}
	a.mu.Unlock()
	if dup {
		return
	}
	stored := int64(len(a.codec.encodeValue(data)))
	a.mu.Lock()
	a.st.UniqueStored += stored
	a.mu.Unlock()
}

// Analyze measures one stream r with cfg; see Analyzer.
func Analyze(ctx context.Context, r io.Reader, cfg AnalyzeConfig) (DedupStats, error) {
	a, err := NewAnalyzer(cfg)
	if err != nil {
		return DedupStats{}, err
	}
	defer a.Close()
	if err := a.Add(ctx, r); err != nil {
		return DedupStats{}, err
	}
	return a.Stats(), nil
}
