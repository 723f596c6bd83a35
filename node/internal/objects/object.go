package objects

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/nitro-cloud/nitro/chunkstore"
	glanceshim "github.com/nitro-cloud/nitro/glance-shim"
	"github.com/nitro-cloud/nitro/node/internal/namespace"
	"go.uber.org/zap"
)

// defaultContentType is what Swift stores when a PUT names none.
const defaultContentType = "application/octet-stream"

// ListObjects lists the container's live objects in byte order;
// ErrNotFound if the container is absent. Cost: see namespace.List.
func (s *Service) ListObjects(ctx context.Context, account, container string, opts glanceshim.ListOptions) ([]glanceshim.ObjectInfo, error) {
	if _, err := s.ns.GetLive(ctx, namespace.ContainerKey(account, container)); err != nil {
		return nil, notFound(err)
	}
	entries, err := s.ns.List(ctx, namespace.ContainerKey(account, container), listOptions(opts))
	if err != nil {
		return nil, notFound(err)
	}
	out := make([]glanceshim.ObjectInfo, len(entries))
	for i, e := range entries {
		if e.Subdir != "" {
			out[i] = glanceshim.ObjectInfo{Subdir: e.Subdir}
			continue
		}
		out[i] = objectInfo(e.Record)
	}
	return out, nil
}

func objectInfo(r *namespace.Record) glanceshim.ObjectInfo {
	return glanceshim.ObjectInfo{
		Name: r.Object, Size: r.Size, ETag: r.ETag, ContentType: r.ContentType,
		Timestamp: nsTime(r.Timestamp), Meta: r.Meta, Headers: r.Headers, Manifest: r.Manifest,
		SLOManifest: sloManifest(r), Version: r,
	}
}

// countingReader counts the bytes read through it into n. It also wraps
// io.ErrUnexpectedEOF (what net/http returns for a body cut short): the
// chunker compares read errors with io.ErrUnexpectedEOF by equality and
// takes it for a short read, so the bare error would make it read again
// forever.
type countingReader struct {
	r io.Reader
	n int64
}

// errTruncated wraps io.ErrUnexpectedEOF from a request body.
var errTruncated = fmt.Errorf("objects: request body truncated: %w", io.ErrUnexpectedEOF)

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err == io.ErrUnexpectedEOF { //nolint:errorlint // the chunker's exact comparison
		err = errTruncated
	}
	return n, err
}

// PutObject stores body and commits the object record; see
// glanceshim.Backend. Nothing is committed if the container is absent
// (ErrNotFound, checked before reading the body and again at the commit),
// if reading body fails (that error, wrapped), if fewer or more bytes than
// a declared opts.Size arrive, or if opts.ETag differs from the body's MD5
// (ErrETagMismatch).
//
// PutObject ignores the cancellation of ctx, as Swift does: a body that
// arrived in full is committed even if the client hangs up before the
// answer (a client that hangs up mid-body makes reading body fail).
func (s *Service) PutObject(ctx context.Context, account, container, object string, body io.Reader, opts glanceshim.PutOptions) (glanceshim.ObjectInfo, error) {
	ctx = context.WithoutCancel(ctx)
	k := namespace.ObjectKey(account, container, object)
	if err := k.Validate(); err != nil {
		return glanceshim.ObjectInfo{}, err
	}
	if _, err := s.ns.GetLive(ctx, namespace.ContainerKey(account, container)); err != nil {
		return glanceshim.ObjectInfo{}, notFound(err)
	}
	// A body of known size that would cross the disk's reserve is refused
	// before it is read (Swift's fallocate_reserve); any other is charged
	// chunk by chunk as it is stored, and Write fails where it crosses.
	if err := s.store.CheckSpace(max(opts.Size, 0)); err != nil {
		s.metrics.PutsAborted.Add(1)
		return glanceshim.ObjectInfo{}, noSpace(fmt.Errorf("objects: storing %v: %w", k, err))
	}
	cr := &countingReader{r: body}
	// The pin keeps GC off the recipe and the chunks until the record
	// naming them is committed (chunkstore.Store.GC says why that
	// suffices); released on every path, after the commit at the latest.
	pin := s.store.NewPin()
	defer pin.Release()
	rec, id, err := s.store.WritePinned(ctx, cr, pin)
	if err != nil {
		s.metrics.PutsAborted.Add(1)
		return glanceshim.ObjectInfo{}, noSpace(fmt.Errorf("objects: storing %v: %w", k, err))
	}
	if opts.Size >= 0 && rec.Size != opts.Size {
		s.metrics.PutsAborted.Add(1)
		return glanceshim.ObjectInfo{}, fmt.Errorf("objects: %v: got %d bytes, Content-Length says %d: %w", k, rec.Size, opts.Size, io.ErrUnexpectedEOF)
	}
	if want := normETag(opts.ETag); want != "" && want != rec.ETag() {
		s.metrics.PutsAborted.Add(1)
		return glanceshim.ObjectInfo{}, fmt.Errorf("%w: %v: client says %s, body is %s", glanceshim.ErrETagMismatch, k, want, rec.ETag())
	}
	ct := opts.ContentType
	if ct == "" {
		ct = defaultContentType
	}
	r := &namespace.Record{
		Key: k, Region: s.ns.Region(), Recipe: id, Size: rec.Size, ETag: rec.ETag(),
		ContentType: ct, Meta: opts.Meta, Headers: opts.Headers, Manifest: opts.Manifest,
	}
	// Write just stored every chunk here: this region is complete.
	applied, hold, err := s.commitObject(ctx, account, container, r, true)
	pin.Release() // committed: the record protects the recipe from now on
	if err != nil {
		// The recipe and chunks Write stored are named by no record: GC
		// sweeps them once older than its grace, as after a failed body.
		return glanceshim.ObjectInfo{}, noSpace(notFound(err))
	}
	s.metrics.ObjectsPut.Add(1)
	s.metrics.BytesIn.Add(cr.n)
	s.metrics.ChunkRefs.Add(int64(len(rec.Refs)))
	return s.committed(ctx, "put", k, r, hold, applied)
}

