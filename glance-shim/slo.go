package glanceshim

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
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

// sloSegment is one entry of a manifest as validated: an object-backed
// segment (Path set) or inline data (Data set, decoded).
type sloSegment struct {
	Path      string // as given, e.g. "/container/object"
	ETag      *string
	SizeBytes *int64
	Range     string // "" or a single byte-range-spec as given
	Data      []byte
	isData    bool
}

// parseManifest is slo.py's parse_and_validate_input: the manifest must
// be a JSON list of segment objects; every problem is reported as one
// "Index N: ..." line of a 400 text/plain body. self is the manifest's
// own "container/object" (a segment may not name it).
func parseManifest(body []byte, self string) ([]sloSegment, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil || dec.More() {
		return nil, badRequest("Manifest must be valid JSON.\n")
	}
	list, ok := raw.([]any)
	if !ok {
		return nil, badRequest("Manifest must be a list.\n")
	}
	var errs []string
	segs := make([]sloSegment, 0, len(list))
	allData := len(list) > 0
	for i, item := range list {
		d, ok := item.(map[string]any)
		if !ok {
			errs = append(errs, fmt.Sprintf("Index %d: not a JSON object", i))
			allData = false
			continue
		}
		seg, msg := parseSegment(d, i, len(list), self)
		if _, isData := d["data"]; !isData {
			allData = false
		}
		if msg != "" {
			errs = append(errs, fmt.Sprintf("Index %d: %s", i, msg))
			continue
		}
		segs = append(segs, seg)
	}
	if allData {
		errs = append(errs, "Inline data segments require at least one object-backed segment.")
	}
	if len(errs) > 0 {
		return nil, sloManifestError(strings.Join(errs, "\n") + "\n")
	}
	return segs, nil
}

// sloManifestError is a manifest that fails validation: 400 with the
// problems as a text/plain body (slo.py sets that content type, where
// other 400s are text/html).
type sloManifestError string

func (e sloManifestError) Error() string { return "invalid slo manifest: " + string(e) }

// parseSegment validates one manifest entry; msg is the problem, if any.
func parseSegment(d map[string]any, i, n int, self string) (seg sloSegment, msg string) {
	kind := ""
	if _, ok := d["data"]; ok {
		kind = "data"
	} else if _, ok := d["path"]; ok {
		kind = "path"
	} else {
		// Swift 2.30 answers 500 here (a bytes/str mix-up in slo.py);
		// Nitro sends the message slo.py means to send.
		return seg, "expected keys to include one of 'data' or 'path'"
	}
	allowed := map[string]bool{"data": true}
	if kind == "path" {
		allowed = map[string]bool{"path": true, "range": true, "etag": true, "size_bytes": true}
	}
	var extra []string
	for k := range d {
		if !allowed[k] {
			extra = append(extra, k)
		}
	}
	if len(extra) > 0 {
		sortStrings(extra)
		q := make([]string, len(extra))
		for j, k := range extra {
			q[j] = pyJSONString(k)
		}
		return seg, "extraneous keys " + strings.Join(q, ", ")
	}
	if kind == "data" {
		s, ok := d["data"].(string)
		if !ok {
			return seg, "data must be valid base64"
		}
		b, err := strictB64(s)
		if err != nil {
			return seg, "data must be valid base64"
		}
		if len(b) < 1 {
			return seg, "too small; each segment must be at least 1 byte."
		}
		return sloSegment{Data: b, isData: true}, ""
	}
	p, ok := d["path"].(string)
	if !ok {
		return seg, `"path" must be a string`
	}
	seg.Path = p
	switch e := d["etag"].(type) {
	case nil:
	case string:
		seg.ETag = &e
	default:
		return seg, `"etag" must be a string or null (if provided)`
	}
	if !strings.Contains(strings.Trim(p, "/"), "/") {
		return seg, "path does not refer to an object. Path must be of the form /container/object."
	}
	if v, ok := d["size_bytes"]; ok && v != nil {
		size, ok := pyInt(v)
		if !ok {
			return seg, "invalid size_bytes"
		}
		if size < 1 && i != n-1 {
			return seg, "too small; each segment must be at least 1 byte."
		}
		seg.SizeBytes = &size
	}
	if strings.TrimLeft(p, "/") == self {
		return seg, "manifest must not include itself as a segment"
	}
	if r, ok := d["range"]; ok && r != nil && r != "" && r != false {
		rs, ok := r.(string)
		if !ok || !validRangeSpec(rs) {
			return seg, "invalid range"
		}
		if strings.Contains(rs, ",") {
			return seg, "multiple ranges (only one allowed)"
		}
		if seg.SizeBytes != nil {
			if got, _ := parseRange("bytes="+rs, *seg.SizeBytes); len(got) != 1 {
				return seg, "unsatisfiable range"
			}
		}
		seg.Range = rs
	}
	return seg, ""
}

