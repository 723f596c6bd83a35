package glanceshim

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Object versioning: Swift 2.30's versioned_writes middleware in its
// legacy modes (swift/common/middleware/versioned_writes/legacy.py),
// enabled as with allow_versioned_writes = true.
//
// A container with X-Versions-Location: <archive> (stack mode) or
// X-History-Location: <archive> (history mode) keeps the previous
// versions of its objects in the archive container, named
// "<3 hex digits: the object name's length in bytes><name>/<X-Timestamp of
// that version>":
//
//   - PUT (and the PUT side of COPY and X-Copy-From) over an existing
//     object first copies the current version into the archive; a missing
//     archive container is 412.
//   - DELETE in stack mode restores the newest archived version (copied
//     back, then deleted from the archive); a delete marker on top (left by
//     history mode) is handled as Swift does. With nothing archived it is a
//     plain DELETE.
//   - DELETE in history mode copies the current version into the archive,
//     writes a zero-byte delete marker (Content-Type
//     DeleteMarkerContentType) named with the time of the DELETE, then
//     deletes the object; a missing archive container is 412.
//   - POST does not version.
//
// Copies into and out of the archive reuse the stored content when the
// Backend is an ObjectCopier (Nitro's object service: the same recipe, no
// bytes read or re-chunked); else they stream it through the Backend.

// DeleteMarkerContentType is the Content-Type of the delete markers that
// history mode writes into the archive container (Swift's
// DELETE_MARKER_CONTENT_TYPE).
const DeleteMarkerContentType = "application/x-deleted;swift_versions_deleted=1"

// Keys of the versioning settings in a container's Backend metadata (Swift
// keeps them as container sysmeta). The ':' keeps them apart from user
// metadata: no header name, hence no X-Container-Meta-* key, contains one.
const (
	metaVersionsLocation = "sysmeta:versions-location"
	metaVersionsMode     = "sysmeta:versions-mode" // "stack" or "history"
)

// isSysmeta reports whether a container metadata key is Nitro's own, never
// sent as X-Container-Meta-*.
func isSysmeta(k string) bool { return strings.HasPrefix(k, "sysmeta:") }

// ObjectCopier is an optional Backend extension: a Backend that implements
// it can store an object under a new name with the stored content of an
// existing one, without reading it (Nitro's object service points the new
// record at the same recipe). The front end uses it to copy versions into
// and out of a versions container.
type ObjectCopier interface {
	// CopyObject stores at dstContainer/dstObject of account the content
	// (bytes, size, ETag, manifest) of srcContainer/srcObject as it is
	// now, with opts' content type, user metadata and stored headers
	// (opts.Size and opts.ETag are ignored). ErrNotFound if the source
	// object or the destination container is absent.
	CopyObject(ctx context.Context, account, srcContainer, srcObject, dstContainer, dstObject string, opts PutOptions) (ObjectInfo, error)
}

// versioningHeaders applies versioned_writes' rules to a container
// request's X-Versions-Location, X-History-Location and
// X-Remove-{Versions,History}-Location headers: both locations set is
// 400, a location with '/' 412. It returns the metadata to merge into the
// container ("" values remove), or nil when the request does not touch
// versioning.
func versioningHeaders(h http.Header) (map[string]string, error) {
	vals := func(k string) (string, bool) {
		vs, ok := h[k]
		if !ok || len(vs) == 0 {
			return "", ok
		}
		return vs[0], true
	}
	vloc, hasV := vals("X-Versions-Location")
	hloc, hasH := vals("X-History-Location")
	if hasV && hasH {
		switch {
		case hloc == "":
			hasH = false
		case vloc != "":
			return nil, &statusError{status: http.StatusBadRequest, contentType: "text/plain",
				body: "Only one of x-versions-location or x-history-location may be specified"}
		default:
			hasV = false
		}
	}
	if hasV || hasH {
		loc, mode := vloc, "stack"
		if !hasV {
			loc, mode = hloc, "history"
		}
		if loc == "" {
			return map[string]string{metaVersionsLocation: "", metaVersionsMode: ""}, nil
		}
		if strings.Contains(loc, "/") {
			return nil, httpErr(http.StatusPreconditionFailed, "Container name cannot contain slashes")
		}
		return map[string]string{metaVersionsLocation: loc, metaVersionsMode: mode}, nil
	}
	if h.Get("X-Remove-Versions-Location") != "" || h.Get("X-Remove-History-Location") != "" {
		return map[string]string{metaVersionsLocation: "", metaVersionsMode: ""}, nil
	}
	return nil, nil
}

