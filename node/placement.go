package node

// Eager placement: right after an object's PUT, the writing node asks the
// regions named by the container's X-Container-Meta-Nitro-Placement (or by
// cluster.placement) to copy the object in the background, so that its
// first read there is local.

import (
	"context"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"github.com/nitro-cloud/nitro/node/internal/namespace"
	"github.com/nitro-cloud/nitro/node/internal/peer"
	"go.uber.org/zap"
)

const (
	placeWorkers = 2   // background copies at a time, per node
	placeQueue   = 256 // copies (and requests) waiting; more are dropped and logged
	placeTimeout = time.Hour
	// placementMeta is the container metadata key (Swift's
	// X-Container-Meta-Nitro-Placement, stored lower case without prefix).
	placementMeta = "nitro-placement"
)

// placingReplicator is the object service's Replicator: the cluster's
// replication, then eager placement of new objects.
type placingReplicator struct{ c *cluster }

func (p placingReplicator) Replicate(ctx context.Context, recs ...namespace.Record) error {
	if err := p.c.rep.Replicate(ctx, recs...); err != nil {
		return err
	}
	if len(recs) == 0 {
		return nil
	}
	if rec := recs[0]; rec.Kind == namespace.KindObject && rec.Live() && !rec.Recipe.IsZero() && rec.Region == p.c.region {
		p.c.requestPlacement(ctx, &rec)
	}
	return nil
}

// placementOf returns the regions an object of container should be copied
// to: the container's metadata, else the configured default.
func (c *cluster) placementOf(ctx context.Context, account, container string) []string {
	regions := c.cfg.Placement
	if cr, err := c.ns.GetLive(ctx, namespace.ContainerKey(account, container)); err == nil {
		if v, ok := cr.Meta[placementMeta]; ok {
			regions = nil
			for _, r := range strings.Split(v, ",") {
				if r = strings.TrimSpace(r); r != "" && r != "none" {
					regions = append(regions, r)
				}
			}
		}
	}
	return regions
}

// requestPlacement asks each live peer of the placement regions to copy
// rec's object; it never blocks the client's request on the copy.
func (c *cluster) requestPlacement(ctx context.Context, rec *namespace.Record) {
	regions := c.placementOf(ctx, rec.Account, rec.Container)
	if len(regions) == 0 {
		return
	}
	object := rec.Account + "/" + rec.Container + "/" + rec.Object
	peers := c.ml.Peers()
	for _, r := range regions {
		if r == c.region {
			continue
		}
		// One live node of the region copies it: the object's rendezvous
		// pick among them, so placements spread over a region's nodes.
		url, best := "", uint64(0)
		for _, m := range peers {
			if m.Region != r {
				continue
			}
			h := fnv.New64a()
			h.Write([]byte(object + "\x00" + m.Name))
			if s := h.Sum64(); url == "" || s > best {
				url, best = m.PeerURL, s
			}
		}
		if url == "" {
			c.log.Warn("placement region not live; the object will be copied there on its first read",
				zap.String("region", r), zap.String("object", object))
			continue
		}
		select {
		case c.pushes <- struct{}{}:
		default:
			c.log.Warn("too many placement requests in flight; dropped", zap.String("region", r), zap.String("object", object))
			continue
		}
		go func() {
			defer func() { <-c.pushes }()
			pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.rep.Timeout())
			defer cancel()
			if err := c.client.Place(pctx, url, object); err != nil {
				c.log.Warn("placement request failed", zap.String("region", r), zap.String("object", object), zap.Error(err))
			}
		}()
	}
}

// Place implements peer.Operator: queue a background copy of object here.
func (c *cluster) Place(ctx context.Context, object string) error {
	select {
	case c.places <- object:
		return nil
	default:
		return fmt.Errorf("%w: %d placements queued", peer.ErrBusy, placeQueue)
	}
}

// placeLoop copies queued objects until ctx is done.
func (c *cluster) placeLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case object := <-c.places:
			pctx, cancel := context.WithTimeout(ctx, placeTimeout)
			start := time.Now()
			c.placingMu.Lock()
			c.placing[object] = start
			c.placingMu.Unlock()
			n, err := c.place(pctx, object)
			cancel()
			c.placingMu.Lock()
			delete(c.placing, object)
			c.placingMu.Unlock()
			if err != nil {
				c.log.Warn("placement failed; the object will be fetched on its first read", zap.String("object", object), zap.Error(err))
				continue
			}
			c.log.Info("object placed", zap.String("object", object), zap.Int("chunks", n), zap.Duration("took", time.Since(start)))
		}
	}
}

func (c *cluster) place(ctx context.Context, object string) (int, error) {
	parts := strings.SplitN(object, "/", 3)
	if len(parts) != 3 {
		return 0, fmt.Errorf("object %q: want ACCOUNT/CONTAINER/OBJECT", object)
	}
	rec, err := c.ns.GetLive(ctx, namespace.ObjectKey(parts[0], parts[1], parts[2]))
	if err != nil {
		return 0, err
	}
	rc, err := c.store.Recipe(ctx, rec.Recipe)
	if err != nil {
		return 0, err
	}
	if err := c.fetch.Prefetch(ctx, rc, 0, len(rc.Refs)); err != nil {
		return 0, err
	}
	// The fetcher's OnComplete writes the holding too, but asynchronously
	// and only after a lookup; placement knows, so it says so now.
	c.hold(ctx, rec.Recipe)
	return len(rc.Refs), nil
}

// holdTimeout bounds the write and the push of a holding.
const holdTimeout = 30 * time.Second

// hold records that this region holds every chunk of recipe id (unless it
// already says so) and pushes the holding to the live peers; failures are
// logged (anti-entropy spreads the holding later, or the next complete
// read writes it).
func (c *cluster) hold(ctx context.Context, id recipe.ID) {
	if ok, err := c.ns.Holds(ctx, id); err == nil && ok {
		return
	}
	// Fetched chunks are stored by Receive, synced in the background:
	// the holding must not reach the disk (or a peer) before they do.
	if err := c.store.Sync(ctx); err != nil {
		c.log.Warn("syncing before a holding", zap.Stringer("recipe", id), zap.Error(err))
		return
	}
	rec, err := c.ns.Hold(ctx, id)
	if err != nil {
		c.log.Warn("writing a holding", zap.Stringer("recipe", id), zap.Error(err))
		return
	}
	if rec == nil {
		return
	}
	if err := c.rep.Replicate(ctx, *rec); err != nil {
		c.log.Warn("pushing a holding", zap.Stringer("recipe", id), zap.Error(err))
	}
}

// onComplete is the fetcher's OnComplete: hold, detached from any request
// but not from the node (run waits for it at shutdown).
func (c *cluster) onComplete(id recipe.ID) {
	c.bgMu.Lock()
	if c.bgClosed {
		c.bgMu.Unlock()
		return
	}
	c.bg.Add(1)
	c.bgMu.Unlock()
	defer c.bg.Done()
	ctx, cancel := context.WithTimeout(c.life, holdTimeout)
	defer cancel()
	c.hold(ctx, id)
}

// stopBackground cancels and waits for the onComplete calls under way and
// makes later ones no-ops; it is idempotent.
func (c *cluster) stopBackground() {
	c.bgMu.Lock()
	c.bgClosed = true
	c.bgMu.Unlock()
	c.endLife()
	c.bg.Wait()
	if c.lazy != nil {
		c.lazy.Close()
	}
}
