package chunkstore

import (
	"context"
	"sync"
)

// budget is a byte semaphore shared by every Write (or every reader) of a
// Store: each chunk buffer in flight holds its size from the budget, so the
// memory of all requests together stays bounded whatever their number.
// Waiters are served first come, first served (a big request cannot be
// starved by small ones). An acquire of more than the limit is clamped to
// the limit, so it succeeds once the budget is idle.
//
// pressure lets holders that could release early (a Write's uncommitted
// transaction) do so while someone waits, which is also what keeps
// concurrent Writes from deadlocking on it (see commitWrite).
type budget struct {
	mu       sync.Mutex
	limit    int64
	used     int64
	peak     int64 // high-water mark of used
	waiters  []*waiter
	pressure chan struct{} // closed while waiters is not empty
}

type waiter struct {
	n     int64
	ready chan struct{} // closed when granted
}

func newBudget(limit int64) *budget {
	return &budget{limit: limit, pressure: make(chan struct{})}
}

// clamp returns n bounded by the limit.
func (b *budget) clamp(n int64) int64 { return min(n, b.limit) }

// acquire takes n bytes (clamped), waiting until they are free or ctx ends
// (then it returns ctx's error and holds nothing). Release the same n.
func (b *budget) acquire(ctx context.Context, n int64) error {
	n = b.clamp(n)
	b.mu.Lock()
	if len(b.waiters) == 0 && b.used+n <= b.limit {
		b.take(n)
		b.mu.Unlock()
		return nil
	}
	w := &waiter{n: n, ready: make(chan struct{})}
	b.waiters = append(b.waiters, w)
	if len(b.waiters) == 1 {
		close(b.pressure)
	}
	b.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
	}
	b.mu.Lock()
	select {
	case <-w.ready: // granted meanwhile: give it back
		b.mu.Unlock()
		b.release(n)
		return ctx.Err()
	default:
	}
	for i, x := range b.waiters {
		if x == w {
			b.waiters = append(b.waiters[:i], b.waiters[i+1:]...)
			break
		}
	}
	b.grant() // the waiters behind w may fit now
	b.mu.Unlock()
	return ctx.Err()
}

// release returns n bytes (clamped as acquire did) and wakes the waiters
// that now fit, in order.
func (b *budget) release(n int64) {
	n = b.clamp(n)
	b.mu.Lock()
	b.used -= n
	if b.used < 0 {
		panic("chunkstore: budget released more than acquired")
	}
	b.grant()
	b.mu.Unlock()
}

// take adds n to used; b.mu held.
func (b *budget) take(n int64) {
	b.used += n
	b.peak = max(b.peak, b.used)
}

// grant hands the budget to the waiters at the head that fit; b.mu held.
func (b *budget) grant() {
	had := len(b.waiters) > 0
	for len(b.waiters) > 0 && b.used+b.waiters[0].n <= b.limit {
		w := b.waiters[0]
		b.waiters[0] = nil
		b.waiters = b.waiters[1:]
		b.take(w.n)
		close(w.ready)
	}
	if had && len(b.waiters) == 0 {
		b.pressure = make(chan struct{})
	}
}

// pressured returns a channel closed while some acquire waits.
func (b *budget) pressured() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.pressure
}

// stats returns the bytes in use and the high-water mark.
func (b *budget) stats() (used, peak int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used, b.peak
}
