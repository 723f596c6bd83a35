package chunkstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Records returns the store's ordered record space for the namespace layer.
func (s *Store) Records() *Records { return &s.records }

// Records is an ordered key/value space in the same Badger database as the
// chunks (so a recipe is durable before a record that names it). Keys are
// compared bytewise and must be non-empty. Values passed in are copied;
// values returned are owned by the caller. Safe for concurrent use.
type Records struct{ s *Store }

// RecordTxn is the view of one read-write transaction.
type RecordTxn interface {
	Get(key []byte) ([]byte, error) // ErrNotFound if absent
	Set(key, val []byte) error
	Delete(key []byte) error
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
		v, err = recordTxn{txn}.Get(key)
		return err
	})
	return v, err
}

// Update runs fn in one serializable read-write transaction, retried on
// conflict; fn may run more than once, so it must not have side effects
// outside tx. The commit is durable on return unless Config.NoSync.
func (r *Records) Update(ctx context.Context, fn func(tx RecordTxn) error) error {
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := r.s.db.Update(func(txn *badger.Txn) error { return fn(recordTxn{txn}) })
		if err == nil {
			return r.s.sync()
		}
		if blockedRetry(err, attempt) {
			continue
		}
		if !errors.Is(err, badger.ErrConflict) || attempt >= 100 {
			return err
		}
		// Many writers of one record (a container's counters under
		// hundreds of concurrent PUTs) conflict again if they all retry at
		// once: back off a random time that grows with the attempts (at
		// most 50 ms; 100 attempts wait about 2.5 s at most).
		d := time.Duration(rand.Int64N(int64(min(attempt+1, 50)) * int64(time.Millisecond)))
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return ctx.Err()
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
			item := it.Item()
			key := item.KeyCopy(nil)[1:]
			val, err := item.ValueCopy(nil)
			if err != nil {
				return fmt.Errorf("chunkstore: scan %q: %w", key, err)
			}
			more, err := fn(key, val)
			if err != nil || !more {
				return err
			}
		}
		return nil
	})
}

type recordTxn struct{ txn *badger.Txn }

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
	return t.txn.Set(recordKey(key), bytes.Clone(val))
}

func (t recordTxn) Delete(key []byte) error {
	if len(key) == 0 {
		return ErrEmptyKey
	}
	return t.txn.Delete(recordKey(key))
}