// versioningResponseHeader sets X-Versions-Location or X-History-Location
// on a container GET or HEAD from the container's metadata.
func versioningResponseHeader(h http.Header, meta map[string]string) {
	loc := meta[metaVersionsLocation]
	if loc == "" {
		return
	}
	if meta[metaVersionsMode] == "history" {
		h.Set("X-History-Location", loc)
	} else {
		h.Set("X-Versions-Location", loc)
	}
}

// versionsOf returns the archive container of account/container and its
// mode ("stack" or "history"); archive "" when the container does not
// version (or is absent: the caller's own checks answer that). As Swift,
// the stored location is URL-decoded and cut at its first '/'.
func (q *request) versionsOf(ctx context.Context, account, container string) (archive, mode string, err error) {
	info, err := q.s.backend.Container(ctx, account, container)
	if errors.Is(err, ErrNotFound) {
		return "", "", nil
	}
	if err != nil {
		return "", "", err
	}
	loc := info.Meta[metaVersionsLocation]
	if loc == "" {
		return "", "", nil
	}
	if dec, err := url.PathUnescape(loc); err == nil {
		loc = dec
	}
	loc, _, _ = strings.Cut(loc, "/")
	mode = info.Meta[metaVersionsMode]
	if mode == "" {
		mode = "stack"
	}
	return loc, mode, nil
}

// versionPrefix is the archive names' prefix of object: its length in
// bytes as 3 hex digits, the name, "/".
func versionPrefix(object string) string { return fmt.Sprintf("%03x%s/", len(object), object) }

// versionName is the archive name of object's version written at ts.
func versionName(object string, ts time.Time) string {
	return versionPrefix(object) + xTimestamp(ts)
}

// archiveFailed maps the failure of a write into the archive as
// versioned_writes does: a client error (a missing archive container) is
// 412, anything else 503.
func archiveFailed(err error, what string) error {
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrForbidden) || errors.Is(err, ErrConflict) || errors.Is(err, ErrETagMismatch) {
		return fmt.Errorf("%s: %v: %w", what, err, httpErr(http.StatusPreconditionFailed, ""))
	}
	var se *statusError
	if errors.As(err, &se) && se.status/100 == 4 {
		return fmt.Errorf("%s: %v: %w", what, err, httpErr(http.StatusPreconditionFailed, ""))
	}
	return fmt.Errorf("%s: %v: %w", what, err, ErrUnavailable)
}

// archiveCurrent copies the current version of account/container/object,
// if any, into the archive container (versioned_writes' _copy_current):
// before a PUT over it, and before a history-mode DELETE.
func (q *request) archiveCurrent(ctx context.Context, account, container, object, archive string) error {
	cur, err := q.s.backend.Object(ctx, account, container, object)
	if err == nil && expired(cur, time.Now()) {
		err = ErrNotFound
	}
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := q.copyStored(ctx, account, container, object, archive, versionName(object, cur.Timestamp), cur); err != nil {
		return archiveFailed(err, "archiving "+object)
	}
	return nil
}

// copyStored copies account/srcC/srcO, whose info is src, to
// account/dstC/dstO with its content type, metadata, headers and
// manifest: through the Backend's ObjectCopier if it has one, else by
// reading and writing the bytes.
func (q *request) copyStored(ctx context.Context, account, srcC, srcO, dstC, dstO string, src ObjectInfo) error {
	opts := PutOptions{ContentType: src.ContentType, Meta: src.Meta, Headers: src.Headers, Manifest: src.Manifest, Size: src.Size, ETag: src.ETag}
	if oc, ok := q.s.backend.(ObjectCopier); ok {
		_, err := oc.CopyObject(ctx, account, srcC, srcO, dstC, dstO, opts)
		return err
	}
	rc, got, err := q.s.backend.OpenObject(ctx, account, srcC, srcO, 0, -1)
	if err != nil {
		return err
	}
	defer rc.Close()
	opts.Size, opts.ETag, opts.Manifest = got.Size, got.ETag, got.Manifest
	_, err = q.s.backend.PutObject(ctx, account, dstC, dstO, rc, opts)
	return err
}

