package peer

import (
	"crypto/sha256"
	"maps"
	"sync"
)

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }

// LinkCounters are the chunk transfers over one link, counted at one end.
// Bytes are stored (compressed, as on the wire) chunk bytes, without
// framing.
type LinkCounters struct {
	Chunks int64
	Bytes  int64
}

// counters maps a region name to its counters. Safe for concurrent use.
type counters struct {
	mu sync.Mutex
	m  map[string]LinkCounters
}

func (c *counters) add(region string, chunks, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]LinkCounters)
	}
	lc := c.m[region]
	lc.Chunks += chunks
	lc.Bytes += bytes
	c.m[region] = lc
}

func (c *counters) snapshot() map[string]LinkCounters {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.m)
}
