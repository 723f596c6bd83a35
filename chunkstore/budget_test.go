package chunkstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"golang.org/x/sync/errgroup"
)

// TestBudgetsBoundConcurrentWritesAndReads is issue 9 item 5: 64
// concurrent Writes, then 64 concurrent readers, of a store whose write
// and read budgets hold a few chunks only: everything round-trips, the
// budgets' high-water marks stay within their limits, and all is given
// back at the end.
func TestBudgetsBoundConcurrentWritesAndReads(t *testing.T) {
	ctx := context.Background()
	var cost int64
	s := openTest(t, func(c *Config) {
		cost = int64(DefaultMaxSize + valueCap(DefaultMaxSize))
		c.WriteBudget = 6 * cost
		c.ReadBudget = 5 * DefaultMaxSize
	})
	const n = 64
	data := make([][]byte, n)
	recs := make([]*recipe.Recipe, n)
	var g errgroup.Group
	for i := range n {
		data[i] = testData(uint64(100+i), 256<<10+i*7919)
		g.Go(func() error {
			rec, _, err := s.Write(ctx, bytes.NewReader(data[i]))
			recs[i] = rec
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		g.Go(func() error {
			r, err := s.NewReader(ctx, recs[i], 0, -1, nil)
			if err != nil {
				return err
			}
			defer r.Close()
			got, err := io.ReadAll(r)
			if err != nil {
				return err
			}
			if !bytes.Equal(got, data[i]) {
				return fmt.Errorf("object %d: read back %d bytes, differ", i, len(got))
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	for _, b := range []struct {
		name string
		b    *budget
	}{{"write", s.wbudget}, {"read", s.rbudget}} {
		used, peak := b.b.stats()
		if used != 0 || peak > b.b.limit || peak == 0 {
			t.Errorf("%s budget: %d bytes still held, peak %d of %d", b.name, used, peak, b.b.limit)
		}
	}
}

// stallReader returns its bytes, then blocks until release is closed,
// then ends.
type stallReader struct {
	r       io.Reader
	stalled chan struct{} // closed when it blocks
	release chan struct{}
	once    sync.Once
}

func (s *stallReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if errors.Is(err, io.EOF) {
		s.once.Do(func() { close(s.stalled) })
		<-s.release
	}
	return n, err
}

// TestBudgetStalledWriteDoesNotBlockOthers: a Write whose reader stalls
// (a client that stopped sending) after several MiB holds at most one
// chunk of the write budget, so other Writes still complete through a
// budget of a few chunks, and so does the stalled one once released.
func TestBudgetStalledWriteDoesNotBlockOthers(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, func(c *Config) {
		c.WriteBudget = 4 * int64(DefaultMaxSize+valueCap(DefaultMaxSize))
	})
	st := &stallReader{r: bytes.NewReader(testData(7, 6<<20)), stalled: make(chan struct{}), release: make(chan struct{})}
	stalledDone := make(chan error, 1)
	go func() {
		_, _, err := s.Write(ctx, st)
		stalledDone <- err
	}()
	select {
	case <-st.stalled:
	case err := <-stalledDone:
		t.Fatalf("write ended before its reader stalled: %v", err)
	case <-time.After(5 * time.Minute): // generous: a deadlock, not slowness
		t.Fatal("a write blocked on its own budget before its reader stalled")
	}
	var g errgroup.Group
	for i := range 8 {
		g.Go(func() error {
			_, _, err := s.Write(ctx, bytes.NewReader(testData(uint64(200+i), 2<<20)))
			return err
		})
	}
	others := make(chan error, 1)
	go func() { others <- g.Wait() }()
	select {
	case err := <-others:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Minute): // generous: a deadlock, not slowness
		t.Fatal("writes blocked behind a stalled write's budget")
	}
	close(st.release)
	if err := <-stalledDone; err != nil {
		t.Fatal(err)
	}
	if used, _ := s.wbudget.stats(); used != 0 {
		t.Errorf("write budget: %d bytes still held", used)
	}
}

// TestBudgetAcquireCancel: an acquire that gives up holds nothing and lets
// the waiters behind it through.
func TestBudgetAcquireCancel(t *testing.T) {
	b := newBudget(10)
	if err := b.acquire(context.Background(), 8); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- b.acquire(ctx, 5) }() // waits: 8+5 > 10
	for {
		select {
		case <-b.pressured():
		case <-time.After(time.Millisecond):
			continue
		}
		break
	}
	small := make(chan error, 1)
	go func() { small <- b.acquire(context.Background(), 2) }() // FIFO: behind the 5
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled acquire: %v", err)
	}
	if err := <-small; err != nil {
		t.Fatal(err)
	}
	if used, peak := b.stats(); used != 10 || peak != 10 {
		t.Fatalf("used %d peak %d, want 10 10", used, peak)
	}
	b.release(8)
	b.release(2)
	if err := b.acquire(context.Background(), 100); err != nil { // clamped to the limit
		t.Fatal(err)
	}
	b.release(100)
	if used, _ := b.stats(); used != 0 {
		t.Fatalf("used %d after releasing everything", used)
	}
}

// BenchmarkBudgetAcquireRelease: the per-chunk cost of the shared budget,
// contended by GOMAXPROCS goroutines (a Write takes it once per chunk,
// about 64 KiB).
func BenchmarkBudgetAcquireRelease(b *testing.B) {
	bud := newBudget(DefaultWriteBudget)
	cost := int64(DefaultMaxSize + valueCap(DefaultMaxSize))
	ctx := context.Background()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := bud.acquire(ctx, cost); err != nil {
				b.Error(err)
				return
			}
			bud.release(cost)
		}
	})
}
