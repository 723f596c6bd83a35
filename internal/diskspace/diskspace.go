// Package diskspace measures and guards the free space of the file system
// that holds a data directory: the blocks a directory's files really use
// (what du(1) reports, not their apparent sizes), the free space statfs(2)
// reports, a cached check that refuses writes which would eat into a
// reserve, and a ballast file that holds back space for the moment the
// disk is full anyway.
//
// Why a reserve: Badger writes its value log and memtable WAL through
// shared memory maps; a page that cannot be allocated because the disk is
// full raises SIGBUS and kills the process (and, on restart, opening the
// database touches new pages again). The only safe way is never to let the
// file system fill: refuse new data while there is still room for what
// Badger may need in one go (a value-log rewrite, memtable flushes,
// compactions).
package diskspace

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ErrNoSpace is returned (wrapped) by Guard.Charge and Guard.Check when a
// write would leave less free space than the reserve.
var ErrNoSpace = errors.New("insufficient storage")

// Space is a file system's size and the space available to unprivileged
// writers, in bytes (statfs f_blocks and f_bavail times f_bsize).
type Space struct {
	Total, Free int64
}

// Statfs returns the space of the file system holding path.
func Statfs(path string) (Space, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return Space{}, fmt.Errorf("diskspace: statfs %s: %w", path, err)
	}
	bs := int64(st.Bsize) //nolint:unconvert // int32 on some platforms
	return Space{Total: int64(st.Blocks) * bs, Free: int64(st.Bavail) * bs}, nil
}

// Usage returns the bytes of disk blocks that the regular files under dir
// use (st_blocks × 512, as du(1) counts them), skipping the files named in
// skip (base names). Sparse and preallocated-but-unwritten regions of
// Badger's files cost nothing here, unlike their apparent sizes. Files
// that vanish during the walk are skipped.
func Usage(dir string, skip ...string) int64 {
	var total int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		for _, s := range skip {
			if d.Name() == s {
				return nil
			}
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			total += st.Blocks * 512
		} else {
			total += fi.Size()
		}
		return nil
	})
	return total
}

// Guard refuses writes that would leave less than Reserve bytes free on
// the file system of Dir. It calls statfs at most every RefreshEvery or
// after RefreshBytes bytes were charged since the last call, and in
// between subtracts what it charged from the last measurement, so many
// concurrent writers cannot all pass on one stale number. Safe for
// concurrent use; create it with NewGuard.
type Guard struct {
	dir     string
	reserve int64
	ballast Ballast
	notify  func(released bool, free int64)
	statfs  func(string) (Space, error)
	now     func() time.Time

	mu      sync.Mutex
	free    int64 // at the last statfs
	charged int64 // bytes charged since
	at      time.Time
	err     error // of the last statfs
}

// Refresh bounds of the cached free space.
const (
	RefreshEvery = 250 * time.Millisecond
	RefreshBytes = 8 << 20
)

// NewGuard returns a guard keeping reserve bytes free on the file system
// of dir (reserve <= 0: never refuses), measuring it now. A non-empty
// ballast.Path makes the guard manage that ballast file (see Ballast);
// notify (may be nil) hears when it releases (true) or creates (false)
// it, with the free bytes measured before.
func NewGuard(dir string, reserve int64, ballast Ballast, notify func(released bool, free int64)) (*Guard, error) {
	if notify == nil {
		notify = func(bool, int64) {}
	}
	g := &Guard{dir: dir, reserve: reserve, ballast: ballast, notify: notify, statfs: Statfs, now: time.Now}
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.refreshLocked(); err != nil {
		return nil, err
	}
	return g, nil
}

// Reserve returns the bytes the guard keeps free.
func (g *Guard) Reserve() int64 { return g.reserve }

// Charge accounts for a write of n bytes about to happen. It returns an
// error wrapping ErrNoSpace, and charges nothing, if the write would leave
// less than the reserve free.
func (g *Guard) Charge(n int64) error { return g.check(n, g.reserve, true) }

