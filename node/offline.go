package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore"
	"github.com/nitro-cloud/nitro/node/internal/namespace"
	"go.uber.org/zap"
)

// openOffline opens the store and namespace of cfg.DataDir without
// serving, for the offline commands. It fails if a node holds the dir.
func openOffline(cfg Config, log *zap.Logger) (*chunkstore.Store, *namespace.Namespace, error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, fmt.Errorf("node: config: %w", err)
	}
	store, err := OpenStore(cfg, log)
	if err != nil {
		return nil, nil, err
	}
	ns, err := namespace.New(namespace.Config{Region: cfg.Region, ReclaimAge: cfg.GC.ReclaimAge},
		store.Records(), log.Named("namespace"))
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	return store, ns, nil
}

// OfflineGC runs one garbage collection (see CollectGarbage) on the data
// dir of a stopped node, grace 0 meaning cfg.GC.Grace: `nitro gc`. A running
// node holds the dir; collect through its ops listener's POST /gc instead.
func OfflineGC(ctx context.Context, cfg Config, grace time.Duration, log *zap.Logger) (GCResult, error) {
	if grace == 0 {
		grace = cfg.GC.Grace
	}
	store, ns, err := openOffline(cfg, log)
	if err != nil {
		return GCResult{}, err
	}
	res, err := CollectGarbage(ctx, store, ns, grace)
	if err == nil && cfg.Store.Backend == BackendSwift {
		// A stopped node's namespace lacks what its region wrote since:
		// the region's sweep runs only in serving nodes (Node.GC).
		res.RegionSkipped = "offline: the region GC runs in a serving node, synced with its region"
	}
	return res, errors.Join(err, store.Close())
}

// OfflineFsck verifies the store of a stopped node against the recipes of
// its live objects (chunkstore.Store.Fsck); with repair it fixes what it
// can: `nitro fsck`.
func OfflineFsck(ctx context.Context, cfg Config, repair bool, log *zap.Logger) (chunkstore.FsckReport, error) {
	store, ns, err := openOffline(cfg, log)
	if err != nil {
		return chunkstore.FsckReport{}, err
	}
	live, err := ns.LiveRecipes(ctx)
	if err != nil {
		return chunkstore.FsckReport{}, errors.Join(fmt.Errorf("fsck: live recipes: %w", err), store.Close())
	}
	rep, err := store.Fsck(ctx, live, repair)
	return rep, errors.Join(err, store.Close())
}
