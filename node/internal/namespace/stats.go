package namespace

// Container stats without a hot key.
//
// A container's object count, bytes used and newest write are derived
// from its object records, locally on every node. Keeping them in one key
// that every object write reads and rewrites made that key the hot spot of
// the whole store: with Badger's optimistic transactions, concurrent
// writers to one container (Glance keeps every image in one) conflicted
// on it and failed. So a write never reads them:
//
//   - Delta: every object Apply writes, in the same transaction as the
//     record, a new key of its own, stats key + NUL + 16 random bytes,
//     whose value is the change it made (objects ±1, bytes ±size, its
//     timestamp). Nobody else writes that key, so writers do not conflict,
//     and the delta commits or vanishes with its record: exact across
//     crashes, whatever order replicated records arrive in.
//   - Base: the stats key itself ("s"+account+NUL+container, the format of
//     the old single key, so old stores read as before) holds the sum of
//     the deltas folded into it.
//   - Fold: one transaction reads the base and up to foldBatch deltas,
//     writes their sum to the base and deletes them. Only folds (one at a
//     time per container in this process) and the tombstone purge write
//     those keys, so a fold does not conflict with writers either. A node
//     folds a container after foldAt of its own commits touched it, and
//     when a read finds foldAt deltas or more (after a restart).
//   - Reading: base plus deltas are one prefix scan of a single snapshot
//     (deltas sort right after their base: NUL sorts first), so a read is
//     consistent with any fold.
//   - Write mark: "w"+account+NUL+container, written (never read) by every
//     object Apply. DeleteContainer's emptiness check (Txn.Stats) reads it,
//     so an object write that commits while the check runs makes the check
//     conflict and run again; without it the check would miss the new
//     delta (Badger checks the keys a transaction read, not the ranges it
//     scanned). Blind writes of one key do not conflict with each other.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"sync"

	"github.com/nitro-cloud/nitro/chunkstore"
	"go.uber.org/zap"
)

const (
	// foldAt is the number of deltas after which a container's stats are
	// folded: a stats read scans at most about this many keys plus the
	// writes in flight.
	foldAt = 128
	// foldBatch bounds the deltas one fold transaction folds.
	foldBatch = 2048
)

// statsKey returns the bytes of the container's stats base key; its
// deltas are this plus sep plus 16 random bytes.
func statsKey(account, container string) []byte {
	return Key{Kind: kindStats, Account: account, Container: container}.Bytes()
}

// writeMarkKey returns the bytes of the container's write mark.
func writeMarkKey(account, container string) []byte {
	return Key{Kind: kindWriteMark, Account: account, Container: container}.Bytes()
}

// statsScan is a scan of the keys under a prefix (whole snapshot):
// chunkstore.Records.Scan bound to a context, or a RecordTxn's Scan.
type statsScan func(prefix []byte, fn func(key, val []byte) (bool, error)) error

// readStats sums the base and deltas of a container from one scan, and
// returns the delta keys it summed (at most limit, <= 0: all). A key under
// the base's prefix that is neither the base nor one of its deltas is
// another container's (a name the base is a prefix of) and ends the scan.
func readStats(scan statsScan, account, container string, limit int) (s Stats, deltas [][]byte, err error) {
	base := statsKey(account, container)
	err = scan(base, func(key, val []byte) (bool, error) {
		isDelta := len(key) > len(base) && key[len(base)] == sep
		if !isDelta && !bytes.Equal(key, base) {
			return false, nil
		}
		d, err := decodeStats(val)
		if err != nil {
			return false, err
		}
		s.Objects += d.Objects
		s.Bytes += d.Bytes
		s.Modified = max(s.Modified, d.Modified)
		if isDelta {
			deltas = append(deltas, key)
		}
		return limit <= 0 || len(deltas) < limit, nil
	})
	return s, deltas, err
}

// Stats returns the container's totals (zero if it never held objects),
// exact within the transaction: it reads the container's write mark, so an
// object write to the container committed while this transaction runs
// makes it conflict and run again.
func (t *Txn) Stats(account, container string) (Stats, error) {
	s, _, err := t.stats(account, container)
	return s, err
}

func (t *Txn) stats(account, container string) (Stats, [][]byte, error) {
	k := Key{Kind: kindStats, Account: account, Container: container}
	if err := k.Validate(); err != nil {
		return Stats{}, nil, err
	}
	if _, err := t.tx.Get(writeMarkKey(account, container)); err != nil && !isNotFound(err) {
		return Stats{}, nil, err
	}
	return readStats(t.tx.Scan, account, container, 0)
}

// usedBytes is what the object counts in its container's bytes used: its
// Size, or for a static large object the size of its manifest (as in
// Swift, where the container counts the manifest object's bytes and the
// segments count on their own).
func (r *Record) usedBytes() int64 {
	if r.SLO != "" {
		return int64(len(r.SLO))
	}
	return r.Size
}

