package replica

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"github.com/nitro-cloud/nitro/node/internal/namespace"
	"github.com/nitro-cloud/nitro/node/internal/peer"
	"go.uber.org/zap"
)

// Namespace is what replication needs of the namespace;
// *namespace.Namespace implements it.
type Namespace interface {
	Apply(ctx context.Context, rec *namespace.Record) (bool, error)
	Get(ctx context.Context, k namespace.Key) (*namespace.Record, error)
	Scan(ctx context.Context, kind namespace.Kind, start namespace.Key, fn func(*namespace.Record) (bool, error)) error
}

// Recipes is what replication needs of the chunk store;
// *chunkstore.Store implements it.
type Recipes interface {
	Recipe(ctx context.Context, id recipe.ID) (*recipe.Recipe, error)
	PutRecipe(ctx context.Context, rec *recipe.Recipe) (recipe.ID, error)
	// NewPin: an incoming object record's recipe (and its chunks, when
	// the recipe came with it) is pinned against GC from before the
	// recipe is stored until the record is merged.
	NewPin() *chunkstore.Pin
}

// Transport is the peer protocol client; *peer.Client implements it.
type Transport interface {
	PushRecords(ctx context.Context, base string, recs []peer.WireRecord) (int, error)
	Digest(ctx context.Context, base string) (*peer.Digest, error)
	Records(ctx context.Context, base string, buckets []int, fn func(peer.WireRecord) error) error
}

// Peer is a live node other than this one: of another region or of this
// one (every node of every region holds the whole namespace, so a node
// pushes to and pulls from all of them, its own region's too).
type Peer struct {
	Region, Name, URL string
}

