package fetch

import (
	"context"
	"fmt"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

// PrefetchRefs makes the chunks of the given refs of rec local (a slice of
// a boot profile): the chunks missing here and not already being fetched
// become one fetch job, planned over their holders like a read's (each
// source streams its share in object order; callers that want another
// order call PrefetchRefs on successive slices), and PrefetchRefs waits until every chunk of refs is stored
// or failed. Chunks another read or prefetch is fetching are waited for,
// not fetched twice. It returns how many chunks this call fetched itself,
// and the first error of any chunk (a *NoHolderError, ctx's error). Refs
// out of range are an error; duplicates are fetched once.
func (f *Fetcher) PrefetchRefs(ctx context.Context, rec *recipe.Recipe, refs []int) (int, error) {
	seen := make(map[recipe.ChunkID]bool, len(refs))
	var ids []recipe.ChunkID
	var idx []int
	for _, i := range refs {
		if i < 0 || i >= len(rec.Refs) {
			return 0, fmt.Errorf("fetch: ref %d of %d", i, len(rec.Refs))
		}
		if id := rec.Refs[i].ID; !seen[id] {
			seen[id] = true
			ids = append(ids, id)
			idx = append(idx, i)
		}
	}
	has, err := f.store.Has(ctx, ids)
	if err != nil {
		return 0, fmt.Errorf("fetch: local lookup: %w", err)
	}
	var wait []*future
	var mine []*jchunk
	f.mu.Lock()
	for k, h := range has {
		if h {
			continue
		}
		id := ids[k]
		if fu := f.inflight[id]; fu != nil {
			wait = append(wait, fu)
			f.stats.Shared++
			continue
		}
		fu := newFuture()
		f.inflight[id] = fu
		wait = append(wait, fu)
		mine = append(mine, &jchunk{id: id, index: idx[k], plain: rec.Refs[idx[k]].Size, fut: fu})
	}
	f.mu.Unlock()
	// As in Source: a fetch that finished between the lookup and the
	// registration stored its chunks, so look again.
	mine, err = f.recheckLocal(ctx, mine)
	if err != nil {
		return 0, err
	}
	f.launch(ctx, nil, mine, true) // no speculative start, as before
	var first error
	for _, fu := range wait {
		select {
		case <-fu.done:
		case <-ctx.Done():
			return len(mine), ctx.Err()
		}
		if fu.err != nil && first == nil {
			first = fu.err
		}
	}
	return len(mine), first
}

// Missing returns how many distinct chunks of the read's span were not
// local when Source was called (fetched by it or by a fetch it joined).
func (s *source) Missing() int { return len(s.wait) }
