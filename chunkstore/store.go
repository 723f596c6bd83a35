package chunkstore

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Key prefixes of the Badger key space (see doc.go).
const (
	prefixChunk  = 'c'
	prefixStamp  = 't'
	prefixRecipe = 'r'
	prefixRecord = 'n'
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
	db       *badger.DB
	log      *zap.Logger
	codec    *codec
	bufs     sync.Pool // *[]byte of cap cfg.MaxSize, for the writer
	records  Records
	now      func() time.Time
	maint    sync.Mutex // one GC or Fsck at a time
	plain    sync.Pool  // *[]byte, decode buffers of readers
	vals     sync.Pool  // *[]byte, chunk values of writers
	group    syncGroup
	// wbudget and rbudget bound the chunk buffers of all Writes and of all
	// readers (Config.WriteBudget, ReadBudget); cpu holds Config.Workers
	// tokens, one per hash or compression running, across all Writes.
	wbudget, rbudget *budget
	cpu              chan struct{}

	closeOnce sync.Once
	closeErr  error
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
	cd, err := newCodec(cfg.CompressionLevel, cfg.MaxSize, cfg.Workers)
	if err != nil {
		return nil, err
	}
	db, err := badger.Open(badgerOptions(cfg.Dir, log))
	if emptyMemtableErr(err) {
		// A crash between creating a memtable file and sizing it leaves an
		// empty .mem file: Open sizes it, then fails; the second Open finds
		// an empty memtable (dgraph-io/badger#2207). Nothing acknowledged
		// was in it: it was empty.
		db, err = badger.Open(badgerOptions(cfg.Dir, log))
	}
	if err != nil {
		cd.close()
		return nil, fmt.Errorf("chunkstore: open badger in %s: %w", cfg.Dir, err)
	}
	s := &Store{cfg: cfg, chunk: cfg.chunking(), cutters: newCutters(cfg.chunking()), db: db, log: log.Named("chunkstore"), codec: cd, now: time.Now}
	s.records.s = s
	s.wbudget, s.rbudget = newBudget(cfg.WriteBudget), newBudget(cfg.ReadBudget)
	s.cpu = make(chan struct{}, cfg.Workers)
	s.bufs.New = func() any { b := make([]byte, 0, cfg.MaxSize); return &b }
	s.vals.New = func() any { b := make([]byte, 0, valueCap(cfg.MaxSize)); return &b }
	s.log.Debug("opened", zap.String("dir", cfg.Dir), zap.Int("min", cfg.MinSize),
		zap.Int("avg", cfg.AvgSize), zap.Int("max", cfg.MaxSize), zap.Int("level", cfg.CompressionLevel))
	return s, nil
}

// emptyMemtableErr reports whether err is badger.Open's failure on an empty
// memtable file: ristretto's z.NewFile ("Create a new file"), which Badger
// wraps as text only (y.Wrapf keeps no %w outside its debug mode).
func emptyMemtableErr(err error) bool {
	return err != nil && strings.Contains(err.Error(), "while opening memtables") &&
		strings.HasSuffix(err.Error(), "Create a new file")
}

// badgerOptions sets every Badger option that matters to us explicitly.
func badgerOptions(dir string, log *zap.Logger) badger.Options {
	o := badger.DefaultOptions(dir)
	o.Logger = badgerLogger{log.Named("badger").WithOptions(zap.IncreaseLevel(zapcore.WarnLevel)).Sugar()}
	o.SyncWrites = false // we call DB.Sync at acknowledgement points
	o.DetectConflicts = true
	o.NumVersionsToKeep = 1
	o.ValueThreshold = valueThreshold
	o.ValueLogFileSize = 256 << 20 // value-log GC rewrites whole files: keep them small
	// Memory: the memtables (NumMemtables arenas of about 1.2×MemTableSize,
	// Go heap) and the two caches make about 100 MiB, whatever the store's
	// size; chunk values live in the value log (mmapped files).
	o.MemTableSize = 16 << 20
	o.NumMemtables = 3
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
