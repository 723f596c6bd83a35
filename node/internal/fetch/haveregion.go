package fetch

// One have request per region (issue 12): the nodes of a region that
// share one chunk store (the region's Swift cluster; Peer.Store, gossiped
// by membership) hold the same chunks, so one of them answers for all.
// A read asks one node of such a group, chosen by rendezvous hashing of
// the read's first missing chunk ID over the nodes' names (so the have
// requests of different reads spread over the region's nodes, and every
// reader picks the same node for the same read), and on a failed or timed
// out request the next node in score order, until one answers or none is
// left. The answer is every node's of the group (except those that failed
// to answer this time): the region is one source in the plan and its
// streams still spread over its nodes (assign). Nodes with an empty Store
// (Badger in their own data dirs) are asked one by one, as each may hold
// different chunks. Cached answers (holdings.go) are kept per group, and a
// node of a group that already answered a job, found late (holders.go), is
// added with that answer without a request.

import (
	"context"
	"slices"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"go.uber.org/zap"
)

// haveKey names p's have group: its region and store when it shares a
// store with the region's other nodes, else its URL alone.
func haveKey(p Peer) string {
	if p.Store == "" {
		return "node\x00" + p.URL
	}
	return "store\x00" + p.Region + "\x00" + p.Store
}

// haveGroups groups the indices of peers by haveKey, in the order of
// their first member; within a group, in the order to ask them for a read
// whose first missing chunk is key: highest rendezvous score first.
func haveGroups(peers []Peer, key recipe.ChunkID) [][]int {
	idx := map[string]int{}
	var out [][]int
	for i, p := range peers {
		k := haveKey(p)
		g, ok := idx[k]
		if !ok {
			g = len(out)
			idx[k] = g
			out = append(out, nil)
		}
		out[g] = append(out[g], i)
	}
	for _, g := range out {
		if len(g) > 1 {
			slices.SortStableFunc(g, func(a, b int) int {
				sa, sb := score(key, nodeHash(peers[a].name())), score(key, nodeHash(peers[b].name()))
				switch {
				case sa > sb:
					return -1
				case sa < sb:
					return 1
				}
				return 0
			})
		}
	}
	return out
}

// haveOfGroup asks the nodes of group (indices in peers, in order) for
// ids until one answers; it returns the answer (nil: none answered) and
// the nodes that failed to.
func (f *Fetcher) haveOfGroup(ctx context.Context, peers []Peer, group []int, ids []recipe.ChunkID) (has []int64, failed []int) {
	for k, i := range group {
		p := peers[i]
		f.count(func(st *Stats) {
			st.HaveRequests++
			if st.HaveByRegion == nil {
				st.HaveByRegion = map[string]int64{}
			}
			st.HaveByRegion[p.Region]++
			if k > 0 {
				st.HaveFallbacks++
			}
		})
		hctx, cancel := context.WithTimeout(ctx, f.cfg.HaveTimeout)
		has, err := f.tr.Have(hctx, p.URL, ids)
		cancel()
		if err == nil && len(has) == len(ids) {
			return has, failed
		}
		failed = append(failed, i)
		if err == nil {
			continue // a malformed answer: cannot happen with peer.Client
		}
		if k+1 < len(group) {
			f.log.Warn("have request failed; asking another node of its region",
				zap.String("region", p.Region), zap.String("node", p.name()), zap.Error(err))
		} else {
			f.log.Warn("have request failed; node left out of this plan",
				zap.String("region", p.Region), zap.String("node", p.name()), zap.Error(err))
		}
		if ctx.Err() != nil {
			return nil, failed
		}
	}
	return nil, failed
}

// haveAnswer is a have group's answer to a job: sizes[k] for chunks[k].
type haveAnswer struct {
	chunks []*jchunk
	sizes  []int64
}

// noteAnswers records the job's first have answers (sizes[i]: peers[i]'s
// answer for j.chunks, nil: none): each group's that answered, and the
// nodes of such groups left out because their own request failed; j.mu
// held.
func (j *job) noteAnswers(peers []Peer, sizes [][]int64) {
	if j.answers == nil {
		j.answers, j.haveFailed = map[string]haveAnswer{}, map[string]bool{}
	}
	for i, p := range peers {
		if sizes[i] != nil && p.Store != "" {
			j.answers[haveKey(p)] = haveAnswer{chunks: j.chunks, sizes: sizes[i]}
		}
	}
	for i, p := range peers {
		if _, ok := j.answers[haveKey(p)]; ok && sizes[i] == nil {
			j.haveFailed[p.URL] = true
		}
	}
}

// groupAnswer returns the answer of p's have group to the job, if p
// shares its store with a node that answered and p's own request did not
// fail; j.mu held.
func (j *job) groupAnswer(p Peer) (haveAnswer, bool) {
	if p.Store == "" || j.haveFailed[p.URL] {
		return haveAnswer{}, false
	}
	a, ok := j.answers[haveKey(p)]
	return a, ok
}

// HaveNodes returns the names of the live nodes of region in the order a
// read whose first missing chunk is first asks them for their have answer
// (one at a time when they share a store, else each), for tests and
// reports.
func (f *Fetcher) HaveNodes(region string, first recipe.ChunkID) []string {
	var peers []Peer
	for _, p := range f.livePeers() {
		if p.Region == region {
			peers = append(peers, p)
		}
	}
	var out []string
	for _, g := range haveGroups(peers, first) {
		for _, i := range g {
			out = append(out, peers[i].name())
		}
	}
	return out
}
