// Package recipe holds the nouns of Nitro's content layer that every other
// package shares: the chunk ID, the chunk reference and the recipe that
// rebuilds an object from its chunks. It is a stdlib-only leaf package so
// that the planner, the peer protocol and the Swift front end can name chunks
// without importing the store.
//
// Terms (as in restic, desync and the Nitro paper, Darrous et al., CCGrid
// 2018):
//   - chunk: a piece of an object cut by content-defined chunking;
//   - chunk ID: SHA-256 of the chunk's plain (uncompressed) bytes;
//   - ref: a chunk ID plus the chunk's plain size in bytes;
//   - recipe: the ordered refs that rebuild an object, with its total size
//     and MD5 (the Swift ETag); its ID is the SHA-256 of its canonical
//     binary encoding (see MarshalBinary).
package recipe

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
)

// ChunkID is the SHA-256 of a chunk's plain bytes. The zero value names no
// chunk.
type ChunkID [sha256.Size]byte

// Sum returns the chunk ID of the plain bytes p.
func Sum(p []byte) ChunkID { return ChunkID(sha256.Sum256(p)) }

// String returns the ID as 64 lowercase hex digits.
func (id ChunkID) String() string { return hex.EncodeToString(id[:]) }

// Short returns the first 12 hex digits, for logs.
func (id ChunkID) Short() string { return hex.EncodeToString(id[:6]) }

// ParseChunkID parses 64 hex digits. It returns ErrMalformed on anything
// else.
func ParseChunkID(s string) (ChunkID, error) {
	var id ChunkID
	if len(s) != 2*len(id) {
		return id, fmt.Errorf("%w: chunk ID %q: want %d hex digits", ErrMalformed, s, 2*len(id))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("%w: chunk ID %q: %v", ErrMalformed, s, err)
	}
	return id, nil
}

// MarshalText implements encoding.TextMarshaler (hex), so IDs read well in
// JSON.
func (id ChunkID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (id *ChunkID) UnmarshalText(b []byte) error {
	v, err := ParseChunkID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// Ref names one chunk of an object: its ID and its plain size in bytes
// (1 <= Size <= MaxChunkSize).
type Ref struct {
	ID   ChunkID
	Size uint32
}

// MaxChunkSize is the largest plain chunk size, in bytes, that a recipe may
// name (64 MiB). The chunker's configured maximum is far below it.
const MaxChunkSize = 64 << 20

// MaxRefs is the largest number of refs a recipe may hold (2^24: 16 Mi
// chunks, e.g. 1 TiB at a 64 KiB mean), which bounds what a decoder
// allocates for hostile input.
const MaxRefs = 1 << 24

// ID is a recipe's ID: the SHA-256 of its canonical encoding.
type ID [sha256.Size]byte

// String returns the ID as 64 lowercase hex digits.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// ParseID parses 64 hex digits. It returns ErrMalformed on anything else.
func ParseID(s string) (ID, error) {
	c, err := ParseChunkID(s)
	return ID(c), err
}

// MarshalText implements encoding.TextMarshaler (hex).
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// IsZero reports whether id is the zero ID (no recipe).
func (id ID) IsZero() bool { return id == ID{} }

// ErrMalformed is returned (wrapped) by the parsers and decoders of this
// package for input that is not a valid encoding.
var ErrMalformed = errors.New("recipe: malformed")

// Recipe is the ordered list of chunk refs that rebuilds an object, with the
// object's total size in bytes (the sum of the refs' sizes) and the MD5 of
// its bytes (Swift's ETag). A Recipe is immutable once built; callers must
// not modify Refs of a recipe they did not build.
type Recipe struct {
	Refs []Ref
	Size int64
	MD5  [md5.Size]byte
}

// ETag returns the MD5 as 32 lowercase hex digits, as Swift returns it.
func (r *Recipe) ETag() string { return hex.EncodeToString(r.MD5[:]) }

// encoding version 1:
//
//	"NRC" version(1) | uvarint size | md5[16] | uvarint nrefs |
//	nrefs × (chunkID[32] | uvarint chunkSize)
const (
	magic   = "NRC"
	version = 1
)

// MarshalBinary returns the canonical, versioned encoding of r. Equal
// recipes have equal encodings, so the encoding's SHA-256 is a stable ID.
func (r *Recipe) MarshalBinary() ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, len(magic)+1+binary.MaxVarintLen64*2+16+len(r.Refs)*(32+3))
	b = append(b, magic...)
	b = append(b, version)
	b = binary.AppendUvarint(b, uint64(r.Size))
	b = append(b, r.MD5[:]...)
	b = binary.AppendUvarint(b, uint64(len(r.Refs)))
	for _, ref := range r.Refs {
		b = append(b, ref.ID[:]...)
		b = binary.AppendUvarint(b, uint64(ref.Size))
	}
	return b, nil
}