// Config configures a Replicator. Zero values mean the defaults.
type Config struct {
	// Region is this node's region. Required.
	Region string
	// Timeout bounds a synchronous push; 0 means 5 s.
	Timeout time.Duration
	// Interval between anti-entropy rounds; 0 means 30 s, < 0 disables
	// the periodic rounds (joins still trigger one).
	Interval time.Duration
	// ReclaimAge is the namespace's tombstone reclaim age; 0 means
	// namespace.DefaultReclaimAge.
	ReclaimAge time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Stats counts replication work.
type Stats struct {
	Pushed, PushFailures   int64 // records pushed to peers / push requests that failed
	Received, Applied      int64 // records received from peers / that were newer
	Rounds, Pulled         int64 // anti-entropy rounds, records pulled
	IgnoredOldTombstones   int64
	RoundFailures          int64
	LastRound, LastConverg time.Time
}

// Replicator replicates namespace records. Safe for concurrent use.
type Replicator struct {
	cfg     Config
	ns      Namespace
	recipes Recipes
	peers   func() []Peer
	tr      Transport
	log     *zap.Logger
	trigger chan struct{}

	mu    sync.Mutex
	stats Stats
}

// New returns a Replicator. peers is called per push and round and must not
// block.
func New(cfg Config, ns Namespace, recipes Recipes, peers func() []Peer, tr Transport, log *zap.Logger) (*Replicator, error) {
	if cfg.Region == "" || ns == nil || recipes == nil || peers == nil || tr == nil {
		return nil, errors.New("replica: region, namespace, recipes, peers and transport are required")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Interval == 0 {
		cfg.Interval = 30 * time.Second
	}
	if cfg.ReclaimAge <= 0 {
		cfg.ReclaimAge = namespace.DefaultReclaimAge
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &Replicator{cfg: cfg, ns: ns, recipes: recipes, peers: peers, tr: tr,
		log: log.Named("replica"), trigger: make(chan struct{}, 1)}, nil
}

// Stats returns the counters.
func (r *Replicator) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

func (r *Replicator) count(fn func(*Stats)) {
	r.mu.Lock()
	fn(&r.stats)
	r.mu.Unlock()
}

// wire encodes rec, with its recipe for an object.
func (r *Replicator) wire(ctx context.Context, rec *namespace.Record) (peer.WireRecord, error) {
	v, err := rec.MarshalValue()
	if err != nil {
		return peer.WireRecord{}, err
	}
	wr := peer.WireRecord{Key: rec.Key.Bytes(), Value: v}
	if rec.Kind == namespace.KindObject && rec.Live() && !rec.Recipe.IsZero() {
		rc, err := r.recipes.Recipe(ctx, rec.Recipe)
		switch {
		case err == nil:
			if wr.Recipe, err = rc.MarshalBinary(); err != nil {
				return wr, err
			}
		case errors.Is(err, chunkstore.ErrNotFound):
			// A record whose recipe this node lacks (it arrived without
			// one): send the record; the receiver may have the recipe.
		default:
			return wr, err
		}
	}
	return wr, nil
}

// Replicate implements the object service's Replicator: it pushes recs
// (in one request per peer, in order) to every live peer in parallel and
// waits for all of them, each bounded by Config.Timeout. It returns nil
// even when some peers failed (they catch up by anti-entropy); it returns
// an error only when a record cannot be encoded.
func (r *Replicator) Replicate(ctx context.Context, recs ...namespace.Record) error {
	if len(recs) == 0 {
		return nil
	}
	wrs := make([]peer.WireRecord, len(recs))
	for i := range recs {
		wr, err := r.wire(ctx, &recs[i])
		if err != nil {
			return fmt.Errorf("replica: encode %v: %w", recs[i].Key, err)
		}
		wrs[i] = wr
	}
	peers := r.peers()
	var wg sync.WaitGroup
	for _, p := range peers {
		wg.Go(func() {
			pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.Timeout)
			defer cancel()
			if _, err := r.tr.PushRecords(pctx, p.URL, wrs); err != nil {
				r.count(func(s *Stats) { s.PushFailures++ })
				r.log.Warn("push failed; the peer will catch up by anti-entropy",
					zap.String("region", p.Region), zap.Stringer("key", recs[0].Key), zap.Int("records", len(recs)), zap.Error(err))
				return
			}
			r.count(func(s *Stats) { s.Pushed += int64(len(recs)) })
		})
	}
	wg.Wait()
	return nil
}

// old reports whether rec is a tombstone older than the reclaim age.
func (r *Replicator) old(rec *namespace.Record) bool {
	return rec.Deleted && r.cfg.Now().Sub(rec.Time()) > r.cfg.ReclaimAge
}

// ApplyRecords implements peer.RecordStore: it stores the recipes and
// merges the records by last writer wins. A batch with a malformed record
// (an empty or unparsable key, a bad value) is refused whole, before any
// record is applied, with an error wrapping peer.ErrInvalid.
func (r *Replicator) ApplyRecords(ctx context.Context, from string, recs []peer.WireRecord) (int, error) {
	for i, wr := range recs {
		rec, err := namespace.UnmarshalRecord(wr.Key, wr.Value)
		if err == nil {
			err = rec.Validate()
		}
		if err != nil {
			return 0, fmt.Errorf("%w: record %d from %s: %w", peer.ErrInvalid, i, from, err)
		}
	}
	applied := 0
	for _, wr := range recs {
		ok, err := r.apply(ctx, wr)
		if err != nil {
			return applied, fmt.Errorf("replica: record from %s: %w", from, err)
		}
		if ok {
			applied++
		}
	}
	r.count(func(s *Stats) { s.Received += int64(len(recs)); s.Applied += int64(applied) })
	return applied, nil
}

func (r *Replicator) apply(ctx context.Context, wr peer.WireRecord) (bool, error) {
	rec, err := namespace.UnmarshalRecord(wr.Key, wr.Value)
	if err != nil {
		return false, fmt.Errorf("%w: %w", peer.ErrInvalid, err)
	}
	if err := rec.Validate(); err != nil {
		return false, fmt.Errorf("%w: %w", peer.ErrInvalid, err)
	}
	if r.old(rec) {
		if _, err := r.ns.Get(ctx, rec.Key); errors.Is(err, namespace.ErrNotFound) {
			r.count(func(s *Stats) { s.IgnoredOldTombstones++ })
			return false, nil
		} else if err != nil {
			return false, err
		}
	}
	var rc *recipe.Recipe
	if len(wr.Recipe) > 0 {
		rc = new(recipe.Recipe)
		if err := rc.UnmarshalBinary(wr.Recipe); err != nil {
			return false, fmt.Errorf("%w: %w", peer.ErrInvalid, err)
		}
		if rc.ID() != rec.Recipe {
			return false, fmt.Errorf("%w: recipe %s sent for a record naming %s", peer.ErrInvalid, rc.ID(), rec.Recipe)
		}
	}
	if rec.Kind == namespace.KindObject && rec.Live() && !rec.Recipe.IsZero() {
		// Until the record is merged nothing names the recipe here: pin
		// it, and the chunks of it already stored here, so that a GC
		// running meanwhile keeps them (see chunkstore.Store.GC).
		pin := r.recipes.NewPin()
		defer pin.Release()
		pin.Recipe(rec.Recipe)
		if rc != nil {
			pin.Chunks(rc.Unique()...)
		}
	}
	if rc != nil {
		if _, err := r.recipes.PutRecipe(ctx, rc); err != nil {
			return false, err
		}
	}
	return r.ns.Apply(ctx, rec)
}

// kinds are the replicated kinds, in the order anti-entropy sends them:
// objects before the holdings and boot profiles of their recipes.
var kinds = []namespace.Kind{namespace.KindAccount, namespace.KindContainer, namespace.KindObject, namespace.KindHolding, namespace.KindProfile}

// scan calls fn for every record that takes part in anti-entropy.
func (r *Replicator) scan(ctx context.Context, fn func(rec *namespace.Record, key []byte) error) error {
	for _, k := range kinds {
		err := r.ns.Scan(ctx, k, namespace.Key{}, func(rec *namespace.Record) (bool, error) {
			if r.old(rec) {
				return true, nil
			}
			return true, fn(rec, rec.Key.Bytes())
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func recordHash(key []byte, rec *namespace.Record) [32]byte {
	h := sha256.New()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(key)))
	h.Write(n[:])
	h.Write(key)
	binary.BigEndian.PutUint64(n[:], uint64(rec.Timestamp))
	h.Write(n[:])
	h.Write([]byte(rec.Region))
	if rec.Deleted {
		h.Write([]byte{1})
	} else {
		h.Write([]byte{0})
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// Digest implements peer.RecordStore.
func (r *Replicator) Digest(ctx context.Context) (*peer.Digest, error) {
	var d peer.Digest
	err := r.scan(ctx, func(rec *namespace.Record, key []byte) error {
		b := peer.BucketOf(key)
		h := recordHash(key, rec)
		for i := range h {
			d[b][i] ^= h[i]
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &d, nil
}

// RecordsIn implements peer.RecordStore.
func (r *Replicator) RecordsIn(ctx context.Context, buckets []int, fn func(peer.WireRecord) error) error {
	want := map[int]bool{}
	for _, b := range buckets {
		want[b] = true
	}
	return r.scan(ctx, func(rec *namespace.Record, key []byte) error {
		if !want[peer.BucketOf(key)] {
			return nil
		}
		wr, err := r.wire(ctx, rec)
		if err != nil {
			return err
		}
		return fn(wr)
	})
}

// SyncWith runs one anti-entropy pull from p and returns how many records
// were newer than ours.
func (r *Replicator) SyncWith(ctx context.Context, p Peer, local *peer.Digest) (int, error) {
	remote, err := r.tr.Digest(ctx, p.URL)
	if err != nil {
		return 0, err
	}
	var diff []int
	for b := range remote {
		if remote[b] != local[b] {
			diff = append(diff, b)
		}
	}
	if len(diff) == 0 {
		return 0, nil
	}
	var batch []peer.WireRecord
	applied := 0
	flush := func() error {
		n, err := r.ApplyRecords(ctx, p.Region, batch)
		applied += n
		batch = batch[:0]
		return err
	}
	err = r.tr.Records(ctx, p.URL, diff, func(wr peer.WireRecord) error {
		batch = append(batch, wr)
		if len(batch) >= 256 {
			return flush()
		}
		return nil
	})
	if err == nil && len(batch) > 0 {
		err = flush()
	}
	r.count(func(s *Stats) { s.Pulled += int64(applied) })
	return applied, err
}

// Round runs one anti-entropy pull from every live peer, concurrently.
func (r *Replicator) Round(ctx context.Context) error {
	local, err := r.Digest(ctx)
	if err != nil {
		return fmt.Errorf("replica: digest: %w", err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, p := range r.peers() {
		wg.Go(func() {
			n, err := r.SyncWith(ctx, p, local)
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", p.Region, err))
				mu.Unlock()
				return
			}
			if n > 0 {
				r.log.Info("anti-entropy pulled records", zap.String("region", p.Region), zap.Int("applied", n))
			}
		})
	}
	wg.Wait()
	err = errors.Join(errs...)
	r.count(func(s *Stats) {
		s.Rounds++
		s.LastRound = r.cfg.Now()
		if err != nil {
			s.RoundFailures++
		} else {
			s.LastConverg = s.LastRound
		}
	})
	return err
}

// Trigger asks Run for an anti-entropy round soon (e.g. a member joined).
// It never blocks.
func (r *Replicator) Trigger() {
	select {
	case r.trigger <- struct{}{}:
	default:
	}
}

// Run runs anti-entropy rounds on Trigger and every Config.Interval until
// ctx is done; it returns nil then.
func (r *Replicator) Run(ctx context.Context) error {
	var tick <-chan time.Time
	if r.cfg.Interval > 0 {
		t := time.NewTicker(r.cfg.Interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick:
		case <-r.trigger:
		}
		if err := r.Round(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("anti-entropy round incomplete", zap.Error(err))
		}
	}
}

// Timeout returns the push timeout.
func (r *Replicator) Timeout() time.Duration { return r.cfg.Timeout }
