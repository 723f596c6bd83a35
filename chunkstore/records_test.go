package chunkstore

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestConflictWait(t *testing.T) {
	for _, tt := range []struct {
		attempt int
		max     time.Duration
	}{
		{0, conflictBase}, {1, 2 * conflictBase}, {5, 32 * conflictBase},
		{7, conflictCap}, {15, conflictCap}, {60, conflictCap},
	} {
		for range 200 {
			if d := conflictWait(tt.attempt); d <= 0 || d > tt.max {
				t.Fatalf("conflictWait(%d) = %v, want in (0, %v]", tt.attempt, d, tt.max)
			}
		}
	}
}

// TestRecordsUpdateConflicts: a transaction whose reads are rewritten by
// another commit while it runs is run again; one that conflicts every time
// gives up after conflictAttempts runs with ErrConflict, committing
// nothing. Keys a transaction reads through RecordTxn.Scan count as read.
func TestRecordsUpdateConflicts(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, nil)
	r := s.Records()
	bump := func(key string, i int) {
		t.Helper()
		if err := r.Update(ctx, func(tx RecordTxn) error { return tx.Set([]byte(key), []byte(fmt.Sprint(i))) }); err != nil {
			t.Fatal(err)
		}
	}
	bump("hot", 0)
	bump("scanned/1", 0)
	for _, tt := range []struct {
		name      string
		read      func(tx RecordTxn) error
		rewrite   string
		conflicts int // runs that conflict before one commits; -1: all
	}{
		{"get", func(tx RecordTxn) error { _, err := tx.Get([]byte("hot")); return err }, "hot", 3},
		{"scan", func(tx RecordTxn) error {
			return tx.Scan([]byte("scanned/"), func(k, v []byte) (bool, error) { return true, nil })
		}, "scanned/1", 2},
		{"always", func(tx RecordTxn) error { _, err := tx.Get([]byte("hot")); return err }, "hot", -1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			runs := 0
			err := r.Update(ctx, func(tx RecordTxn) error {
				runs++
				if err := tt.read(tx); err != nil {
					return err
				}
				if tt.conflicts < 0 || runs <= tt.conflicts {
					bump(tt.rewrite, runs) // another writer commits meanwhile
				}
				return tx.Set([]byte("out/"+tt.name), []byte("x"))
			})
			_, getErr := r.Get(ctx, []byte("out/"+tt.name))
			if tt.conflicts < 0 {
				if !errors.Is(err, ErrConflict) || runs != conflictAttempts || !errors.Is(getErr, ErrNotFound) {
					t.Fatalf("Update = %v after %d runs (get: %v); want ErrConflict after %d, nothing committed", err, runs, getErr, conflictAttempts)
				}
				return
			}
			if err != nil || runs != tt.conflicts+1 || getErr != nil {
				t.Fatalf("Update = %v after %d runs (get: %v); want success after %d", err, runs, getErr, tt.conflicts+1)
			}
		})
	}
}

// TestRecordsOnWrite: the OnWrite watchers get the keys of every run of
// an Update's transaction, sets and deletes, before Update returns, also
// for a run that failed (a watcher may drop too much, never too little);
// a read-only transaction reports nothing.
func TestRecordsOnWrite(t *testing.T) {
	ctx := t.Context()
	r := openTest(t, nil).Records()
	var got []string
	r.OnWrite(func(keys [][]byte) {
		for _, k := range keys {
			got = append(got, string(k))
		}
		got = append(got, "|")
	})
	check := func(want string) {
		t.Helper()
		if s := fmt.Sprint(got); s != want {
			t.Fatalf("watched %s, want %s", s, want)
		}
		got = nil
	}
	if err := r.Update(ctx, func(tx RecordTxn) error {
		if err := tx.Set([]byte("a"), []byte("1")); err != nil {
			return err
		}
		return tx.Set([]byte("b"), []byte("1"))
	}); err != nil {
		t.Fatal(err)
	}
	check("[a b |]")
	if err := r.Update(ctx, func(tx RecordTxn) error { return tx.Delete([]byte("a")) }); err != nil {
		t.Fatal(err)
	}
	check("[a |]")
	boom := errors.New("boom")
	if err := r.Update(ctx, func(tx RecordTxn) error {
		_ = tx.Set([]byte("c"), []byte("1"))
		return boom
	}); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	check("[c |]")
	if err := r.Update(ctx, func(tx RecordTxn) error { _, err := tx.Get([]byte("b")); return err }); err != nil {
		t.Fatal(err)
	}
	check("[]")
}