// deleteVersioned serves a DELETE in a versioning container. handled is
// false when the plain DELETE is to be done (the caller does it).
func (q *request) deleteVersioned(ctx context.Context) (handled bool, err error) {
	a, c, o := q.p.Account, q.p.Container, q.p.Object
	archive, mode, err := q.versionsOf(ctx, a, c)
	if err != nil || archive == "" {
		return false, err
	}
	if mode == "history" {
		if err := q.archiveCurrent(ctx, a, c, o, archive); err != nil {
			return true, err
		}
		_, err := q.s.backend.PutObject(ctx, a, archive, versionName(o, time.Now()), strings.NewReader(""),
			PutOptions{ContentType: DeleteMarkerContentType, Size: 0})
		if err != nil {
			return true, archiveFailed(err, "delete marker of "+o)
		}
		return false, nil
	}
	return q.popVersion(ctx, archive)
}

// popVersion is stack mode's DELETE (handle_obj_versions_delete_pop): the
// newest archived version replaces the object and leaves the archive.
func (q *request) popVersion(ctx context.Context, archive string) (handled bool, err error) {
	a, o := q.p.Account, q.p.Object
	items, err := q.s.backend.ListObjects(ctx, a, archive, ListOptions{Prefix: versionPrefix(o), Reverse: true, Limit: ContainerListingMax})
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return true, fmt.Errorf("listing %s: %v: %w", archive, err, ErrUnavailable)
	}
	for i, prev := range items {
		if prev.Subdir != "" {
			continue
		}
		if prev.ContentType == DeleteMarkerContentType {
			// A delete marker on top: the object is deleted already
			// unless it was written again since.
			if _, err := q.liveObject(ctx); err == nil {
				return false, nil
			} else if !errors.Is(err, ErrNotFound) {
				return true, err
			}
			for _, r := range items[i+1:] {
				if r.Subdir != "" {
					continue
				}
				if r.ContentType == DeleteMarkerContentType {
					break
				}
				ok, err := q.restoreVersion(ctx, archive, r.Name)
				if err != nil {
					return true, err
				}
				if !ok {
					continue
				}
				if err := q.s.backend.DeleteObject(ctx, a, archive, r.Name); err != nil && !errors.Is(err, ErrNotFound) {
					return true, archiveFailed(err, "deleting restored "+r.Name)
				}
				break
			}
			return true, q.finishDelete(q.s.backend.DeleteObject(ctx, a, archive, prev.Name))
		}
		ok, err := q.restoreVersion(ctx, archive, prev.Name)
		if err != nil {
			return true, err
		}
		if !ok {
			continue
		}
		return true, q.finishDelete(q.s.backend.DeleteObject(ctx, a, archive, prev.Name))
	}
	return false, nil
}

// restoreVersion copies archive/name over the request's object; false if
// that version is gone.
func (q *request) restoreVersion(ctx context.Context, archive, name string) (bool, error) {
	a, c, o := q.p.Account, q.p.Container, q.p.Object
	src, err := q.s.backend.Object(ctx, a, archive, name)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, archiveFailed(err, "reading "+name)
	}
	if err := q.copyStored(ctx, a, archive, name, c, o, src); err != nil {
		if errors.Is(err, ErrNotFound) {
			// The source went between Object and the copy.
			if _, e := q.s.backend.Object(ctx, a, archive, name); errors.Is(e, ErrNotFound) {
				return false, nil
			}
		}
		return false, archiveFailed(err, "restoring "+name)
	}
	return true, nil
}

// finishDelete answers a DELETE that versioning served with err, the
// outcome of its last Backend DELETE.
func (q *request) finishDelete(err error) error {
	if err != nil {
		return err
	}
	q.writeEmpty(http.StatusNoContent)
	return nil
}

// archiveIn archives the current version of account/container/object if
// that container versions: before a PUT, COPY or X-Copy-From writes it.
func (q *request) archiveIn(account, container, object string) error {
	ctx := q.r.Context()
	archive, _, err := q.versionsOf(ctx, account, container)
	if err != nil || archive == "" {
		return err
	}
	return q.archiveCurrent(ctx, account, container, object, archive)
}
