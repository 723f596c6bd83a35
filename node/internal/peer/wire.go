package peer

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/nitro-cloud/nitro/chunkstore"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

// Limits of the protocol.
const (
	// MaxIDs is the most chunk IDs one have or chunks request may carry.
	MaxIDs = 1 << 16
	// MaxFrame is the largest stored chunk a frame may carry, in bytes:
	// the largest plain chunk plus zstd's worst-case overhead (a chunk
	// that does not compress is stored raw, so this is generous).
	MaxFrame = recipe.MaxChunkSize + 64<<10
	// MaxRecordBytes caps a records request body, in bytes.
	MaxRecordBytes = 64 << 20
	// DigestBuckets is the number of anti-entropy buckets.
	DigestBuckets = 256
)

const (
	frameOK      = 0
	frameNotHeld = 1
	// frameSkipped: the chunk was left out at the receiver's request
	// (POST /skip), with len 0.
	frameSkipped = 2
	frameHeader  = 32 + 1 + 1 + 4
)

// ErrNotHeld is returned (wrapped in a *NotHeldError) for a chunk a peer
// asked for does not hold (or failed to verify on its side).
var ErrNotHeld = errors.New("peer: chunk not held")

// NotHeldError names the chunk a peer did not send.
type NotHeldError struct{ ID recipe.ChunkID }

func (e *NotHeldError) Error() string { return fmt.Sprintf("peer: chunk %s not held", e.ID.Short()) }

// Unwrap returns ErrNotHeld.
func (e *NotHeldError) Unwrap() error { return ErrNotHeld }

// ErrSkipped is returned (wrapped in a *SkippedError) for a chunk of a
// stream that the sender left out because the receiver asked it to
// (Client.Skip): it arrived from elsewhere first.
var ErrSkipped = errors.New("peer: chunk skipped at the receiver's request")

// SkippedError names the chunk a peer left out of a stream on request.
type SkippedError struct{ ID recipe.ChunkID }

func (e *SkippedError) Error() string {
	return fmt.Sprintf("peer: chunk %s skipped at the receiver's request", e.ID.Short())
}

// Unwrap returns ErrSkipped.
func (e *SkippedError) Unwrap() error { return ErrSkipped }

// Skipped reports true: the chunk was left out on request, not refused
// (for consumers that match the error by this method, as package fetch
// does, instead of importing this package).
func (e *SkippedError) Skipped() bool { return true }

// WireRecord is a namespace record as it crosses the network: its key and
// value encodings (namespace.Key.Bytes, Record.MarshalValue) and, for an
// object, the encoding of the recipe it names (recipe.MarshalBinary), which
// the receiver stores before it applies the record so that every region
// can read the object.
type WireRecord struct {
	Key    []byte `json:"k"`
	Value  []byte `json:"v"`
	Recipe []byte `json:"r,omitempty"`
}

// Digest is the anti-entropy summary of a node's records: bucket b holds
// the XOR of SHA-256 over every record whose key hashes to b (see
// BucketOf); an empty bucket is all zeros.
type Digest [DigestBuckets][32]byte

// BucketOf returns the digest bucket of a record key: the first byte of
// SHA-256(key).
func BucketOf(key []byte) int { return int(sha256Sum(key)[0]) }

func encodeIDs(ids []recipe.ChunkID) []byte {
	b := make([]byte, 0, 32*len(ids))
	for _, id := range ids {
		b = append(b, id[:]...)
	}
	return b
}

// encodeWants encodes an obtain request: per chunk its ID and its plain
// size (uint32, big endian).
func encodeWants(ids []recipe.ChunkID, plain []uint32) []byte {
	b := make([]byte, 0, 36*len(ids))
	for i, id := range ids {
		b = append(b, id[:]...)
		b = binary.BigEndian.AppendUint32(b, plain[i])
	}
	return b
}

