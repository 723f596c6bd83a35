package chunkstore

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"

	"github.com/klauspost/compress/zstd"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

// rawThreshold: a chunk is stored raw unless zstd makes it smaller than
// 97% of its plain size (decoding is not free; 3% is not worth it).
const rawNum, rawDen = 97, 100

// ErrCodec is wrapped by the errors of decodeStored for stored bytes that
// do not decode.
var ErrCodec = errors.New("chunkstore: bad stored chunk")

// codec holds the store's one zstd encoder and decoder; EncodeAll and
// DecodeAll are safe for concurrent use.
type codec struct {
	enc     *zstd.Encoder // nil: compression disabled
	dec     *zstd.Decoder
	maxSize int
}

func newCodec(level, maxSize, workers int) (*codec, error) {
	c := &codec{maxSize: maxSize}
	var err error
	if level > 0 {
		c.enc, err = zstd.NewWriter(nil,
			zstd.WithEncoderLevel(zstd.EncoderLevel(level)),
			zstd.WithEncoderConcurrency(workers),
			zstd.WithEncoderCRC(false), // the chunk ID is a stronger check
			zstd.WithZeroFrames(true),
			zstd.WithWindowSize(windowFor(maxSize)),
			zstd.WithSingleSegment(true),
			zstd.WithLowerEncoderMem(false),
			zstd.WithEncoderPadding(1),
			zstd.WithAllLitEntropyCompression(true),
		)
		if err != nil {
			return nil, fmt.Errorf("chunkstore: zstd encoder: %w", err)
		}
	}
	c.dec, err = zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(workers),
		zstd.WithDecoderLowmem(false),
		zstd.WithDecoderMaxMemory(uint64(recipe.MaxChunkSize)),
		zstd.WithDecoderMaxWindow(uint64(recipe.MaxChunkSize)),
		zstd.WithDecodeAllCapLimit(false), // MaxMemory bounds DecodeAll
	)
	if err != nil {
		if c.enc != nil {
			c.enc.Close()
		}
		return nil, fmt.Errorf("chunkstore: zstd decoder: %w", err)
	}
	return c, nil
}

// windowFor returns the smallest valid zstd window >= n (a power of two
// between zstd.MinWindowSize and 8 MiB).
func windowFor(n int) int {
	w := zstd.MinWindowSize
	for w < n && w < 8<<20 {
		w <<= 1
	}
	return w
}

func (c *codec) close() {
	if c.enc != nil {
		c.enc.Close()
	}
	c.dec.Close()
}

// encodeValue returns the Badger value of a new chunk: codec byte then the
// stored bytes. The result never aliases plain.
func (c *codec) encodeValue(plain []byte) []byte { return c.appendValue(nil, plain) }

// appendValue is encodeValue writing into dst's capacity (dst[:0]).
func (c *codec) appendValue(dst, plain []byte) []byte {
	if need := 1 + len(plain) + len(plain)/64 + 64; cap(dst) < need {
		dst = make([]byte, 0, need)
	}
	if v, ok := c.compressValue(dst, plain); ok {
		return v
	}
	v := dst[:1]
	v[0] = byte(CodecRaw)
	return append(v, plain...)
}

// compressValue returns the zstd value of plain (codec byte, then the
// frame) written into dst's capacity, and true; or false when plain is to
// be stored raw (compression off, a tiny or incompressible chunk, or zstd
// saving less than the raw rule asks). dst must hold 1 + len(plain) +
// len(plain)/64 + 64 bytes to avoid an allocation.
func (c *codec) compressValue(dst, plain []byte) ([]byte, bool) {
	if c.enc == nil || len(plain) < 64 || incompressible(plain) {
		return nil, false
	}
	v := append(dst[:0], byte(CodecZstd))
	v = c.enc.EncodeAll(plain, v)
	if (len(v)-1)*rawDen < len(plain)*rawNum {
		return v, true
	}
	return nil, false
}

// decode returns the plain bytes of a stored chunk, appended to dst[:0]
// (dst may be nil). size > 0 is the expected plain size. Errors wrap
// ErrCodec. The result never aliases data.
func (c *codec) decode(dst []byte, cd Codec, data []byte, size int) ([]byte, error) {
	switch cd {
	case CodecRaw:
		if size > 0 && len(data) != size {
			return nil, fmt.Errorf("%w: raw chunk of %d bytes, want %d", ErrCodec, len(data), size)
		}
		return append(dst[:0], data...), nil
	case CodecZstd:
		if size > 0 && cap(dst) < size {
			dst = make([]byte, 0, size)
		}
		out, err := c.dec.DecodeAll(data, dst[:0])
		if err != nil {
			return nil, fmt.Errorf("%w: zstd: %v", ErrCodec, err)
		}
		if size > 0 && len(out) != size {
			return nil, fmt.Errorf("%w: decodes to %d bytes, want %d", ErrCodec, len(out), size)
		}
		if len(out) > recipe.MaxChunkSize {
			return nil, fmt.Errorf("%w: decodes to %d bytes", ErrCodec, len(out))
		}
		return out, nil
	default:
		return nil, fmt.Errorf("%w: unknown codec %d", ErrCodec, cd)
	}
}

