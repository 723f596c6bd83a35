package chunkstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Records returns the store's ordered record space for the namespace layer.
func (s *Store) Records() *Records { return &s.records }

// Records is an ordered key/value space in the same Badger database as the
// chunks (so a recipe is durable before a record that names it). Keys are
// compared bytewise and must be non-empty. Values passed in are copied;
// values returned are owned by the caller. Safe for concurrent use.
type Records struct {
	s *Store

	mu       sync.Mutex
	watchers []func(keys [][]byte) // see OnWrite
}

// OnWrite registers fn to be called after each run of an Update's
// transaction with the keys the run wrote (Set or Delete, in call order,
// duplicates possible), whether or not it committed, before Update
// returns or runs the transaction again: a cache of values read with Get
// or Scan drops those keys in fn (see namespace's record cache), so a
// reader that starts after Update returns never sees a value it
// replaced. fn must be quick and must not call Update; it owns keys.
// Every write to the record space goes through Update, so fn sees them
// all.
func (r *Records) OnWrite(fn func(keys [][]byte)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.watchers = append(r.watchers, fn)
}

// notify calls the OnWrite watchers with keys (none: no call).
func (r *Records) notify(keys [][]byte) {
	if len(keys) == 0 {
		return
	}
	r.mu.Lock()
	ws := r.watchers
	r.mu.Unlock()
	for _, fn := range ws {
		fn(keys)
	}
}

// RecordTxn is the view of one read-write transaction. Every key it
// reads (Get, and each key Scan passes to fn) is checked at commit: if
// another transaction committed a write to it since this one began, the
// commit conflicts and Update runs fn again. Keys that did not exist when
// Scan ran are not checked (no phantom protection).
type RecordTxn interface {
	Get(key []byte) ([]byte, error) // ErrNotFound if absent
	Set(key, val []byte) error
	Delete(key []byte) error
	// Scan calls fn for each key with prefix in byte order, as seen by
	// the transaction (its own writes included), until fn returns false
	// or an error (which Scan returns); key and val are fn's to keep. fn
	// must not call Set or Delete.
	Scan(prefix []byte, fn func(key, val []byte) (bool, error)) error
}

func recordKey(key []byte) []byte {
	k := make([]byte, 1+len(key))
	k[0] = prefixRecord
	copy(k[1:], key)
	return k
}

// ErrEmptyKey is returned for an empty record key.
var ErrEmptyKey = errors.New("chunkstore: empty record key")

// Get returns the value at key; ErrNotFound (wrapped) if absent.
func (r *Records) Get(ctx context.Context, key []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var v []byte
	err := r.s.db.View(func(txn *badger.Txn) error {
		var err error
		v, err = recordTxn{txn: txn}.Get(key)
		return err
	})
	return v, err
}

// ErrConflict is returned (wrapped) by Records.Update when its
// transaction still conflicted after every retry: the keys it read were
// rewritten by other commits each time. The write was not committed;
// trying again later may succeed.
var ErrConflict = errors.New("chunkstore: transaction conflict, retries exhausted")

// Conflict retries of Records.Update: up to conflictAttempts runs of fn,
// the n-th retry after a random wait in [0, min(conflictCap,
// conflictBase×2ⁿ)) ("full jitter"), so writers that collided do not
// collide again in lockstep. The 15 waits add up to 0.93 s at most (0.46 s
// on average): a write's commit must not lag far behind the content it
// names, which GC may sweep once older than its grace (1 s at the least).
const (
	conflictAttempts = 16
	conflictBase     = time.Millisecond
	conflictCap      = 100 * time.Millisecond
)

// conflictWait returns the wait before retry number attempt (0: the
// first retry) of a conflicted transaction.
func conflictWait(attempt int) time.Duration {
	d := conflictCap
	if attempt < 16 && conflictBase<<attempt < conflictCap {
		d = conflictBase << attempt
	}
	return rand.N(d) + 1
}

