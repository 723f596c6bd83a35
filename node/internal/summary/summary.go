// Package summary keeps compact, approximate summaries of the chunks a
// store holds (issue 13: no have round trip when the holdings are already
// known). A summary is a Bloom filter (github.com/bits-and-blooms/bloom)
// of chunk IDs sized for its chunk count at about 1 % false positives:
// it never misses a chunk the store held when it was built or that was
// added since, and claims about 1 % of the others. Chunks dropped since
// the last rebuild stay in it until the next: it over-approximates, so a
// reader uses it as advisory holdings only, corrected by the exact have
// answers and by the chunk streams' not-held frames.
//
// Local is this node's summary (rebuilt from the store's index, chunks
// added as they are stored); Remote is a peer's, decoded from the peer
// protocol's summary answer; Replicas keeps the peers' summaries fresh.
package summary

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bits-and-blooms/bloom/v3"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

// FalsePositive is the false-positive rate a summary is sized for.
const FalsePositive = 0.01

// MaxBytes bounds an encoded summary: a larger one is refused when
// decoded, and a Local summary of more chunks than fit is sized to fit
// (a higher false-positive rate). 32 MiB holds about 27 million chunks at
// 1 % (9.6 bits each), 1.7 PB of 64 KiB chunks.
const MaxBytes = 32 << 20

// minCapacity is the least number of chunks a summary is sized for.
const minCapacity = 1024

// Source lists a store's chunks; *chunkstore.Store implements it.
type Source interface {
	// EachChunk calls fn with every chunk ID the store holds.
	EachChunk(ctx context.Context, fn func(id recipe.ChunkID) error) error
}

// Local is this node's summary. Safe for concurrent use.
type Local struct {
	mu    sync.Mutex
	f     *bloom.BloomFilter // nil until the first Rebuild
	cap   uint               // chunks f is sized for
	n     uint               // chunks in f (listed, then added)
	gen   uint64             // bumped at every change; 0: never built
	built time.Time          // last rebuild
	enc   []byte             // encoding of gen, nil until asked
	now   func() time.Time
	// rebuilding: a Rebuild is listing the store; pending holds what Add
	// got meanwhile, for the new filter.
	rebuilding bool
	pending    []recipe.ChunkID
}

// NewLocal returns an empty summary (generation 0: not built yet) whose
// clock is now (nil: time.Now).
func NewLocal(now func() time.Time) *Local {
	if now == nil {
		now = time.Now
	}
	return &Local{now: now}
}

// sized returns a filter for n chunks at FalsePositive, bounded by
// MaxBytes, and the capacity it was sized for.
func sized(n uint) (*bloom.BloomFilter, uint) {
	n = max(n, minCapacity)
	m, k := bloom.EstimateParameters(n, FalsePositive)
	if limit := uint(MaxBytes-64) * 8; m > limit {
		m = limit
	}
	return bloom.New(m, k), n
}

// Rebuild replaces the summary with one of src's chunks now, sized for
// their count and a quarter more; chunks Add gets while it lists them are
// in it too. A chunk dropped from the store leaves the summary here only.
func (l *Local) Rebuild(ctx context.Context, src Source) error {
	l.mu.Lock()
	l.rebuilding = true
	l.mu.Unlock()
	var ids []recipe.ChunkID
	err := src.EachChunk(ctx, func(id recipe.ChunkID) error { ids = append(ids, id); return nil })
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.rebuilding, l.pending = false, nil
		return fmt.Errorf("summary: rebuild: %w", err)
	}
	f, c := sized(uint(len(ids)) + uint(len(ids))/4)
	for i := range ids {
		f.Add(ids[i][:])
	}
	for i := range l.pending {
		f.Add(l.pending[i][:])
	}
	l.f, l.cap, l.n = f, c, uint(len(ids)+len(l.pending))
	l.rebuilding, l.pending = false, nil
	l.gen++
	l.built = l.now()
	l.enc = nil
	return nil
}

// Add puts id in the summary (a chunk just stored). Before the first
// Rebuild it only keeps id for it. Past the capacity the filter was sized
// for, its false-positive rate grows until the next Rebuild.
func (l *Local) Add(id recipe.ChunkID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rebuilding {
		l.pending = append(l.pending, id)
	}
	if l.f == nil || l.f.Test(id[:]) {
		return // no change: the generation stays
	}
	l.f.Add(id[:])
	l.n++
	l.gen++
	l.enc = nil
}

// Stale reports whether the summary should be rebuilt: never built, or
// holding more chunks than it was sized for.
func (l *Local) Stale() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f == nil || l.n > l.cap
}

// Encoded returns the summary's generation and its encoding (gen 0 and
// nil before the first Rebuild). The bytes must not be modified.
func (l *Local) Encoded() (uint64, []byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return 0, nil, nil
	}
	if l.enc == nil {
		var b bytes.Buffer
		if _, err := l.f.WriteTo(&b); err != nil {
			return 0, nil, fmt.Errorf("summary: encode: %w", err)
		}
		l.enc = b.Bytes()
	}
	return l.gen, l.enc, nil
}

// LocalStats describes a Local summary for status and metrics.
type LocalStats struct {
	Generation uint64    `json:"generation"`
	Chunks     uint      `json:"chunks"`   // in it: listed at the rebuild, added since
	Capacity   uint      `json:"capacity"` // chunks it was sized for
	Bytes      int       `json:"bytes"`    // encoded size
	Built      time.Time `json:"built"`    // last rebuild; zero: never
}

// Stats returns the summary's description.
func (l *Local) Stats() LocalStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := LocalStats{Generation: l.gen, Chunks: l.n, Capacity: l.cap, Built: l.built}
	if l.f != nil {
		st.Bytes = int(l.f.Cap()/8) + 24
	}
	return st
}

// Remote is a peer's summary, decoded. Safe for concurrent use (read
// only).
type Remote struct {
	f *bloom.BloomFilter
	// Generation is the peer's generation of it.
	Generation uint64
	// Bytes is its encoded size.
	Bytes int
}

// ErrTooLarge is wrapped by Decode's error for an encoding over MaxBytes.
var ErrTooLarge = errors.New("summary: too large")

// Decode decodes a summary of generation gen that Local.Encoded encoded.
func Decode(gen uint64, data []byte) (*Remote, error) {
	if len(data) > MaxBytes {
		return nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(data))
	}
	// Header: m and k, then the bit set's length in bits (big-endian
	// uint64s): checked against the data before anything is allocated.
	if len(data) < 24 {
		return nil, errors.New("summary: decode: short header")
	}
	m, k, bits := binary.BigEndian.Uint64(data), binary.BigEndian.Uint64(data[8:]), binary.BigEndian.Uint64(data[16:])
	if m == 0 || m != bits || bits > 8*uint64(len(data)) || k == 0 || k > 64 {
		return nil, fmt.Errorf("summary: decode: bad header (m %d, k %d, bits %d, %d bytes)", m, k, bits, len(data))
	}
	var f bloom.BloomFilter
	if _, err := f.ReadFrom(bytes.NewReader(data)); err != nil {
		return nil, fmt.Errorf("summary: decode: %w", err)
	}
	if f.Cap() == 0 || f.K() == 0 {
		return nil, errors.New("summary: decode: empty filter")
	}
	return &Remote{f: &f, Generation: gen, Bytes: len(data)}, nil
}

// MayHold reports whether the summarized store may hold id: false means
// it held it neither at its last rebuild nor since (unless dropped and
// stored again); true is wrong about FalsePositive of the time.
func (r *Remote) MayHold(id recipe.ChunkID) bool { return r.f.Test(id[:]) }