// validRangeSpec reports whether "bytes="+s is a syntactically valid
// Range (swob.Range's rules; spaces are removed first).
func validRangeSpec(s string) bool {
	s = strings.ReplaceAll(s, " ", "")
	for _, part := range strings.Split(s, ",") {
		a, b, ok := strings.Cut(part, "-")
		if !ok || (a == "" && b == "") {
			return false
		}
		var start int64 = -1
		if a != "" {
			n, err := strconv.ParseInt(a, 10, 64)
			if err != nil {
				return false
			}
			start = n
		}
		if b != "" {
			n, err := parseDigits(b)
			if err != nil || (start >= 0 && n < start) {
				return false
			}
		}
	}
	return true
}

// pyInt is Python's int() of a JSON value as slo.py applies it to
// size_bytes: integers, floats (truncated), decimal strings and booleans.
func pyInt(v any) (int64, bool) {
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n, true
		}
		f, err := x.Float64()
		if err != nil {
			return 0, false
		}
		return int64(f), true
	case string:
		n, err := strconv.ParseInt(strings.ReplaceAll(strings.TrimSpace(x), "_", ""), 10, 64)
		return n, err == nil
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// strictB64 is Swift's strict_b64decode: standard alphabet only (no
// whitespace), '=' padding that Python's b64decode accepts.
func strictB64(s string) ([]byte, error) {
	core := strings.Trim(s, "=")
	for i := 0; i < len(core); i++ {
		c := core[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/') {
			return nil, errors.New("invalid base64 character")
		}
	}
	pad := (4 - len(core)%4) % 4
	if len(core)%4 == 1 || len(s)-len(core) < pad {
		return nil, errors.New("incorrect padding")
	}
	return base64.StdEncoding.DecodeString(core + strings.Repeat("=", pad))
}

// storedSegment is one entry of a stored manifest: Swift's JSON form, as
// ?multipart-manifest=get returns it.
type storedSegment struct {
	Name         string `json:"name,omitempty"`
	Bytes        int64  `json:"bytes"`
	Hash         string `json:"hash"`
	ContentType  string `json:"content_type"`
	LastModified string `json:"last_modified"`
	Range        string `json:"range,omitempty"`
	SubSLO       bool   `json:"sub_slo,omitempty"`
	Data         string `json:"data,omitempty"`
}

// encodeManifest is Python's json.dumps of the stored manifest (slo.py's
// data_for_storage): keys in slo.py's order, ", " and ": " separators,
// non-ASCII escaped.
func encodeManifest(segs []storedSegment) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, s := range segs {
		if i > 0 {
			b.WriteString(", ")
		}
		if s.Name == "" {
			b.WriteString(`{"data": ` + pyJSONString(s.Data) + "}")
			continue
		}
		b.WriteString(`{"name": ` + pyJSONString(s.Name) + `, "bytes": ` + itoa(s.Bytes) +
			`, "hash": ` + pyJSONString(s.Hash) + `, "content_type": ` + pyJSONString(s.ContentType) +
			`, "last_modified": ` + pyJSONString(s.LastModified))
		if s.Range != "" {
			b.WriteString(`, "range": ` + pyJSONString(s.Range))
		}
		if s.SubSLO {
			b.WriteString(`, "sub_slo": true`)
		}
		b.WriteByte('}')
	}
	b.WriteByte(']')
	return b.Bytes()
}

// rawManifest is slo.py's convert_segment_listing: the stored manifest in
// the form a PUT takes (?multipart-manifest=get&format=raw), keys sorted.
func rawManifest(stored []byte) []byte {
	var segs []storedSegment
	_ = json.Unmarshal(stored, &segs)
	var b bytes.Buffer
	b.WriteByte('[')
	for i, s := range segs {
		if i > 0 {
			b.WriteString(", ")
		}
		if s.Name == "" {
			b.WriteString(`{"data": ` + pyJSONString(s.Data) + "}")
			continue
		}
		b.WriteString(`{"etag": ` + pyJSONString(s.Hash) + `, "path": ` + pyJSONString(s.Name))
		if s.Range != "" {
			b.WriteString(`, "range": ` + pyJSONString(s.Range))
		}
		b.WriteString(`, "size_bytes": ` + itoa(s.Bytes) + "}")
	}
	b.WriteByte(']')
	return b.Bytes()
}