// UnmarshalBinary decodes the encoding made by MarshalBinary into r. It
// returns an error wrapping ErrMalformed for any other input, including
// trailing bytes, a non-canonical varint, an unknown version, or sizes that
// do not add up. It never allocates more than the input can justify.
func (r *Recipe) UnmarshalBinary(b []byte) error {
	d := decoder{b: b}
	if len(b) < len(magic)+1 || string(b[:len(magic)]) != magic {
		return fmt.Errorf("%w: bad magic", ErrMalformed)
	}
	if v := b[len(magic)]; v != version {
		return fmt.Errorf("%w: unknown version %d", ErrMalformed, v)
	}
	d.b = b[len(magic)+1:]
	size := d.uvarint()
	var sum [md5.Size]byte
	d.bytes(sum[:])
	n := d.uvarint()
	if d.err != nil {
		return d.err
	}
	if n > MaxRefs || n > uint64(len(d.b))/(32+1) {
		return fmt.Errorf("%w: %d refs in %d bytes", ErrMalformed, n, len(d.b))
	}
	refs := make([]Ref, n)
	for i := range refs {
		d.bytes(refs[i].ID[:])
		s := d.uvarint()
		if s == 0 || s > MaxChunkSize {
			return fmt.Errorf("%w: ref %d: chunk size %d", ErrMalformed, i, s)
		}
		refs[i].Size = uint32(s)
	}
	if d.err != nil {
		return d.err
	}
	if len(d.b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(d.b))
	}
	out := Recipe{Refs: refs, Size: int64(size), MD5: sum}
	if size > 1<<62 {
		return fmt.Errorf("%w: size %d", ErrMalformed, size)
	}
	if err := out.Validate(); err != nil {
		return err
	}
	*r = out
	return nil
}

// Validate checks that every ref has a size in [1, MaxChunkSize], that
// there are at most MaxRefs refs and that Size is their sum. It returns an
// error wrapping ErrMalformed otherwise.
func (r *Recipe) Validate() error {
	if len(r.Refs) > MaxRefs {
		return fmt.Errorf("%w: %d refs, limit %d", ErrMalformed, len(r.Refs), MaxRefs)
	}
	var sum int64
	for i, ref := range r.Refs {
		if ref.Size == 0 || ref.Size > MaxChunkSize {
			return fmt.Errorf("%w: ref %d: chunk size %d", ErrMalformed, i, ref.Size)
		}
		sum += int64(ref.Size)
	}
	if sum != r.Size {
		return fmt.Errorf("%w: refs add up to %d bytes, size says %d", ErrMalformed, sum, r.Size)
	}
	return nil
}

// ID returns the recipe's ID: SHA-256 of MarshalBinary. It panics if r is
// not valid (see Validate); recipes built by the store always are.
func (r *Recipe) ID() ID {
	b, err := r.MarshalBinary()
	if err != nil {
		panic(err)
	}
	return ID(sha256.Sum256(b))
}

// Offsets returns the byte offset of each ref in the object:
// len(result) == len(r.Refs)+1, result[0] == 0 and result[len] == r.Size.
func (r *Recipe) Offsets() []int64 {
	off := make([]int64, len(r.Refs)+1)
	for i, ref := range r.Refs {
		off[i+1] = off[i] + int64(ref.Size)
	}
	return off
}

// Span returns the half-open range [first, last) of ref indexes that cover
// the byte range [off, off+length) of the object, given offsets from
// Offsets. length <= 0 or off >= size gives an empty span.
func Span(offsets []int64, off, length int64) (first, last int) {
	n := len(offsets) - 1
	if length <= 0 || n <= 0 || off >= offsets[n] {
		return 0, 0
	}
	end := off + length
	first = sort.Search(n, func(i int) bool { return offsets[i+1] > off })
	last = sort.Search(n, func(i int) bool { return offsets[i] >= end })
	return first, last
}

// Unique returns the distinct chunk IDs of r in first-use order.
func (r *Recipe) Unique() []ChunkID {
	seen := make(map[ChunkID]struct{}, len(r.Refs))
	out := make([]ChunkID, 0, len(r.Refs))
	for _, ref := range r.Refs {
		if _, ok := seen[ref.ID]; !ok {
			seen[ref.ID] = struct{}{}
			out = append(out, ref.ID)
		}
	}
	return out
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = fmt.Errorf("%w: bad varint", ErrMalformed)
		return 0
	}
	// Canonical: the shortest encoding only.
	if n != len(binary.AppendUvarint(nil, v)) {
		d.err = fmt.Errorf("%w: non-canonical varint", ErrMalformed)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes(p []byte) {
	if d.err != nil {
		return
	}
	if len(d.b) < len(p) {
		d.err = fmt.Errorf("%w: truncated", ErrMalformed)
		return
	}
	copy(p, d.b)
	d.b = d.b[len(p):]
}
