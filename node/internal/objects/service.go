// Package objects is Nitro's object service: it implements the Swift front
// end's glanceshim.Backend over the content layer (chunkstore: bytes as
// recipes of chunks) and the namespace layer (records naming recipes).
//
// Every write follows one order: store the content (chunks, recipe), then
// commit the record locally with namespace LWW, then hand the record to the
// Replicator, then answer the client. The content is pinned against GC
// from before it is looked up until the record is committed. A write that
// fails before the commit leaves only unreferenced chunks and recipes,
// which GC sweeps after its grace period.
package objects

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	glanceshim "github.com/nitro-cloud/nitro/glance-shim"
	"github.com/nitro-cloud/nitro/node/internal/namespace"
	"go.uber.org/zap"
)

// Store is what the service needs from the content layer;
// *chunkstore.Store implements it.
type Store interface {
	// NewPin and WritePinned: a PUT pins what it writes and relies on
	// until its record is committed, so GC cannot sweep it in between
	// (see chunkstore.Store.GC).
	NewPin() *chunkstore.Pin
	WritePinned(ctx context.Context, r io.Reader, p *chunkstore.Pin) (*recipe.Recipe, recipe.ID, error)
	Recipe(ctx context.Context, id recipe.ID) (*recipe.Recipe, error)
	NewReader(ctx context.Context, rec *recipe.Recipe, off, length int64, src chunkstore.ChunkSource) (io.ReadCloser, error)
	// Span is recipe.Span over rec's offsets, O(log n) for a recipe
	// Recipe returned (cached with its offset index).
	Span(rec *recipe.Recipe, off, length int64) (first, last int)
	// CheckSpace reports (chunkstore.ErrNoSpace) whether about n more
	// bytes of content would cross the disk's free-space reserve.
	CheckSpace(n int64) error
	// PutRecipe stores a recipe built from stored recipes' refs (a
	// composed SLO; the caller pins it first) and Missing says which
	// chunks are not stored here (compose.go).
	PutRecipe(ctx context.Context, rec *recipe.Recipe) (recipe.ID, error)
	Missing(ctx context.Context, ids []recipe.ChunkID) ([]recipe.ChunkID, error)
	// Sync makes the chunks stored so far durable, those a fetch stored
	// without waiting for the disk (chunkstore.Store.Receive) included;
	// a compose that writes the region's holding calls it first.
	Sync(ctx context.Context) error
}

var _ Store = (*chunkstore.Store)(nil)

// Replicator pushes records committed locally to the other regions. The
// service calls it after every local write that changed the namespace and
// before it answers the client, so Replicate may block (it should bound
// itself with a timeout). It returns nil once the records are safe by its
// own policy (peers that missed them catch up by anti-entropy); an error
// makes the client's request fail with 503 although the records stay
// committed locally. The first record is the one the client's request
// wrote; a PUT adds the region's holding of the new recipe. For an object
// the record names a recipe that is in the local store (Store.Recipe) and
// that peers need too.
type Replicator interface {
	Replicate(ctx context.Context, recs ...namespace.Record) error
}

// RemoteReader supplies chunks that are missing locally. For a read of
// refs [first, last) of rec, Source returns a ChunkSource that yields each
// of those refs, fetching the chunks this region lacks from peers (and
// keeping them). The service passes it to Store.NewReader.
type RemoteReader interface {
	Source(ctx context.Context, rec *recipe.Recipe, first, last int) (chunkstore.ChunkSource, error)
}

// Metrics are the service's counters since it started. Safe to read
// concurrently with the service's use.
type Metrics struct {
	BytesIn     atomic.Int64 // object body bytes stored by PUTs that committed
	BytesOut    atomic.Int64 // object bytes returned by OpenObject readers
	ObjectsPut  atomic.Int64 // object PUTs committed
	ChunkRefs   atomic.Int64 // chunk refs of the recipes of committed PUTs
	PutsAborted atomic.Int64 // PUTs whose body failed or whose ETag mismatched
	Deletes     atomic.Int64 // object DELETEs committed
	ReplErrors  atomic.Int64 // Replicate calls that failed
}

// Service implements glanceshim.Backend. Safe for concurrent use.
type Service struct {
	store   Store
	ns      *namespace.Namespace
	repl    Replicator   // nil: single region
	remote  RemoteReader // nil: local store only
	log     *zap.Logger
	metrics Metrics
	commits keyLocks // one local committer per record key
}

var _ glanceshim.Backend = (*Service)(nil)

// New returns the object service over store and ns. repl and remote may be
// nil (a single-region node).
func New(store Store, ns *namespace.Namespace, repl Replicator, remote RemoteReader, log *zap.Logger) (*Service, error) {
	if store == nil || ns == nil {
		return nil, errors.New("objects: nil store or namespace")
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &Service{store: store, ns: ns, repl: repl, remote: remote, log: log}, nil
}

// Metrics returns the service's live counters.
func (s *Service) Metrics() *Metrics { return &s.metrics }

// replicate hands rec and more to the Replicator, if any.
func (s *Service) replicate(ctx context.Context, rec *namespace.Record, more ...*namespace.Record) error {
	if s.repl == nil {
		return nil
	}
	recs := []namespace.Record{*rec.Clone()}
	for _, m := range more {
		recs = append(recs, *m.Clone())
	}
	if err := s.repl.Replicate(ctx, recs...); err != nil {
		s.metrics.ReplErrors.Add(1)
		s.log.Warn("replicate", zap.Stringer("key", rec.Key), zap.Error(err))
		return fmt.Errorf("%w: replicating %v: %v", glanceshim.ErrUnavailable, rec.Key, err)
	}
	return nil
}

// notFound maps the namespace's "absent" and "invalid name" errors (a name
// that cannot be stored does not exist) to glanceshim.ErrNotFound, and a
// commit that still conflicted after its retries (chunkstore.ErrConflict)
// to glanceshim.ErrUnavailable: 503, which Swift clients retry, since
// nothing was committed.
func notFound(err error) error {
	if errors.Is(err, namespace.ErrNotFound) || errors.Is(err, namespace.ErrInvalidName) {
		return fmt.Errorf("%w: %v", glanceshim.ErrNotFound, err)
	}
	if errors.Is(err, chunkstore.ErrConflict) {
		return fmt.Errorf("%w: %v", glanceshim.ErrUnavailable, err)
	}
	return err
}

// noSpace maps the store's chunkstore.ErrNoSpace (the disk's free-space
// reserve would be crossed) to glanceshim.ErrInsufficientStorage (507);
// other errors pass unchanged.
func noSpace(err error) error {
	if errors.Is(err, chunkstore.ErrNoSpace) {
		return fmt.Errorf("%w: %w", glanceshim.ErrInsufficientStorage, err)
	}
	return err
}

// nsTime converts an X-Timestamp in unix nanoseconds to a time (zero for
// 0).
func nsTime(ts int64) time.Time {
	if ts == 0 {
		return time.Time{}
	}
	return time.Unix(0, ts)
}
