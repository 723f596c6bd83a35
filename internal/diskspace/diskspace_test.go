package diskspace

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// fakeFS is a file system whose free space the test sets; the guard's
// statfs reads it (a stand-in: a real file system's free space moves with
// every other process on the machine). Tests on a real small file system
// are in chunkstore and e2e.
type fakeFS struct {
	free  int64
	calls int
}

func (f *fakeFS) statfs(string) (Space, error) {
	f.calls++
	return Space{Total: 1 << 30, Free: f.free}, nil
}

func newFakeGuard(t *testing.T, fs *fakeFS, reserve int64, ballast Ballast) (*Guard, *time.Time) {
	t.Helper()
	now := time.Unix(1000, 0)
	g := &Guard{dir: t.TempDir(), reserve: reserve, ballast: ballast, notify: func(bool, int64) {}, statfs: fs.statfs, now: func() time.Time { return now }}
	if err := g.refreshLocked(); err != nil {
		t.Fatal(err)
	}
	return g, &now
}

func TestGuard(t *testing.T) {
	const MiB = 1 << 20
	type step struct {
		op      string // charge, check, floor
		n       int64
		wantErr bool
	}
	for _, tc := range []struct {
		name    string
		free    int64
		reserve int64
		steps   []step
	}{
		{"room", 100 * MiB, 10 * MiB, []step{{"charge", 50 * MiB, false}, {"charge", 40 * MiB, false}, {"charge", 1, true}}},
		{"exact", 20 * MiB, 10 * MiB, []step{{"charge", 10 * MiB, false}, {"charge", 1, true}}},
		{"check does not charge", 20 * MiB, 10 * MiB, []step{{"check", 10 * MiB, false}, {"check", 10 * MiB, false}, {"check", 10*MiB + 1, true}}},
		{"below reserve", 5 * MiB, 10 * MiB, []step{{"charge", 0, true}, {"check", 0, true}}},
		{"floor below reserve", 5 * MiB, 10 * MiB, []step{{"floor", 4 << 10, false}, {"charge", 4 << 10, true}}},
		{"floor exhausted", 5 * MiB, 10 * MiB, []step{{"floor", 4*MiB + 1, true}}},
		{"refused charges nothing", 20 * MiB, 10 * MiB, []step{{"charge", 11 * MiB, true}, {"charge", 10 * MiB, false}}},
		{"off", 0, 0, []step{{"charge", 1 << 40, false}, {"check", 1 << 40, false}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := &fakeFS{free: tc.free}
			g, _ := newFakeGuard(t, fs, tc.reserve, Ballast{})
			for i, s := range tc.steps {
				var err error
				switch s.op {
				case "charge":
					err = g.Charge(s.n)
				case "check":
					err = g.Check(s.n)
				case "floor":
					err = g.ChargeFloor(s.n, 4*MiB)
				}
				if (err != nil) != s.wantErr {
					t.Fatalf("step %d %s(%d): err %v, want error %v", i, s.op, s.n, err, s.wantErr)
				}
				if err != nil && !errors.Is(err, ErrNoSpace) {
					t.Fatalf("step %d: %v does not wrap ErrNoSpace", i, err)
				}
				if err == nil && s.op != "check" {
					fs.free -= s.n // the write lands on the disk
				}
			}
		})
	}
}

// TestGuardRefresh: the guard measures again after RefreshBytes charged or
// RefreshEvery passed, not on every call, and sees space come back.
func TestGuardRefresh(t *testing.T) {
	fs := &fakeFS{free: 100 << 20}
	g, now := newFakeGuard(t, fs, 10<<20, Ballast{})
	calls := fs.calls
	for range 4 {
		if err := g.Charge(1 << 20); err != nil {
			t.Fatal(err)
		}
	}
	if fs.calls != calls {
		t.Fatalf("statfs called %d times for 4 MiB charged, want 0", fs.calls-calls)
	}
	for range 8 {
		if err := g.Charge(1 << 20); err != nil {
			t.Fatal(err)
		}
	}
	if fs.calls != calls+1 {
		t.Fatalf("statfs called %d times for 12 MiB charged, want 1 (every %d bytes)", fs.calls-calls, RefreshBytes)
	}
	// The disk fills behind our back; the next refresh sees it.
	fs.free = 5 << 20
	*now = now.Add(RefreshEvery)
	if err := g.Charge(1); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("after the disk filled: %v, want ErrNoSpace", err)
	}
	// Space comes back (a filler file removed).
	fs.free = 50 << 20
	*now = now.Add(RefreshEvery)
	if err := g.Charge(1 << 20); err != nil {
		t.Fatalf("after space came back: %v", err)
	}
}