// Check is Charge without the charge: whether n more bytes would still
// fit above the reserve (for refusing a write of known size before reading
// its body).
func (g *Guard) Check(n int64) error { return g.check(n, g.reserve, false) }

// ChargeFloor charges n bytes against floor instead of the reserve: for
// small writes that must go on while the disk is "full" (tombstones of
// deletes, garbage collection), refused only when less than floor bytes
// would be left, where even those could fail.
func (g *Guard) ChargeFloor(n, floor int64) error { return g.check(n, floor, true) }

func (g *Guard) check(n, limit int64, charge bool) error {
	if g.reserve <= 0 {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.charged >= RefreshBytes || g.now().Sub(g.at) >= RefreshEvery {
		if err := g.refreshLocked(); err != nil {
			return err
		}
	}
	left := g.free - g.charged - n
	if left < limit {
		return fmt.Errorf("diskspace: %w: writing %d bytes would leave %d of the %d bytes kept free on %s",
			ErrNoSpace, n, max(left, 0), limit, g.dir)
	}
	if charge {
		g.charged += n
	}
	return nil
}

// Free returns the free bytes as last measured, less what was charged
// since.
func (g *Guard) Free() int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.free - g.charged
}

// refreshLocked measures the file system again and keeps the ballast: it
// releases the ballast file when free space fell below half the reserve
// (something other than our guarded writes filled the disk: give Badger
// room for the deletes and collections that free it) and creates it again
// once there is room for it above the reserve.
func (g *Guard) refreshLocked() error {
	sp, err := g.statfs(g.dir)
	if err != nil {
		return err
	}
	g.free, g.charged, g.at = sp.Free, 0, g.now()
	if g.ballast.Path == "" || g.ballast.Size <= 0 || g.reserve <= 0 {
		return nil
	}
	switch {
	case g.free < g.reserve/2:
		if released, err := g.ballast.Release(); err != nil {
			return err
		} else if released {
			g.notify(true, g.free)
			if sp, err = g.statfs(g.dir); err != nil {
				return err
			}
			g.free = sp.Free
		}
	case g.free >= g.reserve+g.ballast.Size:
		if created, err := g.ballast.Ensure(); err == nil && created {
			g.notify(false, g.free)
			if sp, err = g.statfs(g.dir); err != nil {
				return err
			}
			g.free = sp.Free
		}
	}
	return nil
}

// Ballast is a file of Size bytes of allocated blocks kept at Path, whose
// only purpose is to be deleted when the disk is full: the space it frees
// lets a database that needs a few new pages to open, or to write the
// tombstones of deletes, do so.
type Ballast struct {
	Path string
	Size int64
}

// Ensure creates the ballast file with all its blocks allocated
// (fallocate, or writing zeros where the file system lacks it), unless it
// exists; created says whether it did. A partly written file is removed.
func (b Ballast) Ensure() (created bool, err error) {
	if _, err := os.Stat(b.Path); err == nil {
		return false, nil
	}
	tmp := b.Path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return false, fmt.Errorf("diskspace: ballast: %w", err)
	}
	err = unix.Fallocate(int(f.Fd()), 0, 0, b.Size)
	if errors.Is(err, unix.EOPNOTSUPP) {
		err = writeZeros(f, b.Size)
	}
	// No fsync: a ballast lost in a crash is made again at the next open.
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, b.Path)
	}
	if err != nil {
		os.Remove(tmp)
		return false, fmt.Errorf("diskspace: ballast %s: %w", b.Path, err)
	}
	return true, nil
}

func writeZeros(f *os.File, n int64) error {
	buf := make([]byte, 1<<20)
	for n > 0 {
		k := min(n, int64(len(buf)))
		if _, err := f.Write(buf[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// Release deletes the ballast file (and a leftover partial one); released
// says whether there was one.
func (b Ballast) Release() (released bool, err error) {
	os.Remove(b.Path + ".tmp")
	err = os.Remove(b.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("diskspace: releasing ballast: %w", err)
	}
	return true, nil
}
