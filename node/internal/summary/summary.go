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
//
// A summary that only grew since a peer fetched it travels as a delta:
// the chunk IDs added since the peer's generation (Local.Delta,
// Remote.Apply), 32 bytes each, when that is smaller than the whole
// filter (about 1.2 bytes per chunk held). Generations start from the
// clock at NewLocal, so a restarted node never reuses a generation a peer
// holds from its previous run (a delta or an "unchanged" answer against
// another filter).
package summary

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
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

// MaxDeltaIDs bounds the chunk IDs a Local keeps for deltas (2 MiB of
// IDs); past it, a peer whose generation is older than what is kept gets
// the whole summary.
const MaxDeltaIDs = 1 << 16

// idBytes is the size of a chunk ID in a delta.
const idBytes = len(recipe.ChunkID{})

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
	gen   uint64             // bumped at every change; starts from the clock
	built time.Time          // last rebuild
	enc   []byte             // encoding of gen, nil until asked
	now   func() time.Time
	// added[i] is the chunk whose Add made generation addedBase+i+1
	// (gen == addedBase+len(added)): the deltas Delta can answer.
	addedBase uint64
	added     []recipe.ChunkID
	// rebuilding: a Rebuild is listing the store; pending holds what Add
	// got meanwhile, for the new filter.
	rebuilding bool
	pending    []recipe.ChunkID
}

// NewLocal returns an empty summary (not built yet: Encoded answers
// generation 0) whose clock is now (nil: time.Now). Its generations start
// from the clock's Unix time in nanoseconds: above every generation of an
// earlier run of the node, which bumped its own start once per change.
func NewLocal(now func() time.Time) *Local {
	if now == nil {
		now = time.Now
	}
	return &Local{now: now, gen: uint64(max(now().UnixNano(), 1))}
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
// their count and a quarter more (or as the current one, while they fit
// it); chunks Add gets while it lists them are in it too. A chunk dropped
// from the store leaves the summary here only. A rebuild that gives the
// same filter (nothing dropped) keeps the generation: peers keep theirs.
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
	n := uint(len(ids) + len(l.pending))
	// Sized as the current filter while the chunks fit it: a rebuild
	// that drops nothing then gives the same filter, and peers keep
	// theirs (no generation change, no resend).
	var f *bloom.BloomFilter
	c := l.cap
	if l.f != nil && n <= l.cap {
		f = bloom.New(l.f.Cap(), l.f.K())
	} else {
		f, c = sized(n + n/4)
	}
	for i := range ids {
		f.Add(ids[i][:])
	}
	for i := range l.pending {
		f.Add(l.pending[i][:])
	}
	l.rebuilding, l.pending = false, nil
	l.built = l.now()
	if l.f != nil && f.Equal(l.f) {
		l.n = n
		return nil
	}
	l.f, l.cap, l.n = f, c, n
	l.gen++
	l.addedBase, l.added = l.gen, nil // a rebuild may drop chunks: no delta spans it
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
	if len(l.added) < MaxDeltaIDs {
		l.added = append(l.added, id)
	} else {
		l.addedBase, l.added = l.gen, nil
	}
	l.enc = nil
}

// Delta returns the summary's generation and the chunks added since
// generation have, if the summary only grew since then (no rebuild), the
// IDs are still kept (MaxDeltaIDs), and they are smaller than the whole
// encoded summary; else ok is false (send the whole, Encoded). Applied to
// the summary of generation have (Remote.Apply), the IDs give one equal
// to this one. An unchanged summary is a delta of no IDs. The slice is
// the caller's.
func (l *Local) Delta(have uint64) (gen uint64, ids []recipe.ChunkID, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil || have < l.addedBase || have > l.gen {
		return l.gen, nil, false
	}
	ids = l.added[have-l.addedBase:]
	if len(ids)*idBytes >= encodedSize(l.f) {
		return l.gen, nil, false
	}
	return l.gen, slices.Clone(ids), true
}

// encodedSize is the size of f's encoding in bytes: three uint64s (m, k
// and the bit set's length) and the bit set's words.
func encodedSize(f *bloom.BloomFilter) int { return 24 + int((f.Cap()+63)/64)*8 }

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
		st.Bytes = encodedSize(l.f)
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

// Apply returns the summary of generation gen that adding ids (a delta
// from Local.Delta against r's generation) to r gives; r is unchanged
// (readers may be using it). Errors: a delta over MaxDeltaIDs, or one
// that does not move r's generation forward by exactly its length (each
// change of a Local is one generation).
func (r *Remote) Apply(gen uint64, ids []recipe.ChunkID) (*Remote, error) {
	if len(ids) > MaxDeltaIDs || gen < r.Generation || gen-r.Generation != uint64(len(ids)) {
		return nil, fmt.Errorf("summary: delta of %d chunks from generation %d to %d", len(ids), r.Generation, gen)
	}
	f := r.f.Copy()
	for i := range ids {
		f.Add(ids[i][:])
	}
	return &Remote{f: f, Generation: gen, Bytes: r.Bytes}, nil
}

// MayHold reports whether the summarized store may hold id: false means
// it held it neither at its last rebuild nor since (unless dropped and
// stored again); true is wrong about FalsePositive of the time.
func (r *Remote) MayHold(id recipe.ChunkID) bool { return r.f.Test(id[:]) }
