package glanceshim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// handleObject serves /v1/{account}/{container}/{object} (Swift's
// proxy/controllers/obj.py with the dlo middleware): PUT 201, GET/HEAD
// 200/206, POST 202, DELETE 204, all 404 when absent. Owners may do
// everything; others need the container's read ACL for GET and HEAD and
// its write ACL for the rest.
func (q *request) handleObject() error {
	if err := q.sloReservedHeader(); err != nil {
		return err
	}
	switch q.r.Method {
	case http.MethodPut:
		return q.putObject()
	case http.MethodGet, http.MethodHead:
		return q.getObject()
	case http.MethodPost:
		return q.postObject()
	case http.MethodDelete:
		return q.deleteObject()
	case "COPY":
		return q.copyObject()
	}
	q.w.Header().Set("Allow", corsMethods) // Swift's allowed_methods (cors.go)
	return httpErr(http.StatusMethodNotAllowed, "")
}

// authorizeObject checks access to an object of the request's container
// (write: PUT, POST, DELETE). For non-owners it loads the container's
// ACLs; a missing container is then 403 (401 anonymous), as tempauth
// does.
func (q *request) authorizeObject(write bool) error {
	return q.authorizeIn(q.p.Account, q.p.Container, write)
}

// authorizeIn is authorizeObject for any container.
func (q *request) authorizeIn(account, container string, write bool) error {
	if q.tu != nil {
		return q.tu.authorize(account, container)
	}
	if q.isOwnerOf(account) {
		return nil
	}
	info, err := q.s.backend.Container(q.r.Context(), account, container)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return q.denied()
		}
		return err
	}
	return q.authorizeContainer(info.Meta, write, false)
}

