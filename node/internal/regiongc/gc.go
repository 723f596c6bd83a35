package regiongc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"
)

// Roots gives the recipes GC marks from: every recipe a live object of
// the replicated namespace names, read as of the call
// (namespace.Namespace.LiveRecipes).
type Roots interface {
	LiveRecipes(ctx context.Context) ([]recipe.ID, error)
}

// Config configures a Collector.
type Config struct {
	// Client is an authenticated objectstorage v1 client of the region's
	// cluster (gophercloud/v2).
	Client *gophercloud.ServiceClient
	// Layout names the containers.
	Layout Layout
	// Owner is this node's name, written in the lease.
	Owner string
	// Roots are the marking roots (the namespace).
	Roots Roots
	// LeaseTTL is how long a lease lives without renewal (renewed every
	// TTL/3 during a run): a dead holder is taken over after at most
	// this long. Default 2 minutes.
	LeaseTTL time.Duration
	// Settle is the wait between writing the lease and reading it back.
	// Default 2 s.
	Settle time.Duration
	// Workers bounds the concurrent per-object requests (HEAD, COPY,
	// DELETE, GET of a recipe) of a run; listings add up to 8 more.
	// Default 16.
	Workers int
	// Now is the clock (default time.Now); Swift's own times
	// (Last-Modified) are compared with it, so nodes' clocks must be
	// within a small fraction of the grace of the cluster's.
	Now func() time.Time
	// Log receives one line per run and the anomalies.
	Log *zap.Logger
}

// Stats reports one run; byte counts are stored (compressed) bytes.
type Stats struct {
	// Start, Duration and Grace of the run.
	Start    time.Time     `json:"start"`
	Duration time.Duration `json:"duration_ns"`
	Grace    time.Duration `json:"grace_ns"`
	// Owner is the node that ran it.
	Owner string `json:"owner"`
	// LiveRecipes is the number of roots; MarkedChunks the distinct
	// chunks of the live and young recipes.
	LiveRecipes  int `json:"live_recipes"`
	MarkedChunks int `json:"marked_chunks"`
	// MissingRecipes counts live recipes found in neither the recipe nor
	// the fossil container (logged; their objects cannot be read).
	MissingRecipes int `json:"missing_recipes"`
	// ChunksListed and RecipesListed count the live containers' objects.
	ChunksListed  int `json:"chunks_listed"`
	RecipesListed int `json:"recipes_listed"`
	// Step 1: objects moved to fossils (COPY + conditional DELETE).
	ChunksFossilized     int   `json:"chunks_fossilized"`
	ChunkBytesFossilized int64 `json:"chunk_bytes_fossilized"`
	RecipesFossilized    int   `json:"recipes_fossilized"`
	// Step 2: marked fossils moved back, unmarked old fossils deleted.
	ChunksResurrected    int   `json:"chunks_resurrected"`
	RecipesResurrected   int   `json:"recipes_resurrected"`
	ChunkFossilsDeleted  int   `json:"chunk_fossils_deleted"`
	ChunkBytesDeleted    int64 `json:"chunk_bytes_deleted"`
	RecipeFossilsDeleted int   `json:"recipe_fossils_deleted"`
	// Touched counts unmarked objects older than the grace by their
	// listing but younger by their touch time: spared.
	Touched int `json:"touched"`
	// Conflicts counts conditional DELETEs the cluster refused because
	// the object was rewritten or touched since GC looked at it: kept.
	Conflicts int `json:"conflicts"`
	// Packs (packs.go): PacksListed and PackBytes are the live pack
	// container's; PackBytesDead is the stored bytes of unmarked chunks
	// in packs kept for their marked ones (no repacking), PackBytesYoung
	// the bytes of unmarked packs kept for being younger than the grace.
	PacksListed    int   `json:"packs_listed"`
	PackBytes      int64 `json:"pack_bytes"`
	PackBytesDead  int64 `json:"pack_bytes_dead"`
	PackBytesYoung int64 `json:"pack_bytes_young"`
	// Packs moved to the fossils (with their indexes), moved back, and
	// deleted as fossils.
	PacksFossilized     int   `json:"packs_fossilized"`
	PackBytesFossilized int64 `json:"pack_bytes_fossilized"`
	PacksResurrected    int   `json:"packs_resurrected"`
	PackFossilsDeleted  int   `json:"pack_fossils_deleted"`
	PackBytesDeleted    int64 `json:"pack_bytes_deleted"`
}

