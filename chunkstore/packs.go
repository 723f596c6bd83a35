package chunkstore

// Packs: on a PackCluster whose PackSize is positive (the swift backend
// with store.swift.pack_size > 0), a Write does not PUT one object per new
// chunk: it appends the stored forms of the chunks the region lacks, in
// stream order, to a pack buffer and PUTs it as one pack object (then its
// pack index: IDs and lengths) when it reaches PackSize, and at the end of
// the Write before the recipe is stored. Nothing acknowledged depends on a
// pack not yet written: index entries are committed after the pack and
// its index succeeded, and the recipe after every pack of the Write.
//
// The rules of cluster.go hold at pack granularity:
//
//   - The index entry of a packed chunk ('c'+ID) is packMarker, its stored
//     length, its offset and its pack's name. A write relies on it while
//     the chunk's stamp (written by this node with the pack) is younger
//     than TouchAfter, or while this node saw the pack's touch time
//     younger than TouchAfter (packState.fresh); otherwise it HEADs the
//     pack (once per pack: singleflight) and touches it (POST) when its
//     touch time is older. A pack absent from its container is never
//     relied on: the chunk is packed again.
//   - A chunk the index lacks: the store refreshes its view of the pack
//     indexes (packView: at most every packRefreshEvery, one refresh at a
//     time) and looks again; still absent, it is packed (again). Per-chunk
//     objects are not HEADed on writes (that would be a request per new
//     chunk): a false "absent" costs a duplicate copy in a pack, never a
//     false "present". Per-chunk objects written before packing (or by
//     Put, PutStored and Receive, which still write one object per chunk)
//     stay readable: a read of a chunk neither the index nor the view
//     knows falls back to the per-chunk object (and its fossil), and their
//     index entries keep today's rules.
//   - Reads: a Range GET of the pack (or, if absent, of its fossil), the
//     stored form verified against the ID as always. A pack read from its
//     fossil is no longer relied on by writes.

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/singleflight"
)

// PackEntry locates a chunk's stored form in a pack object.
type PackEntry struct {
	// ID is the chunk's ID.
	ID recipe.ChunkID
	// Off is the offset of its stored form in the pack, in bytes.
	Off int64
	// Len is the length of its stored form (codec byte included).
	Len int64
}

// PackCluster is a Cluster that can also hold chunks packed into pack
// objects (package chunkstore/swiftstore, packs.go there). Pack names are
// NewPackName's. Absent objects are reported with errors wrapping
// ErrNotFound.
type PackCluster interface {
	Cluster
	// PackSize is the size in bytes at which a Write PUTs its pack; 0
	// turns packing off (one object per chunk).
	PackSize() int
	// PutPack stores body as pack name, then, once it succeeded, the
	// pack's index (entries, in body order, contiguous from 0).
	PutPack(ctx context.Context, name string, body []byte, entries []PackEntry) error
	// GetPackRange returns bytes [off, off+n) of pack name, or of its
	// fossil if the pack is absent (info.Fossil), in dst's capacity. The
	// bytes are not verified.
	GetPackRange(ctx context.Context, name string, off, n int64, dst []byte) ([]byte, ObjectInfo, error)
	// StatPack describes the live pack name (never its fossil).
	StatPack(ctx context.Context, name string) (ObjectInfo, error)
	// TouchPack sets pack name's touch time to now.
	TouchPack(ctx context.Context, name string, now time.Time) error
	// ListPackIndexes returns the names of the pack indexes after marker
	// ("" for all), in name order; fossil: of the index fossils (the
	// region GC moves a pack's index with the pack).
	ListPackIndexes(ctx context.Context, marker string, fossil bool) ([]string, error)
	// GetPackIndex returns pack index name's entries (with offsets), from
	// the index fossils if fossil.
	GetPackIndex(ctx context.Context, name string, fossil bool) ([]PackEntry, error)
}

// packNameLen is the length of NewPackName's names.
const packNameLen = 16 + 1 + 16

// NewPackName returns a fresh pack name: 16 hex digits of t in unix
// nanoseconds, '-', 16 random hex digits. Names sort by time, so a node
// learns new pack indexes by listing from a marker (packView).
func NewPackName(t time.Time) string {
	var r [8]byte
	_, _ = rand.Read(r[:])
	return packTimePrefix(t) + "-" + hex.EncodeToString(r[:])
}

