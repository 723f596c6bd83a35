package chunkstore

import (
	"errors"
	"fmt"
	"sync"

	"github.com/dgraph-io/badger/v4"
)

// batcher groups blind writes into Badger transactions committed
// asynchronously, like badger.WriteBatch, but also cuts a transaction at
// batchBytes of values and keeps at most batchPending commits in flight.
// WriteBatch sizes transactions by Badger's estimate, which counts a value
// that goes to the value log as a 12-byte pointer, so one of its
// transactions could hold gigabytes of chunks in memory; the batcher holds
// at most about (batchPending+1)×batchBytes.
type batcher struct {
	db      *badger.DB
	txn     *badger.Txn
	bytes   int
	bufs    []pooled    // pooled values of txn, released after its commit
	kvs     [][2][]byte // entries of txn, to retry it when writes were blocked
	budget  *budget     // nil, or where each of bufs returns cost bytes
	cost    int64
	pending chan struct{}
	sync    bool       // start a background DB.Sync every syncBytes
	synced  int        // bytes committed since the last background sync
	syncing sync.Mutex // held by the background sync
	wg      sync.WaitGroup
	mu      sync.Mutex
	err     error
	// counts, when set, counts the chunk keys of committed transactions
	// (counts.go).
	counts *counts
}

const (
	batchBytes   = 4 << 20
	batchPending = 2
	// syncBytes: a Write that must be durable syncs in the background every
	// syncBytes of committed values, so that the disk writes back while the
	// CPU chunks and compresses, and the final Sync finds little to do.
	syncBytes = 32 << 20
)

// newBatcher returns a batcher on db; with sync, it syncs in the
// background as it goes (see syncBytes).
func newBatcher(db *badger.DB, sync bool) *batcher {
	return &batcher{db: db, sync: sync, pending: make(chan struct{}, batchPending)}
}

// pooled is a buffer and the pool it goes back to.
type pooled struct {
	buf  *[]byte
	pool *sync.Pool
}

// release hands buf (holding a value passed to set) back to pool once the
// transaction holding it has committed.
func (b *batcher) release(buf *[]byte, pool *sync.Pool) {
	b.bufs = append(b.bufs, pooled{buf, pool})
}

// set adds key → val; the batcher retains both until flush returns.
func (b *batcher) set(key, val []byte) error {
	if err := b.error(); err != nil {
		return err
	}
	if b.txn == nil {
		b.txn = b.db.NewTransaction(true)
	}
	err := b.txn.Set(key, val)
	if errors.Is(err, badger.ErrTxnTooBig) {
		b.commit() // val's buffer is released after set, into the next txn
		b.txn = b.db.NewTransaction(true)
		b.kvs = nil
		err = b.txn.Set(key, val)
	}
	if err != nil {
		return err
	}
	b.kvs = append(b.kvs, [2][]byte{key, val})
	b.bytes += len(key) + len(val)
	if b.bytes >= batchBytes {
		b.commit()
	}
	return nil
}

// commit starts committing the current transaction, waiting while
// batchPending commits are in flight.
func (b *batcher) commit() {
	if b.txn == nil {
		return
	}
	b.pending <- struct{}{}
	b.wg.Add(1)
	txn, bufs, kvs := b.txn, b.bufs, b.kvs
	b.synced += b.bytes
	if b.sync && b.synced >= syncBytes && b.syncing.TryLock() {
		b.synced = 0
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			defer b.syncing.Unlock()
			b.db.Sync() // best effort: the final Sync reports errors
		}()
	}
	b.txn, b.bytes, b.bufs, b.kvs = nil, 0, nil, nil
	txn.CommitWith(func(err error) {
		// Runs on its own goroutine: retrying here blocks only this batch.
		for attempt := 0; blockedRetry(err, attempt); attempt++ {
			err = b.db.Update(func(txn *badger.Txn) error {
				for _, kv := range kvs {
					if err := txn.Set(kv[0], kv[1]); err != nil {
						return err
					}
				}
				return nil
			})
		}
		if err == nil && b.counts != nil {
			for _, kv := range kvs {
				if kv[0][0] == prefixChunk {
					b.counts.chunk(1, valueStoredLen(kv[1]))
				}
			}
		}
		for _, p := range bufs {
			p.pool.Put(p.buf)
		}
		b.releaseBudget(len(bufs))
		if err != nil {
			b.mu.Lock()
			if b.err == nil {
				b.err = err
			}
			b.mu.Unlock()
		}
		<-b.pending
		b.wg.Done()
	})
}

// releaseBudget returns the budget of n released buffers.
func (b *batcher) releaseBudget(n int) {
	if b.budget != nil && n > 0 {
		for range n {
			b.budget.release(b.cost)
		}
	}
}

func (b *batcher) error() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// flush commits everything and waits for it; it returns the first error.
func (b *batcher) flush() error {
	b.commit()
	b.wg.Wait()
	if err := b.error(); err != nil {
		return fmt.Errorf("chunkstore: commit: %w", err)
	}
	return nil
}

// cancel drops the uncommitted transaction and waits for commits in
// flight. Safe after flush.
func (b *batcher) cancel() {
	if b.txn != nil {
		b.txn.Discard()
		b.txn, b.kvs = nil, nil
	}
	b.releaseBudget(len(b.bufs)) // dropped with the transaction
	b.bufs = nil
	b.wg.Wait()
}
