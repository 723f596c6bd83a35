package glanceshim

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"
)

// Bulk operations (Swift 2.30's bulk middleware, swift/common/middleware/
// bulk.py): POST or DELETE ?bulk-delete deletes a newline-separated list
// of URL-encoded "container/object" or "container" paths of the account;
// PUT ?extract-archive=tar|tar.gz|tar.bz2 (extract.go) stores the regular
// files of a tar archive as objects. Like Swift's middleware, which sits
// before auth in the proxy pipeline, each item is a subrequest through the
// whole pipeline (auth, ACLs, the object and container handlers), so an
// item fails exactly as the same request alone would; the outer response
// is always 200 and its body carries the outcome ("Response Status").

// Swift's bulk limits (filter_factory defaults), advertised in /info
// under bulk_delete and bulk_upload.
const (
	// MaxDeletesPerRequest is max_deletes_per_request: more paths in one
	// bulk delete is 413 "Maximum Bulk Deletes: 10000 per request".
	MaxDeletesPerRequest = 10000
	// MaxFailedDeletes is max_failed_deletes: a bulk delete stops with
	// 400 "Max delete failures exceeded" after this many failed items.
	MaxFailedDeletes = 1000
	// MaxContainersPerExtraction is max_containers_per_extraction: an
	// archive that creates more containers is 400.
	MaxContainersPerExtraction = 10000
	// MaxFailedExtractions is max_failed_extractions: extraction stops
	// after this many failed files.
	MaxFailedExtractions = 1000
	// bulkMaxPathLength is Swift's max_path_length: the longest
	// "container/object" (MAX_OBJECT_NAME_LENGTH +
	// MAX_CONTAINER_NAME_LENGTH + 2), in bytes; a bulk delete line over
	// twice this is 400 "Invalid File Name".
	bulkMaxPathLength = MaxObjectNameLength + MaxContainerNameLength + 2
	// bulkYieldFrequency is Swift's yield_frequency: while items are
	// processed, a space (first, for XML, the XML declaration) is sent this
	// often so that clients and proxies do not time out.
	bulkYieldFrequency = 10 * time.Second
	// bulkDeleteConcurrency is the number of deletes run at once (Swift's
	// delete_concurrency default is 2; the order of the response's Errors
	// is the request's order either way).
	bulkDeleteConcurrency = 4
)

// bulkFormats are Swift's ACCEPTABLE_FORMATS, in preference order.
var bulkFormats = []string{"text/plain", "application/json", "application/xml", "text/xml"}

// bulk dispatches a bulk request before authentication, as Swift's
// pipeline does (bulk precedes tempauth): handled false means the request
// is not a bulk operation.
func (q *request) bulk() (handled bool, err error) {
	if q.p.Kind != kindAccount && q.p.Kind != kindContainer && q.p.Kind != kindObject {
		return false, nil
	}
	if q.r.URL.RawQuery == "" {
		return false, nil // most requests: no query to parse
	}
	v := q.r.URL.Query()
	if q.r.Method == http.MethodPut && v.Has("extract-archive") {
		// Swift checks extract-archive first; a ?bulk-delete on the same
		// PUT does nothing.
		var comp string
		switch strings.Trim(strings.ToLower(v.Get("extract-archive")), ".") {
		case "tar":
			comp = ""
		case "tar.gz":
			comp = "gz"
		case "tar.bz2":
			comp = "bz2"
		default:
			return true, badRequestHTML("Unsupported archive format")
		}
		q.bulkAuth()
		q.extractArchive(comp)
		return true, nil
	}
	if v.Has("bulk-delete") && (q.r.Method == http.MethodPost || q.r.Method == http.MethodDelete) {
		q.bulkAuth()
		q.bulkDelete()
		return true, nil
	}
	return false, nil
}

// bulkAuth authenticates the outer request only to log a bad token: the
// subrequests carry the token and fail one by one (401) as in Swift.
func (q *request) bulkAuth() {
	if err := q.authenticate(); err != nil {
		q.s.log.Debug("bulk request with an invalid token", zap.String("trans_id", q.txid), zap.Error(err))
		q.id = nil
	}
}

// bulkResult is the outcome of a bulk operation: Swift's resp_dict
// (fields in its insertion order) and failed_files.
type bulkResult struct {
	keys   []string
	vals   map[string]any // string or int
	errors [][2]string    // quoted name, status line
}

