package node

import (
	"context"
	"time"

	"github.com/nitro-cloud/nitro/node/internal/fetch"
	"go.uber.org/zap"
)

// warmTimeout bounds the warm-up of one peer's connections.
const warmTimeout = 10 * time.Second

// warm opens connections to a peer's listener ahead of the first read from
// it (peer.Client.Warm), so that a read pays no handshake on its critical
// path; run on a goroutine of the node's background work (stopBackground
// waits for it). Failures are logged at debug: the read dials as before.
func (c *cluster) warm(region, url string) {
	if url == "" {
		return
	}
	c.bgMu.Lock()
	if c.bgClosed {
		c.bgMu.Unlock()
		return
	}
	c.bg.Add(1)
	c.bgMu.Unlock()
	go func() {
		defer c.bg.Done()
		ctx, cancel := context.WithTimeout(c.life, warmTimeout)
		defer cancel()
		if err := c.client.Warm(ctx, url, warmConns(c.cfg.StreamsPerLink)); err != nil {
			c.log.Debug("warming peer connections", zap.String("region", region), zap.Error(err))
		}
	}()
}

// warmConns is how many connections warm opens to a peer: one per striped
// connection of a chunk stream (cluster.streams_per_link: 0 one,
// automatic up to fetch.MaxStreamsPerLink) and one for a have request.
func warmConns(streamsPerLink int) int {
	switch {
	case streamsPerLink < 0:
		streamsPerLink = fetch.MaxStreamsPerLink
	case streamsPerLink == 0:
		streamsPerLink = 1
	}
	return streamsPerLink + 1
}
