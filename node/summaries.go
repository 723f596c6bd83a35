package node

// Chunk summaries (issue 13): this node's summary of its store's chunks,
// served to peers, and the peers' summaries, which the fetcher uses as
// advisory holdings (node/internal/summary, fetch.Config.Summary).

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/nitro-cloud/nitro/node/internal/fetch"
	"github.com/nitro-cloud/nitro/node/internal/peer"
	"github.com/nitro-cloud/nitro/node/internal/summary"
	"go.uber.org/zap"
)

// summaryRebuild is how often this node's summary is rebuilt from its
// store's index (dropping the chunks deleted since), and summaryCheck how
// often it checks whether it outgrew its size and needs one sooner.
const (
	summaryRebuild = 10 * time.Minute
	summaryCheck   = 30 * time.Second
)

// summaryLoop builds this node's summary at start, then rebuilds it every
// summaryRebuild or when it holds more chunks than it was sized for,
// until ctx ends.
func (c *cluster) summaryLoop(ctx context.Context) {
	tick := time.NewTicker(summaryCheck)
	defer tick.Stop()
	var last time.Time
	for {
		if c.summary.Stale() || time.Since(last) >= summaryRebuild {
			t0 := time.Now()
			if err := c.summary.Rebuild(ctx, c.store); err != nil {
				if ctx.Err() != nil {
					return
				}
				c.log.Warn("chunk summary rebuild", zap.Error(err))
			} else {
				last = time.Now()
				st := c.summary.Stats()
				c.log.Debug("chunk summary rebuilt", zap.Uint("chunks", st.Chunks), zap.Int("bytes", st.Bytes),
					zap.Duration("took", time.Since(t0)))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// storeKey identifies the store of a peer for its summary: its shared
// store identity (nodes of a region sharing a Swift store share one
// summary), else its node name.
func storeKey(region, node, store string) string {
	if store != "" {
		return region + "/" + store
	}
	return region + "/node/" + node
}

// summaryTargets returns the peers whose summaries this node keeps: every
// peer but the nodes of this region that share its store (it has their
// chunks).
func (c *cluster) summaryTargets() []summary.Target {
	own := c.storeID
	var out []summary.Target
	for _, m := range c.ml.Peers() {
		if m.Region == c.region && m.Store != "" && m.Store == own {
			continue
		}
		out = append(out, summary.Target{Key: storeKey(m.Region, m.Name, m.Store), URL: m.PeerURL})
	}
	return out
}

// fetchSummary is summary.Replicas' FetchFunc: the peer's summary, or
// what it added since generation have (GET /peer/v1/summary/delta); a
// peer from before deltas (404) is asked for the whole.
func (c *cluster) fetchSummary(ctx context.Context, url string, have uint64) (summary.Answer, error) {
	gen, full, delta, err := c.client.SummaryDelta(ctx, url, have)
	if se := (*peer.StatusError)(nil); errors.As(err, &se) && se.Code == http.StatusNotFound {
		gen, full, err = c.client.Summary(ctx, url, have)
		return summary.Answer{Gen: gen, Full: full}, err
	}
	return summary.Answer{Gen: gen, Full: full, Delta: delta}, err
}

// peerSummary is fetch.Config.Summary: the summary of p's store, nil if
// none was fetched.
func (c *cluster) peerSummary(p fetch.Peer) fetch.Summary {
	if r := c.summaries.Get(storeKey(p.Region, p.Node, p.Store)); r != nil {
		return r
	}
	return nil
}

// SummaryStatus is the chunk summaries' part of `nitro status`: this
// node's (its size and when it was last rebuilt) and the peers' it holds
// (size, generation, when last fetched).
type SummaryStatus struct {
	Local summary.LocalStats    `json:"local"`
	Peers []summary.RemoteStats `json:"peers"`
}

// summaryStatus returns the summaries' status; nil when they are off.
func (c *cluster) summaryStatus() *SummaryStatus {
	if c.summary == nil {
		return nil
	}
	return &SummaryStatus{Local: c.summary.Stats(), Peers: c.summaries.Stats()}
}
