package node

import (
	"context"
	"fmt"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"github.com/nitro-cloud/nitro/node/internal/namespace"
	"github.com/nitro-cloud/nitro/node/internal/regiongc"
	"go.uber.org/zap"
)

// GCResult reports one garbage collection.
type GCResult struct {
	// Start is when the collection began.
	Start time.Time `json:"start"`
	// Duration is how long it took.
	Duration time.Duration `json:"duration_ns"`
	// Grace is the grace period it used.
	Grace time.Duration `json:"grace_ns"`
	// LiveRecipes is the number of distinct recipes named by live objects.
	LiveRecipes int `json:"live_recipes"`
	// RecipesRemoved, ChunksRemoved, BytesRemoved (stored bytes) and
	// VlogRewrites are the store's sweep (chunkstore.GCStats).
	RecipesRemoved int   `json:"recipes_removed"`
	ChunksRemoved  int   `json:"chunks_removed"`
	BytesRemoved   int64 `json:"bytes_removed"`
	VlogRewrites   int   `json:"vlog_rewrites"`
	// HoldingsExpired is the number of holdings of recipes no live object
	// names that were tombstoned (see namespace.ExpireHoldings).
	HoldingsExpired int `json:"holdings_expired"`
	// ProfilesExpired is the number of boot profiles of recipes no live
	// object names that were tombstoned (namespace.ExpireProfiles).
	ProfilesExpired int `json:"profiles_expired"`
	// TombstonesPurged is the number of tombstones older than the reclaim
	// age that were removed.
	TombstonesPurged int `json:"tombstones_purged"`
	// Region is the sweep of the region's cluster (store.backend: swift)
	// when this node held the region's GC lease (regiongc.Stats); nil
	// otherwise.
	Region *regiongc.Stats `json:"region,omitempty"`
	// RegionLeaseHeldBy names the node that held the region's GC lease
	// when this node's collection wanted it ("" if none did).
	RegionLeaseHeldBy string `json:"region_lease_held_by,omitempty"`
	// RegionSkipped says why this node did not try the region's GC
	// ("" when it did): its namespace may lack records (a node of its
	// region not alive, an anti-entropy round that failed, or an offline
	// `nitro gc`), and a sweep marking from it could fossilize, and a
	// later one delete, chunks of objects it does not know.
	RegionSkipped string `json:"region_skipped,omitempty"`
}

// CollectGarbage runs one garbage collection over an open store: the live
// recipes of ns, read by the store once it protects every write in
// progress (chunkstore.Store.GC, whose doc comment argues why nothing
// acknowledged is swept), the store's sweep of what is unreferenced,
// unpinned and older than grace, the expiry of holdings of dead recipes older than grace, then the
// purge of tombstones older than the reclaim age. It is
// what the node's GC loop, POST /gc and `nitro gc` run. Errors wrapping
// chunkstore.ErrGrace mean grace < 2×store.touch_after.
func CollectGarbage(ctx context.Context, store *chunkstore.Store, ns *namespace.Namespace, grace time.Duration) (GCResult, error) {
	res := GCResult{Start: time.Now(), Grace: grace}
	// The store reads the live recipes itself, once it protects every
	// write in progress (see chunkstore.Store.GC): a list taken before
	// would miss the records committed in between.
	var live []recipe.ID
	roots := func(ctx context.Context) ([]recipe.ID, error) {
		var err error
		live, err = ns.LiveRecipes(ctx)
		if err != nil {
			return nil, fmt.Errorf("live recipes: %w", err)
		}
		return live, nil
	}
	st, err := store.GC(ctx, roots, grace)
	res.LiveRecipes = len(live)
	res.RecipesRemoved, res.ChunksRemoved, res.BytesRemoved, res.VlogRewrites =
		st.RecipesRemoved, st.ChunksRemoved, st.BytesRemoved, st.VlogRewrites
	if err != nil {
		return res, fmt.Errorf("gc: %w", err)
	}
	res.HoldingsExpired, err = ns.ExpireHoldings(ctx, live, res.Start.Add(-grace).UnixNano())
	if err != nil {
		return res, fmt.Errorf("gc: expiring holdings: %w", err)
	}
	res.ProfilesExpired, err = ns.ExpireProfiles(ctx, live, res.Start.Add(-grace).UnixNano())
	if err != nil {
		return res, fmt.Errorf("gc: expiring boot profiles: %w", err)
	}
	res.TombstonesPurged, err = ns.PurgeTombstones(ctx)
	res.Duration = time.Since(res.Start)
	if err != nil {
		return res, fmt.Errorf("gc: purging tombstones: %w", err)
	}
	return res, nil
}

// GC runs one collection now with the given grace (0: cfg.GC.Grace); one
// at a time per node.
func (n *Node) GC(ctx context.Context, grace time.Duration) (GCResult, error) {
	if grace == 0 {
		grace = n.cfg.GC.Grace
	}
	n.gcMu.Lock()
	defer n.gcMu.Unlock()
	res, err := CollectGarbage(ctx, n.store, n.ns, grace)
	if err == nil && n.regionGC != nil {
		if why := n.cluster.regionUnsynced(ctx); why != "" {
			res.RegionSkipped = why
			n.log.Warn("region gc skipped", zap.String("why", why))
		} else {
			err = collectRegion(ctx, n.regionGC, &res, grace) // regiongc.go
		}
	}
	if err == nil {
		res.Duration = time.Since(res.Start)
	}
	n.metrics.gc(res, err)
	if err != nil {
		n.log.Error("gc", zap.Error(err))
		return res, err
	}
	n.lastGC = res
	n.lastGCSnap.Store(&res)
	n.log.Info("gc", zap.Int("live_recipes", res.LiveRecipes), zap.Int("recipes_removed", res.RecipesRemoved),
		zap.Int("chunks_removed", res.ChunksRemoved), zap.Int64("bytes_removed", res.BytesRemoved),
		zap.Int("holdings_expired", res.HoldingsExpired), zap.Int("tombstones_purged", res.TombstonesPurged), zap.Duration("took", res.Duration))
	return res, nil
}

// gcLoop collects every cfg.GC.Interval until ctx is done. A failed
// collection is logged and retried at the next tick.
func (n *Node) gcLoop(ctx context.Context) {
	t := time.NewTicker(n.cfg.GC.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_, _ = n.GC(ctx, 0)
		}
	}
}
