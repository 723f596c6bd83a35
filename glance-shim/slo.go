package glanceshim

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Static large objects: Swift 2.30's slo middleware
// (swift/common/middleware/slo.py). A client uploads segments as plain
// objects, then PUTs ?multipart-manifest=put with a JSON list of them
// (object-backed segments {"path", "etag", "size_bytes", "range"} and
// inline {"data"} segments). Swift stores the manifest and reads the
// segments at every GET; Nitro validates the manifest the same way, then
// asks the Backend (Composer) to store the object's content as a recipe
// made of the segments' recipes, so a GET reads one object and the
// segments may change or go away without affecting it. The manifest, in
// Swift's stored form, is kept with the object for ?multipart-manifest=get
// and ?multipart-manifest=delete.

// Swift's slo limits, as /info advertises them (slo.py's defaults).
const (
	// MaxManifestSegments is max_manifest_segments: the most object-backed
	// segments of one manifest (413 beyond).
	MaxManifestSegments = 1000
	// MaxManifestSize is max_manifest_size in bytes: the largest manifest
	// body (413 beyond).
	MaxManifestSize = 8 << 20
	// sloYieldFrequency is yield_frequency in seconds (?heartbeat=on).
	sloYieldFrequency = 10
)

// Composer is the optional Backend capability that static large objects
// need: store an object whose content is the concatenation of byte ranges
// of existing objects and of inline bytes, without the client sending the
// content again. /info advertises "slo" only when the Backend implements
// it; without it a manifest PUT is refused (400).
type Composer interface {
	// ComposeObject stores account/container/object with the
	// concatenation of parts as its content and opts' metadata, and
	// returns its info. opts.ETag is the ETag to record (the SLO ETag,
	// not an MD5 of the content), opts.Size the content's total size
	// (parts must add up to it), opts.SLOManifest the manifest to keep
	// (ObjectInfo.SLOManifest). A part whose object is gone or whose ETag
	// is no longer part.ETag is ErrConflict; the container absent is
	// ErrNotFound; nothing is committed on error. The content must be as
	// durable and as readable (also from other regions) as a PUT's.
	ComposeObject(ctx context.Context, account, container, object string, parts []ComposePart, opts ComposeOptions) (ObjectInfo, error)
}

// ComposePart is one piece of a composed object: Length bytes from Offset
// of the object Container/Object of the same account (whose ETag must
// still be ETag), or, when Object is empty, the bytes Data.
type ComposePart struct {
	Container, Object string
	ETag              string // lowercase hex, as ObjectInfo.ETag
	Offset, Length    int64  // bytes
	Data              []byte
}

// ComposeOptions are a composed object's metadata: PutOptions (ETag: the
// ETag to record; Size: the total in bytes) and the SLO manifest to keep.
type ComposeOptions struct {
	PutOptions
	SLOManifest []byte
}

// sloReservedHeader is slo.py's rule for requests other than GET, HEAD,
// manifest PUTs and manifest DELETEs: X-Static-Large-Object is reserved
// (400).
func (q *request) sloReservedHeader() error {
	if _, ok := q.r.Header["X-Static-Large-Object"]; !ok {
		return nil
	}
	mm := q.r.URL.Query().Get("multipart-manifest")
	switch {
	case q.r.Method == http.MethodGet, q.r.Method == http.MethodHead,
		q.r.Method == http.MethodPut && mm == "put",
		q.r.Method == http.MethodDelete && mm == "delete":
		return nil
	}
	return badRequestHTML("X-Static-Large-Object is a reserved header. To create a static large object add query param multipart-manifest=put.")
}

