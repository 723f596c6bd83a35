package namespace

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"go.uber.org/zap"
)

// DefaultReclaimAge is how long tombstones are kept before PurgeTombstones
// removes them: 7 days, Swift's reclaim_age. A region that is partitioned
// away for longer than this may resurrect a deleted record when it comes
// back, as in Swift.
const DefaultReclaimAge = 7 * 24 * time.Hour

// KV is the ordered key/value space the namespace lives in.
// *chunkstore.Records implements it; Get returns an error wrapping
// chunkstore.ErrNotFound for an absent key.
type KV interface {
	Get(ctx context.Context, key []byte) ([]byte, error)
	Update(ctx context.Context, fn func(tx chunkstore.RecordTxn) error) error
	Scan(ctx context.Context, prefix, start []byte, fn func(key, val []byte) (bool, error)) error
}

var _ KV = (*chunkstore.Records)(nil)

// Config configures a Namespace.
type Config struct {
	// Region is this node's region, stamped on the records it writes.
	// Required.
	Region string
	// ReclaimAge is how long tombstones are kept; zero means
	// DefaultReclaimAge.
	ReclaimAge time.Duration
	// Now is the wall clock; nil means time.Now. For tests.
	Now func() time.Time
	// CacheBytes bounds the cache of decoded records and recipe holders
	// that Get, GetLive, Holds and Holders read through (see
	// recordCache), in bytes; zero means DefaultCacheBytes, negative
	// turns it off. Only a KV that reports its writes
	// (chunkstore.Records) gets one.
	CacheBytes int64
}

// Namespace is the account, container and object record space of one node.
// Safe for concurrent use.
type Namespace struct {
	kv      KV
	region  string
	reclaim time.Duration
	now     func() time.Time
	log     *zap.Logger

	mu   sync.Mutex
	last int64 // last timestamp handed out, unix nanoseconds

	folds foldState // see stats.go

	cache *recordCache // nil: off
}