// Collector runs the region's GC (see the package doc).
type Collector struct {
	cfg Config
	sw  swift
	log *zap.Logger
	// afterCopy, if set (tests only), runs between a move's COPY and its
	// DELETE: where a racing writer or runner can interleave.
	afterCopy func(src, name string)
}

// New checks cfg and returns a Collector.
func New(cfg Config) (*Collector, error) {
	if cfg.Client == nil || cfg.Roots == nil || cfg.Owner == "" {
		return nil, errors.New("regiongc: Client, Roots and Owner are required")
	}
	if err := cfg.Layout.Validate(); err != nil {
		return nil, err
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 2 * time.Minute
	}
	if cfg.Settle <= 0 {
		cfg.Settle = 2 * time.Second
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 16
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	return &Collector{cfg: cfg, sw: swift{c: cfg.Client}, log: cfg.Log.Named("regiongc")}, nil
}

// Run takes the region's GC lease and, if it gets it, runs one
// collection with the given grace, then releases the lease. It returns a
// *LeaseHeldError (errors.Is ErrLeaseHeld) without doing anything when
// another node holds the lease; the cluster's errors and ctx's otherwise.
// A run that fails half-way leaves the cluster safe (every step is
// idempotent); the next run finishes the work.
func (c *Collector) Run(ctx context.Context, grace time.Duration) (Stats, error) {
	if grace <= 0 {
		return Stats{}, fmt.Errorf("regiongc: grace %v must be positive", grace)
	}
	l := &lease{sw: c.sw, cont: c.cfg.Layout.GC(), owner: c.cfg.Owner, ttl: c.cfg.LeaseTTL, settle: c.cfg.Settle, now: c.cfg.Now}
	var st Stats
	err := l.hold(ctx, func(ctx context.Context) error {
		var err error
		st, err = c.collect(ctx, grace)
		return err
	})
	if errors.Is(err, ErrLeaseHeld) {
		c.log.Debug("gc lease held elsewhere", zap.Error(err))
		return st, err
	}
	if err != nil {
		c.log.Error("region gc", zap.Error(err), zap.Duration("took", st.Duration))
		return st, err
	}
	c.log.Info("region gc", zap.Int("live_recipes", st.LiveRecipes), zap.Int("marked_chunks", st.MarkedChunks),
		zap.Int("chunks_listed", st.ChunksListed), zap.Int("chunks_fossilized", st.ChunksFossilized),
		zap.Int64("chunk_bytes_fossilized", st.ChunkBytesFossilized), zap.Int("chunks_resurrected", st.ChunksResurrected),
		zap.Int("chunk_fossils_deleted", st.ChunkFossilsDeleted), zap.Int64("chunk_bytes_deleted", st.ChunkBytesDeleted),
		zap.Int("recipes_fossilized", st.RecipesFossilized), zap.Int("recipes_resurrected", st.RecipesResurrected),
		zap.Int("recipe_fossils_deleted", st.RecipeFossilsDeleted), zap.Int("touched", st.Touched),
		zap.Int("conflicts", st.Conflicts), zap.Int("missing_recipes", st.MissingRecipes),
		zap.Int("packs_listed", st.PacksListed), zap.Int64("pack_bytes", st.PackBytes), zap.Int64("pack_bytes_dead", st.PackBytesDead),
		zap.Int("packs_fossilized", st.PacksFossilized), zap.Int("packs_resurrected", st.PacksResurrected),
		zap.Int("pack_fossils_deleted", st.PackFossilsDeleted), zap.Int64("pack_bytes_deleted", st.PackBytesDeleted),
		zap.Duration("took", st.Duration))
	return st, nil
}

// run is the state of one collection.
type run struct {
	c      *Collector
	cutoff time.Time
	now    time.Time

	mu      sync.Mutex
	st      Stats
	live    map[recipe.ID]struct{}
	chunks  map[recipe.ChunkID]struct{}
	made    map[string]bool     // containers created this run
	sem     *semaphore.Weighted // bounds the per-object requests (Workers)
	madeMu  sync.Mutex
	tagRand *rand.Rand
}

// collect is one run, under the lease. Order matters (package doc):
// cutoff, mark, recipes (mark the young, fossilize the old), recipe
// fossils, chunk fossils, chunks.
func (c *Collector) collect(ctx context.Context, grace time.Duration) (Stats, error) {
	start := c.cfg.Now()
	r := c.newRun(start, grace)
	err := r.all(ctx)
	r.st.Duration = c.cfg.Now().Sub(start)
	r.st.MarkedChunks = len(r.chunks)
	if err == nil {
		r.report(ctx)
	}
	return r.st, err
}

func (c *Collector) newRun(start time.Time, grace time.Duration) *run {
	return &run{
		c: c, now: start, cutoff: start.Add(-grace),
		live: map[recipe.ID]struct{}{}, chunks: map[recipe.ChunkID]struct{}{}, made: map[string]bool{},
		sem:     semaphore.NewWeighted(int64(c.cfg.Workers)),
		tagRand: rand.New(rand.NewPCG(uint64(start.UnixNano()), rand.Uint64())),
		st:      Stats{Start: start, Grace: grace, Owner: c.cfg.Owner},
	}
}

func (r *run) all(ctx context.Context) error {
	roots, err := r.c.cfg.Roots.LiveRecipes(ctx)
	if err != nil {
		return fmt.Errorf("regiongc: roots: %w", err)
	}
	for _, id := range roots {
		r.live[id] = struct{}{}
	}
	r.st.LiveRecipes = len(r.live)
	if err := r.markLive(ctx, roots); err != nil {
		return err
	}
	steps := []func(context.Context) error{
		func(ctx context.Context) error { return r.liveRecipes(ctx) },
		func(ctx context.Context) error { return r.fossils(ctx, KindRecipe) },
		func(ctx context.Context) error { return r.fossils(ctx, KindChunk) },
		func(ctx context.Context) error { return r.liveChunks(ctx) },
		func(ctx context.Context) error { return r.packFossils(ctx) }, // packs.go
		func(ctx context.Context) error { return r.livePacks(ctx) },
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

// loadRecipe reads recipe id from its container, else from its fossil
// container, and verifies it against its ID. errNotFound if in neither.
func (r *run) loadRecipe(ctx context.Context, id recipe.ID) (*recipe.Recipe, error) {
	name := id.String()
	l := r.c.cfg.Layout
	b, err := r.c.sw.get(ctx, l.Live(KindRecipe, name), name)
	if errors.Is(err, errNotFound) {
		b, err = r.c.sw.get(ctx, l.Fossil(KindRecipe, name), name)
	}
	if err != nil {
		return nil, err
	}
	if recipe.ID(sha256.Sum256(b)) != id {
		// A damaged recipe must not make GC sweep its chunks: stop.
		return nil, fmt.Errorf("regiongc: recipe %s: body does not match its ID", name)
	}
	var rec recipe.Recipe
	if err := rec.UnmarshalBinary(b); err != nil {
		return nil, fmt.Errorf("regiongc: recipe %s: %w", name, err)
	}
	return &rec, nil
}

// mark adds rec's chunks to the marked set.
func (r *run) mark(rec *recipe.Recipe) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ref := range rec.Refs {
		r.chunks[ref.ID] = struct{}{}
	}
}

func (r *run) add(fn func(st *Stats)) {
	r.mu.Lock()
	fn(&r.st)
	r.mu.Unlock()
}

// markLive marks the chunks of every live recipe. A live recipe in
// neither container is logged and counted; any other error stops the run
// (no sweep without a complete mark).
func (r *run) markLive(ctx context.Context, roots []recipe.ID) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(r.c.cfg.Workers)
	for _, id := range roots {
		g.Go(func() error {
			rec, err := r.loadRecipe(ctx, id)
			if errors.Is(err, errNotFound) {
				r.c.log.Warn("live recipe absent from the cluster", zap.Stringer("recipe", id))
				r.add(func(st *Stats) { st.MissingRecipes++ })
				return nil
			}
			if err != nil {
				return err
			}
			r.mark(rec)
			return nil
		})
	}
	return g.Wait()
}

// old reports whether an object listed with row is older than the cutoff
// by its touch time (HEAD when the listing alone cannot tell), and its
// info. gone: the object disappeared meanwhile.
func (r *run) old(ctx context.Context, container string, row listed) (isOld bool, in info, gone bool, err error) {
	if !row.modified.Before(r.cutoff) {
		return false, info{}, false, nil // the listing's time is a lower bound
	}
	in, gone, err = r.head(ctx, container, row.name)
	if gone || err != nil {
		return false, in, gone, err
	}
	if !in.touch.Before(r.cutoff) {
		r.add(func(st *Stats) { st.Touched++ })
		return false, in, false, nil
	}
	return true, in, false, nil
}

// each lists every container of kind (live or fossil) and calls fn for
// each row with at most Workers calls at once.
func (r *run) each(ctx context.Context, k Kind, fossil bool, fn func(ctx context.Context, container string, row listed) error) error {
	// Containers are listed listConcurrency at a time (with 4096 shards,
	// one at a time would make an empty cluster's run minutes long); the
	// calls of fn share one bound of Workers.
	outer, ctx := errgroup.WithContext(ctx)
	outer.SetLimit(listConcurrency)
	for _, cont := range r.c.cfg.Layout.shardContainers(k, fossil) {
		outer.Go(func() error {
			return r.eachIn(ctx, cont, func(ctx context.Context, row listed) error { return fn(ctx, cont, row) })
		})
	}
	return outer.Wait()
}

// listConcurrency is the number of containers a run lists at once.
const listConcurrency = 8

// liveRecipes: a live recipe is kept; a young one is kept and its chunks
// marked (it may belong to a write whose record has not reached this
// node yet); an old one is fossilized.
func (r *run) liveRecipes(ctx context.Context) error {
	return r.each(ctx, KindRecipe, false, func(ctx context.Context, cont string, row listed) error {
		r.add(func(st *Stats) { st.RecipesListed++ })
		id, err := recipe.ParseID(row.name)
		if err != nil {
			r.c.log.Warn("foreign object in a recipe container: left alone", zap.String("container", cont), zap.String("name", row.name))
			return nil
		}
		if _, ok := r.live[id]; ok {
			return nil
		}
		isOld, in, gone, err := r.old(ctx, cont, row)
		if err != nil || gone {
			return err
		}
		if !isOld {
			rec, err := r.loadRecipe(ctx, id)
			if errors.Is(err, errNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			r.mark(rec)
			return nil
		}
		moved, err := r.fossilize(ctx, KindRecipe, row.name, in)
		if moved {
			r.add(func(st *Stats) { st.RecipesFossilized++ })
		}
		return err
	})
}

// liveChunks: an unmarked chunk older than the cutoff is fossilized.
func (r *run) liveChunks(ctx context.Context) error {
	return r.each(ctx, KindChunk, false, func(ctx context.Context, cont string, row listed) error {
		r.add(func(st *Stats) { st.ChunksListed++ })
		id, err := recipe.ParseChunkID(row.name)
		if err != nil {
			r.c.log.Warn("foreign object in a chunk container: left alone", zap.String("container", cont), zap.String("name", row.name))
			return nil
		}
		if r.marked(id) {
			return nil
		}
		isOld, in, gone, err := r.old(ctx, cont, row)
		if err != nil || gone || !isOld {
			return err
		}
		moved, err := r.fossilize(ctx, KindChunk, row.name, in)
		if moved {
			r.add(func(st *Stats) { st.ChunksFossilized++; st.ChunkBytesFossilized += row.size })
		}
		return err
	})
}

func (r *run) marked(id recipe.ChunkID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.chunks[id]
	return ok
}

// fossils: a marked fossil is moved back; an unmarked one older than the
// cutoff (made at least a grace period ago) is deleted; others wait.
func (r *run) fossils(ctx context.Context, k Kind) error {
	return r.each(ctx, k, true, func(ctx context.Context, cont string, row listed) error {
		var isMarked bool
		if k == KindRecipe {
			id, err := recipe.ParseID(row.name)
			if err != nil {
				return nil
			}
			_, isMarked = r.live[id]
		} else {
			id, err := recipe.ParseChunkID(row.name)
			if err != nil {
				return nil
			}
			isMarked = r.marked(id)
		}
		in, skip, err := r.headFossil(ctx, cont, row, isMarked)
		if skip || err != nil {
			return err
		}
		if isMarked {
			ok, err := r.resurrect(ctx, k, row.name, in)
			if ok {
				r.add(func(st *Stats) {
					if k == KindRecipe {
						st.RecipesResurrected++
					} else {
						st.ChunksResurrected++
					}
				})
			}
			return err
		}
		if deleted, err := r.deleteFossil(ctx, cont, row.name, in); !deleted {
			return err
		}
		r.add(func(st *Stats) {
			if k == KindRecipe {
				st.RecipeFossilsDeleted++
			} else {
				st.ChunkFossilsDeleted++
				st.ChunkBytesDeleted += row.size
			}
		})
		return nil
	})
}

// head HEADs container/name; gone is true, with a nil error, when it is
// not there (404: moved or deleted since it was listed).
func (r *run) head(ctx context.Context, container, name string) (in info, gone bool, err error) {
	in, err = r.c.sw.head(ctx, container, name)
	if errors.Is(err, errNotFound) {
		return in, true, nil
	}
	return in, false, err
}

// headFossil HEADs a fossil listed in container with row that this run
// acts on: a marked one (to move back) or one listed older than the
// cutoff (to delete). skip is true, with a nil error, for a young
// unmarked fossil (the next run's) or one gone since it was listed.
func (r *run) headFossil(ctx context.Context, container string, row listed, marked bool) (in info, skip bool, err error) {
	if !marked && !row.modified.Before(r.cutoff) {
		return info{}, true, nil // young fossil: next run
	}
	return r.head(ctx, container, row.name)
}

// deleteFossil deletes unmarked fossil container/name, as HEAD found it
// (in), if it is older than the cutoff by its touch time and still
// carries in's tag: deleted is false, with a nil error, when it was
// re-made since it was listed, changed (a conflict, counted) or is gone.
func (r *run) deleteFossil(ctx context.Context, container, name string, in info) (deleted bool, err error) {
	if !in.touch.Before(r.cutoff) {
		return false, nil // re-made since it was listed
	}
	err = r.c.sw.deleteIf(ctx, container, name, in.tag)
	switch {
	case errors.Is(err, errChanged):
		r.add(func(st *Stats) { st.Conflicts++ })
		return false, nil
	case errors.Is(err, errNotFound):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

// newTag returns a fresh version tag (see tagBase).
func (r *run) newTag() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return tagBase + r.tagRand.Int64N(tagSpan)
}

// ensure creates container once per run (PUT is idempotent in Swift).
func (r *run) ensure(ctx context.Context, container string) error {
	r.madeMu.Lock()
	done := r.made[container]
	r.madeMu.Unlock()
	if done {
		return nil
	}
	if _, err := r.c.sw.c.Put(ctx, r.c.sw.c.ServiceURL(container), nil, nil, &gophercloud.RequestOpts{OkCodes: []int{201, 202}}); err != nil {
		return fmt.Errorf("regiongc: create %s: %w", container, err)
	}
	r.madeMu.Lock()
	r.made[container] = true
	r.madeMu.Unlock()
	return nil
}

// move copies name from container src to dst with a new tag and extra
// headers, then deletes the source if it is still the version in (its
// tag). moved is false if the source was gone or changed.
func (r *run) move(ctx context.Context, src, dst, name string, in info, extra map[string]string) (moved bool, err error) {
	if err := r.ensure(ctx, dst); err != nil {
		return false, err
	}
	err = r.c.sw.copy(ctx, src, dst, name, r.newTag(), extra)
	if errors.Is(err, errNotFound) {
		return false, nil // source gone meanwhile
	}
	if err != nil {
		return false, err
	}
	if r.c.afterCopy != nil {
		r.c.afterCopy(src, name)
	}
	err = r.c.sw.deleteIf(ctx, src, name, in.tag)
	switch {
	case errors.Is(err, errChanged):
		// Rewritten or touched since HEAD: the source stays; the copy
		// just made is a spare, handled as any fossil or live object.
		r.add(func(st *Stats) { st.Conflicts++ })
		return false, nil
	case errors.Is(err, errNotFound):
		return true, nil
	}
	return err == nil, err
}

// fossilize moves an object to its fossil container (step 1).
func (r *run) fossilize(ctx context.Context, k Kind, name string, in info) (bool, error) {
	l := r.c.cfg.Layout
	return r.move(ctx, l.Live(k, name), l.Fossil(k, name), name, in,
		map[string]string{HeaderFossilized: strconv.FormatInt(r.now.Unix(), 10)})
}

// resurrect moves a fossil back to its live container (step 2), touched
// now so the next runs see it young.
func (r *run) resurrect(ctx context.Context, k Kind, name string, in info) (bool, error) {
	l := r.c.cfg.Layout
	return r.move(ctx, l.Fossil(k, name), l.Live(k, name), name, in,
		map[string]string{HeaderTouched: strconv.FormatInt(r.c.cfg.Now().Unix(), 10)})
}

// report writes the run's Stats to <prefix>-gc/last-run (best effort):
// the region's record of when GC last ran and what it did.
func (r *run) report(ctx context.Context) {
	b, _ := json.Marshal(r.st)
	_, err := r.c.sw.c.Put(ctx, r.c.sw.url(r.c.cfg.Layout.GC(), "last-run"), nil, nil, &gophercloud.RequestOpts{
		RawBody: bytes.NewReader(b), MoreHeaders: map[string]string{"Content-Type": "application/json"}, OkCodes: []int{201},
	})
	if err != nil {
		r.c.log.Warn("region gc: writing the run report", zap.Error(err))
	}
}
