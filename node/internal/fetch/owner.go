package fetch

// Owners (issue 12): a region may have several nodes, and concurrent reads
// of the same missing chunks on different nodes of a region must cause one
// WAN transfer. Each missing chunk is owned by one node of the reading
// region: the live node (this one included) with the highest rendezvous
// score (Thaler and Ravishankar's highest random weight hashing) of the
// chunk ID and the node's name, so every node that sees the same members
// picks the same owner, and a node that leaves moves only its own chunks.
// A read fetches the chunks it owns itself (its job, with the per-chunk
// futures that make concurrent reads on one node share a transfer); it
// asks each other owner for the chunks that one owns with one obtain
// request over the peer protocol (authenticated like all peer traffic;
// Obtainer), and the owner makes them local through its own futures (one
// transfer however many nodes ask) and streams them back in request order.
// The asker stores what arrives (Store.Receive: with a store shared by the
// region's nodes that write finds the chunk there already). When the owner
// fails, dies (it leaves the live members) or answers that it could not
// obtain a chunk, the asker fetches the rest itself: a dead owner costs at
// worst a second transfer, never a failed read. An owner's Obtain never
// delegates further, but it may wait for a chunk that one of its own reads
// has delegated: that cannot deadlock, even while nodes' member lists
// differ, because a node delegates a chunk only to a node whose score for
// it is strictly higher than its own, so waits never form a cycle.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"go.uber.org/zap"
)

// Obtainer is the owner request of the peer protocol; a Transport that
// implements it (*peer.Client does) turns ownership on.
type Obtainer interface {
	// Obtain asks the node at base, of this region, to make ids local
	// (fetching those it lacks, once) and to stream them back in request
	// order as FetchChunks does; plain are their plain sizes. A chunk the
	// node could not obtain comes as a not-held error to fn.
	Obtain(ctx context.Context, base string, ids []recipe.ChunkID, plain []uint32,
		fn func(id recipe.ChunkID, st chunkstore.Stored, err error) error) error
}

// ownerWatch is how often a delegation checks that its owner is still a
// live member; after ownerGone checks in a row without it, the asker
// stops waiting (a member that flaps for a moment on a loaded machine is
// not given up on; a crashed owner's closed connection ends the request
// at once anyway).
const (
	ownerWatch = 250 * time.Millisecond
	ownerGone  = 4
)

// nodeHash is the rendezvous key of a node name.
func nodeHash(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return h.Sum64()
}