// decodeValue splits a Badger chunk value and decodes it (see decode).
func (c *codec) decodeValue(dst, val []byte, size int) ([]byte, error) {
	if len(val) < 1 {
		return nil, fmt.Errorf("%w: empty value", ErrCodec)
	}
	return c.decode(dst, Codec(val[0]), val[1:], size)
}

// verify decodes and checks the plain bytes against id.
func (c *codec) verify(id recipe.ChunkID, dst []byte, cd Codec, data []byte, size int) ([]byte, error) {
	plain, err := c.decode(dst, cd, data, size)
	if err != nil {
		return nil, &CorruptChunkError{ID: id, Err: err}
	}
	if got := recipe.ChunkID(sha256.Sum256(plain)); got != id {
		return nil, &CorruptChunkError{ID: id, Got: got}
	}
	return plain, nil
}

// Keys and stamps.

func chunkKey(id recipe.ChunkID) []byte {
	k := make([]byte, 1+len(id))
	k[0] = prefixChunk
	copy(k[1:], id[:])
	return k
}

func stampKey(id recipe.ChunkID) []byte {
	k := make([]byte, 1+len(id))
	k[0] = prefixStamp
	copy(k[1:], id[:])
	return k
}

func recipeKey(id recipe.ID) []byte {
	k := make([]byte, 1+len(id))
	k[0] = prefixRecipe
	copy(k[1:], id[:])
	return k
}

func encodeStamp(unix int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(unix)) }

// decodeStamp returns the stamp in unix seconds; ok is false for a value
// that is not 8 bytes.
func decodeStamp(v []byte) (int64, bool) {
	if len(v) != 8 {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(v)), true
}

// Skipping zstd for incompressible chunks: zstd level 1 spends about as
// long failing on random or already-compressed bytes as compressing, only
// to have the chunk stored raw. incompressible samples sampleCount pieces
// of samplePiece bytes spread evenly over a chunk (so any compressible run
// longer than the spacing plus a piece, 4.25 KiB on a 64 KiB chunk, is
// sampled), requires every piece to look random (sampleDistinct distinct
// bytes) and estimates the byte entropy of the sample: above
// rawEntropy bits per byte, the literals Huffman coding could save less
// than the 3 % the raw rule asks for, and a sample without any repeated
// structure says the LZ stage has little to find. Chunks under
// sampleMinSize are always compressed. On the VM image set the rule
// changes stored bytes by under 0.1 % (README); the Analyzer uses the
// same codec, so dedupstat reports what the store does.
const (
	sampleCount   = 16
	samplePiece   = 256
	sampleMinSize = 16 << 10
	sampleBytes   = sampleCount * samplePiece
	rawEntropy    = 7.85 // bits per byte; uniform random estimates ~7.95
	// sampleDistinct: every piece must have this many distinct bytes.
	sampleDistinct = 128
)

// clogc[n] = n·log2(n), for the entropy of a sample's histogram.
var clogc = func() *[sampleBytes + 1]float64 {
	var t [sampleBytes + 1]float64
	for n := 2; n <= sampleBytes; n++ {
		t[n] = float64(n) * math.Log2(float64(n))
	}
	return &t
}()

// incompressible reports whether zstd is unlikely to save 3 % of p (see
// sampleCount).
func incompressible(p []byte) bool {
	if len(p) < sampleMinSize {
		return false
	}
	var h [4][256]uint16
	step := (len(p) - samplePiece) / (sampleCount - 1)
	for i := range sampleCount {
		piece := p[i*step : i*step+samplePiece]
		var seen [4]uint64
		for k := 0; k+4 <= len(piece); k += 4 {
			b0, b1, b2, b3 := piece[k], piece[k+1], piece[k+2], piece[k+3]
			h[0][b0]++
			h[1][b1]++
			h[2][b2]++
			h[3][b3]++
			seen[b0>>6] |= 1 << (b0 & 63)
			seen[b1>>6] |= 1 << (b1 & 63)
			seen[b2>>6] |= 1 << (b2 & 63)
			seen[b3>>6] |= 1 << (b3 & 63)
		}
		// A random piece has ~162 distinct bytes; text ~40, a run 1.
		n := bits.OnesCount64(seen[0]) + bits.OnesCount64(seen[1]) + bits.OnesCount64(seen[2]) + bits.OnesCount64(seen[3])
		if n < sampleDistinct {
			return false
		}
	}
	// H = log2(N) - Σ c·log2(c) / N
	var sum float64
	for b := range 256 {
		sum += clogc[h[0][b]+h[1][b]+h[2][b]+h[3][b]]
	}
	return 12-sum/sampleBytes > rawEntropy // log2(4096) = 12
}