// packTimePrefix is the time part of the names of packs made at t.
func packTimePrefix(t time.Time) string {
	return fmt.Sprintf("%016x", uint64(max(t.UnixNano(), 0)))
}

// validPackName reports whether name is one of NewPackName's.
func validPackName(name string) bool {
	if len(name) != packNameLen || name[16] != '-' {
		return false
	}
	return strings.Trim(name[:16]+name[17:], "0123456789abcdef") == ""
}

// The index entry of a packed chunk: packMarker, the stored length
// (uint32), the offset in the pack (uint64), both big-endian, then the
// pack's name.
const (
	packMarker   = 0xC2
	packValueLen = 1 + 4 + 8 + packNameLen
)

// packValue returns the index entry of a chunk at e in pack name.
func packValue(name string, off, n int64) []byte {
	v := make([]byte, 0, packValueLen)
	v = append(v, packMarker)
	v = binary.BigEndian.AppendUint32(v, uint32(n))
	v = binary.BigEndian.AppendUint64(v, uint64(off))
	return append(v, name...)
}

// inOlderPack reports whether chunk id's index entry names a pack whose
// name sorts before name.
func inOlderPack(txn *badger.Txn, id recipe.ChunkID, name string) (bool, error) {
	item, err := txn.Get(chunkKey(id))
	if err != nil || item.ValueSize() != packValueLen {
		return false, err
	}
	older := false
	err = item.Value(func(v []byte) error {
		loc, ok := packLocOf(v)
		older = ok && loc.pack < name
		return nil
	})
	return older, err
}

// packLoc is a packed chunk's location.
type packLoc struct {
	pack     string
	off, len int64
}

// packLocOf decodes an index entry of a packed chunk; ok is false for
// any other value.
func packLocOf(val []byte) (packLoc, bool) {
	if len(val) != packValueLen || val[0] != packMarker {
		return packLoc{}, false
	}
	return packLoc{
		len:  int64(binary.BigEndian.Uint32(val[1:5])),
		off:  int64(binary.BigEndian.Uint64(val[5:13])),
		pack: string(val[13:]),
	}, true
}

// isIndexLen reports whether a 'c' value of n bytes may be an index entry
// (its first byte tells: inline values start with a Codec).
func isIndexLen(n int64) bool { return n == clusterValueLen || n == packValueLen }

// packRefreshEvery bounds how often a store lists new pack indexes to
// decide that a chunk is absent; packViewWindow is how far back (by the
// time in their names) each listing starts, for packs whose names came
// from a clock behind, or that the listing showed late.
const (
	packRefreshEvery = 2 * time.Second
	packViewWindow   = 10 * time.Minute
	// packUploads bounds the pack PUTs in flight per store (memory: each
	// holds up to PackSize bytes).
	packUploads = 4
)

// packState is a store's pack mode (nil: off).
type packState struct {
	cl   PackCluster
	size int
	sem  chan struct{} // packUploads

	mu     sync.Mutex
	fresh  map[string]time.Time // pack → its touch time as this node last saw or made it
	stats  singleflight.Group   // StatPack+TouchPack per pack
	view   singleflight.Group   // refresh
	last   time.Time            // start of the last refresh
	flast  time.Time            // start of the last learnFossilPacks
	marker string               // every index named ≤ marker has been learned
	loaded bool                 // marker read from Badger
	seen   map[string]struct{}  // indexes > marker learned (or written here)
}

func newPackState(cl Cluster) *packState {
	pc, ok := cl.(PackCluster)
	if !ok || pc.PackSize() <= 0 {
		return nil
	}
	return &packState{cl: pc, size: pc.PackSize(), sem: make(chan struct{}, packUploads),
		fresh: map[string]time.Time{}, seen: map[string]struct{}{}}
}

// packFresh reports whether this node saw pack name's touch time younger
// than TouchAfter.
func (s *Store) packFresh(name string, now time.Time) bool {
	ps := s.packs
	ps.mu.Lock()
	defer ps.mu.Unlock()
	t, ok := ps.fresh[name]
	return ok && now.Sub(t) < s.cfg.TouchAfter
}

func (s *Store) setPackFresh(name string, t time.Time, ok bool) {
	ps := s.packs
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ok {
		if t.After(ps.fresh[name]) {
			ps.fresh[name] = t
		}
	} else {
		delete(ps.fresh, name)
	}
}