// putSLO serves PUT ?multipart-manifest=put (slo.py's
// handle_multipart_put): limits (411, 413), manifest validation (400),
// a HEAD of every segment (problems: 400 with a bulk-style body in the
// Accept format), the client's ETag against the SLO ETag (422), then the
// Composer stores the content. 201 with the quoted SLO ETag; with
// ?heartbeat=on, 202 at once and the result as a bulk-style body.
func (q *request) putSLO() error {
	r := q.r
	comp, ok := q.s.backend.(Composer)
	if !ok {
		return badRequestHTML("Static large objects are not supported")
	}
	if r.Header.Get("X-Copy-From") != "" {
		if r.ContentLength != 0 {
			// Swift's copy middleware (left of slo) refuses first.
			q.writeStreamed(http.StatusBadRequest, "text/plain", []byte("Copy requests require a zero byte body"), false)
			return nil
		}
		return httpErr(http.StatusMethodNotAllowed, "Multipart Manifest PUTs cannot be COPY requests")
	}
	if _, has := r.Header["Content-Length"]; has && r.ContentLength > MaxManifestSize {
		return httpErr(http.StatusRequestEntityTooLarge, fmt.Sprintf("Manifest File > %d bytes", MaxManifestSize))
	}
	opts, err := q.putOptions(true)
	if err != nil {
		return err
	}
	q.body = &bodyReader{r: r.Body, declared: r.ContentLength, max: MaxManifestSize,
		rc: http.NewResponseController(q.w), timeout: q.s.cfg.ClientTimeout}
	defer q.body.clearDeadline()
	body, err := io.ReadAll(io.LimitReader(q.body, MaxManifestSize))
	if q.body.err != nil {
		return q.body.err
	}
	if err != nil {
		return err
	}
	segs, err := parseManifest(body, q.p.Container+"/"+q.p.Object)
	var me sloManifestError
	if errors.As(err, &me) {
		h := q.w.Header()
		h.Set("Content-Type", "text/plain")
		h.Set("Content-Length", itoa(int64(len(me))))
		q.w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(q.w, string(me))
		return nil
	}
	if err != nil {
		return err
	}
	nObj := 0
	for _, s := range segs {
		if !s.isData {
			nObj++
		}
	}
	if nObj > MaxManifestSegments {
		return httpErr(http.StatusRequestEntityTooLarge, fmt.Sprintf("Number of object-backed segments must be <= %d", MaxManifestSegments))
	}
	format := acceptBestMatch(r.Header.Get("Accept"))
	if format == "" {
		format = "text/plain"
	}
	heartbeat := truthy(r.URL.Query().Get("heartbeat"))
	if heartbeat {
		h := q.w.Header()
		h.Set("Content-Type", format)
		q.w.WriteHeader(http.StatusAccepted)
		_, _ = q.w.Write([]byte(" "))
		if f, ok := q.w.(http.Flusher); ok {
			f.Flush()
		}
	}
	info, problems, err := q.composeSLO(comp, segs, opts, heartbeat)
	if !heartbeat {
		if err != nil {
			return err
		}
		if problems != nil {
			q.writeStreamed(http.StatusBadRequest, format, bulkBody(format, nil, problems, "upload"), true)
			return nil
		}
		h := q.w.Header()
		h.Set("Etag", `"`+info.ETag+`"`)
		h.Set("Last-Modified", httpDate(info.Timestamp))
		q.writeEmpty(http.StatusCreated)
		return nil
	}
	var fields [][2]any
	switch {
	case err != nil:
		st, msg := statusOf(err)
		fields = [][2]any{{"Response Status", statusLine(st)}, {"Response Body", msg}}
	case problems != nil:
		fields = [][2]any{{"Response Status", statusLine(http.StatusBadRequest)},
			{"Response Body", swiftReasons[400][0] + "\n" + swiftReasons[400][1]}}
	default:
		fields = [][2]any{{"Response Status", statusLine(http.StatusCreated)}, {"Etag", `"` + info.ETag + `"`},
			{"Last Modified", httpDate(info.Timestamp)}, {"Response Body", ""}}
	}
	_, _ = q.w.Write(append([]byte("\r\n\r\n"), bulkBody(format, fields, problems, "upload")...))
	return nil
}