// putObject stores an object (Swift's check_object_creation order):
// 413 for a declared length over MaxFileSize and 411 without length nor
// chunked encoding, both before any body is read; then metadata and
// manifest checks (400), the container (404), If-None-Match: * (412);
// then the body goes to the Backend. 201 with the unquoted MD5 ETag.
func (q *request) putObject() error {
	r := q.r
	chunked := len(r.TransferEncoding) > 0 && r.TransferEncoding[0] == "chunked"
	_, hasLength := r.Header["Content-Length"]
	switch {
	case !chunked && r.ContentLength > q.s.cfg.MaxFileSize:
		return fmt.Errorf("content-length %d: %w", r.ContentLength, errTooLarge)
	case !chunked && !hasLength && r.ContentLength <= 0:
		return httpErr(http.StatusLengthRequired, "")
	}
	if r.URL.Query().Get("multipart-manifest") == "put" {
		return q.putSLO() // (slo.go; refused without a Composer)
	}
	if err := q.authorizeObject(true); err != nil {
		return err
	}
	if err := q.checkObjectQuotas(r.Context()); err != nil {
		return err
	}
	if r.Header.Get("X-Copy-From") != "" {
		return q.copyFrom()
	}
	opts, err := q.putOptions(true)
	if err != nil {
		return err
	}
	if err := q.archiveIn(q.p.Account, q.p.Container, q.p.Object); err != nil {
		return err
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		if strings.TrimSpace(inm) != "*" {
			return badRequest("If-None-Match only supports *")
		}
		if _, err := q.liveObject(r.Context()); err == nil {
			return httpErr(http.StatusPreconditionFailed, "")
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	if q.isOwner() { // (authorizeObject saw the container of non-owners)
		if _, err := q.s.backend.Container(r.Context(), q.p.Account, q.p.Container); err != nil {
			return err
		}
	}
	if m := r.Header.Get("X-Object-Manifest"); m != "" {
		dec, err := parseManifestHeader(m)
		if err != nil {
			return err
		}
		opts.Manifest = dec
		opts.Headers["X-Object-Manifest"] = m // returned as stored, as Swift does
	}
	if e := r.Header.Get("Etag"); e != "" {
		opts.ETag = strings.ToLower(strings.Trim(strings.TrimSpace(e), `"`))
	}
	opts.Size = r.ContentLength
	if chunked {
		opts.Size = -1
	}
	release, err := q.uploadSlot()
	if err != nil {
		return err
	}
	defer release()
	q.body = &bodyReader{r: r.Body, declared: opts.Size, max: q.s.cfg.MaxFileSize,
		rc: http.NewResponseController(q.w), timeout: q.s.cfg.ClientTimeout}
	defer q.body.clearDeadline()
	info, err := q.s.backend.PutObject(r.Context(), q.p.Account, q.p.Container, q.p.Object, q.body, opts)
	if q.body.err != nil {
		// The client's failure, whatever the Backend made of it.
		return q.body.err
	}
	if err != nil {
		return err
	}
	if opts.ETag != "" && info.ETag != "" && info.ETag != opts.ETag {
		// A Backend that did not check: still refuse to report success.
		return fmt.Errorf("backend stored md5 %s, client sent %s: %w", info.ETag, opts.ETag, ErrETagMismatch)
	}
	h := q.w.Header()
	h.Set("Etag", info.ETag)
	if !info.Timestamp.IsZero() {
		h.Set("Last-Modified", httpDate(info.Timestamp))
		h.Set("X-Timestamp", xTimestamp(info.Timestamp))
	}
	q.writeEmpty(http.StatusCreated)
	return nil
}

// putOptions reads what a PUT (or, put false, a POST) sets besides the
// body: Content-Type (guessed from the name when absent or with
// X-Detect-Content-Type: true), X-Object-Meta-*, the stored headers and
// X-Delete-At / X-Delete-After (400 when in the past).
func (q *request) putOptions(put bool) (PutOptions, error) {
	h := q.r.Header
	var opts PutOptions
	meta, err := readMeta(h, "X-Object-Meta-", "")
	if err != nil {
		return opts, err
	}
	// Empty values are kept and returned, as Swift's object server does.
	opts.Meta = meta
	ct := strings.TrimSpace(h.Get("Content-Type"))
	if put && (ct == "" || truthy(h.Get("X-Detect-Content-Type"))) {
		ct = guessContentType(q.p.Object)
	}
	opts.ContentType = ct
	opts.Headers = map[string]string{}
	for _, k := range storedObjectHeaders {
		if v := h.Get(k); v != "" {
			opts.Headers[k] = v
		}
	}
	if at, err := deleteAt(h, time.Now()); err != nil {
		return opts, err
	} else if at != "" {
		opts.Headers["X-Delete-At"] = at
	}
	return opts, nil
}

// guessContentType is Swift's guess_type fallback: Python's
// mimetypes.guess_type of the name, else application/octet-stream.
func guessContentType(name string) string {
	if t := pyGuessType(name); t != "" { // mimeguess.go: Swift's (Python's) table
		return t
	}
	return "application/octet-stream"
}

// deleteAt reads X-Delete-After (seconds from now) or X-Delete-At (Unix
// seconds) as Swift's check_delete_headers does: values that Python's
// int() refuses are 400 "Non-integer X-Delete-After" / "Non-integer
// X-Delete-At", times not in the future 400 "... in past" (all
// text/plain); X-Delete-At is clamped to [0, 9999999999]
// (normalize_delete_at_timestamp). It returns the X-Delete-At value to
// store (10 digits), or "".
func deleteAt(h http.Header, now time.Time) (string, error) {
	at := int64(-1)
	if _, ok := h["X-Delete-After"]; ok {
		n, ok := pyInt(h.Get("X-Delete-After"))
		if !ok {
			return "", plainBadRequest("Non-integer X-Delete-After")
		}
		if n <= 0 {
			return "", plainBadRequest("X-Delete-After in past")
		}
		at = now.Unix() + n
	} else if _, ok := h["X-Delete-At"]; ok {
		n, ok := pyInt(h.Get("X-Delete-At"))
		if !ok {
			return "", plainBadRequest("Non-integer X-Delete-At")
		}
		at = min(max(n, 0), 9999999999)
		if at <= now.Unix() {
			return "", plainBadRequest("X-Delete-At in past")
		}
	}
	if at < 0 {
		return "", nil
	}
	return fmt.Sprintf("%010d", min(at, 9999999999)), nil
}

// pyInt parses s as Python's int(str) does for plain decimal: optional
// surrounding whitespace and sign, digits with single underscores
// between them.
func pyInt(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg, s = s[0] == '-', s[1:]
	}
	if s == "" || s[0] == '_' || s[len(s)-1] == '_' || strings.Contains(s, "__") {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 10, 64)
	if err != nil || strings.ContainsAny(s, "+-") {
		return 0, false
	}
	if neg {
		n = -n
	}
	return n, true
}

// expired reports whether the object's X-Delete-At has passed (Swift
// answers 404 at once, before any expirer runs).
func expired(info ObjectInfo, now time.Time) bool {
	v := info.Headers["X-Delete-At"]
	if v == "" {
		return false
	}
	at, err := strconv.ParseInt(v, 10, 64)
	return err == nil && at <= now.Unix()
}

// liveObject is Backend.Object with expired objects reported absent.
func (q *request) liveObject(ctx context.Context) (ObjectInfo, error) {
	info, err := q.s.backend.Object(ctx, q.p.Account, q.p.Container, q.p.Object)
	if err != nil {
		return info, err
	}
	if expired(info, time.Now()) {
		return ObjectInfo{}, fmt.Errorf("expired at %s: %w", info.Headers["X-Delete-At"], ErrNotFound)
	}
	return info, nil
}

// getObject serves GET and HEAD: a DLO manifest's concatenation (unless
// ?multipart-manifest=get), conditional requests (304/412), one Range
// (206, 416 if unsatisfiable; several ranges are served whole, 200, as
// RFC 9110 allows).
func (q *request) getObject() error {
	if err := q.authorizeObject(false); err != nil {
		return err
	}
	ctx := q.r.Context()
	a, c, o := q.p.Account, q.p.Container, q.p.Object
	rawManifest := q.r.URL.RawQuery != "" && q.r.URL.Query().Get("multipart-manifest") == "get"
	rangeHdr := q.r.Header.Get("Range")
	if q.r.Method == http.MethodGet && rangeHdr == "" {
		// The common path (Glance's download): one Backend call.
		rc, info, err := q.s.backend.OpenObject(ctx, a, c, o, 0, -1)
		if err != nil {
			return q.missingObject(err)
		}
		if expired(info, time.Now()) {
			discard(rc)
			return q.missingObject(ErrNotFound)
		}
		if info.SLOManifest != nil {
			return q.getSLO(info, rc)
		}
		if info.Manifest != "" && !rawManifest {
			discard(rc)
			return q.getDLO(info)
		}
		q.objectHeaders(info, info.ETag)
		if st := q.conditional(info.ETag, info.Timestamp); st != 0 {
			discard(rc)
			return q.writeConditional(st)
		}
		defer discard(rc)
		q.w.Header().Set("Content-Length", itoa(info.Size))
		q.w.WriteHeader(http.StatusOK)
		return q.streamExactly(rc, info.Size, "object "+o)
	}
	info, err := q.liveObject(ctx)
	if err != nil {
		return q.missingObject(err)
	}
	if info.SLOManifest != nil {
		return q.getSLO(info, nil)
	}
	if info.Manifest != "" && !rawManifest {
		return q.getDLO(info)
	}
	q.objectHeaders(info, info.ETag)
	if st := q.conditional(info.ETag, info.Timestamp); st != 0 {
		return q.writeConditional(st)
	}
	rg, status, err := q.pickRange(info.Size, info.ETag, info.Timestamp)
	if err == nil && q.multiRanges != nil && q.r.Method == http.MethodGet {
		return q.serveRanges(info, q.multiRanges) // multirange.go
	}
	if err != nil || q.r.Method == http.MethodHead {
		if err == nil {
			q.w.Header().Set("Content-Length", itoa(rg.Length))
			q.w.WriteHeader(status)
		}
		return err
	}
	for attempt := 0; ; attempt++ {
		rc, same, err := q.openVersion(ctx, info, rg) // versionopener.go
		if err != nil {
			return err
		}
		if !same {
			// Overwritten between Object and OpenObject.
			rc.Close()
			if attempt < 2 {
				continue
			}
			return fmt.Errorf("object %s keeps changing: %w", o, ErrUnavailable)
		}
		defer discard(rc)
		q.w.Header().Set("Content-Length", itoa(rg.Length))
		q.w.WriteHeader(status)
		return q.streamExactly(rc, rg.Length, "object "+o)
	}
}

// pickRange applies Range (and If-Range) to a body of size bytes: the
// range to send and 200 or 206 (Content-Range set), or a 416 error
// (Content-Range: bytes */size).
func (q *request) pickRange(size int64, etag string, ts time.Time) (byteRange, int, error) {
	full := byteRange{0, size}
	hdr := q.r.Header.Get("Range")
	// Swift answers a HEAD with Range as a plain HEAD (200, full length).
	if hdr == "" || q.r.Method == http.MethodHead || !ifRangeHolds(q.r.Header.Get("If-Range"), etag, ts) {
		return full, http.StatusOK, nil
	}
	rs, ok := parseRange(hdr, size)
	switch {
	case !ok:
		return full, http.StatusOK, nil
	case len(rs) == 0:
		q.w.Header().Set("Content-Range", "bytes */"+itoa(size))
		// Swift's 416 keeps the object's Content-Type.
		return full, 0, &statusError{status: http.StatusRequestedRangeNotSatisfiable, contentType: q.w.Header().Get("Content-Type")}
	case len(rs) > 1:
		q.multiRanges = rs // multirange.go
		return full, http.StatusOK, nil
	}
	q.w.Header().Set("Content-Range", contentRange(rs[0], size))
	return rs[0], http.StatusPartialContent, nil
}

// ifRangeHolds: without If-Range, or when it names the current ETag or
// Last-Modified, the Range applies; otherwise the whole body is sent.
func ifRangeHolds(v, etag string, ts time.Time) bool {
	v = strings.TrimSpace(v)
	if v == "" {
		return true
	}
	if t, err := http.ParseTime(v); err == nil {
		return lastModified(ts).Equal(t)
	}
	return strings.Trim(v, `"`) == strings.Trim(etag, `"`)
}

// objectHeaders sets the headers of a GET or HEAD of info; etag is sent
// as given (a DLO's is quoted).
func (q *request) objectHeaders(info ObjectInfo, etag string) {
	h := q.w.Header()
	ct := info.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	h.Set("Content-Type", ct)
	h.Set("Etag", etag)
	if !info.Timestamp.IsZero() {
		h.Set("Last-Modified", httpDate(info.Timestamp))
		h.Set("X-Timestamp", xTimestamp(info.Timestamp))
	}
	h.Set("Accept-Ranges", "bytes")
	for k, v := range info.Headers {
		h.Set(k, v)
	}
	writeObjectMeta(h, info.Meta)
	if info.Manifest != "" && info.Headers["X-Object-Manifest"] == "" {
		h.Set("X-Object-Manifest", escapePath(info.Manifest))
	}
	if len(info.Regions) > 0 {
		h.Set(regionsHeader, strings.Join(info.Regions, ","))
	}
}

// regionsHeader is Nitro's extension header on GET and HEAD of an object:
// the regions that hold every chunk of it, comma-separated in byte order
// (ObjectInfo.Regions), as the local node knows them when the request
// arrives; for a DLO manifest, the regions that hold every segment.
// Absent when unknown. Advisory: a region listed may since have lost a
// chunk (it then fetches it again when it reads it).
const regionsHeader = "X-Nitro-Regions"

// conditional evaluates the conditional headers in swob's order
// (Response._get_conditional_response_status): If-None-Match naming the
// ETag is 304; If-Match not naming it 412; If-Modified-Since not before
// Last-Modified 304; If-Unmodified-Since before it 412; else 0 (go on).
// Each header is checked whatever the others say.
func (q *request) conditional(etag string, ts time.Time) int {
	h := q.r.Header
	lm := lastModified(ts)
	if v := h.Get("If-None-Match"); v != "" && etagListMatches(v, etag) {
		return http.StatusNotModified
	}
	if v := h.Get("If-Match"); v != "" && !etagListMatches(v, etag) {
		return http.StatusPreconditionFailed
	}
	// An absent date is not parsed: http.ParseTime("") fails three
	// layouts, building an error for each, on every plain GET.
	if v := h.Get("If-Modified-Since"); v != "" {
		if t, err := http.ParseTime(v); err == nil && !lm.After(t) {
			return http.StatusNotModified
		}
	}
	if v := h.Get("If-Unmodified-Since"); v != "" {
		if t, err := http.ParseTime(v); err == nil && lm.After(t) {
			return http.StatusPreconditionFailed
		}
	}
	return 0
}

// etagListMatches reports whether an If-Match / If-None-Match value
// names etag, as swob's Match: "*", or one of the comma-separated tags
// equal to etag once each loses one pair of surrounding quotes
// (normalize_etag). A weak tag (W/"…") or a half-quoted one names
// nothing, as in Swift.
func etagListMatches(list, etag string) bool {
	etag = normalizeETag(etag)
	for _, e := range strings.Split(list, ",") {
		e = strings.TrimSpace(e)
		if e == "*" || (e != "" && normalizeETag(e) == etag) {
			return true
		}
	}
	return false
}

// normalizeETag is swob's normalize_etag: tag without one pair of
// surrounding double quotes, if it has them.
func normalizeETag(tag string) string {
	if len(tag) >= 2 && tag[0] == '"' && tag[len(tag)-1] == '"' {
		return tag[1 : len(tag)-1]
	}
	return tag
}

// writeConditional answers a failed condition (304 or 412) with the
// object's headers and no body, as swob does.
func (q *request) writeConditional(status int) error {
	h := q.w.Header()
	if status == http.StatusNotModified {
		// Swift's 304 keeps the object's headers, Content-Type included,
		// with Content-Length: 0.
		h.Set("Content-Length", "0")
		q.w.WriteHeader(http.StatusNotModified)
		return nil
	}
	// Swift's 412 of a failed condition has an empty body.
	h.Set("Content-Type", "text/html; charset=UTF-8")
	h.Set("Content-Length", "0")
	q.w.WriteHeader(status)
	return nil
}

// missingObject answers a GET or HEAD of an absent object: 412 with an
// empty body under If-Match (as Swift: no representation matches), else
// err (404).
func (q *request) missingObject(err error) error {
	if errors.Is(err, ErrNotFound) && q.r.Header.Get("If-Match") != "" {
		return q.writeConditional(http.StatusPreconditionFailed)
	}
	return err
}

// postObject replaces the object's user metadata (Swift's POST, fast-post
// semantics): 202.
func (q *request) postObject() error {
	if err := q.authorizeObject(true); err != nil {
		return err
	}
	opts, err := q.putOptions(false)
	if err != nil {
		return err
	}
	if opts.Manifest, err = postManifest(q.r.Header); err != nil {
		return err
	}
	if _, err := q.liveObject(q.r.Context()); err != nil {
		return err
	}
	if err := q.s.backend.PostObject(q.r.Context(), q.p.Account, q.p.Container, q.p.Object, opts); err != nil {
		return err
	}
	q.writeEmpty(http.StatusAccepted)
	return nil
}

// deleteObject deletes the object: 204, 404. "?multipart-manifest=delete"
// is slo.go's deleteSLO (segments, then the manifest; 200 with a
// bulk-style body), as in Swift's slo middleware.
func (q *request) deleteObject() error {
	if q.r.URL.Query().Get("multipart-manifest") == "delete" {
		return q.deleteSLO() // (slo.go; each delete is authorized)
	}
	if err := q.authorizeObject(true); err != nil {
		return err
	}
	if err := q.checkIfDeleteAt(); err != nil { // deleteat.go
		return err
	}
	if handled, err := q.deleteVersioned(q.r.Context()); handled || err != nil {
		return err
	}
	if err := q.s.backend.DeleteObject(q.r.Context(), q.p.Account, q.p.Container, q.p.Object); err != nil {
		return err
	}
	q.writeEmpty(http.StatusNoContent)
	return nil
}

// discard closes rc, ignoring its error (a reader abandoned early).
func discard(rc io.Closer) { _ = rc.Close() }

// uploadSlot takes one of the Config.MaxUploads upload slots, waiting up
// to Config.UploadWait (503 with Retry-After after that, or the request's
// context error); release gives it back.
func (q *request) uploadSlot() (release func(), err error) {
	select {
	case q.s.uploads <- struct{}{}:
		return func() { <-q.s.uploads }, nil
	default:
	}
	t := time.NewTimer(q.s.cfg.UploadWait)
	defer t.Stop()
	select {
	case q.s.uploads <- struct{}{}:
		return func() { <-q.s.uploads }, nil
	case <-q.r.Context().Done():
		return nil, q.r.Context().Err()
	case <-t.C:
		q.w.Header().Set("Retry-After", "10")
		return nil, fmt.Errorf("%d uploads in flight for %v: %w", q.s.cfg.MaxUploads, q.s.cfg.UploadWait, ErrUnavailable)
	}
}