// packPresent reports whether pack name is in its live container with a
// touch time younger than TouchAfter, touching it if needed (one request
// sequence per pack at a time).
func (s *Store) packPresent(ctx context.Context, name string) (bool, error) {
	if s.packFresh(name, s.now()) {
		return true, nil
	}
	v, err, _ := s.packs.stats.Do(name, func() (any, error) {
		now := s.now()
		if s.packFresh(name, now) {
			return true, nil
		}
		info, err := s.packs.cl.StatPack(ctx, name)
		if errors.Is(err, ErrNotFound) {
			s.setPackFresh(name, time.Time{}, false)
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("chunkstore: lookup pack %s in the cluster: %w", name, err)
		}
		touched := info.Touched
		if now.Sub(touched) >= s.cfg.TouchAfter {
			if err := s.packs.cl.TouchPack(ctx, name, now); err != nil {
				if errors.Is(err, ErrNotFound) { // swept meanwhile
					s.setPackFresh(name, time.Time{}, false)
					return false, nil
				}
				return false, fmt.Errorf("chunkstore: touch pack %s in the cluster: %w", name, err)
			}
			touched = now
		}
		s.setPackFresh(name, touched, true)
		return true, nil
	})
	if err != nil {
		return false, err
	}
	return v.(bool), nil
}

// indexValue returns chunk id's 'c' value (nil: absent).
func (s *Store) indexValue(id recipe.ChunkID) ([]byte, error) {
	var val []byte
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(chunkKey(id))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		val, err = item.ValueCopy(nil)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("chunkstore: lookup %s: %w", id.Short(), err)
	}
	return val, nil
}

// packedPresent is clusterPresent in pack mode, for a chunk whose index
// entry is absent or not fresh: the entry's pack if it is a packed chunk
// (absent after a refresh of the view: absent).
func (s *Store) packedPresent(ctx context.Context, id recipe.ChunkID, val []byte) (bool, error) {
	if val == nil {
		if err := s.refreshPacks(ctx, false); err != nil {
			s.log.Debug("refreshing the pack view", zap.Error(err))
		}
		var err error
		if val, err = s.indexValue(id); err != nil || val == nil {
			return false, err
		}
	}
	loc, ok := packLocOf(val)
	if !ok {
		return false, errNotPacked
	}
	present, err := s.packPresent(ctx, loc.pack)
	if err != nil || present {
		return present, err
	}
	s.unindex(id) // the pack left its container: pack the chunk again
	return false, nil
}

// errNotPacked: the index entry is a per-chunk object's (cluster.go's
// rules apply).
var errNotPacked = errors.New("chunkstore: not a packed chunk")

// refreshPacks lists the pack indexes named after the view's marker and
// learns the entries of those it has not seen: at most every
// packRefreshEvery unless force, one refresh at a time (callers during a
// refresh share it). Errors are the cluster's; a failed refresh only
// makes chunks look absent (packed again).
func (s *Store) refreshPacks(ctx context.Context, force bool) error {
	ps := s.packs
	ps.mu.Lock()
	due := force || s.now().Sub(ps.last) >= packRefreshEvery
	ps.mu.Unlock()
	if !due {
		return nil
	}
	_, err, _ := ps.view.Do("refresh", func() (any, error) {
		start := s.now()
		ps.mu.Lock()
		if !ps.loaded {
			// Where this data dir's view stopped: a restart lists only the
			// indexes named since (a wiped dir: all of them).
			ps.marker, ps.loaded = s.loadPackMarker(), true
		}
		marker := ps.marker
		ps.mu.Unlock()
		names, err := ps.cl.ListPackIndexes(ctx, marker, false)
		if err != nil {
			// Rate-limited like a success: a failing cluster gets one
			// listing per packRefreshEvery, not one per new chunk.
			ps.mu.Lock()
			ps.last = start
			ps.mu.Unlock()
			return nil, err
		}
		var todo []string
		ps.mu.Lock()
		for _, n := range names {
			if _, ok := ps.seen[n]; !ok && validPackName(n) {
				todo = append(todo, n)
			}
		}
		ps.mu.Unlock()
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(s.cfg.ClusterConcurrency)
		for _, n := range todo {
			g.Go(func() error {
				entries, err := ps.cl.GetPackIndex(gctx, n, false)
				if errors.Is(err, ErrNotFound) {
					return nil // fossilized meanwhile: the next listing will not show it
				}
				if err != nil {
					return err
				}
				if err := s.learnPack(n, entries, time.Time{}); err != nil {
					return err
				}
				ps.mu.Lock()
				ps.seen[n] = struct{}{}
				ps.mu.Unlock()
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return nil, err
		}
		ps.mu.Lock()
		defer ps.mu.Unlock()
		if m := packTimePrefix(start.Add(-packViewWindow)); m > ps.marker {
			ps.marker = m
			for n := range ps.seen {
				if n <= m {
					delete(ps.seen, n)
				}
			}
			// After the entries it covers (committed above): a cache, not
			// synced; a lost marker only makes the next refresh longer.
			_ = s.update(func(txn *badger.Txn) error { return txn.Set(packViewKey, []byte(m)) })
		}
		ps.last = start
		return nil, nil
	})
	return err
}

// packViewKey is the Badger key of the pack view's marker.
var packViewKey = []byte{prefixPackView, 'v', 'i', 'e', 'w'}

// loadPackMarker returns the marker a previous run of this data dir
// stored ("" if none).
func (s *Store) loadPackMarker() string {
	var m string
	_ = s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(packViewKey)
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error { m = string(v); return nil })
	})
	return m
}