// score is the rendezvous weight of chunk id at the node with key nh:
// splitmix64's finaliser of the ID's first 8 bytes (SHA-256: uniform)
// mixed with the node's key.
func score(id recipe.ChunkID, nh uint64) uint64 {
	z := binary.BigEndian.Uint64(id[:8]) ^ nh
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// siblings returns the live nodes of this region other than this one that
// have names, sorted by name.
func (f *Fetcher) siblings() []Peer {
	if f.cfg.Node == "" {
		return nil
	}
	var out []Peer
	for _, p := range f.peers() {
		if p.Region == f.cfg.Region && p.Node != "" && p.Node != f.cfg.Node && p.URL != "" &&
			!slices.ContainsFunc(out, func(q Peer) bool { return q.Node == p.Node }) {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b Peer) int { return cmpString(a.Node, b.Node) })
	return out
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Owner returns the name of the node of this region that owns chunk id
// among this node and the live siblings, for tests and reports.
func (f *Fetcher) Owner(id recipe.ChunkID) string {
	sibs := f.siblings()
	if i := ownerIndex(id, nodeHash(f.cfg.Node), sibHashes(sibs)); i >= 0 {
		return sibs[i].Node
	}
	return f.cfg.Node
}

func sibHashes(sibs []Peer) []uint64 {
	out := make([]uint64, len(sibs))
	for i, p := range sibs {
		out[i] = nodeHash(p.Node)
	}
	return out
}

// ownerIndex returns the index in sibs of chunk id's owner, -1 for this
// node (self is its key). Ties (never in practice) go to this node.
func ownerIndex(id recipe.ChunkID, self uint64, sibs []uint64) int {
	best, bs := -1, score(id, self)
	for i, h := range sibs {
		if s := score(id, h); s > bs {
			best, bs = i, s
		}
	}
	return best
}

// launch fetches mine, chunks whose futures this caller registered: with
// delegate, those another live node of this region owns are asked of
// their owners (obtainFrom), the others fetched by a job of this node; rec
// is the recipe read (nil: none, no speculative start).
func (f *Fetcher) launch(ctx context.Context, rec *recipe.Recipe, mine []*jchunk, delegate bool) {
	if len(mine) == 0 {
		return
	}
	own := mine
	if ob, ok := f.tr.(Obtainer); ok && delegate {
		if sibs := f.siblings(); len(sibs) > 0 {
			own = nil
			self, hs := nodeHash(f.cfg.Node), sibHashes(sibs)
			byOwner := make([][]*jchunk, len(sibs))
			for _, c := range mine {
				if o := ownerIndex(c.id, self, hs); o >= 0 {
					byOwner[o] = append(byOwner[o], c)
				} else {
					own = append(own, c)
				}
			}
			for o, cs := range byOwner {
				if len(cs) == 0 {
					continue
				}
				f.count(func(st *Stats) { st.Delegated += int64(len(cs)) })
				for _, c := range cs {
					// The live owner waits for holders itself (its jobs'
					// HolderWait); the asker's read does not wait for that.
					c.fut.place()
				}
				go f.obtainFrom(ctx, ob, sibs[o], rec, cs)
			}
		}
	}
	f.run(ctx, rec, own)
}

// run starts a job of this node for chunks (none: nothing).
func (f *Fetcher) run(ctx context.Context, rec *recipe.Recipe, chunks []*jchunk) {
	if len(chunks) == 0 {
		return
	}
	f.count(func(st *Stats) { st.Fetches++ })
	jctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.cfg.FetchTimeout)
	j := f.newJob(jctx, cancel, chunks)
	j.rec = rec
	go j.run()
}

// obtainFrom asks owner p for chunks (in object order) and stores what it
// sends; the chunks it does not deliver are fetched by a job of this node.
func (f *Fetcher) obtainFrom(ctx context.Context, ob Obtainer, p Peer, rec *recipe.Recipe, chunks []*jchunk) {
	octx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.cfg.FetchTimeout)
	defer cancel()
	go func() { // the owner left the live members: stop waiting for it
		t := time.NewTicker(ownerWatch)
		defer t.Stop()
		missing := 0
		for {
			select {
			case <-octx.Done():
				return
			case <-t.C:
			}
			if slices.ContainsFunc(f.siblings(), func(q Peer) bool { return q.Node == p.Node && q.URL == p.URL }) {
				missing = 0
			} else if missing++; missing >= ownerGone {
				f.log.Warn("the owner of chunks this node waits for left the live members; fetching them here",
					zap.String("owner", p.Node))
				cancel()
				return
			}
		}
	}()
	ids := make([]recipe.ChunkID, len(chunks))
	plain := make([]uint32, len(chunks))
	for i, c := range chunks {
		ids[i], plain[i] = c.id, c.plain
	}
	got := make([]bool, len(chunks))
	next := 0
	err := ob.Obtain(octx, p.URL, ids, plain, func(id recipe.ChunkID, st chunkstore.Stored, ferr error) error {
		i := next
		next++
		if ferr != nil {
			return nil
		}
		if err := f.store.Receive(octx, id, st); err != nil {
			var ce *chunkstore.CorruptChunkError
			if errors.As(err, &ce) {
				f.count(func(s *Stats) { s.CorruptFetch++ })
			}
			f.log.Warn("chunk from its owner could not be stored; fetching it here", zap.String("owner", p.Node),
				zap.String("chunk", id.Short()), zap.Error(err))
			return nil
		}
		got[i] = true
		f.count(func(s *Stats) { s.DelegatedGot++ })
		f.complete(chunks[i], nil, false)
		return nil
	})
	var rest []*jchunk
	for i, c := range chunks {
		if !got[i] {
			rest = append(rest, c)
		}
	}
	if len(rest) == 0 {
		return
	}
	f.count(func(st *Stats) { st.DelegateFallbacks += int64(len(rest)) })
	if err == nil {
		err = fmt.Errorf("%d chunks not obtained", len(rest))
	}
	f.log.Warn("the owner of missing chunks did not deliver them all; fetching the rest here",
		zap.String("owner", p.Node), zap.Int("chunks", len(rest)), zap.Error(err))
	// The fallback job runs under ctx's values (not its cancellation):
	// the read may be gone, the chunks are still worth keeping.
	f.run(ctx, rec, rest)
}

// Obtain is the owner's side of a delegation: it makes ids local (plain
// are their plain sizes) as a prefetch does, through this node's futures
// (a chunk another read is fetching is waited for, not fetched twice),
// never delegating further, and calls fn for each in order as soon as it
// is stored, with nil or why it could not be obtained. It returns fn's
// first error or ctx's.
func (f *Fetcher) Obtain(ctx context.Context, ids []recipe.ChunkID, plain []uint32, fn func(i int, err error) error) error {
	if len(ids) != len(plain) {
		return fmt.Errorf("fetch: obtain: %d IDs and %d sizes", len(ids), len(plain))
	}
	has, err := f.store.Has(ctx, ids)
	if err != nil {
		return fmt.Errorf("fetch: local lookup: %w", err)
	}
	wait := make([]*future, len(ids))
	byID := map[recipe.ChunkID]int{}
	var mine []*jchunk
	f.mu.Lock()
	for i, id := range ids {
		if has[i] {
			continue
		}
		if k, ok := byID[id]; ok {
			wait[i] = wait[k]
			continue
		}
		byID[id] = i
		if fu := f.inflight[id]; fu != nil {
			wait[i] = fu
			f.stats.Shared++
			continue
		}
		fu := newFuture()
		f.inflight[id] = fu
		wait[i] = fu
		mine = append(mine, &jchunk{id: id, index: i, plain: plain[i], fut: fu})
	}
	f.mu.Unlock()
	if mine, err = f.recheckLocal(ctx, mine); err != nil {
		return err
	}
	f.launch(ctx, nil, mine, false)
	for i := range ids {
		var cerr error
		if wait[i] != nil {
			select {
			case <-wait[i].done:
			case <-ctx.Done():
				return ctx.Err()
			}
			cerr = wait[i].err
		}
		if cerr == nil {
			f.count(func(s *Stats) { s.ObtainServed++ })
		}
		if err := fn(i, cerr); err != nil {
			return err
		}
	}
	return nil
}
