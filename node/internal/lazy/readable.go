package lazy

import (
	"context"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

// Readable reports whether refs [first, last) of rec can be read now
// (every chunk missing here has a live holder, waiting for one as a read
// would), without reading them: the fetcher's Readable (fetch.Fetcher),
// or nil when the fetcher cannot tell. It records no read.
func (r *Reader) Readable(ctx context.Context, rec *recipe.Recipe, first, last int) error {
	if c, ok := r.f.(interface {
		Readable(ctx context.Context, rec *recipe.Recipe, first, last int) error
	}); ok {
		return c.Readable(ctx, rec, first, last)
	}
	return nil
}
