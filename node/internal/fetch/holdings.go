package fetch

import (
	"sync"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

// Holdings cache (issue 13 item 2): what peers answered to have requests
// (and which chunks they sent), so that a read whose chunks were all asked
// about recently, such as the next Range read of an image booting from it,
// plans at once instead of paying the have round trip. An answer that went
// stale is harmless: a chunk a source no longer holds comes back
// not-held and is asked of its other holders, as after any have answer; a
// region that acquired a chunk since is only missed by the plan.
const (
	// holdingsTTL is how long a cached answer is used.
	holdingsTTL = 2 * time.Minute
	// holdingsMax bounds the cached (region, chunk) answers (about 80
	// bytes each); a full cache is emptied.
	holdingsMax = 1 << 17
)

// holdKey is one node's answer about one chunk: nodes of one region may
// hold different chunks (per-node stores); nodes that share a store share
// their answers (haveKey).
type holdKey struct {
	node string // the node's haveKey
	id   recipe.ChunkID
}

type holdVal struct {
	size int64 // stored size; <= 0: not held
	at   time.Time
}

// holdings is the cache. Safe for concurrent use.
type holdings struct {
	mu sync.Mutex
	m  map[holdKey]holdVal
}

// note records the answer sizes for ids of the nodes of have group key
// (haveKey).
func (h *holdings) note(key string, ids []recipe.ChunkID, sizes []int64) {
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil || len(h.m)+len(ids) > holdingsMax {
		h.m = map[holdKey]holdVal{}
	}
	if len(ids) > holdingsMax {
		return
	}
	for i, id := range ids {
		h.m[holdKey{key, id}] = holdVal{sizes[i], now}
	}
}

// lookup returns the cached answers of every peer for ids, as haveSizes
// would, if there is a fresh one for every (peer, chunk) and every chunk
// has a holder; ok is false otherwise.
func (h *holdings) lookup(peers []Peer, ids []recipe.ChunkID) (sizes [][]int64, ok bool) {
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.m) == 0 || len(peers) == 0 {
		return nil, false
	}
	held := make([]bool, len(ids))
	sizes = make([][]int64, len(peers))
	for p, peer := range peers {
		sizes[p] = make([]int64, len(ids))
		for i, id := range ids {
			v, found := h.m[holdKey{haveKey(peer), id}]
			if !found || now.Sub(v.at) > holdingsTTL {
				return nil, false
			}
			sizes[p][i] = v.size
			held[i] = held[i] || v.size > 0
		}
	}
	for _, x := range held {
		if !x {
			return nil, false
		}
	}
	return sizes, true
}
