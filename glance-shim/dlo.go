package glanceshim

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// Dynamic large objects: Swift's dlo middleware
// (swift/common/middleware/dlo.py). A manifest is an object, usually
// empty, stored with X-Object-Manifest "<container>/<prefix>"; a GET or
// HEAD of it returns the objects of <container> whose names start with
// <prefix>, concatenated in name (byte) order, listed at request time.

// parseManifestHeader validates an X-Object-Manifest request value and
// returns it URL-decoded (the value may be percent-encoded: rclone and
// swiftclient quote it). It must be "<container>/<prefix>" with a valid
// container name, else 400 (Swift: "X-Object-Manifest must be in the
// format container/prefix").
func parseManifestHeader(v string) (string, error) {
	dec, err := url.PathUnescape(strings.TrimSpace(v))
	if err != nil {
		return "", badRequestHTML("X-Object-Manifest must be in the format container/prefix")
	}
	if _, _, err := splitManifest(dec); err != nil {
		return "", err
	}
	return dec, nil
}

// splitManifest splits a decoded manifest value into the segments'
// container and name prefix.
func splitManifest(m string) (container, prefix string, err error) {
	container, prefix, ok := strings.Cut(m, "/")
	if !ok || container == "" {
		return "", "", badRequestHTML("X-Object-Manifest must be in the format container/prefix")
	}
	if err := checkName(container, "Container", MaxContainerNameLength); err != nil {
		return "", "", err
	}
	if err := checkName(prefix, "Object", MaxObjectNameLength); err != nil {
		return "", "", err
	}
	return container, prefix, nil
}

// dloSegments lists every segment of a manifest, page by page (marker),
// up to Config.MaxDLOSegments (409 beyond).
func (q *request) dloSegments(ctx context.Context, container, prefix string) ([]ObjectInfo, error) {
	var segs []ObjectInfo
	opts := ListOptions{Prefix: prefix, Limit: ContainerListingMax}
	for {
		page, err := q.s.backend.ListObjects(ctx, q.p.Account, container, opts)
		if err != nil {
			return nil, err
		}
		for _, o := range page {
			if o.Subdir == "" {
				segs = append(segs, o)
			}
		}
		if len(segs) > q.s.cfg.MaxDLOSegments {
			return nil, httpErr(http.StatusConflict, fmt.Sprintf("Too many segments; max %d", q.s.cfg.MaxDLOSegments))
		}
		if len(page) < opts.Limit {
			return segs, nil
		}
		opts.Marker = page[len(page)-1].Name
		if opts.Marker == "" {
			opts.Marker = page[len(page)-1].Subdir
		}
	}
}

// dloETag is Swift's DLO ETag: the MD5 of the concatenated segment ETags
// (hex, as listed), quoted.
func dloETag(segs []ObjectInfo) string {
	h := md5.New()
	for _, s := range segs {
		io.WriteString(h, strings.Trim(s.ETag, `"`))
	}
	return `"` + hex.EncodeToString(h.Sum(nil)) + `"`
}

// dloRegions returns the regions that hold every segment of a manifest:
// the intersection of the segments' ObjectInfo.Regions, each from
// Backend.Object (local lookups for Nitro's backend); nil when there are
// no segments or a segment's regions are unknown.
func (q *request) dloRegions(ctx context.Context, container string, segs []ObjectInfo) []string {
	var out []string
	for i, s := range segs {
		info, err := q.s.backend.Object(ctx, q.p.Account, container, s.Name)
		if err != nil || info.Regions == nil {
			return nil
		}
		if i == 0 {
			out = slices.Clone(info.Regions)
			continue
		}
		out = slices.DeleteFunc(out, func(r string) bool { return !slices.Contains(info.Regions, r) })
	}
	return out
}