// pyJSONString is Python's json.dumps of a str (ensure_ascii).
func pyJSONString(s string) string {
	var b strings.Builder
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
			fmt.Fprintf(&b, `\u%04x`, r)
		case r >= 0x10000:
			r -= 0x10000
			fmt.Fprintf(&b, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func md5Hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

// sloFormats are bulk.py's ACCEPTABLE_FORMATS, in its order.
var sloFormats = []string{"text/plain", "application/json", "application/xml", "text/xml"}

// acceptBestMatch is swob's Accept.best_match over sloFormats: the first
// format the highest-q media range matches; no header: text/plain; "":
// nothing acceptable.
func acceptBestMatch(header string) string {
	header = strings.TrimSpace(header)
	if header == "" {
		return sloFormats[0]
	}
	type mr struct {
		typ, sub string
		q        float64
	}
	var ranges []mr
	for _, part := range strings.Split(header, ",") {
		fields := strings.Split(part, ";")
		t, s, ok := strings.Cut(strings.TrimSpace(fields[0]), "/")
		if !ok {
			return "text/plain" // a malformed header: slo.py ignores it
		}
		q := 1.0
		for _, p := range fields[1:] {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.TrimSpace(k) == "q" {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					q = f
				}
			}
		}
		// (swob keeps q=0 ranges too.)
		ranges = append(ranges, mr{strings.ToLower(t), strings.ToLower(s), q})
	}
	// Stable sort by q, highest first.
	for i := 1; i < len(ranges); i++ {
		for j := i; j > 0 && ranges[j].q > ranges[j-1].q; j-- {
			ranges[j], ranges[j-1] = ranges[j-1], ranges[j]
		}
	}
	for _, r := range ranges {
		for _, f := range sloFormats {
			ft, fs, _ := strings.Cut(f, "/")
			if (r.typ == "*" || r.typ == ft) && (r.sub == "*" || r.sub == fs) {
				return f
			}
		}
	}
	return ""
}

// bulkBody is bulk.py's get_response_body: the body of a bulk-style
// answer in format (JSON, XML or plain text) with the result fields and
// the failures (quoted name, status or message).
func bulkBody(format string, fields [][2]any, failures [][2]string, root string) []byte {
	var b bytes.Buffer
	switch {
	case format == "application/json":
		b.WriteByte('{')
		for _, f := range fields {
			b.WriteString(pyJSONString(f[0].(string)) + ": ")
			switch v := f[1].(type) {
			case string:
				b.WriteString(pyJSONString(v))
			case int:
				b.WriteString(strconv.Itoa(v))
			}
			b.WriteString(", ")
		}
		b.WriteString(`"Errors": [`)
		for i, e := range failures {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("[" + pyJSONString(e[0]) + ", " + pyJSONString(e[1]) + "]")
		}
		b.WriteString("]}")
		return b.Bytes()
	case strings.HasSuffix(format, "/xml"):
		b.WriteString("<" + root + ">\n")
		for _, f := range sortedFields(fields) {
			k := strings.ToLower(strings.ReplaceAll(f[0].(string), " ", "_"))
			b.WriteString("<" + k + ">" + xmlEscape(fmt.Sprint(f[1])) + "</" + k + ">\n")
		}
		b.WriteString("<errors>\n")
		for _, e := range failures {
			b.WriteString("<object><name>" + xmlEscape(e[0]) + "</name><status>" + xmlEscape(e[1]) + "</status></object>\n")
		}
		b.WriteString("</errors>\n</" + root + ">\n")
		return b.Bytes()
	}
	for _, f := range sortedFields(fields) {
		fmt.Fprintf(&b, "%s: %v\n", f[0], f[1])
	}
	b.WriteString("Errors:\n")
	for _, e := range failures {
		b.WriteString(e[0] + ", " + e[1] + "\n")
	}
	return b.Bytes()
}

func sortedFields(fields [][2]any) [][2]any {
	out := append([][2]any(nil), fields...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j][0].(string) < out[j-1][0].(string); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// statusLine is a status as Swift writes it in bulk bodies: "404 Not
// Found".
func statusLine(status int) string {
	if r, ok := swiftReasons[status]; ok {
		return itoa(int64(status)) + " " + r[0]
	}
	return itoa(int64(status)) + " " + http.StatusText(status)
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
	return badRequest("X-Static-Large-Object is a reserved header. To create a static large object add query param multipart-manifest=put.")
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
		return badRequest("Static large objects are not supported")
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
		return ObjectInfo{}, badRequest("Static large objects are not supported")
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
