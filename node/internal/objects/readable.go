package objects

import (
	"context"
	"errors"
	"fmt"

	"github.com/nitro-cloud/nitro/chunkstore"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	glanceshim "github.com/nitro-cloud/nitro/glance-shim"
	"github.com/nitro-cloud/nitro/node/internal/namespace"
)

// readableChecker is what CheckReadable needs of the RemoteReader
// (lazy.Reader, fetch.Fetcher).
type readableChecker interface {
	// Readable reports whether refs [first, last) of rec can be read
	// now, waiting a while for a live holder of chunks that have none.
	Readable(ctx context.Context, rec *recipe.Recipe, first, last int) error
}

// CheckReadable implements glanceshim.ReadableChecker: whether the
// object's bytes [off, off+length) (length < 0: to the end) can be read
// now, every chunk of them held here or by a live holder (waiting for
// one up to the fetcher's holder wait), without reading them. ErrNotFound
// for an absent object; ErrUnavailable (wrapped) when a chunk has no live
// holder or the recipe is not here. nil without a RemoteReader that can
// tell (a node alone: the store's reads say it).
func (s *Service) CheckReadable(ctx context.Context, account, container, object string, off, length int64) error {
	rc, ok := s.remote.(readableChecker)
	if !ok {
		return nil
	}
	r, err := s.ns.GetLive(ctx, namespace.ObjectKey(account, container, object))
	if err != nil {
		return notFound(err)
	}
	off = max(off, 0)
	if length < 0 || off+length > r.Size {
		length = r.Size - off
	}
	if length <= 0 || r.Recipe.IsZero() {
		return nil
	}
	rec, err := s.store.Recipe(ctx, r.Recipe)
	if errors.Is(err, chunkstore.ErrNotFound) {
		return fmt.Errorf("%w: recipe %s of %v is not here", glanceshim.ErrUnavailable, r.Recipe, r.Key)
	}
	if err != nil {
		return err
	}
	first, last := s.store.Span(rec, off, length)
	if err := rc.Readable(ctx, rec, first, last); err != nil {
		return fmt.Errorf("%w: %v", glanceshim.ErrUnavailable, err)
	}
	return nil
}

var _ glanceshim.ReadableChecker = (*Service)(nil)
