package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore/swiftstore"
	"github.com/nitro-cloud/nitro/node/internal/namespace"
	"github.com/nitro-cloud/nitro/node/internal/regiongc"
	"go.uber.org/zap"
)

// errRegionGC wraps the errors of the region GC's runs (for the metrics).
var errRegionGC = errors.New("region gc")

// newRegionGC returns the region GC of a node with store.backend: swift
// (nil for badger): a collector of the region's cluster, with its own
// client of store.swift, this node's name in the lease and the namespace
// as its roots. Every node of the region runs it at each GC; the lease
// lets one of them sweep (node/internal/regiongc).
func newRegionGC(ctx context.Context, cfg Config, ns *namespace.Namespace, log *zap.Logger) (*regiongc.Collector, error) {
	if cfg.Store.Backend != BackendSwift {
		return nil, nil
	}
	sc, err := swiftstore.NewClient(ctx, cfg.Store.Swift.swiftstore())
	if err != nil {
		return nil, fmt.Errorf("node: region gc: store.swift (%s): %w", cfg.Store.Swift, err)
	}
	l := regiongc.Layout{Prefix: cfg.Store.Swift.ContainerPrefix, Containers: cfg.Store.Swift.Containers}
	if l.Prefix == "" {
		l.Prefix = swiftstore.DefaultContainerPrefix
	}
	if l.Containers == 0 {
		l.Containers = swiftstore.DefaultContainers
	}
	owner := cfg.Node
	if owner == "" {
		owner = cfg.Region
	}
	c, err := regiongc.New(regiongc.Config{Client: sc, Layout: l, Owner: owner, Roots: ns,
		Workers: cfg.Store.Swift.Concurrency, Log: log})
	if err != nil {
		return nil, fmt.Errorf("node: region gc: %w", err)
	}
	return c, nil
}

// collectRegion runs the region GC after a successful local collection
// res, with the same grace (so chunkstore's floor of 2×touch_after holds
// for the region too), and records its outcome in res: Region when this
// node swept, RegionLeaseHeldBy when another node holds the lease.
func collectRegion(ctx context.Context, rgc *regiongc.Collector, res *GCResult, grace time.Duration) error {
	if rgc == nil {
		return nil
	}
	st, err := rgc.Run(ctx, grace)
	var held *regiongc.LeaseHeldError
	switch {
	case errors.As(err, &held):
		res.RegionLeaseHeldBy = held.Owner
		return nil
	case err != nil:
		return fmt.Errorf("gc: %w: %w", errRegionGC, err)
	}
	res.Region = &st
	return nil
}

// openRegionGC is newRegionGC with a bounded authentication.
func openRegionGC(cfg Config, ns *namespace.Namespace, log *zap.Logger) (*regiongc.Collector, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return newRegionGC(ctx, cfg, ns, log)
}