// getDLO serves GET or HEAD of the manifest described by info: headers of
// the manifest with Content-Length the segments' total, the quoted DLO
// ETag, X-Object-Manifest echoed; conditionals and one Range over the
// concatenation.
func (q *request) getDLO(info ObjectInfo) error {
	ctx := q.r.Context()
	container, prefix, err := splitManifest(info.Manifest)
	if err != nil {
		return fmt.Errorf("stored manifest %q: %v: %w", info.Manifest, err, ErrConflict)
	}
	if q.tu != nil {
		if err := q.tu.authorize(q.p.Account, container); err != nil {
			return err
		}
	} else if !q.isOwner() && container != q.p.Container {
		ci, err := q.s.backend.Container(ctx, q.p.Account, container)
		if err != nil {
			return err
		}
		if err := q.authorizeContainer(ci.Meta, false, false); err != nil {
			return err
		}
	}
	segs, err := q.dloSegments(ctx, container, prefix)
	if err != nil {
		return err
	}
	var total int64
	for _, s := range segs {
		total += s.Size
	}
	etag := dloETag(segs)
	info.Regions = q.dloRegions(ctx, container, segs)
	q.objectHeaders(info, etag)
	if st := q.conditional(etag, info.Timestamp); st != 0 {
		return q.writeConditional(st)
	}
	rg, status, err := q.pickRange(total, etag, info.Timestamp)
	if err != nil {
		return err
	}
	if q.r.Method != http.MethodHead {
		// Every segment before the first byte (dlo_readable.go).
		if err := checkSegments(ctx, q.s.backend, q.p.Account, container, segs, rg.Start, rg.Length); err != nil {
			return err
		}
	}
	q.w.Header().Set("Content-Length", itoa(rg.Length))
	q.w.WriteHeader(status)
	if q.r.Method == http.MethodHead {
		return nil
	}
	sr := newSegmentReader(ctx, q.s.backend, q.p.Account, container, segs, rg.Start, rg.Length)
	defer sr.Close()
	return q.streamExactly(sr, rg.Length, "dlo "+q.p.Object)
}

// segmentReader reads [off, off+n) of the concatenation of segs, opening
// only the segments that the range covers, one after another, each with
// its sub-range. A segment whose ETag changed since the listing, or that
// ends early, is a read error (Swift: "Object segment no longer valid").
type segmentReader struct {
	ctx       context.Context
	b         Backend
	account   string
	container string
	segs      []ObjectInfo
	i         int   // next segment to open
	skip      int64 // bytes of segs[i] to skip
	left      int64 // bytes still to return
	cur       io.ReadCloser
	curLeft   int64 // bytes still expected from cur
	curName   string
}

func newSegmentReader(ctx context.Context, b Backend, account, container string, segs []ObjectInfo, off, n int64) *segmentReader {
	r := &segmentReader{ctx: ctx, b: b, account: account, container: container, segs: segs, left: n}
	for r.i < len(segs) && off >= segs[r.i].Size {
		off -= segs[r.i].Size
		r.i++
	}
	r.skip = off
	return r
}

func (r *segmentReader) Read(p []byte) (int, error) {
	for r.cur == nil || r.curLeft == 0 {
		if r.left == 0 {
			return 0, io.EOF
		}
		if r.cur != nil {
			r.cur.Close()
			r.cur = nil
		}
		if r.i >= len(r.segs) {
			return 0, fmt.Errorf("dlo: %d bytes missing after the last segment: %w", r.left, io.ErrUnexpectedEOF)
		}
		s := r.segs[r.i]
		r.i++
		n := s.Size - r.skip
		if n > r.left {
			n = r.left
		}
		if n <= 0 {
			r.skip = 0
			continue
		}
		rc, info, err := r.b.OpenObject(r.ctx, r.account, r.container, s.Name, r.skip, n)
		if err != nil {
			return 0, fmt.Errorf("dlo segment %s: %w", s.Name, err)
		}
		if info.ETag != s.ETag {
			rc.Close()
			return 0, fmt.Errorf("dlo segment %s no longer valid: etag %s, listed %s", s.Name, info.ETag, s.ETag)
		}
		r.cur, r.curLeft, r.curName, r.skip = rc, n, s.Name, 0
	}
	if int64(len(p)) > r.curLeft {
		p = p[:r.curLeft]
	}
	m, err := r.cur.Read(p)
	r.curLeft -= int64(m)
	r.left -= int64(m)
	if err == io.EOF {
		if r.curLeft > 0 {
			return m, fmt.Errorf("dlo segment %s: %d bytes short: %w", r.curName, r.curLeft, io.ErrUnexpectedEOF)
		}
		err = nil
	}
	if err != nil {
		return m, fmt.Errorf("dlo segment %s: %w", r.curName, err)
	}
	return m, nil
}

// Close closes the open segment, if any.
func (r *segmentReader) Close() error {
	if r.cur != nil {
		err := r.cur.Close()
		r.cur = nil
		return err
	}
	return nil
}