// addDelta records in the transaction the change from old (nil: absent)
// to rec in rec's container's stats, as a new delta key, and writes the
// container's write mark. It reads nothing.
func (t *Txn) addDelta(old, rec *Record) error {
	var d Stats
	if old.Live() {
		d.Objects--
		d.Bytes -= old.usedBytes()
	}
	if rec.Live() {
		d.Objects++
		d.Bytes += rec.usedBytes()
	}
	d.Modified = rec.Timestamp
	var id [16]byte
	rand.Read(id[:]) // never fails (crypto/rand, Go ≥ 1.24)
	k := append(append(statsKey(rec.Account, rec.Container), sep), id[:]...)
	if err := t.tx.Set(k, encodeStats(d)); err != nil {
		return err
	}
	if err := t.tx.Set(writeMarkKey(rec.Account, rec.Container), []byte{1}); err != nil {
		return err
	}
	t.touched = append(t.touched, containerRef{rec.Account, rec.Container})
	return nil
}

// containerRef names a container whose stats a transaction changed.
type containerRef struct{ account, container string }

// ContainerStats returns the container's totals (zero if it never held
// objects): one prefix scan of its stats base and pending deltas (about
// foldAt keys at most, see the file comment), in one snapshot. A read that
// finds foldAt deltas or more folds them.
func (ns *Namespace) ContainerStats(ctx context.Context, account, container string) (Stats, error) {
	k := Key{Kind: kindStats, Account: account, Container: container}
	if err := k.Validate(); err != nil {
		return Stats{}, err
	}
	scan := func(prefix []byte, fn func(key, val []byte) (bool, error)) error {
		return ns.kv.Scan(ctx, prefix, nil, fn)
	}
	s, deltas, err := readStats(scan, account, container, 0)
	if err != nil {
		return Stats{}, err
	}
	if len(deltas) >= foldAt {
		ns.folds.due(ctx, ns, containerRef{account, container}, len(deltas))
	}
	return s, nil
}

// foldState schedules folds: deltas written by this process per
// container, and which folds run.
type foldState struct {
	mu      sync.Mutex
	pending map[containerRef]int
	running map[containerRef]bool
}

// committed notes the deltas a committed transaction wrote and folds the
// containers that reached foldAt, in the caller's goroutine.
func (f *foldState) committed(ctx context.Context, ns *Namespace, touched []containerRef) {
	for _, c := range touched {
		f.due(ctx, ns, c, 1)
	}
}

// due adds n pending deltas to c and folds c if it has foldAt or more and
// no fold of c is running.
func (f *foldState) due(ctx context.Context, ns *Namespace, c containerRef, n int) {
	f.mu.Lock()
	if f.pending == nil {
		f.pending, f.running = map[containerRef]int{}, map[containerRef]bool{}
	}
	f.pending[c] += n
	if f.pending[c] < foldAt || f.running[c] {
		f.mu.Unlock()
		return
	}
	delete(f.pending, c)
	f.running[c] = true
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.running, c)
		f.mu.Unlock()
	}()
	if err := ns.fold(ctx, c.account, c.container); err != nil {
		// The deltas stay and are folded next time; stats stay exact.
		ns.log.Warn("folding container stats", zap.String("account", c.account),
			zap.String("container", c.container), zap.Error(err))
	}
}

// fold folds the container's deltas into its stats base, foldBatch per
// transaction, until none is left.
func (ns *Namespace) fold(ctx context.Context, account, container string) error {
	for {
		var n int
		err := ns.kv.Update(ctx, func(tx chunkstore.RecordTxn) error {
			s, deltas, err := readStats(tx.Scan, account, container, foldBatch)
			if err != nil {
				return err
			}
			n = len(deltas)
			if n == 0 {
				return nil
			}
			if err := tx.Set(statsKey(account, container), encodeStats(s)); err != nil {
				return err
			}
			for _, k := range deltas {
				if err := tx.Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil || n < foldBatch {
			return err
		}
	}
}

// dropStats deletes the container's stats base, deltas and write mark in
// t: its tombstone is being purged and it holds no objects.
func (t *Txn) dropStats(account, container string, deltas [][]byte) error {
	for _, k := range append(deltas, statsKey(account, container), writeMarkKey(account, container)) {
		if err := t.tx.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

func encodeStats(s Stats) []byte {
	b := make([]byte, 0, 3*binary.MaxVarintLen64)
	b = binary.AppendVarint(b, s.Objects)
	b = binary.AppendVarint(b, s.Bytes)
	return binary.AppendVarint(b, s.Modified)
}

func decodeStats(b []byte) (Stats, error) {
	var s Stats
	for _, p := range []*int64{&s.Objects, &s.Bytes, &s.Modified} {
		v, n := binary.Varint(b)
		if n <= 0 {
			return Stats{}, errors.New("namespace: malformed stats")
		}
		*p, b = v, b[n:]
	}
	return s, nil
}