// commitObject applies r, a new version of an object in account/container
// (r.Key), in one namespace transaction under the key's commit lock,
// stamping r.Timestamp; with holds it also writes this region's holding
// of r.Recipe (every chunk is stored here) and returns it. applied is
// false when a newer record already held the name (see committed).
// Errors: namespace.ErrNotFound (wrapped) when the container is absent or
// deleted, the transaction's.
func (s *Service) commitObject(ctx context.Context, account, container string, r *namespace.Record, holds bool) (applied bool, hold *namespace.Record, err error) {
	unlock := s.commits.lock(r.Key.Bytes())
	defer unlock()
	err = s.ns.Update(ctx, func(t *namespace.Txn) error {
		c, err := t.Get(namespace.ContainerKey(account, container))
		if err != nil {
			return err
		}
		if c.Deleted {
			return fmt.Errorf("%w: container %s/%s deleted", namespace.ErrNotFound, account, container)
		}
		r.Timestamp = s.ns.Now()
		if applied, err = t.Apply(r); err != nil {
			return err
		}
		hold = nil
		if holds {
			hold, err = t.Hold(r.Recipe, r.Timestamp)
		}
		return err
	})
	return applied, hold, err
}

// committed finishes a write (what: "put", "compose") whose record r (and
// this region's holding hold, nil if none) the local transaction has
// committed: when applied is false a newer record (a replicated write
// stamped by a clock ahead of ours) already held the name, last writer
// wins and ours lost; else r and hold are pushed to the live regions and
// r's ObjectInfo returned with the regions holding it.
func (s *Service) committed(ctx context.Context, what string, k namespace.Key, r, hold *namespace.Record, applied bool) (glanceshim.ObjectInfo, error) {
	if !applied {
		s.log.Info(what+" lost to a newer record", zap.Stringer("key", k))
		return objectInfo(r), nil
	}
	var more []*namespace.Record
	if hold != nil {
		more = append(more, hold)
	}
	if err := s.replicate(ctx, r, more...); err != nil {
		return glanceshim.ObjectInfo{}, err
	}
	info := objectInfo(r)
	info.Regions = s.regions(ctx, r)
	return info, nil
}

// regions returns the regions whose holdings name r's recipe (see
// glanceshim.ObjectInfo.Regions), from local records only; nil for an
// object without content of its own (a manifest, an empty object written
// before holdings existed) or when the lookup fails (logged: the regions
// are advisory, never worth failing a request).
func (s *Service) regions(ctx context.Context, r *namespace.Record) []string {
	if r.Recipe.IsZero() {
		return nil
	}
	regions, err := s.ns.Holders(ctx, r.Recipe)
	if err != nil {
		s.log.Warn("holdings lookup", zap.Stringer("key", r.Key), zap.Error(err))
		return nil
	}
	return regions
}

