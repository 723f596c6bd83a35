package fetch

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

// readableRetry is how often Readable looks again for a live holder of
// chunks that have none.
const readableRetry = 250 * time.Millisecond

// Readable reports whether refs [first, last) of rec can be read now:
// every chunk this region lacks has a live holder, by the holders'
// cached have answers (holdings.go) or, failing those (or when they name
// no live holder), by a have request to the live peers. A chunk with no live holder waits for one as a
// read's would (Config.HolderWait; < 0: no wait), looked for again every
// readableRetry; then Readable returns a *NoHolderError. It fetches
// nothing, and the answers it gets are cached for the read that follows.
//
// For a read that opens parts of an object only mid-body (the segments
// of a DLO after the first): checking every part before the first byte
// turns a part none of whose holders is live into a 503 instead of a
// body cut short after the wait. Errors: the store's, ctx's.
func (f *Fetcher) Readable(ctx context.Context, rec *recipe.Recipe, first, last int) error {
	if first < 0 || last > len(rec.Refs) || first > last {
		return fmt.Errorf("fetch: span [%d, %d) of %d refs", first, last, len(rec.Refs))
	}
	missing, err := f.missing(ctx, rec, first, last)
	if err != nil || len(missing) == 0 {
		return err
	}
	ids := make([]recipe.ChunkID, len(missing))
	for i, c := range missing {
		ids[i] = c.id
	}
	start := time.Now()
	for round := 0; ; round++ {
		// Cached answers first; fresh ones when they left a chunk
		// without a holder (a holder may have come back since).
		peers := f.livePeers()
		sizes, cached := f.holdings.lookup(peers, ids)
		if !cached || round > 0 {
			sizes = f.haveSizes(ctx, peers, ids)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		for _, c := range missing {
			c.holders = 0
		}
		f.sources(peers, sizes, missing)
		i := slices.IndexFunc(missing, func(c *jchunk) bool { return c.holders == 0 })
		if i < 0 {
			return nil
		}
		if f.cfg.HolderWait < 0 || time.Since(start) >= f.cfg.HolderWait {
			var asked []string
			for _, p := range peers {
				if !slices.Contains(asked, p.Region) {
					asked = append(asked, p.Region)
				}
			}
			f.count(func(st *Stats) { st.NoHolder++ })
			return &NoHolderError{ID: missing[i].id, Index: missing[i].index, Asked: asked}
		}
		t := time.NewTimer(readableRetry)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
