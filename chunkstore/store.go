package chunkstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"github.com/nitro-cloud/nitro/internal/diskspace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Key prefixes of the Badger key space (see doc.go).
const (
	prefixChunk  = 'c'
	prefixStamp  = 't'
	prefixRecipe = 'r'
	prefixRecord = 'n'
	// prefixPackView holds the pack view's marker (packs.go).
	prefixPackView = 'p'
)

// valueThreshold is Badger's ValueThreshold: values of at least this many
// bytes (chunks, big recipes) go to the value log, smaller ones (stamps,
// records, small chunks) stay in the LSM tree.
const valueThreshold = 1 << 10

// Store is a deduplicated, compressed, verified chunk and recipe store on
// Badger, plus an ordered record space for the namespace layer. Safe for
// concurrent use.
type Store struct {
	cfg     Config
	chunk   ChunkingConfig
	cutters *cutters // cutters with chunk's parameters
	// lastZero caches the last zero chunk ID computed (zero chunks are
	// nearly all MinSize long).
	lastZero atomic.Pointer[zeroID]
	// onStored is the OnStored hook (each.go); nil: none.
	onStored atomic.Pointer[func(recipe.ChunkID)]
	db       *badger.DB
	log      *zap.Logger
	codec    *codec
	bufs     sync.Pool // *[]byte of cap 1+cfg.MaxSize, for the writer
	records  Records
	now      func() time.Time
	maint    sync.Mutex // one GC or Fsck at a time
	plain    sync.Pool  // *[]byte, decode buffers of readers
	vals     sync.Pool  // *[]byte, chunk values of writers
	group    syncGroup
	puts     putGroup         // PutStored's group commit
	lazy     lazySync         // Receive's background syncs
	pins     pinRegistry      // see Pin and GC
	space    *diskspace.Guard // free-space reserve of cfg.Dir (space.go)
	counts   counts           // incremental Stats (counts.go)
	// wbudget and rbudget bound the chunk buffers of all Writes and of all
	// readers (Config.WriteBudget, ReadBudget); cpu holds Config.Workers
	// tokens, one per hash or compression running, across all Writes.
	wbudget, rbudget *budget
	cpu              chan struct{}

	closeOnce sync.Once
	closeErr  error

	// recipeCache holds decoded recipes and their offsets (recipeindex.go).
	recipeCache *recipeCache
	// chunkCache holds verified plain chunks small reads cut (chunkcache.go).
	chunkCache *chunkCache
	// ahead verifies the chunks after sequential small reads into
	// chunkCache in the background (verifyahead.go).
	ahead *verifyAhead

	// cluster is cfg.Cluster (nil: chunks inline in Badger); suspect its
	// chunks not to rely on (cluster.go).
	cluster Cluster
	suspect suspects
	zeroMin recipe.ChunkID // the ID of MinSize zero bytes, with a cluster
	// packs is the pack mode of the cluster (packs.go); nil: off.
	packs *packState
}

// Open opens (creating if needed) the store in cfg.Dir. It validates cfg
// first (errors wrap ErrConfig). log may be nil (no logging).
func Open(cfg Config, log *zap.Logger) (*Store, error) {
	if log == nil {
		log = zap.NewNop()
	}
	cfg, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	// Before Badger opens: on a full disk, the guard releases the ballast
	// file so that Badger finds the pages it writes at open (space.go).
	space, err := newSpaceGuard(cfg, log.Named("chunkstore"))
	if err != nil {
		return nil, err
	}
	cd, err := newCodec(cfg.CompressionLevel, cfg.MaxSize, cfg.Workers)
	if err != nil {
		return nil, err
	}
	if err := removeEmptyLogs(cfg.Dir, log); err != nil {
		cd.close()
		return nil, err
	}
	db, err := badger.Open(badgerOptions(cfg.Dir, log))
	if err != nil {
		cd.close()
		return nil, fmt.Errorf("chunkstore: open badger in %s: %w", cfg.Dir, err)
	}
	s := &Store{cfg: cfg, chunk: cfg.chunking(), cutters: newCutters(cfg.chunking()), db: db, log: log.Named("chunkstore"), codec: cd, now: time.Now, space: space}
	s.recipeCache = newRecipeCache(cfg.RecipeCacheBytes)
	s.chunkCache = newChunkCache(cfg.ChunkCacheBytes)
	s.ahead = newVerifyAhead(s)
	s.cluster = cfg.Cluster
	if s.cluster != nil {
		s.zeroMin = zeroChunkID(cfg.MinSize)
		s.packs = newPackState(s.cluster)
	}
	s.records.s = s
	s.wbudget, s.rbudget = newBudget(cfg.WriteBudget), newBudget(cfg.ReadBudget)
	s.cpu = make(chan struct{}, cfg.Workers)
	// A codec byte, then a chunk (writer.go).
	s.bufs.New = func() any { b := make([]byte, 0, 1+cfg.MaxSize); return &b }
	s.vals.New = func() any { b := make([]byte, 0, valueCap(cfg.MaxSize)); return &b }
	if err := s.Recount(context.Background()); err != nil {
		db.Close()
		return nil, fmt.Errorf("chunkstore: counting the store in %s: %w", cfg.Dir, err)
	}
	s.log.Debug("opened", zap.String("dir", cfg.Dir), zap.Int("min", cfg.MinSize),
		zap.Int("avg", cfg.AvgSize), zap.Int("max", cfg.MaxSize), zap.Int("level", cfg.CompressionLevel))
	return s, nil
}