func newBulkResult(kv ...any) *bulkResult {
	b := &bulkResult{vals: map[string]any{}}
	for i := 0; i+1 < len(kv); i += 2 {
		k := kv[i].(string)
		b.keys = append(b.keys, k)
		b.vals[k] = kv[i+1]
	}
	return b
}

func (b *bulkResult) set(k string, v any) { b.vals[k] = v }
func (b *bulkResult) inc(k string)        { b.vals[k] = b.vals[k].(int) + 1 }
func (b *bulkResult) num(k string) int    { return b.vals[k].(int) }

// fail sets Response Status and Body from a status and body (Swift's
// HTTPException caught by the middleware: err.status, err.body).
func (b *bulkResult) fail(status int, body string) {
	b.set("Response Status", statusLine(status))
	b.set("Response Body", body)
}

// render is Swift's get_response_body: JSON (json.dumps, ASCII-only, the
// dict's order), XML (sorted keys, root tag root, no XML declaration) or
// plain text (sorted "Key: value" lines, then "Errors:" and one
// "name, status" line per failure).
func (b *bulkResult) render(format, root string) []byte {
	var out bytes.Buffer
	sorted := append([]string(nil), b.keys...)
	sort.Strings(sorted)
	switch {
	case format == "application/json":
		out.WriteByte('{')
		for _, k := range b.keys {
			pyJSONString(&out, k)
			out.WriteString(": ")
			switch v := b.vals[k].(type) {
			case int:
				out.WriteString(strconv.Itoa(v))
			case string:
				pyJSONString(&out, v)
			}
			out.WriteString(", ")
		}
		out.WriteString(`"Errors": [`)
		for i, e := range b.errors {
			if i > 0 {
				out.WriteString(", ")
			}
			out.WriteByte('[')
			pyJSONString(&out, e[0])
			out.WriteString(", ")
			pyJSONString(&out, e[1])
			out.WriteByte(']')
		}
		out.WriteString("]}")
	case strings.HasSuffix(format, "/xml"):
		out.WriteString("<" + root + ">\n")
		for _, k := range sorted {
			xk := strings.ToLower(strings.ReplaceAll(k, " ", "_"))
			out.WriteString("<" + xk + ">" + saxEscape(fmt.Sprint(b.vals[k])) + "</" + xk + ">\n")
		}
		out.WriteString("<errors>\n")
		for _, e := range b.errors {
			out.WriteString("<object><name>" + saxEscape(e[0]) + "</name><status>" + saxEscape(e[1]) + "</status></object>\n")
		}
		out.WriteString("</errors>\n</" + root + ">\n")
	default:
		for _, k := range sorted {
			fmt.Fprintf(&out, "%s: %v\n", k, b.vals[k])
		}
		out.WriteString("Errors:\n")
		for _, e := range b.errors {
			out.WriteString(e[0] + ", " + e[1] + "\n")
		}
	}
	return out.Bytes()
}

