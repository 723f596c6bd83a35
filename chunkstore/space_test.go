package chunkstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"github.com/nitro-cloud/nitro/internal/diskspace"
	"github.com/nitro-cloud/nitro/internal/testenv"
)

// TestDiskUsageEmptyStore: an empty store's disk usage is its allocated
// blocks (tens of KiB, as du says), not the apparent sizes of Badger's
// preallocated files (a 512 MiB value log and a 64 MiB memtable: 605 MB).
func TestDiskUsageEmptyStore(t *testing.T) {
	s := openTest(t, nil)
	if got := s.DiskUsage(); got <= 0 || got > 1<<20 {
		t.Errorf("DiskUsage of an empty store = %d bytes, want 0 < n <= 1 MiB", got)
	}
	// The ballast file is not store data.
	if _, err := os.Stat(filepath.Join(s.Config().Dir, BallastName)); err != nil {
		t.Errorf("no ballast file in a store with room for it: %v", err)
	}
}

func TestReserveFor(t *testing.T) {
	const GiB = 1 << 30
	for _, tc := range []struct {
		bytes int64
		pct   float64
		total int64
		want  int64
	}{
		{0, 0, 100 * GiB, DefaultReserve},
		{-1, 0, 100 * GiB, 0},
		{1 << 20, 0, 100 * GiB, 1 << 20},
		{1 << 20, 1, 100 * GiB, GiB},
		{2 * GiB, 1, 100 * GiB, 2 * GiB},
		{0, 1, 10 * GiB, DefaultReserve},
	} {
		if got := reserveFor(Config{ReserveBytes: tc.bytes, ReservePercent: tc.pct}, tc.total); got != tc.want {
			t.Errorf("reserveFor(bytes %d, %v%% of %d) = %d, want %d", tc.bytes, tc.pct, tc.total, got, tc.want)
		}
	}
}

// TestReserveSmallFS fills a 64 MiB tmpfs (the harshest case: on tmpfs
// even reading a hole of a full file system's mapped file faults) through
// the store: writes past the reserve fail with ErrNoSpace and leave no
// recipe, everything acknowledged reads back, record updates (deletes)
// still work, and the store reopens on the full file system, also after
// something else filled it to the last byte (the ballast is released).
func TestReserveSmallFS(t *testing.T) {
	testenv.Short(t)
	mnt := testenv.SmallFS(t, "tmpfs", 64<<20)
	dir := filepath.Join(mnt, "store")
	const reserve = 16 << 20
	// Space held back until the end, when it comes back (8 MiB: more than
	// the ballast takes again and the drift of the free space).
	spare := filepath.Join(mnt, "spare")
	if err := os.WriteFile(spare, make([]byte, 8<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Dir: dir, ReserveBytes: reserve}
	s, err := Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	ctx := context.Background()

	type stored struct {
		data []byte
		id   recipe.ID
	}
	var acked []stored
	var refused error
	for i := range 40 {
		data := make([]byte, 2<<20)
		rand.Read(data)
		_, id, err := s.Write(ctx, bytes.NewReader(data))
		if err != nil {
			refused = err
			t.Logf("write %d (%d MiB acknowledged before): %v", i, 2*len(acked), err)
			break
		}
		acked = append(acked, stored{data, id})
	}
	if !errors.Is(refused, ErrNoSpace) {
		t.Fatalf("64 MiB fs with a 16 MiB reserve: after %d writes of 2 MiB the error is %v, want ErrNoSpace", len(acked), refused)
	}
	if len(acked) < 10 {
		t.Errorf("only %d writes of 2 MiB fit in 48 MiB above the reserve", len(acked))
	}
	sp, err := diskspace.Statfs(mnt)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("free after the refused write: %d bytes (reserve %d, ballast %d)", sp.Free, reserve, reserve/4)
	if sp.Free < reserve/2 {
		t.Errorf("free space %d: the reserve of %d was eaten into", sp.Free, reserve)
	}
	// Single chunks (as fetched from peers) are refused too. (The free
	// space moves by a few MiB as Badger flushes a memtable and deletes
	// its WAL, or writes what it was not charged for, hence a big chunk.)
	chunk := make([]byte, 8<<20)
	rand.Read(chunk)
	if _, err := s.Put(ctx, chunk); !errors.Is(err, ErrNoSpace) {
		t.Errorf("Put on a full store: %v, want ErrNoSpace", err)
	}
	// Records (tombstones) still go through.
	if err := s.Records().Update(ctx, func(tx RecordTxn) error { return tx.Set([]byte("k"), []byte("tombstone")) }); err != nil {
		t.Errorf("record update on a full store: %v", err)
	}
	verify := func(s *Store) {
		t.Helper()
		for i, a := range acked {
			rec, err := s.Recipe(ctx, a.id)
			if err != nil {
				t.Fatalf("object %d: %v", i, err)
			}
			rd, err := s.NewReader(ctx, rec, 0, -1, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rd)
			rd.Close()
			if err != nil || !bytes.Equal(got, a.data) {
				t.Fatalf("object %d reads back wrong: %v", i, err)
			}
		}
	}
	verify(s)

	// Reopen on the full file system.
	if err := s.Close(); err != nil {
		t.Fatalf("close on a full fs: %v", err)
	}
	if s, err = Open(cfg, nil); err != nil {
		t.Fatalf("reopen on a full fs: %v", err)
	}
	verify(s)
	s.Close()

	// Something else takes the last byte; the store still opens (the
	// ballast is released), reads, and takes record updates.
	fillUp(t, filepath.Join(mnt, "filler"))
	if s, err = Open(cfg, nil); err != nil {
		t.Fatalf("open on a file system filled to the last byte: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, BallastName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ballast kept on a full disk: %v", err)
	}
	verify(s)
	if err := s.Records().Update(ctx, func(tx RecordTxn) error { return tx.Delete([]byte("k")) }); err != nil {
		t.Errorf("record update after the ballast was released: %v", err)
	}
	data := make([]byte, 1<<20)
	rand.Read(data)
	if _, _, err := s.Write(ctx, bytes.NewReader(data)); !errors.Is(err, ErrNoSpace) {
		t.Errorf("write on a full disk: %v, want ErrNoSpace", err)
	}
	// Space comes back: writes are accepted again.
	for _, f := range []string{filepath.Join(mnt, "filler"), spare} {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	s.space = mustGuardRefresh(t, s)
	if _, _, err := s.Write(ctx, bytes.NewReader(data)); err != nil {
		t.Errorf("write after space came back: %v", err)
	}
}

// mustGuardRefresh returns a new guard for s (as a refresh after
// diskspace.RefreshEvery would see the file system).
func mustGuardRefresh(t *testing.T, s *Store) *diskspace.Guard {
	t.Helper()
	g, err := newSpaceGuard(s.cfg, s.log)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// fillUp writes zeros to path until the file system is full.
func fillUp(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			break // ENOSPC
		}
	}
	for _, n := range []int{4096, 512, 1} { // the last partial blocks
		for {
			if _, err := f.Write(buf[:n]); err != nil {
				break
			}
		}
	}
	f.Sync()
}