// composeSLO HEADs the segments, builds the stored manifest and the
// parts, checks the client's ETag and composes. problems non-nil: the
// segments' problems (a 400).
func (q *request) composeSLO(comp Composer, segs []sloSegment, opts PutOptions, heartbeat bool) (ObjectInfo, [][2]string, error) {
	ctx := q.r.Context()
	type head struct {
		info   ObjectInfo
		status int
	}
	heads := map[string]head{}
	for _, s := range segs {
		if s.isData {
			continue
		}
		if _, ok := heads[s.Path]; ok {
			continue
		}
		c, o, _ := strings.Cut(strings.TrimLeft(s.Path, "/"), "/")
		info, err := q.headSegment(ctx, c, o)
		st := http.StatusOK
		if err != nil {
			st, _ = statusOf(err)
			if st >= 500 && st != http.StatusServiceUnavailable && st != http.StatusInsufficientStorage {
				return ObjectInfo{}, nil, err
			}
		}
		heads[s.Path] = head{info, st}
	}
	var problems [][2]string
	stored := make([]storedSegment, 0, len(segs))
	parts := make([]ComposePart, 0, len(segs))
	var total int64
	etag := md5.New()
	for i, s := range segs {
		if s.isData {
			stored = append(stored, storedSegment{Data: base64.StdEncoding.EncodeToString(s.Data)})
			parts = append(parts, ComposePart{Data: s.Data})
			total += int64(len(s.Data))
			io.WriteString(etag, md5Hex(s.Data))
			continue
		}
		name := escapePath(s.Path)
		h := heads[s.Path]
		if h.status != http.StatusOK {
			problems = append(problems, [2]string{name, statusLine(h.status)})
			continue
		}
		size := h.info.Size
		off, length := int64(0), size
		rng := ""
		if s.Range != "" {
			rs, _ := parseRange("bytes="+s.Range, size)
			switch {
			case len(rs) == 0:
				problems = append(problems, [2]string{name, "Unsatisfiable Range"})
			case rs[0].Start == 0 && rs[0].Length == size:
			default:
				off, length = rs[0].Start, rs[0].Length
				rng = itoa(off) + "-" + itoa(off+length-1)
			}
		}
		if length < 1 && i != len(segs)-1 {
			problems = append(problems, [2]string{name, "Too small; each segment must be at least 1 byte."})
		}
		if s.SizeBytes != nil && *s.SizeBytes != size {
			problems = append(problems, [2]string{name, "Size Mismatch"})
		}
		if s.ETag != nil && *s.ETag != h.info.ETag {
			problems = append(problems, [2]string{name, "Etag Mismatch"})
		}
		ct, _, _ := strings.Cut(h.info.ContentType, ";")
		stored = append(stored, storedSegment{
			Name: "/" + strings.TrimLeft(s.Path, "/"), Bytes: size, Hash: h.info.ETag, ContentType: ct,
			LastModified: lastModified(h.info.Timestamp).Format("2006-01-02T15:04:05.000000"),
			Range:        rng, SubSLO: h.info.SLOManifest != nil,
		})
		c, o, _ := strings.Cut(strings.TrimLeft(s.Path, "/"), "/")
		parts = append(parts, ComposePart{Container: c, Object: o, ETag: h.info.ETag, Offset: off, Length: length})
		total += length
		if rng != "" {
			io.WriteString(etag, h.info.ETag+":"+rng+";")
		} else {
			io.WriteString(etag, h.info.ETag)
		}
	}
	if problems != nil {
		return ObjectInfo{}, problems, nil
	}
	// As in Swift, the manifest's own PUT is authorized (and its
	// container looked up) after the segments' HEADs.
	if err := q.authorizeObject(true); err != nil {
		return ObjectInfo{}, nil, err
	}
	if q.isOwner() {
		if _, err := q.s.backend.Container(ctx, q.p.Account, q.p.Container); err != nil {
			return ObjectInfo{}, nil, err
		}
	}
	sloETag := hex.EncodeToString(etag.Sum(nil))
	if e := q.r.Header.Get("Etag"); e != "" && strings.Trim(strings.TrimSpace(e), `"`) != sloETag {
		return ObjectInfo{}, nil, fmt.Errorf("slo etag %s, client sent %s: %w", sloETag, e, ErrETagMismatch)
	}
	if total > q.s.cfg.MaxFileSize*int64(MaxManifestSegments+1) {
		return ObjectInfo{}, nil, fmt.Errorf("slo of %d bytes: %w", total, errTooLarge)
	}
	copts := ComposeOptions{PutOptions: opts, SLOManifest: encodeManifest(stored)}
	copts.ETag, copts.Size = sloETag, total
	release, err := q.uploadSlot()
	if err != nil {
		return ObjectInfo{}, nil, err
	}
	defer release()
	info, err := comp.ComposeObject(ctx, q.p.Account, q.p.Container, q.p.Object, parts, copts)
	if err != nil {
		return ObjectInfo{}, nil, err
	}
	if info.Timestamp.IsZero() {
		info.Timestamp = time.Now()
	}
	return info, nil, nil
}