// pyJSONString writes s as Python's json.dumps does (ensure_ascii: every
// character outside ' '..'~' as \uXXXX, surrogate pairs beyond the BMP).
func pyJSONString(b *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r < 0x20 || (r >= 0x7f && r < 0x10000):
			b.WriteString(`\u`)
			for sh := 12; sh >= 0; sh -= 4 {
				b.WriteByte(hex[(r>>uint(sh))&15])
			}
		case r >= 0x10000:
			r -= 0x10000
			for _, u := range []rune{0xd800 + (r >> 10), 0xdc00 + (r & 0x3ff)} {
				b.WriteString(`\u`)
				for sh := 12; sh >= 0; sh -= 4 {
					b.WriteByte(hex[(u>>uint(sh))&15])
				}
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
}

// saxEscape is Python's xml.sax.saxutils.escape: &, < and >.
func saxEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// swiftTitles completes swiftReasons' titles for status lines (swob's
// RESPONSE_REASONS).
var swiftTitles = map[int]string{
	200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 206: "Partial Content",
	304: "Not Modified", 402: "Payment Required", 406: "Not Acceptable", 410: "Gone",
	414: "Request URI Too Long", 415: "Unsupported Media Type", 417: "Expectation Failed",
	502: "Bad Gateway", 504: "Gateway Timeout",
}

// statusLine is swob's Response.status: "404 Not Found".
func statusLine(code int) string {
	if r, ok := swiftReasons[code]; ok {
		return strconv.Itoa(code) + " " + r[0]
	}
	if t, ok := swiftTitles[code]; ok {
		return strconv.Itoa(code) + " " + t
	}
	return strconv.Itoa(code) + " " + http.StatusText(code)
}

// bestMatch is swob's Accept.best_match as the bulk middleware uses it:
// "" both when nothing matches and when the header is malformed (the
// middleware then reports 406 in the body).
func bestMatch(accept string, options []string) string {
	m, _ := bestMatchAccept(accept, options)
	return m
}

// errBadAccept is a malformed Accept header (swob raises ValueError).
var errBadAccept = errors.New("invalid accept header")

// bestMatchAccept is swob's Accept.best_match: the first option matching
// the Accept header's media ranges in order of quality (then exact types
// before wildcards, else in header order); no header gives the first
// option; "" when none matches; errBadAccept when the header does not
// parse (each element must be token/token with ;name=value parameters,
// at most one q).
func bestMatchAccept(accept string, options []string) (string, error) {
	if accept == "" {
		return options[0], nil
	}
	type cand struct {
		typ, sub string
		q        float64
		exact    bool
	}
	var cs []cand
	for _, part := range strings.Split(accept, ",") {
		params := strings.Split(part, ";")
		mt := strings.TrimSpace(params[0])
		typ, sub, ok := strings.Cut(mt, "/")
		if !ok || !isToken(typ) || !isToken(sub) {
			return "", errBadAccept
		}
		c := cand{typ: typ, sub: sub, q: 1, exact: typ != "*" && sub != "*"}
		seenQ := false
		for _, p := range params[1:] {
			name, val, ok := strings.Cut(p, "=")
			name, val = strings.TrimSpace(name), strings.TrimSpace(val)
			if !ok || !isToken(name) || val == "" {
				return "", errBadAccept
			}
			if name == "q" {
				f, err := strconv.ParseFloat(val, 64)
				if seenQ || err != nil {
					return "", errBadAccept
				}
				seenQ, c.q = true, f
			}
		}
		cs = append(cs, c)
	}
	// Python's stable sort with reverse=True by (quality, exact).
	sort.SliceStable(cs, func(i, j int) bool {
		if cs[i].q != cs[j].q {
			return cs[i].q > cs[j].q
		}
		return cs[i].exact && !cs[j].exact
	})
	for _, c := range cs {
		for _, o := range options {
			ot, os, _ := strings.Cut(o, "/")
			if (c.typ == "*" || c.typ == ot) && (c.sub == "*" || c.sub == os) {
				return o, nil
			}
		}
	}
	return "", nil
}

// isToken reports whether s is an RFC 2616 token (swob's token regex).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= 0x20 || c == 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return false
		}
	}
	return true
}

// bulkOut streams a bulk response: 200 at the first write, heartbeats
// while working, then the result.
type bulkOut struct {
	q       *request
	format  string // "" : no acceptable format
	started bool
	last    time.Time
	toYield string
	sep     string
}

func (q *request) newBulkOut() *bulkOut {
	o := &bulkOut{q: q, format: bestMatch(q.r.Header.Get("Accept"), bulkFormats), last: time.Now(), toYield: " "}
	if strings.HasSuffix(o.format, "/xml") {
		o.toYield = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"
	}
	return o
}

func (o *bulkOut) start() {
	if o.started {
		return
	}
	o.started = true
	h := o.q.w.Header()
	if o.format != "" {
		h.Set("Content-Type", o.format)
	} else {
		h.Set("Content-Type", "text/html; charset=UTF-8")
	}
	o.q.w.WriteHeader(http.StatusOK)
	// No Content-Length: the body is streamed (chunked), as Swift's
	// app_iter is.
	_ = http.NewResponseController(o.q.w).Flush()
}

// tick sends a heartbeat when bulkYieldFrequency has passed since the
// last one.
func (o *bulkOut) tick() {
	if time.Since(o.last) < bulkYieldFrequency {
		return
	}
	o.last = time.Now()
	o.start()
	_, _ = io.WriteString(o.q.w, o.toYield)
	_ = http.NewResponseController(o.q.w).Flush()
	o.toYield, o.sep = " ", "\r\n\r\n"
}