// learnFossilPacks learns the entries of every pack-index fossil (at
// most every packRefreshEvery, one at a time): the last resort of a read
// whose chunk neither the index, the view nor a per-chunk object has,
// when its pack is a fossil for a while (a sweep whose namespace lagged
// the write: the next sweep moves it back). Entries learned are not
// fresh, and a write checks the live pack before relying on one.
func (s *Store) learnFossilPacks(ctx context.Context) error {
	ps := s.packs
	ps.mu.Lock()
	due := s.now().Sub(ps.flast) >= packRefreshEvery
	ps.mu.Unlock()
	if !due {
		return nil
	}
	_, err, _ := ps.view.Do("fossils", func() (any, error) {
		start := s.now()
		names, err := ps.cl.ListPackIndexes(ctx, "", true)
		if err != nil {
			return nil, err
		}
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(s.cfg.ClusterConcurrency)
		for _, n := range names {
			if !validPackName(n) {
				continue
			}
			g.Go(func() error {
				entries, err := ps.cl.GetPackIndex(gctx, n, true)
				if errors.Is(err, ErrNotFound) {
					return nil
				}
				if err != nil {
					return err
				}
				return s.learnPack(n, entries, time.Time{})
			})
		}
		err = g.Wait()
		ps.mu.Lock()
		ps.flast = start
		ps.mu.Unlock()
		return nil, err
	})
	return err
}

// learnPack indexes the entries of pack name; with a non-zero stamp (a
// pack this node just wrote) each gets that stamp and replaces any entry,
// otherwise an entry is added, without a stamp (not fresh: a write relying
// on one checks the pack first), where the chunk has none or only one in
// an older pack (by name, which starts with its writer's clock): a chunk
// in two packs is read from the newer, so a node whose entry names a pack
// GC has since deleted (the chunk was dead for a while, then written
// again into a new pack by another node) finds the new copy instead of
// answering "not in the cluster" (seen in WritersDuringGCPacks).
func (s *Store) learnPack(name string, entries []PackEntry, stamp time.Time) error {
	var st []byte
	if !stamp.IsZero() {
		st = encodeStamp(stamp.Unix())
	}
	for len(entries) > 0 {
		n := min(len(entries), 2000) // well within a transaction
		batch := entries[:n]
		entries = entries[n:]
		var added, bytes int64
		fn := func(txn *badger.Txn) error {
			added, bytes = 0, 0
			for _, e := range batch {
				_, had, err := chunkValueSize(txn, chunkKey(e.ID))
				if err != nil {
					return err
				}
				if had && st == nil {
					older, err := inOlderPack(txn, e.ID, name)
					if err != nil {
						return err
					}
					if !older {
						continue
					}
					// The old pack's stamp is not this one's.
					if err := txn.Delete(stampKey(e.ID)); err != nil {
						return err
					}
				}
				if err := txn.Set(chunkKey(e.ID), packValue(name, e.Off, e.Len)); err != nil {
					return err
				}
				if st != nil {
					if err := txn.Set(stampKey(e.ID), st); err != nil {
						return err
					}
				}
				if !had {
					added++
					bytes += e.Len
				}
				s.stored(e.ID) // a retried transaction adds it again: harmless
			}
			return nil
		}
		err := s.update(fn)
		for attempt := 0; errors.Is(err, badger.ErrConflict) && attempt < 10; attempt++ {
			err = s.update(fn) // another goroutine indexed one of them: again
		}
		if err != nil {
			return fmt.Errorf("chunkstore: index pack %s: %w", name, err)
		}
		if added > 0 {
			s.counts.chunk(added, bytes)
		}
	}
	return nil
}