// headSegment is slo.py's HEAD of a segment: the object's info, with the
// reader's access to its container checked.
func (q *request) headSegment(ctx context.Context, container, object string) (ObjectInfo, error) {
	if err := checkName(container, "Container", MaxContainerNameLength); err != nil {
		return ObjectInfo{}, err
	}
	if err := checkName(object, "Object", MaxObjectNameLength); err != nil {
		return ObjectInfo{}, err
	}
	if err := q.authorizeIn(q.p.Account, container, false); err != nil {
		return ObjectInfo{}, err
	}
	info, err := q.s.backend.Object(ctx, q.p.Account, container, object)
	if err != nil {
		return info, err
	}
	if expired(info, time.Now()) {
		return ObjectInfo{}, ErrNotFound
	}
	return info, nil
}

// getSLO serves GET or HEAD of a static large object (slo.py's
// handle_slo_get_or_head): its content (stored composed, so one read)
// with the quoted SLO ETag, X-Manifest-Etag and X-Static-Large-Object;
// with ?multipart-manifest=get the manifest itself (Swift's stored JSON,
// or with &format=raw the PUT form). rc, if not nil, is an open reader of
// the whole content (GET without Range), closed here.
func (q *request) getSLO(info ObjectInfo, rc io.ReadCloser) error {
	if rc != nil {
		defer discard(rc)
	}
	qv := q.r.URL.Query()
	if qv.Get("multipart-manifest") == "get" {
		body := info.SLOManifest
		info.ETag = md5Hex(body)
		if qv.Get("format") == "raw" {
			body = rawManifest(body)
			info.ETag = md5Hex(body)
		} else {
			info.ContentType = "application/json; charset=utf-8"
		}
		q.objectHeaders(info, info.ETag)
		q.w.Header().Set("X-Static-Large-Object", "True")
		if st := q.conditional(info.ETag, info.Timestamp); st != 0 {
			return q.writeConditional(st)
		}
		rg, status, err := q.pickRange(int64(len(body)), info.ETag, info.Timestamp)
		if err != nil {
			return err
		}
		q.w.Header().Set("Content-Length", itoa(rg.Length))
		q.w.WriteHeader(status)
		if q.r.Method != http.MethodHead {
			_, _ = q.w.Write(body[rg.Start : rg.Start+rg.Length])
		}
		return nil
	}
	etag := `"` + info.ETag + `"`
	q.objectHeaders(info, etag)
	h := q.w.Header()
	h.Set("X-Static-Large-Object", "True")
	h.Set("X-Manifest-Etag", md5Hex(info.SLOManifest))
	if st := q.conditional(info.ETag, info.Timestamp); st != 0 {
		// slo.py's conditional response: 304 keeps the content type,
		// 412 is swob's empty one; both with Content-Length 0.
		if st == http.StatusPreconditionFailed {
			h.Del("Accept-Ranges")
			h.Set("Content-Type", "text/html; charset=UTF-8")
		}
		h.Set("Content-Length", "0")
		q.w.WriteHeader(st)
		return nil
	}
	rg, status, err := q.pickRange(info.Size, info.ETag, info.Timestamp)
	if err != nil {
		// 416 keeps the object's content type.
		st, body := statusOf(err)
		if q.r.Method == http.MethodHead {
			body = ""
		}
		h.Set("Content-Length", itoa(int64(len(body))))
		q.w.WriteHeader(st)
		_, _ = io.WriteString(q.w, body)
		return nil
	}
	q.w.Header().Set("Content-Length", itoa(rg.Length))
	if q.r.Method == http.MethodHead {
		q.w.WriteHeader(status)
		return nil
	}
	if rc == nil || status != http.StatusOK {
		if rc != nil {
			discard(rc)
		}
		var got ObjectInfo
		rc, got, err = q.s.backend.OpenObject(q.r.Context(), q.p.Account, q.p.Container, q.p.Object, rg.Start, rg.Length)
		if err != nil {
			q.w.Header().Del("Content-Length")
			return err
		}
		defer discard(rc)
		if got.ETag != info.ETag || !got.Timestamp.Equal(info.Timestamp) {
			q.w.Header().Del("Content-Length")
			return fmt.Errorf("slo %s changed while opening: %w", q.p.Object, ErrUnavailable)
		}
	}
	q.w.WriteHeader(status)
	return q.streamExactly(rc, rg.Length, "slo "+q.p.Object)
}