func (o *bulkOut) finish(res *bulkResult, root string) {
	o.start()
	body := res.render(o.format, root)
	_, _ = io.WriteString(o.q.w, o.sep)
	_, _ = o.q.w.Write(body)
}

// bulkDelete serves ?bulk-delete (Swift's handle_delete_iter): objects
// first, then containers, each through a DELETE subrequest.
func (q *request) bulkDelete() {
	out := q.newBulkOut()
	res := newBulkResult("Response Status", statusLine(http.StatusOK), "Response Body", "",
		"Number Deleted", 0, "Number Not Found", 0)
	defer out.finish(res, "delete")
	if out.format == "" {
		res.fail(http.StatusNotAcceptable, "")
		return
	}
	if ct := q.r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "text/plain") {
		res.fail(http.StatusNotAcceptable, "")
		return
	}
	names, st, msg := q.readDeleteList()
	if st != 0 {
		res.fail(st, msg)
		return
	}
	failType := http.StatusBadRequest
	aborted := false
	for phase := 0; phase < 2 && !aborted; phase++ {
		var batch []string
		run := func() {
			statuses := q.deleteBatch(batch)
			for i, name := range batch {
				out.tick()
				switch s := statuses[i]; {
				case s < 0: // not a valid UTF-8 path
					res.errors = append(res.errors, [2]string{pyQuote(name, "/"), statusLine(http.StatusPreconditionFailed)})
				case s/100 == 2:
					res.inc("Number Deleted")
				case s == http.StatusNotFound:
					res.inc("Number Not Found")
				default:
					if s/100 == 5 {
						failType = http.StatusBadGateway
					}
					res.errors = append(res.errors, [2]string{pyQuote(name, "/"), statusLine(s)})
				}
			}
			batch = batch[:0]
			if len(res.errors) >= MaxFailedDeletes {
				aborted = true
			}
		}
		for _, name := range names {
			if name == "" || strings.Contains(strings.Trim(name, "/"), "/") != (phase == 0) {
				continue
			}
			batch = append(batch, name)
			// A batch never holds more items than may still fail, so the
			// request stops at MaxFailedDeletes errors as Swift's does
			// (which runs delete_concurrency deletes at a time), not up
			// to a batch beyond it.
			if len(batch) >= min(bulkDeleteConcurrency*8, MaxFailedDeletes-len(res.errors)) {
				run()
				if aborted {
					break
				}
			}
		}
		if len(batch) > 0 && !aborted {
			run()
		}
	}
	switch {
	case aborted:
		res.fail(http.StatusBadRequest, "Max delete failures exceeded")
	case len(res.errors) > 0:
		res.set("Response Status", statusLine(failType))
	case res.num("Number Deleted") == 0 && res.num("Number Not Found") == 0:
		res.fail(http.StatusBadRequest, "Invalid bulk delete.")
	}
}

// readDeleteList reads the request body's newline-separated, URL-encoded
// paths (Swift's get_objs_to_delete): 411 without Content-Length or
// chunked encoding, 413 beyond MaxDeletesPerRequest, 400 for a line over
// twice bulkMaxPathLength. Names are unquoted once; invalid UTF-8 stays
// as bytes (the delete then reports 412).
func (q *request) readDeleteList() (names []string, status int, msg string) {
	r := q.r
	chunked := len(r.TransferEncoding) > 0 && strings.EqualFold(r.TransferEncoding[0], "chunked")
	if _, ok := r.Header["Content-Length"]; !ok && !chunked && r.ContentLength <= 0 {
		return nil, http.StatusLengthRequired, ""
	}
	q.body = &bodyReader{r: r.Body, declared: r.ContentLength, max: int64(MaxDeletesPerRequest+1) * bulkMaxPathLength * 2,
		rc: http.NewResponseController(q.w), timeout: q.s.cfg.ClientTimeout}
	if chunked {
		q.body.declared = -1
	}
	defer q.body.clearDeadline()
	var line []byte
	buf := make([]byte, bulkMaxPathLength)
	eof := false
	for {
		if i := bytes.IndexByte(line, '\n'); i >= 0 {
			names = append(names, unquoteLine(line[:i]))
			line = line[i+1:]
		} else if eof {
			if n := unquoteLine(line); n != "" {
				names = append(names, n)
			}
			return names, 0, ""
		} else {
			n, err := q.body.Read(buf)
			line = append(line, buf[:n]...)
			if err == io.EOF {
				eof = true
			} else if err != nil {
				st, _ := statusOf(err)
				return nil, st, ""
			}
		}
		if len(names) > MaxDeletesPerRequest {
			return nil, http.StatusRequestEntityTooLarge, fmt.Sprintf("Maximum Bulk Deletes: %d per request", MaxDeletesPerRequest)
		}
		if len(line) > bulkMaxPathLength*2 {
			return nil, http.StatusBadRequest, "Invalid File Name"
		}
	}
}