// packedGet reads a packed chunk's stored form from its pack (or the
// pack's fossil). ok is false when the pack is in neither container.
func (s *Store) packedGet(ctx context.Context, id recipe.ChunkID, loc packLoc) (val []byte, info ObjectInfo, err error) {
	val, info, err = s.packs.cl.GetPackRange(ctx, loc.pack, loc.off, loc.len, nil)
	if err != nil {
		return nil, info, err
	}
	if info.Fossil {
		s.notReliable(id, loc.pack)
	}
	return val, info, nil
}

// notReliable makes writes stop relying on pack name (found only as a
// fossil) through chunk id's entry: they check the pack's container.
func (s *Store) notReliable(id recipe.ChunkID, name string) {
	s.setPackFresh(name, time.Time{}, false)
	_ = s.update(func(txn *badger.Txn) error { return txn.Delete(stampKey(id)) })
}

// packer builds one Write's packs and uploads them (at most packUploads
// at a time per store); its chunks are indexed once their pack and the
// pack's index are in the cluster.
type packer struct {
	s       *Store
	ctx     context.Context
	cancel  context.CancelFunc
	g       *errgroup.Group
	buf     []byte
	entries []PackEntry
	packs   int
}

func (s *Store) newPacker(ctx context.Context) *packer {
	ctx, cancel := context.WithCancel(ctx)
	g, gctx := errgroup.WithContext(ctx)
	return &packer{s: s, ctx: gctx, cancel: cancel, g: g}
}

// abort stops the uploads in flight and waits for them (after wait: a
// no-op).
func (p *packer) abort() {
	p.cancel()
	_ = p.g.Wait()
}

// add appends chunk id's stored form val (copied), PUTting the pack
// first if val would take it past PackSize.
func (p *packer) add(id recipe.ChunkID, val []byte) error {
	if len(p.entries) > 0 && len(p.buf)+len(val) > p.s.packs.size {
		if err := p.flush(); err != nil {
			return err
		}
	}
	if p.buf == nil {
		p.buf = make([]byte, 0, p.s.packs.size+valueCap(p.s.cfg.MaxSize))
	}
	p.entries = append(p.entries, PackEntry{ID: id, Off: int64(len(p.buf)), Len: int64(len(val))})
	p.buf = append(p.buf, val...)
	return nil
}

// flush starts the upload of the current pack, waiting for a slot.
func (p *packer) flush() error {
	if len(p.entries) == 0 {
		return nil
	}
	s := p.s
	select {
	case s.packs.sem <- struct{}{}:
	case <-p.ctx.Done():
		return p.ctx.Err()
	}
	body, entries := p.buf, p.entries
	p.buf, p.entries = nil, nil
	p.packs++
	p.g.Go(func() error {
		defer func() { <-s.packs.sem }()
		start := s.now()
		name := NewPackName(start)
		if err := s.packs.cl.PutPack(p.ctx, name, body, entries); err != nil {
			return fmt.Errorf("chunkstore: upload pack of %d chunks: %w", len(entries), err)
		}
		s.packs.mu.Lock()
		s.packs.seen[name] = struct{}{}
		s.packs.mu.Unlock()
		s.setPackFresh(name, start, true)
		for _, e := range entries {
			s.suspect.remove(e.ID)
		}
		return s.learnPack(name, entries, start)
	})
	return nil
}

// wait uploads the last pack and waits for every upload: nil means every
// chunk added is in the cluster and indexed.
func (p *packer) wait() error {
	err := p.flush()
	if werr := p.g.Wait(); werr != nil {
		return werr
	}
	return err
}
