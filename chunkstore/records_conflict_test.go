package chunkstore

import (
	"context"
	"errors"
	"strconv"
	"testing"

	"golang.org/x/sync/errgroup"
)

// TestRecordsUpdateContended: 200 concurrent read-modify-write Updates of
// one record (a container's counters under 200 concurrent PUTs) all
// succeed and none is lost: conflicts are retried with backoff instead of
// failing after a burst of immediate retries.
func TestRecordsUpdateContended(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, nil)
	recs := s.Records()
	key := []byte("counter")
	const n = 200
	var g errgroup.Group
	for range n {
		g.Go(func() error {
			return recs.Update(ctx, func(tx RecordTxn) error {
				v, err := tx.Get(key)
				if err != nil && !errors.Is(err, ErrNotFound) {
					return err
				}
				c, _ := strconv.Atoi(string(v))
				return tx.Set(key, []byte(strconv.Itoa(c+1)))
			})
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	v, err := recs.Get(ctx, key)
	if err != nil || string(v) != strconv.Itoa(n) {
		t.Fatalf("counter %q, %v; want %d", v, err, n)
	}
}