// unquoteLine strips whitespace and percent-decodes one line as Python's
// unquote: malformed escapes stay literal.
func unquoteLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if s2, err := url.PathUnescape(s); err == nil {
		return s2
	}
	var out strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				out.WriteByte(byte(v))
				i += 2
				continue
			}
		}
		out.WriteByte(s[i])
	}
	return out.String()
}

// deleteBatch deletes names (relative to the account) concurrently and
// returns each one's status (-1: not valid UTF-8, no request made).
func (q *request) deleteBatch(names []string) []int {
	st := make([]int, len(names))
	sem := make(chan struct{}, bulkDeleteConcurrency)
	var wg sync.WaitGroup
	for i, name := range names {
		p := "/" + q.p.Version + "/" + q.p.Account + "/" + strings.TrimLeft(name, "/")
		if !utf8.ValidString(p) || strings.IndexByte(p, 0) >= 0 {
			st[i] = -1
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			st[i] = q.subrequest(http.MethodDelete, escapePath(p), nil, 0, nil)
		}()
	}
	wg.Wait()
	return st
}

// subRecorder is the ResponseWriter of a subrequest: it keeps the status.
type subRecorder struct {
	h      http.Header
	status int
}

func (r *subRecorder) Header() http.Header { return r.h }
func (r *subRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return len(b), nil
}
func (r *subRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

// subrequest runs method on escapedPath through the request pipeline
// (auth included) with the outer request's tokens and extra headers, body
// of size bytes (nil: none), and returns the response status (Swift's
// make_subrequest).
func (q *request) subrequest(method, escapedPath string, body io.Reader, size int64, extra http.Header) int {
	r := q.r.Clone(q.r.Context())
	r.Method = method
	u, err := url.Parse(escapedPath)
	if err != nil {
		return http.StatusBadRequest
	}
	r.URL = u
	r.RequestURI = ""
	r.Header = http.Header{}
	for _, k := range []string{"X-Auth-Token", "X-Storage-Token", "X-Service-Token", "User-Agent"} {
		if v := q.r.Header.Values(k); len(v) > 0 {
			r.Header[k] = v
		}
	}
	for k, v := range extra {
		r.Header[k] = v
	}
	r.TransferEncoding = nil
	r.ContentLength = size
	if body == nil {
		r.Body = http.NoBody
	} else {
		r.Body = io.NopCloser(body)
		r.Header.Set("Content-Length", strconv.FormatInt(size, 10))
	}
	rec := &subRecorder{h: http.Header{}}
	sq := &request{s: q.s, r: r, resp: echo.NewResponse(rec, q.s.e), start: time.Now(), txid: q.txid}
	sq.w = sq.resp
	func() {
		defer func() {
			if p := recover(); p != nil {
				q.s.log.Error("bulk subrequest panic", zap.String("trans_id", q.txid), zap.Any("panic", p))
				rec.WriteHeader(http.StatusInternalServerError)
			}
		}()
		if err := sq.route(); err != nil {
			sq.fail(err)
		}
	}()
	if rec.status == 0 {
		return http.StatusOK
	}
	return rec.status
}

// addBulkInfo adds the bulk middleware's /info keys, as Swift's
// register_swift_info calls do.
func addBulkInfo(info map[string]any) {
	info["bulk_delete"] = map[string]any{
		"max_deletes_per_request": MaxDeletesPerRequest,
		"max_failed_deletes":      MaxFailedDeletes,
	}
	info["bulk_upload"] = map[string]any{
		"max_containers_per_extraction": MaxContainersPerExtraction,
		"max_failed_extractions":        MaxFailedExtractions,
	}
}