// removeEmptyLogs deletes the zero-length Badger memtable (*.mem) and
// value-log (*.vlog) files in dir. A process killed between the creation
// of such a file and its first write leaves one behind, and badger.Open
// then fails with z.NewFile ("Create a new file"), every time in
// read-only mode and on the first attempt otherwise (dgraph-io/badger#2207,
// found by e2e.TestReliabilityCrashLoop). An empty file holds no data and
// nothing points into it; Badger always starts a new value-log file and
// memtable on open.
func removeEmptyLogs(dir string, log *zap.Logger) error {
	for _, pattern := range []string{"*.mem", "*.vlog"} {
		files, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			return fmt.Errorf("chunkstore: %w", err)
		}
		for _, f := range files {
			fi, err := os.Stat(f)
			if err != nil || fi.Size() != 0 {
				continue
			}
			if err := os.Remove(f); err != nil {
				return fmt.Errorf("chunkstore: remove empty log file: %w", err)
			}
			log.Warn("removed an empty log file left by a crash", zap.String("file", f))
		}
	}
	return nil
}

// badgerOptions sets every Badger option that matters to us explicitly.
func badgerOptions(dir string, log *zap.Logger) badger.Options {
	o := badger.DefaultOptions(dir)
	o.Logger = badgerLogger{log.Named("badger").WithOptions(zap.IncreaseLevel(zapcore.WarnLevel)).Sugar()}
	o.SyncWrites = false // we call DB.Sync at acknowledgement points
	o.DetectConflicts = true
	o.NumVersionsToKeep = 1
	o.ValueThreshold = valueThreshold
	o.ValueLogFileSize = valueLogFileSize // value-log GC rewrites whole files: keep them small
	o.MemTableSize = memTableSize
	o.NumMemtables = numMemtables
	o.NumLevelZeroTables = 5
	o.NumLevelZeroTablesStall = 15
	o.BlockCacheSize = 32 << 20
	o.IndexCacheSize = 16 << 20
	o.Compression = options.None // keys are hashes, values are already zstd
	o.NumCompactors = 2
	o.MetricsEnabled = false
	o.CompactL0OnClose = false
	o.VerifyValueChecksum = false // we hash every chunk on read
	o.BloomFalsePositive = 0.01
	return o
}

// Close flushes and closes the store; it is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.lazy.close()
		s.ahead.close()
		s.closeErr = s.db.Close()
		s.codec.close()
	})
	return s.closeErr
}

// Config returns the store's normalized configuration.
func (s *Store) Config() Config { return s.cfg }

// Chunking returns the chunking parameters the store cuts with.
func (s *Store) Chunking() ChunkingConfig { return s.chunk }

// sync makes every commit so far durable, unless cfg.NoSync. Concurrent
// callers share fsyncs (group commit): a caller waits for the first
// DB.Sync that starts after it called, and starts one if none is running,
// so N concurrent PutStored calls cost about two fsyncs, not N.
func (s *Store) sync() error {
	if s.cfg.NoSync {
		return nil
	}
	g := &s.group
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cond == nil {
		g.cond = sync.NewCond(&g.mu)
	}
	target := g.started + 1
	for g.done < target {
		if g.running {
			g.cond.Wait()
			continue
		}
		g.running = true
		g.started++
		gen := g.started
		g.mu.Unlock()
		err := s.db.Sync()
		g.mu.Lock()
		g.running, g.done, g.err = false, gen, err
		g.cond.Broadcast()
	}
	if g.err != nil {
		return fmt.Errorf("chunkstore: sync: %w", g.err)
	}
	return nil
}

// syncGroup is the state of sync's group commit.
type syncGroup struct {
	mu            sync.Mutex
	cond          *sync.Cond
	running       bool
	started, done uint64 // generations of DB.Sync calls
	err           error  // of the last finished one
}

// blockedRetry reports whether a commit that failed with err should be
// retried, after waiting: Badger refuses writes with ErrBlockedWrites while
// GC flushes its memtables (compactForGC, milliseconds) and while it
// closes; retries stop after about 10 s.
func blockedRetry(err error, attempt int) bool {
	if !errors.Is(err, badger.ErrBlockedWrites) || attempt >= 200 {
		return false
	}
	time.Sleep(50 * time.Millisecond)
	return true
}

// update is db.Update retried while writes are blocked (see blockedRetry);
// fn may run more than once.
func (s *Store) update(fn func(txn *badger.Txn) error) error {
	for attempt := 0; ; attempt++ {
		err := s.db.Update(fn)
		if !blockedRetry(err, attempt) {
			return err
		}
	}
}

// badgerLogger bridges Badger's logger to zap.
type badgerLogger struct{ l *zap.SugaredLogger }

var _ badger.Logger = badgerLogger{}

func (b badgerLogger) Errorf(f string, a ...interface{})   { b.l.Errorf(f, a...) }
func (b badgerLogger) Warningf(f string, a ...interface{}) { b.l.Warnf(f, a...) }
func (b badgerLogger) Infof(f string, a ...interface{})    { b.l.Infof(f, a...) }
func (b badgerLogger) Debugf(f string, a ...interface{})   { b.l.Debugf(f, a...) }
