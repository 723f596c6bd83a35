package objects

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/nitro-cloud/nitro/chunkstore"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	glanceshim "github.com/nitro-cloud/nitro/glance-shim"
	"github.com/nitro-cloud/nitro/node/internal/namespace"
)

var _ glanceshim.Composer = (*Service)(nil)

// ComposeObject implements glanceshim.Composer: it stores a static large
// object without copying its content. The new recipe is the segments'
// refs in order: every chunk that lies wholly inside a part is reused as
// is (dedup untouched); the bytes of a chunk that a part's range cuts, and
// inline data, are written as new chunks (consecutive ones together, cut
// by the chunker). The recipe's MD5 is zero: nobody computed the MD5 of
// the content, and the record's ETag is the SLO ETag (opts.ETag).
//
// GC safety follows chunkstore.Store.GC's rule: the segment's recipe is
// pinned before it is looked up, the reused chunks and the new recipe are
// pinned before the new recipe is stored, and the pin is released only
// after the record naming the new recipe is committed. A segment whose
// record changed since the front end validated it (other ETag, deleted,
// or its recipe swept meanwhile) is glanceshim.ErrConflict and nothing is
// committed. Partial chunks this region lacks are read through the
// RemoteReader, as a GET would. The record replicates like a PUT's;
// this region holds the new recipe when it holds all its chunks.
//
// As PutObject, it ignores the cancellation of ctx.
func (s *Service) ComposeObject(ctx context.Context, account, container, object string, parts []glanceshim.ComposePart, opts glanceshim.ComposeOptions) (glanceshim.ObjectInfo, error) {
	ctx = context.WithoutCancel(ctx)
	k := namespace.ObjectKey(account, container, object)
	if err := k.Validate(); err != nil {
		return glanceshim.ObjectInfo{}, err
	}
	if _, err := s.ns.GetLive(ctx, namespace.ContainerKey(account, container)); err != nil {
		return glanceshim.ObjectInfo{}, notFound(err)
	}
	pin := s.store.NewPin()
	defer pin.Release()
	c := composer{s: s, ctx: ctx, pin: pin}
	for _, p := range parts {
		if err := c.add(account, p); err != nil {
			s.metrics.PutsAborted.Add(1)
			return glanceshim.ObjectInfo{}, noSpace(fmt.Errorf("objects: composing %v: %w", k, err))
		}
	}
	if err := c.flush(); err != nil {
		s.metrics.PutsAborted.Add(1)
		return glanceshim.ObjectInfo{}, noSpace(fmt.Errorf("objects: composing %v: %w", k, err))
	}
	rec := &recipe.Recipe{Refs: c.refs, Size: c.size}
	if rec.Size != opts.Size {
		return glanceshim.ObjectInfo{}, fmt.Errorf("objects: composing %v: parts add up to %d bytes, want %d", k, rec.Size, opts.Size)
	}
	if err := rec.Validate(); err != nil {
		return glanceshim.ObjectInfo{}, fmt.Errorf("objects: composing %v: %w", k, err)
	}
	ids := rec.Unique()
	pin.Chunks(ids...)
	pin.Recipe(rec.ID()) // before PutRecipe looks it up
	id, err := s.store.PutRecipe(ctx, rec)
	if err != nil {
		return glanceshim.ObjectInfo{}, noSpace(fmt.Errorf("objects: composing %v: %w", k, err))
	}
	missing, err := s.store.Missing(ctx, ids)
	if err != nil {
		return glanceshim.ObjectInfo{}, fmt.Errorf("objects: composing %v: %w", k, err)
	}
	if len(missing) == 0 {
		// The holding below may rest on chunks a read fetched (stored
		// without waiting for the disk): make them durable first.
		if err := s.store.Sync(ctx); err != nil {
			return glanceshim.ObjectInfo{}, fmt.Errorf("objects: composing %v: %w", k, err)
		}
	}
	ct := opts.ContentType
	if ct == "" {
		ct = defaultContentType
	}
	r := &namespace.Record{
		Key: k, Region: s.ns.Region(), Recipe: id, Size: rec.Size, ETag: opts.ETag,
		ContentType: ct, Meta: opts.Meta, Headers: opts.Headers, SLO: string(opts.SLOManifest),
	}
	if r.SLO == "" {
		r.SLO = "[]"
	}
	// Without missing chunks this region holds the recipe; with some, they
	// live only in other regions so far.
	applied, hold, err := s.commitObject(ctx, account, container, r, len(missing) == 0)
	pin.Release() // committed: the record protects the recipe from now on
	if err != nil {
		return glanceshim.ObjectInfo{}, noSpace(notFound(err))
	}
	s.metrics.ObjectsPut.Add(1)
	s.metrics.ChunkRefs.Add(int64(len(rec.Refs)))
	return s.committed(ctx, "compose", k, r, hold, applied)
}