// Update runs fn in one serializable read-write transaction; fn may run
// more than once, so it must not have side effects outside tx. A commit
// that conflicts (badger.ErrConflict) is retried with exponential backoff
// and jitter (see conflictWait), at most conflictAttempts runs in all,
// then fails with ErrConflict; a commit refused while GC flushes is
// retried too (blockedRetry). The commit is durable on return unless
// Config.NoSync. Records are small, so Update goes on while the disk is
// below the reserve (deletes must work on a full disk) and fails with
// ErrNoSpace only below a floor of a few MiB (see space.go).
func (r *Records) Update(ctx context.Context, fn func(tx RecordTxn) error) error {
	if err := r.s.space.ChargeFloor(recordCost, r.s.spaceFloor()); err != nil {
		return fmt.Errorf("chunkstore: records: %w", err)
	}
	conflicts := 0
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		var written [][]byte
		err := r.s.db.Update(func(txn *badger.Txn) error { return fn(recordTxn{txn: txn, written: &written}) })
		r.notify(written) // committed or not: a watcher may only drop too much
		if err == nil {
			return r.s.sync()
		}
		if blockedRetry(err, attempt) {
			continue
		}
		if !errors.Is(err, badger.ErrConflict) {
			return err
		}
		conflicts++
		if conflicts >= conflictAttempts {
			return fmt.Errorf("%w (%d attempts): %v", ErrConflict, conflicts, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(conflictWait(conflicts - 1)):
		}
	}
}

// Scan calls fn for each key with prefix, in byte order, starting at the
// first key >= start (start nil: from the prefix), until fn returns false
// or an error (which Scan returns). fn runs inside a read transaction and
// must not call Update; key and val are fn's to keep.
func (r *Records) Scan(ctx context.Context, prefix, start []byte, fn func(key, val []byte) (bool, error)) error {
	return r.s.db.View(func(txn *badger.Txn) error {
		opt := badger.DefaultIteratorOptions
		opt.Prefix = recordKey(prefix)
		opt.PrefetchValues = false
		it := txn.NewIterator(opt)
		defer it.Close()
		seek := opt.Prefix
		if bytes.Compare(start, prefix) > 0 {
			seek = recordKey(start)
		}
		for it.Seek(seek); it.ValidForPrefix(opt.Prefix); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			if more, err := scanItem(it.Item(), fn); err != nil || !more {
				return err
			}
		}
		return nil
	})
}

type recordTxn struct {
	txn     *badger.Txn
	written *[][]byte // keys Set or Deleted, for Records.notify; nil: read-only
}

// wrote notes key as written (see Records.OnWrite).
func (t recordTxn) wrote(key []byte) {
	if t.written != nil {
		*t.written = append(*t.written, bytes.Clone(key))
	}
}

func (t recordTxn) Get(key []byte) ([]byte, error) {
	if len(key) == 0 {
		return nil, ErrEmptyKey
	}
	item, err := t.txn.Get(recordKey(key))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, fmt.Errorf("%w: record %q", ErrNotFound, key)
	}
	if err != nil {
		return nil, err
	}
	return item.ValueCopy(nil)
}

func (t recordTxn) Set(key, val []byte) error {
	if len(key) == 0 {
		return ErrEmptyKey
	}
	t.wrote(key)
	return t.txn.Set(recordKey(key), bytes.Clone(val))
}

func (t recordTxn) Scan(prefix []byte, fn func(key, val []byte) (bool, error)) error {
	opt := badger.DefaultIteratorOptions
	opt.Prefix = recordKey(prefix)
	opt.PrefetchValues = false
	it := t.txn.NewIterator(opt)
	defer it.Close()
	for it.Seek(opt.Prefix); it.ValidForPrefix(opt.Prefix); it.Next() {
		// it.Item adds the key to the transaction's reads.
		if more, err := scanItem(it.Item(), fn); err != nil || !more {
			return err
		}
	}
	return nil
}

// scanItem passes a record's key (without its prefix byte) and value,
// copied, from item to fn and returns fn's answer: more false stops the
// scan.
func scanItem(item *badger.Item, fn func(key, val []byte) (more bool, err error)) (bool, error) {
	key := item.KeyCopy(nil)[1:]
	val, err := item.ValueCopy(nil)
	if err != nil {
		return false, fmt.Errorf("chunkstore: scan %q: %w", key, err)
	}
	return fn(key, val)
}

func (t recordTxn) Delete(key []byte) error {
	if len(key) == 0 {
		return ErrEmptyKey
	}
	t.wrote(key)
	return t.txn.Delete(recordKey(key))
}