// New returns the namespace stored in kv.
func New(cfg Config, kv KV, log *zap.Logger) (*Namespace, error) {
	if cfg.Region == "" {
		return nil, errors.New("namespace: empty region")
	}
	if cfg.ReclaimAge < 0 {
		return nil, fmt.Errorf("namespace: negative reclaim age %v", cfg.ReclaimAge)
	}
	if cfg.ReclaimAge == 0 {
		cfg.ReclaimAge = DefaultReclaimAge
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if kv == nil {
		return nil, errors.New("namespace: nil record space")
	}
	if log == nil {
		log = zap.NewNop()
	}
	ns := &Namespace{kv: kv, region: cfg.Region, reclaim: cfg.ReclaimAge, now: cfg.Now, log: log}
	if cfg.CacheBytes == 0 {
		cfg.CacheBytes = DefaultCacheBytes
	}
	if w, ok := kv.(writeWatcher); ok && cfg.CacheBytes > 0 {
		ns.cache = newRecordCache(cfg.CacheBytes)
		w.OnWrite(ns.cache.invalidate)
	}
	return ns, nil
}

// Region returns this node's region.
func (ns *Namespace) Region() string { return ns.region }

// Now returns a new X-Timestamp for a local write: the wall clock in unix
// nanoseconds, made strictly increasing on this node (if the clock did not
// advance or stepped back, the last timestamp plus one).
func (ns *Namespace) Now() int64 {
	t := ns.now().UnixNano()
	ns.mu.Lock()
	defer ns.mu.Unlock()
	if t <= ns.last {
		t = ns.last + 1
	}
	ns.last = t
	return t
}

// Stats are a container's totals over its live objects.
type Stats struct {
	Objects int64
	Bytes   int64 // sum of live object sizes, in bytes
	// Modified is the newest object record timestamp applied to the
	// container (unix nanoseconds, 0: none), for listings' last_modified.
	Modified int64
}

// Txn is one read-write transaction over the namespace, handed to the
// function given to Update. It must not be used after that function
// returns.
type Txn struct {
	ns      *Namespace
	tx      chunkstore.RecordTxn
	touched []containerRef // containers whose stats got a delta
}

// Get returns the record at k, tombstones included; ErrNotFound if there is
// none.
func (t *Txn) Get(k Key) (*Record, error) {
	if err := k.Validate(); err != nil {
		return nil, err
	}
	v, err := t.tx.Get(k.Bytes())
	if err != nil {
		return nil, mapNotFound(err, k)
	}
	return UnmarshalRecord(k.Bytes(), v)
}

// Apply stores rec if it is newer (see Record.Newer) than the record at its
// key, or if there is none, and keeps the container stats in step. It
// reports whether rec was stored. rec is not retained.
func (t *Txn) Apply(rec *Record) (applied bool, err error) {
	if err := rec.Validate(); err != nil {
		return false, err
	}
	old, err := t.Get(rec.Key)
	switch {
	case errors.Is(err, ErrNotFound):
		old = nil
	case err != nil:
		return false, err
	case !rec.Newer(old):
		return false, nil
	}
	val, err := rec.MarshalValue()
	if err != nil {
		return false, err
	}
	if err := t.tx.Set(rec.Key.Bytes(), val); err != nil {
		return false, err
	}
	if rec.Kind == KindObject {
		if err := t.addDelta(old, rec); err != nil {
			return false, err
		}
	}
	return true, nil
}

func isNotFound(err error) bool { return errors.Is(err, chunkstore.ErrNotFound) }

func mapNotFound(err error, k Key) error {
	if errors.Is(err, chunkstore.ErrNotFound) {
		return fmt.Errorf("%w: %v", ErrNotFound, k)
	}
	return err
}

// Update runs fn in one serializable transaction; fn may run more than
// once (on conflict), so it must not have side effects outside t that a
// rerun would repeat.
func (ns *Namespace) Update(ctx context.Context, fn func(t *Txn) error) error {
	var last *Txn
	err := ns.kv.Update(ctx, func(tx chunkstore.RecordTxn) error {
		last = &Txn{ns: ns, tx: tx}
		return fn(last)
	})
	if err == nil && last != nil && len(last.touched) > 0 {
		ns.folds.committed(ctx, ns, last.touched)
	}
	return err
}

// Apply merges rec by last writer wins in its own transaction: the merge
// used by local writes and by replication alike. It reports whether rec
// was newer and so stored.
func (ns *Namespace) Apply(ctx context.Context, rec *Record) (applied bool, err error) {
	err = ns.Update(ctx, func(t *Txn) error {
		applied, err = t.Apply(rec)
		return err
	})
	return applied, err
}

// Get returns the record at k, tombstones included; ErrNotFound if there is
// none. The record is the caller's. Records are read through the record
// cache (see recordCache): a hit costs a map lookup and a Clone, and
// never returns a record a finished write replaced.
func (ns *Namespace) Get(ctx context.Context, k Key) (*Record, error) {
	if err := k.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	key := k.Bytes()
	var gen uint64
	if ns.cache != nil {
		if r := ns.cache.record(key); r != nil {
			return r, nil
		}
		gen = ns.cache.generation()
	}
	v, err := ns.kv.Get(ctx, key)
	if err != nil {
		return nil, mapNotFound(err, k)
	}
	r, err := UnmarshalRecord(key, v)
	if err != nil || ns.cache == nil {
		return r, err
	}
	ns.cache.putRecord(key, r.Clone(), len(v), gen)
	return r, nil
}

// GetLive returns the record at k; ErrNotFound if there is none or it is a
// tombstone.
func (ns *Namespace) GetLive(ctx context.Context, k Key) (*Record, error) {
	r, err := ns.Get(ctx, k)
	if err != nil {
		return nil, err
	}
	if r.Deleted {
		return nil, fmt.Errorf("%w: %v (deleted)", ErrNotFound, k)
	}
	return r, nil
}

// AccountStats returns the number of live containers of the account and
// the totals of their objects. Cost: a scan of the account's container
// records plus one stats read per live container (see ContainerStats).
func (ns *Namespace) AccountStats(ctx context.Context, account string) (containers int64, s Stats, err error) {
	if err := ValidateName("account", account); err != nil {
		return 0, Stats{}, err
	}
	var names []string
	err = ns.kv.Scan(ctx, childPrefix(AccountKey(account)), nil, func(key, val []byte) (bool, error) {
		r, err := UnmarshalRecord(key, val)
		if err != nil {
			return false, err
		}
		if r.Live() {
			names = append(names, r.Container)
		}
		return true, nil
	})
	if err != nil {
		return 0, Stats{}, err
	}
	for _, c := range names {
		cs, err := ns.ContainerStats(ctx, account, c)
		if err != nil {
			return 0, Stats{}, err
		}
		s.Objects += cs.Objects
		s.Bytes += cs.Bytes
		s.Modified = max(s.Modified, cs.Modified)
	}
	return int64(len(names)), s, nil
}

// Scan calls fn for every record of kind (tombstones included) in key
// order, starting at the first key >= start (zero Key: from the first),
// until fn returns false or an error. It is the iteration anti-entropy
// builds on. The record passed to fn is fn's to keep.
func (ns *Namespace) Scan(ctx context.Context, kind Kind, start Key, fn func(*Record) (bool, error)) error {
	if kind != KindAccount && kind != KindContainer && kind != KindObject && kind != KindHolding && kind != KindProfile {
		return fmt.Errorf("namespace: scan of unknown kind %v", kind)
	}
	var from []byte
	if start != (Key{}) {
		if start.Kind != kind {
			return fmt.Errorf("namespace: scan of %v from a %v key", kind, start.Kind)
		}
		from = start.Bytes()
	}
	return ns.kv.Scan(ctx, []byte{byte(kind)}, from, func(key, val []byte) (bool, error) {
		r, err := UnmarshalRecord(key, val)
		if err != nil {
			return false, err
		}
		return fn(r)
	})
}

// LiveRecipes returns the recipe ID of every live object, without
// duplicates: the roots of garbage collection. Cost: a scan of every object
// record.
func (ns *Namespace) LiveRecipes(ctx context.Context) ([]recipe.ID, error) {
	seen := make(map[recipe.ID]struct{})
	var out []recipe.ID
	err := ns.Scan(ctx, KindObject, Key{}, func(r *Record) (bool, error) {
		if r.Live() && !r.Recipe.IsZero() {
			if _, ok := seen[r.Recipe]; !ok {
				seen[r.Recipe] = struct{}{}
				out = append(out, r.Recipe)
			}
		}
		return true, ctx.Err()
	})
	return out, err
}

// purgeBatch bounds the keys deleted in one transaction.
const purgeBatch = 512

// scanBatches scans the records of kind and calls fn, outside the scan,
// with the keys of those pick selects, at most purgeBatch at a time, then
// resumes after the last key; it stops at the first error.
func (ns *Namespace) scanBatches(ctx context.Context, kind Kind, pick func(*Record) bool, fn func([]Key) error) error {
	var start []byte
	for {
		var batch []Key
		done := true
		err := ns.kv.Scan(ctx, []byte{byte(kind)}, start, func(key, val []byte) (bool, error) {
			r, err := UnmarshalRecord(key, val)
			if err != nil {
				return false, err
			}
			if pick(r) {
				batch = append(batch, r.Key)
			}
			if len(batch) == purgeBatch {
				start = append(append([]byte(nil), key...), 0)
				done = false
				return false, nil
			}
			return true, ctx.Err()
		})
		if err != nil {
			return err
		}
		if len(batch) > 0 {
			if err := fn(batch); err != nil {
				return err
			}
		}
		if done {
			return nil
		}
	}
}

// PurgeTombstones removes tombstones older than the reclaim age and
// returns how many it removed. Cost: a scan of every record.
func (ns *Namespace) PurgeTombstones(ctx context.Context) (int, error) {
	cutoff := ns.now().Add(-ns.reclaim).UnixNano()
	total := 0
	for _, kind := range []Kind{KindObject, KindHolding, KindProfile, KindContainer, KindAccount} {
		err := ns.scanBatches(ctx, kind, func(r *Record) bool {
			return r.Deleted && r.Timestamp < cutoff
		}, func(batch []Key) error {
			n, err := ns.purge(ctx, batch, cutoff)
			total += n
			return err
		})
		if err != nil {
			return total, err
		}
	}
	if total > 0 {
		ns.log.Info("purged tombstones", zap.Int("records", total))
	}
	return total, nil
}

// purge deletes the keys that still hold a tombstone older than cutoff.
func (ns *Namespace) purge(ctx context.Context, keys []Key, cutoff int64) (int, error) {
	n := 0
	err := ns.Update(ctx, func(t *Txn) error {
		n = 0
		for _, k := range keys {
			r, err := t.Get(k)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if !r.Deleted || r.Timestamp >= cutoff {
				continue // rewritten since the scan
			}
			if err := t.tx.Delete(k.Bytes()); err != nil {
				return err
			}
			n++
			if k.Kind == KindContainer {
				s, deltas, err := t.stats(k.Account, k.Container)
				if err != nil {
					return err
				}
				if s.Objects == 0 {
					if err := t.dropStats(k.Account, k.Container, deltas); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
	return n, err
}