// TestGuardBallast: the guard creates the ballast when there is room for
// it above the reserve and releases it when free space falls below half
// the reserve.
func TestGuardBallast(t *testing.T) {
	dir := t.TempDir()
	b := Ballast{Path: filepath.Join(dir, "ballast"), Size: 1 << 20}
	fs := &fakeFS{free: 100 << 20}
	g, now := newFakeGuard(t, fs, 10<<20, b)
	if _, err := os.Stat(b.Path); err != nil {
		t.Fatalf("ballast not created with room for it: %v", err)
	}
	fs.free = 4 << 20 // < reserve/2
	*now = now.Add(RefreshEvery)
	_ = g.Charge(0)
	if _, err := os.Stat(b.Path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("ballast still there on a full disk: %v", err)
	}
	fs.free = 10<<20 + 512<<10 // above the reserve, but not by the ballast's size
	*now = now.Add(RefreshEvery)
	_ = g.Charge(0)
	if _, err := os.Stat(b.Path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("ballast created without room for it above the reserve: %v", err)
	}
	fs.free = 20 << 20
	*now = now.Add(RefreshEvery)
	_ = g.Charge(0)
	if _, err := os.Stat(b.Path); err != nil {
		t.Fatalf("ballast not created again once space came back: %v", err)
	}
}

// TestBallastAllocated: the ballast's blocks are really allocated (so
// deleting it frees them), unlike a sparse file of the same size.
func TestBallastAllocated(t *testing.T) {
	dir := t.TempDir()
	b := Ballast{Path: filepath.Join(dir, "ballast"), Size: 4 << 20}
	if created, err := b.Ensure(); err != nil || !created {
		t.Fatalf("Ensure: %v, %v", created, err)
	}
	if created, err := b.Ensure(); err != nil || created {
		t.Fatalf("second Ensure: %v, %v; want false, nil", created, err)
	}
	if got := Usage(dir); got < b.Size {
		t.Errorf("ballast uses %d bytes of blocks, want >= %d", got, b.Size)
	}
	if released, err := b.Release(); err != nil || !released {
		t.Fatalf("Release: %v, %v", released, err)
	}
	if released, err := b.Release(); err != nil || released {
		t.Fatalf("second Release: %v, %v; want false, nil", released, err)
	}
}

// TestUsageCountsBlocks: Usage counts allocated blocks like du, not the
// apparent size of sparse files (Badger preallocates its value log and
// memtables as sparse files of 2×their size).
func TestUsageCountsBlocks(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "sparse"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(1 << 30); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(make([]byte, 64<<10), 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.WriteFile(filepath.Join(dir, "skipme"), make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	got := Usage(dir, "skipme")
	if got < 64<<10 || got > 1<<20 {
		t.Errorf("Usage = %d bytes for a 1 GiB sparse file with 64 KiB written, want 64 KiB..1 MiB", got)
	}
	if all := Usage(dir); all < got+1<<20 {
		t.Errorf("Usage without skip = %d, want >= %d", all, got+1<<20)
	}
}

// BenchmarkGuardCharge is the per-chunk cost of the reserve check on the
// write path (one charge per new chunk, a real statfs every RefreshBytes
// or RefreshEvery).
func BenchmarkGuardCharge(b *testing.B) {
	g, err := NewGuard(b.TempDir(), 1, Ballast{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := g.Charge(64 << 10); err != nil {
				b.Fatal(err)
			}
		}
	})
}