func decodeWants(r io.Reader) ([]recipe.ChunkID, []uint32, error) {
	b, err := io.ReadAll(io.LimitReader(r, 36*MaxIDs+1))
	if err != nil {
		return nil, nil, err
	}
	if len(b)%36 != 0 || len(b) > 36*MaxIDs {
		return nil, nil, fmt.Errorf("body of %d bytes is not at most %d (chunk ID, size) pairs", len(b), MaxIDs)
	}
	ids := make([]recipe.ChunkID, len(b)/36)
	plain := make([]uint32, len(ids))
	for i := range ids {
		copy(ids[i][:], b[36*i:])
		plain[i] = binary.BigEndian.Uint32(b[36*i+32:])
		if plain[i] == 0 || plain[i] > recipe.MaxChunkSize {
			return nil, nil, fmt.Errorf("chunk %d: plain size %d", i, plain[i])
		}
	}
	return ids, plain, nil
}

func decodeIDs(r io.Reader) ([]recipe.ChunkID, error) {
	b, err := io.ReadAll(io.LimitReader(r, 32*MaxIDs+1))
	if err != nil {
		return nil, err
	}
	if len(b)%32 != 0 || len(b) > 32*MaxIDs {
		return nil, fmt.Errorf("body of %d bytes is not at most %d chunk IDs", len(b), MaxIDs)
	}
	ids := make([]recipe.ChunkID, len(b)/32)
	for i := range ids {
		copy(ids[i][:], b[32*i:])
	}
	return ids, nil
}

// encodeSizes encodes a have answer: one big-endian uint32 per chunk,
// its stored size, 0 for absent (a stored chunk has at least one byte).
func encodeSizes(sizes []int64) []byte {
	b := make([]byte, 4*len(sizes))
	for i, n := range sizes {
		binary.BigEndian.PutUint32(b[4*i:], uint32(min(max(n, 0), MaxFrame)))
	}
	return b
}

// decodeSizes decodes a have answer for n chunks: sizes, -1 for absent.
func decodeSizes(b []byte, n int) ([]int64, error) {
	if len(b) != 4*n {
		return nil, fmt.Errorf("have answer of %d bytes for %d chunks", len(b), n)
	}
	out := make([]int64, n)
	for i := range out {
		out[i] = int64(binary.BigEndian.Uint32(b[4*i:]))
		if out[i] == 0 {
			out[i] = -1
		}
	}
	return out, nil
}

func writeFrame(w io.Writer, id recipe.ChunkID, st *chunkstore.Stored) error {
	var h [frameHeader]byte
	copy(h[:32], id[:])
	if st == nil {
		h[32] = frameNotHeld
	} else {
		h[33] = byte(st.Codec)
		binary.BigEndian.PutUint32(h[34:], uint32(len(st.Data)))
	}
	if _, err := w.Write(h[:]); err != nil {
		return err
	}
	if st != nil {
		_, err := w.Write(st.Data)
		return err
	}
	return nil
}

// writeSkipped writes the frame of a chunk left out on request.
func writeSkipped(w io.Writer, id recipe.ChunkID) error {
	var h [frameHeader]byte
	copy(h[:32], id[:])
	h[32] = frameSkipped
	_, err := w.Write(h[:])
	return err
}

// readFrame reads one frame and returns its status (frameOK,
// frameNotHeld or frameSkipped; st is set for frameOK only).
func readFrame(r *bufio.Reader) (id recipe.ChunkID, st chunkstore.Stored, status byte, err error) {
	var h [frameHeader]byte
	if _, err = io.ReadFull(r, h[:]); err != nil {
		return id, st, 0, err
	}
	copy(id[:], h[:32])
	n := binary.BigEndian.Uint32(h[34:])
	switch h[32] {
	case frameNotHeld, frameSkipped:
		return id, st, h[32], nil
	case frameOK:
	default:
		return id, st, 0, fmt.Errorf("peer: bad frame status %d", h[32])
	}
	if n == 0 || n > MaxFrame {
		return id, st, 0, fmt.Errorf("peer: frame of %d bytes", n)
	}
	st.Codec = chunkstore.Codec(h[33])
	st.Data = make([]byte, n)
	if _, err = io.ReadFull(r, st.Data); err != nil {
		return id, st, 0, fmt.Errorf("peer: truncated frame: %w", err)
	}
	return id, st, frameOK, nil
}
