package glanceshim

import (
	"context"
	"sync"
)

// ReadableChecker is implemented by a Backend that can tell, without
// reading them, whether an object's bytes [off, off+length) can be read
// now (Nitro's object service: every chunk held here or by a live
// holder, waiting a while for one to come back). A DLO GET checks every
// segment it covers before its first byte, since it opens the segments
// one after another mid-body: a segment that cannot be read is then
// Swift's 503 before the body, not a body cut short. Errors wrap the
// Backend sentinels (ErrUnavailable).
type ReadableChecker interface {
	CheckReadable(ctx context.Context, account, container, object string, off, length int64) error
}

// dloCheckParallel bounds the segments checked at once.
const dloCheckParallel = 8

// checkSegments checks, when the backend can (ReadableChecker), that
// every segment of segs covered by [off, off+n) of their concatenation
// can be read; the first error in segment order.
func checkSegments(ctx context.Context, b Backend, account, container string, segs []ObjectInfo, off, n int64) error {
	rc, ok := b.(ReadableChecker)
	if !ok || n <= 0 {
		return nil
	}
	type span struct {
		name      string
		off, size int64
	}
	var spans []span
	for _, s := range segs {
		if n <= 0 {
			break
		}
		if off >= s.Size {
			off -= s.Size
			continue
		}
		k := min(s.Size-off, n)
		spans = append(spans, span{s.Name, off, k})
		off, n = 0, n-k
	}
	errs := make([]error, len(spans))
	sem := make(chan struct{}, dloCheckParallel)
	var wg sync.WaitGroup
	for i, sp := range spans {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = rc.CheckReadable(ctx, account, container, sp.name, sp.off, sp.size)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