// deleteSLO serves DELETE ?multipart-manifest=delete (slo.py's
// handle_multipart_delete with bulk.py's handle_delete_iter): the
// segments (sub-SLOs' segments first, breadth first), then the manifest;
// 200 with a bulk-style body in the Accept format that counts what was
// deleted and not found and lists the failures.
func (q *request) deleteSLO() error {
	ctx := q.r.Context()
	format := acceptBestMatch(q.r.Header.Get("Accept"))
	type item struct {
		name    string // "/container/object"
		subSLO  bool
		errCode int
		errMsg  string
	}
	deleted, notFound := 0, 0
	var failures [][2]string
	fields := func(status, body string) [][2]any {
		return [][2]any{{"Response Status", status}, {"Response Body", body}, {"Number Deleted", deleted}, {"Number Not Found", notFound}}
	}
	respStatus, respBody := statusLine(http.StatusOK), ""
	badGateway := false
	if format == "" {
		respStatus = statusLine(http.StatusNotAcceptable)
	} else {
		queue := []item{{name: "/" + q.p.Container + "/" + q.p.Object, subSLO: true}}
		for len(queue) > 0 {
			if len(queue) > MaxManifestSegments*10 {
				respStatus, respBody = statusLine(http.StatusBadRequest), "Too many buffered slo segments to delete."
				break
			}
			it := queue[0]
			queue = queue[1:]
			c, o, _ := strings.Cut(strings.TrimPrefix(it.name, "/"), "/")
			if it.subSLO {
				segs, code, msg := q.sloSegmentsOf(ctx, c, o)
				if code != 0 {
					it.errCode, it.errMsg = code, msg
				}
				for _, s := range segs {
					if s.Name == "" {
						continue
					}
					queue = append(queue, item{name: s.Name, subSLO: s.SubSLO})
				}
				it.subSLO = false
				queue = append(queue, it)
				continue
			}
			if it.errCode == http.StatusNotFound {
				notFound++
				continue
			}
			if it.errCode != 0 {
				failures = append(failures, [2]string{escapePath(it.name), it.errMsg})
				continue
			}
			err := q.authorizeIn(q.p.Account, c, true)
			if err == nil {
				err = q.s.backend.DeleteObject(ctx, q.p.Account, c, o)
			}
			st := http.StatusNoContent
			if err != nil {
				st, _ = statusOf(err)
			}
			switch {
			case st/100 == 2:
				deleted++
			case st == http.StatusNotFound:
				notFound++
			default:
				if st/100 == 5 {
					badGateway = true
				}
				failures = append(failures, [2]string{escapePath(it.name), statusLine(st)})
			}
		}
		switch {
		case respBody != "":
		case len(failures) > 0:
			respStatus = statusLine(http.StatusBadRequest)
			if badGateway {
				respStatus = "502 Bad Gateway"
			}
		case deleted == 0 && notFound == 0:
			respStatus, respBody = statusLine(http.StatusBadRequest), "Invalid bulk delete."
		}
	}
	body := bulkBody(format, fields(respStatus, respBody), failures, "delete")
	ct := format
	if ct == "" {
		ct = "text/html; charset=UTF-8"
	}
	q.writeStreamed(http.StatusOK, ct, body, true)
	return nil
}

