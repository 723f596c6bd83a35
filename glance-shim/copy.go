package glanceshim

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strings"
)

// Server-side copy (Swift's copy middleware, swift/common/middleware/
// copy.py): COPY with Destination: <container>/<object> (and
// Destination-Account), or PUT with X-Copy-From: <container>/<object>
// (and X-Copy-From-Account). A DLO source is copied as its concatenation
// unless ?multipart-manifest=get, which copies the manifest itself. The
// copy keeps the source's metadata and content type, overridden by the
// request's (X-Fresh-Metadata: true drops the source's metadata).

// copyObject serves COPY: the request path is the source.
func (q *request) copyObject() error {
	dst := q.r.Header.Get("Destination")
	if dst == "" {
		return httpErr(http.StatusPreconditionFailed, "Destination header required")
	}
	account := q.p.Account
	if da := q.r.Header.Get("Destination-Account"); da != "" {
		var err error
		if account, err = unescapeName(da, "Account", MaxAccountNameLength); err != nil {
			return err
		}
	}
	dc, do, err := splitCopyPath(dst, "Destination")
	if err != nil {
		return err
	}
	src := q.p
	dstPath := swiftPath{Kind: kindObject, Version: src.Version, Account: account, Container: dc, Object: do}
	return q.copyBetween(src, dstPath)
}

// copyFrom serves PUT with X-Copy-From: the request path is the
// destination.
func (q *request) copyFrom() error {
	if q.r.ContentLength > 0 {
		return plainBadRequest("Copy requests require a zero byte body")
	}
	account := q.p.Account
	if sa := q.r.Header.Get("X-Copy-From-Account"); sa != "" {
		var err error
		if account, err = unescapeName(sa, "Account", MaxAccountNameLength); err != nil {
			return err
		}
	}
	sc, so, err := splitCopyPath(q.r.Header.Get("X-Copy-From"), "X-Copy-From")
	if err != nil {
		return err
	}
	src := swiftPath{Kind: kindObject, Version: q.p.Version, Account: account, Container: sc, Object: so}
	return q.copyBetween(src, q.p)
}

// splitCopyPath parses "<container>/<object>" (URL-encoded, optional
// leading '/'), 412 when malformed as in Swift.
func splitCopyPath(v, header string) (container, object string, err error) {
	dec, err := url.PathUnescape(strings.TrimPrefix(strings.TrimSpace(v), "/"))
	if err != nil {
		return "", "", httpErr(http.StatusPreconditionFailed, header+" header must be of the form <container name>/<object name>")
	}
	container, object, ok := strings.Cut(dec, "/")
	if !ok || container == "" || object == "" {
		return "", "", httpErr(http.StatusPreconditionFailed, header+" header must be of the form <container name>/<object name>")
	}
	if err := checkName(container, "Container", MaxContainerNameLength); err != nil {
		return "", "", err
	}
	if err := checkName(object, "Object", MaxObjectNameLength); err != nil {
		return "", "", err
	}
	return container, object, nil
}

func (q *request) copyBetween(src, dst swiftPath) error {
	ctx := q.r.Context()
	if err := q.authorizeIn(src.Account, src.Container, false); err != nil {
		return err
	}
	if err := q.authorizeIn(dst.Account, dst.Container, true); err != nil {
		return err
	}
	req, err := q.putOptions(false)
	if err != nil {
		return err
	}
	sp := q.p
	q.p = src
	info, err := q.liveObject(ctx)
	q.p = sp
	if err != nil {
		return err
	}
	opts := PutOptions{ContentType: info.ContentType, Meta: info.Meta, Headers: info.Headers, Size: info.Size, ETag: info.ETag}
	rangeHdr := q.r.Header.Get("Range") // copyrange.go: the source's range
	var body io.ReadCloser
	if info.Manifest != "" && q.r.URL.Query().Get("multipart-manifest") != "get" {
		container, prefix, err := splitManifest(info.Manifest)
		if err != nil {
			return fmt.Errorf("stored manifest %q: %v: %w", info.Manifest, err, ErrConflict)
		}
		segs, err := q.dloSegments(ctx, container, prefix)
		if err != nil {
			return err
		}
		var total int64
		for _, s := range segs {
			total += s.Size
		}
		rg, err := copyRange(rangeHdr, total, info.ContentType)
		if err != nil {
			return err
		}
		body = newSegmentReader(ctx, q.s.backend, src.Account, container, segs, rg.Start, rg.Length)
		opts.Size, opts.ETag = rg.Length, ""
		// The copy is the content, not a manifest: drop the manifest
		// header as stored (object.go keeps it among the headers).
		opts.Headers = maps.Clone(opts.Headers)
		delete(opts.Headers, "X-Object-Manifest")
	} else {
		rg, err := copyRange(rangeHdr, info.Size, info.ContentType)
		if err != nil {
			return err
		}
		rc, got, err := q.s.backend.OpenObject(ctx, src.Account, src.Container, src.Object, rg.Start, rg.Length)
		if err != nil {
			return err
		}
		body, opts.Manifest = rc, got.Manifest
		opts.Size, opts.ETag = got.Size, got.ETag
		if rg.Length != got.Size {
			opts.Size, opts.ETag = rg.Length, ""
		}
		if got.SLOManifest != nil {
			opts.ETag = "" // an SLO ETag is not the content's MD5
		}
	}
	defer body.Close()
	if err := q.checkQuotasFor(ctx, dst.Account, dst.Container, opts.Size); err != nil { // quota.go
		return err
	}
	if truthy(q.r.Header.Get("X-Fresh-Metadata")) {
		opts.Meta = nil
	}
	meta := map[string]string{}
	for k, v := range opts.Meta {
		meta[k] = v
	}
	for k, v := range req.Meta {
		meta[k] = v
	}
	opts.Meta = meta
	if req.ContentType != "" {
		opts.ContentType = req.ContentType
	}
	headers := map[string]string{}
	for k, v := range opts.Headers {
		headers[k] = v
	}
	for k, v := range req.Headers {
		headers[k] = v
	}
	opts.Headers = headers
	if opts.Size > q.s.cfg.MaxFileSize {
		return fmt.Errorf("copy of %d bytes: %w", opts.Size, errTooLarge)
	}
	if err := q.archiveIn(dst.Account, dst.Container, dst.Object); err != nil {
		return err
	}
	var out ObjectInfo
	if info.SLOManifest != nil && q.r.URL.Query().Get("multipart-manifest") == "get" {
		out, err = q.copySLOManifest(src, dst, info, opts) // (slo.go)
	} else {
		out, err = q.s.backend.PutObject(ctx, dst.Account, dst.Container, dst.Object, body, opts)
	}
	if err != nil {
		return err
	}
	h := q.w.Header()
	h.Set("Etag", out.ETag)
	h.Set("X-Copied-From", escapePath(src.Container+"/"+src.Object))
	if src.Account != dst.Account {
		h.Set("X-Copied-From-Account", escapePath(src.Account))
	}
	if !info.Timestamp.IsZero() {
		h.Set("X-Copied-From-Last-Modified", httpDate(info.Timestamp))
	}
	if !out.Timestamp.IsZero() {
		h.Set("Last-Modified", httpDate(out.Timestamp))
		h.Set("X-Timestamp", xTimestamp(out.Timestamp))
	}
	q.writeEmpty(http.StatusCreated)
	return nil
}