// normETag strips quotes and lower-cases a client's ETag header value.
func normETag(e string) string {
	return strings.ToLower(strings.Trim(strings.TrimSpace(e), `"`))
}

// PostObject replaces the object's user metadata and stored headers, and
// its content type and manifest when opts sets them; ErrNotFound if
// absent. The write gets a new timestamp (Last-Modified changes, as with
// Swift's fast POST).
func (s *Service) PostObject(ctx context.Context, account, container, object string, opts glanceshim.PutOptions) error {
	rec, err := s.modify(ctx, namespace.ObjectKey(account, container, object), func(r *namespace.Record) error {
		r.Meta, r.Headers = opts.Meta, opts.Headers
		if opts.ContentType != "" {
			r.ContentType = opts.ContentType
		}
		r.Manifest = opts.Manifest // fast-post: a POST without it ends a DLO
		return nil
	})
	if err != nil {
		return err
	}
	return s.replicate(ctx, rec)
}

// Object returns the object's info, with the regions that hold all of
// its content (local records only: one key read and one short prefix
// scan); ErrNotFound if absent.
func (s *Service) Object(ctx context.Context, account, container, object string) (glanceshim.ObjectInfo, error) {
	r, err := s.ns.GetLive(ctx, namespace.ObjectKey(account, container, object))
	if err != nil {
		return glanceshim.ObjectInfo{}, notFound(err)
	}
	info := objectInfo(r)
	info.Regions = s.regions(ctx, r)
	return info, nil
}

// OpenObject returns a reader of the object's bytes [off, off+length)
// (length < 0: to the end; the range is clipped to the object). Chunks
// come from the RemoteReader's source when one is set, else from the local
// store; every chunk is verified by the store's reader. A recipe that is
// not in the local store is ErrUnavailable.
func (s *Service) OpenObject(ctx context.Context, account, container, object string, off, length int64) (io.ReadCloser, glanceshim.ObjectInfo, error) {
	r, err := s.ns.GetLive(ctx, namespace.ObjectKey(account, container, object))
	if err != nil {
		return nil, glanceshim.ObjectInfo{}, notFound(err)
	}
	info := objectInfo(r)
	info.Regions = s.regions(ctx, r) // as of the open: a fetch this read starts is not in it
	rc, err := s.openRecord(ctx, r, off, length)
	return rc, info, err
}

// OpenVersion implements glanceshim.VersionOpener: OpenObject of the
// object version info.Version (the *namespace.Record Object or
// OpenObject returned), without reading the record again.
func (s *Service) OpenVersion(ctx context.Context, info glanceshim.ObjectInfo, off, length int64) (io.ReadCloser, error) {
	r, ok := info.Version.(*namespace.Record)
	if !ok || r.Deleted {
		return nil, fmt.Errorf("%w: no object version in %q's info", glanceshim.ErrUnavailable, info.Name)
	}
	return s.openRecord(ctx, r, off, length)
}

var _ glanceshim.VersionOpener = (*Service)(nil)

// openRecord opens the bytes [off, off+length) of the object record r
// names; see OpenObject.
func (s *Service) openRecord(ctx context.Context, r *namespace.Record, off, length int64) (io.ReadCloser, error) {
	if off < 0 {
		off = 0
	}
	if length < 0 || off+length > r.Size {
		length = r.Size - off
	}
	if length <= 0 || r.Recipe.IsZero() {
		return io.NopCloser(strings.NewReader("")), nil
	}
	rec, err := s.store.Recipe(ctx, r.Recipe)
	if errors.Is(err, chunkstore.ErrNotFound) {
		s.log.Error("object names a recipe the store lacks", zap.Stringer("key", r.Key), zap.Stringer("recipe", r.Recipe))
		return nil, fmt.Errorf("%w: recipe %s of %v is not here", glanceshim.ErrUnavailable, r.Recipe, r.Key)
	}
	if err != nil {
		return nil, err
	}
	var src chunkstore.ChunkSource
	if s.remote != nil {
		first, last := s.store.Span(rec, off, length)
		src, err = s.remote.Source(ctx, rec, first, last)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", glanceshim.ErrUnavailable, err)
		}
	}
	rc, err := s.store.NewReader(ctx, rec, off, length, src)
	if err != nil {
		return nil, err
	}
	return &countingReadCloser{rc: rc, n: &s.metrics.BytesOut}, nil
}