// writeStreamed answers status with body; chunked, without
// Content-Length, as Swift streams its bulk-style bodies.
func (q *request) writeStreamed(status int, contentType string, body []byte, chunked bool) {
	h := q.w.Header()
	h.Set("Content-Type", contentType)
	if !chunked {
		h.Set("Content-Length", itoa(int64(len(body))))
	}
	q.w.WriteHeader(status)
	if chunked {
		if f, ok := q.w.(http.Flusher); ok {
			f.Flush()
		}
	}
	_, _ = q.w.Write(body)
}

// sloSegmentsOf is slo.py's get_slo_segments: the stored manifest of
// container/object, or the error code and message a bulk delete reports
// (404 "SLO manifest not found", 400 "Not an SLO manifest", ...).
func (q *request) sloSegmentsOf(ctx context.Context, container, object string) ([]storedSegment, int, string) {
	if err := q.authorizeIn(q.p.Account, container, false); err != nil {
		st, _ := statusOf(err)
		if st == http.StatusUnauthorized {
			return nil, st, "401 Unauthorized"
		}
		return nil, st, "Unable to load SLO manifest or segment."
	}
	info, err := q.s.backend.Object(ctx, q.p.Account, container, object)
	if err == nil && expired(info, time.Now()) {
		err = ErrNotFound
	}
	if err != nil {
		st, _ := statusOf(err)
		if st == http.StatusNotFound {
			return nil, st, "SLO manifest not found"
		}
		return nil, http.StatusInternalServerError, "Unable to load SLO manifest or segment."
	}
	if info.SLOManifest == nil {
		return nil, http.StatusBadRequest, "Not an SLO manifest"
	}
	var segs []storedSegment
	if err := json.Unmarshal(info.SLOManifest, &segs); err != nil {
		return nil, http.StatusInternalServerError, "Unable to load SLO manifest"
	}
	return segs, 0, ""
}

// copySLOManifest serves COPY (or X-Copy-From) of an SLO with
// ?multipart-manifest=get: the destination becomes the same static large
// object (its manifest, SLO ETag and content: the source's content
// composed again, no bytes copied). opts are the destination's metadata.
func (q *request) copySLOManifest(src, dst swiftPath, info ObjectInfo, opts PutOptions) (ObjectInfo, error) {
	comp, ok := q.s.backend.(Composer)
	if !ok || src.Account != dst.Account {
		return ObjectInfo{}, badRequestHTML("Static large objects are not supported")
	}
	copts := ComposeOptions{PutOptions: opts, SLOManifest: info.SLOManifest}
	copts.ETag, copts.Size = info.ETag, info.Size
	parts := []ComposePart{{Container: src.Container, Object: src.Object, ETag: info.ETag, Length: info.Size}}
	return comp.ComposeObject(q.r.Context(), dst.Account, dst.Container, dst.Object, parts, copts)
}

// sloInfo is the "slo" key of /info (slo.py's register_swift_info), nil
// when the Backend cannot compose.
func (s *Server) sloInfo() map[string]any {
	if _, ok := s.backend.(Composer); !ok {
		return nil
	}
	return map[string]any{
		"max_manifest_segments": MaxManifestSegments,
		"max_manifest_size":     MaxManifestSize,
		"yield_frequency":       sloYieldFrequency,
		"min_segment_size":      1,
		"allow_async_delete":    false,
	}
}
