package chunkstore

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/nitro-cloud/nitro/internal/diskspace"
	"go.uber.org/zap"
)

// Free-space policy. Badger writes its value log and memtable WAL through
// shared memory maps, so a full file system does not fail a write with
// ENOSPC: the page fault raises SIGBUS and the process dies, and opening
// the database again touches new pages and dies too. So the store never
// lets the disk fill:
//
//   - Writes of chunks and recipes (Write, Put, PutStored, PutRecipe) are
//     charged against a reserve (Config.ReserveBytes, default
//     DefaultReserve) and fail with ErrNoSpace, before anything is written
//     to Badger, when they would leave less free; a Write that crosses it
//     mid-stream stops there and commits no recipe (its chunks so far are
//     garbage for GC).
//   - Record updates (namespace records: deletes' tombstones, container
//     and metadata changes, the commit of a PUT whose content is stored)
//     are small and go on below the reserve, down to a floor
//     (spaceFloor).
//   - A ballast file (BallastName, a quarter of the reserve, at most
//     64 MiB, fully allocated) sits in Dir while there is room. When free
//     space falls below half the reserve anyway (another program filled
//     the disk, or the node restarts on a disk that is full), it is
//     deleted, before Badger opens, so that Badger finds the pages it
//     needs to open, to take deletes and to run GC. It comes back once
//     there is room for it above the reserve.
//
// DefaultReserve is what Badger may need in one go: a value-log GC
// rewrites up to one value-log file before it deletes the old one, every
// memtable may be flushed to a level-0 table, and compactions write their
// output before they delete their input (our LSM tree holds only keys and
// small values, hence the modest allowance).
const (
	valueLogFileSize = 256 << 20
	memTableSize     = 16 << 20 // also bounds memory: numMemtables arenas in the Go heap
	numMemtables     = 3
	// DefaultReserve is the default Config.ReserveBytes: 384 MiB.
	DefaultReserve = valueLogFileSize + (numMemtables+1)*memTableSize + 64<<20
	// BallastName is the ballast file's name in Dir.
	BallastName = "nitro-ballast"
	maxBallast  = 64 << 20
	maxFloor    = 4 << 20
	// recordCost is what one record update is charged: a transaction of a
	// few small keys in the memtable WAL.
	recordCost = 4 << 10
)

// ErrNoSpace is returned (wrapped) by writes that would leave less free
// space than the reserve on the store's file system. Nothing of the
// refused write is visible; reads and deletes go on.
var ErrNoSpace = diskspace.ErrNoSpace

// spaceCost is what a value of n bytes costs on disk, about: the value in
// the value log plus its key and pointer in the WAL and the stamp.
func spaceCost(n int) int64 { return int64(n) + 256 }

// reserveFor resolves cfg's reserve on a file system of total bytes.
func reserveFor(cfg Config, total int64) int64 {
	r := cfg.ReserveBytes
	switch {
	case r < 0:
		return 0
	case r == 0:
		r = DefaultReserve
	}
	if cfg.ReservePercent > 0 {
		r = max(r, int64(cfg.ReservePercent/100*float64(total)))
	}
	return r
}

// newSpaceGuard returns the guard of cfg.Dir's reserve and its ballast.
func newSpaceGuard(cfg Config, log *zap.Logger) (*diskspace.Guard, error) {
	if cfg.ReservePercent < 0 || cfg.ReservePercent >= 100 {
		return nil, fmt.Errorf("%w: ReservePercent %v: want 0 <= p < 100", ErrConfig, cfg.ReservePercent)
	}
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("chunkstore: %w", err)
	}
	sp, err := diskspace.Statfs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("chunkstore: %w", err)
	}
	reserve := reserveFor(cfg, sp.Total)
	if reserve > 0 && reserve < DefaultReserve {
		log.Warn("free-space reserve below what Badger may need in one go: on a full disk, value-log GC may fail to free space",
			zap.Int64("reserve_bytes", reserve), zap.Int64("recommended_bytes", DefaultReserve))
	}
	ballast := diskspace.Ballast{Path: filepath.Join(cfg.Dir, BallastName), Size: min(reserve/4, maxBallast)}
	g, err := diskspace.NewGuard(cfg.Dir, reserve, ballast, func(released bool, free int64) {
		lvl, msg := zap.InfoLevel, "created the ballast file"
		if released {
			lvl, msg = zap.WarnLevel, "disk nearly full: released the ballast file"
		}
		log.Log(lvl, msg, zap.String("dir", cfg.Dir), zap.Int64("free_bytes", free),
			zap.Int64("reserve_bytes", reserve), zap.Int64("ballast_bytes", ballast.Size))
	})
	if err != nil {
		return nil, fmt.Errorf("chunkstore: %w", err)
	}
	if free := g.Free(); free < reserve {
		log.Warn("disk full: writes of new data are refused until space is freed",
			zap.String("dir", cfg.Dir), zap.Int64("free_bytes", free), zap.Int64("reserve_bytes", reserve))
	}
	return g, nil
}

// spaceFloor is the free space below which even record updates fail: a
// sixteenth of the reserve, at most 4 MiB (below the ballast, which frees
// at least that much when released).
func (s *Store) spaceFloor() int64 { return min(s.space.Reserve()/16, maxFloor) }

// CheckSpace reports whether a write of about n more bytes of content
// would stay above the reserve (an error wrapping ErrNoSpace if not),
// without charging it: the object service refuses a PUT of known size
// with it before reading the body, as Swift's object server does with its
// fallocate_reserve.
func (s *Store) CheckSpace(n int64) error {
	if err := s.space.Check(spaceCost(int(min(n, 1<<40)))); err != nil {
		return fmt.Errorf("chunkstore: %w", err)
	}
	return nil
}

// DiskUsage returns the bytes of disk blocks the store's files use (as
// du(1) counts them: sparse, preallocated tails of Badger's files cost
// nothing), without the ballast file.
func (s *Store) DiskUsage() int64 { return diskspace.Usage(s.cfg.Dir, BallastName) }