// sloManifest is the record's SLO manifest for ObjectInfo (nil when the
// object is not an SLO).
func sloManifest(r *namespace.Record) []byte {
	if r.SLO == "" {
		return nil
	}
	return []byte(r.SLO)
}

// composer accumulates a composed recipe: refs so far and the bytes
// waiting to be written as new chunks.
type composer struct {
	s       *Service
	ctx     context.Context
	pin     *chunkstore.Pin
	refs    []recipe.Ref
	size    int64
	pending bytes.Buffer
}

// errSegmentChanged: a part's object is no longer what the front end
// validated.
var errSegmentChanged = fmt.Errorf("%w: segment changed", glanceshim.ErrConflict)

// add appends part p (of account's objects, or inline data).
func (c *composer) add(account string, p glanceshim.ComposePart) error {
	if p.Object == "" {
		c.pending.Write(p.Data)
		return nil
	}
	if p.Length == 0 {
		return nil
	}
	r, err := c.s.ns.GetLive(c.ctx, namespace.ObjectKey(account, p.Container, p.Object))
	if err != nil {
		if errors.Is(notFound(err), glanceshim.ErrNotFound) {
			return fmt.Errorf("%s/%s: %w", p.Container, p.Object, errSegmentChanged)
		}
		return err
	}
	if r.ETag != p.ETag || p.Offset < 0 || p.Offset+p.Length > r.Size || r.Recipe.IsZero() {
		return fmt.Errorf("%s/%s: etag %s size %d: %w", p.Container, p.Object, r.ETag, r.Size, errSegmentChanged)
	}
	c.pin.Recipe(r.Recipe) // before the lookup: GC keeps it and its chunks from now on
	rec, err := c.s.store.Recipe(c.ctx, r.Recipe)
	if errors.Is(err, chunkstore.ErrNotFound) {
		return fmt.Errorf("%s/%s: recipe %s gone: %w", p.Container, p.Object, r.Recipe, errSegmentChanged)
	}
	if err != nil {
		return err
	}
	first, last := c.s.store.Span(rec, p.Offset, p.Length)
	off := chunkOffset(rec, first)
	end := p.Offset + p.Length
	for i := first; i < last; i++ {
		ref := rec.Refs[i]
		cs, ce := off, off+int64(ref.Size)
		off = ce
		if cs >= p.Offset && ce <= end {
			if err := c.flush(); err != nil {
				return err
			}
			c.refs = append(c.refs, ref)
			c.size += int64(ref.Size)
			continue
		}
		a, b := max(cs, p.Offset), min(ce, end)
		if err := c.readInto(rec, a, b-a); err != nil {
			return fmt.Errorf("%s/%s: bytes %d-%d: %w", p.Container, p.Object, a, b-1, err)
		}
	}
	return nil
}

// chunkOffset is the byte offset of rec's ref i (O(i); once per part).
func chunkOffset(rec *recipe.Recipe, i int) int64 {
	var off int64
	for _, ref := range rec.Refs[:i] {
		off += int64(ref.Size)
	}
	return off
}

// readInto appends rec's bytes [off, off+n) (part of one chunk) to the
// pending bytes, verified, fetched from peers if this region lacks them.
func (c *composer) readInto(rec *recipe.Recipe, off, n int64) error {
	var src chunkstore.ChunkSource
	if c.s.remote != nil {
		first, last := c.s.store.Span(rec, off, n)
		var err error
		if src, err = c.s.remote.Source(c.ctx, rec, first, last); err != nil {
			return fmt.Errorf("%w: %v", glanceshim.ErrUnavailable, err)
		}
	}
	rc, err := c.s.store.NewReader(c.ctx, rec, off, n, src)
	if err != nil {
		return err
	}
	defer rc.Close()
	got, err := io.Copy(&c.pending, rc)
	if err == nil && got != n {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// flush writes the pending bytes as new chunks (pinned) and appends
// their refs.
func (c *composer) flush() error {
	if c.pending.Len() == 0 {
		return nil
	}
	if err := c.s.store.CheckSpace(int64(c.pending.Len())); err != nil {
		return err
	}
	rec, _, err := c.s.store.WritePinned(c.ctx, &c.pending, c.pin)
	if err != nil {
		return err
	}
	c.pending.Reset()
	c.refs = append(c.refs, rec.Refs...)
	c.size += rec.Size
	return nil
}