// countingReadCloser adds the bytes read through it to n as they are
// read.
type countingReadCloser struct {
	rc io.ReadCloser
	n  interface{ Add(int64) int64 }
}

func (c *countingReadCloser) Read(p []byte) (int, error) {
	n, err := c.rc.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (c *countingReadCloser) Close() error { return c.rc.Close() }

// DeleteObject writes the object's tombstone; ErrNotFound if absent. The
// chunks stay until GC finds them unreferenced.
func (s *Service) DeleteObject(ctx context.Context, account, container, object string) error {
	k := namespace.ObjectKey(account, container, object)
	tomb, err := s.updateLive(ctx, k, func(*namespace.Txn, *namespace.Record) (*namespace.Record, error) {
		return &namespace.Record{Key: k, Timestamp: s.ns.Now(), Region: s.ns.Region(), Deleted: true}, nil
	})
	if err != nil {
		return err
	}
	s.metrics.Deletes.Add(1)
	return s.replicate(ctx, tomb)
}

// CopyObject implements glanceshim.ObjectCopier: the destination record
// names the source's recipe (or manifest) as it is now, so nothing is
// read, chunked or stored again; size and ETag are the source's, content
// type, metadata and headers come from opts. ErrNotFound if the source
// object or the destination container is absent.
//
// The recipe is pinned before the source record that names it is read in
// the commit's transaction, and released after the commit, as a PUT does
// (see Store.NewPin), so GC cannot sweep it if the source is deleted or
// overwritten meanwhile.
func (s *Service) CopyObject(ctx context.Context, account, srcContainer, srcObject, dstContainer, dstObject string, opts glanceshim.PutOptions) (glanceshim.ObjectInfo, error) {
	ctx = context.WithoutCancel(ctx)
	sk := namespace.ObjectKey(account, srcContainer, srcObject)
	dk := namespace.ObjectKey(account, dstContainer, dstObject)
	if err := dk.Validate(); err != nil {
		return glanceshim.ObjectInfo{}, err
	}
	src, err := s.ns.GetLive(ctx, sk)
	if err != nil {
		return glanceshim.ObjectInfo{}, notFound(err)
	}
	pin := s.store.NewPin()
	defer pin.Release()
	if !src.Recipe.IsZero() {
		pin.Recipe(src.Recipe)
	}
	ct := opts.ContentType
	if ct == "" {
		ct = defaultContentType
	}
	var r *namespace.Record
	var applied bool
	unlock := s.commits.lock(dk.Bytes())
	err = s.ns.Update(ctx, func(t *namespace.Txn) error {
		cur, err := t.Get(sk)
		if err != nil {
			return err
		}
		if cur.Deleted || cur.Recipe != src.Recipe {
			// Deleted or overwritten since the pin: its recipe is not
			// pinned, and the copy would not be of what was asked.
			return fmt.Errorf("%w: %v changed during the copy", namespace.ErrNotFound, sk)
		}
		c, err := t.Get(namespace.ContainerKey(account, dstContainer))
		if err != nil {
			return err
		}
		if c.Deleted {
			return fmt.Errorf("%w: container %s/%s deleted", namespace.ErrNotFound, account, dstContainer)
		}
		// A clone keeps every content field (recipe, size, ETag,
		// manifests) as the source has it; only the name, the write and
		// the metadata are the copy's own.
		r = cur.Clone()
		r.Key, r.Region, r.Timestamp = dk, s.ns.Region(), s.ns.Now()
		r.ContentType, r.Meta, r.Headers = ct, opts.Meta, opts.Headers
		applied, err = t.Apply(r)
		return err
	})
	unlock()
	pin.Release()
	if err != nil {
		return glanceshim.ObjectInfo{}, noSpace(notFound(err))
	}
	s.metrics.ObjectsPut.Add(1)
	if !applied {
		s.log.Info("copy lost to a newer record", zap.Stringer("key", dk))
		return objectInfo(r), nil
	}
	if err := s.replicate(ctx, r); err != nil {
		return glanceshim.ObjectInfo{}, err
	}
	return objectInfo(r), nil
}

var _ glanceshim.ObjectCopier = (*Service)(nil)
