package glanceshim

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The manifest side of slo.go: parsing and validating a manifest PUT
// (slo.py's parse_and_validate_input), the stored and raw JSON forms
// (Python's json.dumps), and bulk.py's response bodies.

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
		return nil, badRequestHTML("Manifest must be valid JSON.\n")
	}
	list, ok := raw.([]any)
	if !ok {
		return nil, badRequestHTML("Manifest must be a list.\n")
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
			q[j] = pyJSON(k)
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
		size, ok := pyIntJSON(v)
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

// pyIntJSON is Python's int() of a JSON value as slo.py applies it to
// size_bytes: integers, floats (truncated), decimal strings and booleans.
func pyIntJSON(v any) (int64, bool) {
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
		return pyInt(x)
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
	writePyList(&b, segs, "data", dataSegment, func(b *bytes.Buffer, s storedSegment) {
		b.WriteString(`{"name": ` + pyJSON(s.Name) + `, "bytes": ` + itoa(s.Bytes) +
			`, "hash": ` + pyJSON(s.Hash) + `, "content_type": ` + pyJSON(s.ContentType) +
			`, "last_modified": ` + pyJSON(s.LastModified))
		if s.Range != "" {
			b.WriteString(`, "range": ` + pyJSON(s.Range))
		}
		if s.SubSLO {
			b.WriteString(`, "sub_slo": true`)
		}
		b.WriteByte('}')
	})
	return b.Bytes()
}

// dataSegment is a stored segment's base64 data when it is a data
// segment (no name), for writePyList.
func dataSegment(s storedSegment) (string, bool) { return s.Data, s.Name == "" }

// rawManifest is slo.py's convert_segment_listing: the stored manifest in
// the form a PUT takes (?multipart-manifest=get&format=raw), keys sorted.
func rawManifest(stored []byte) []byte {
	var segs []storedSegment
	_ = json.Unmarshal(stored, &segs)
	var b bytes.Buffer
	writePyList(&b, segs, "data", dataSegment, func(b *bytes.Buffer, s storedSegment) {
		b.WriteString(`{"etag": ` + pyJSON(s.Hash) + `, "path": ` + pyJSON(s.Name))
		if s.Range != "" {
			b.WriteString(`, "range": ` + pyJSON(s.Range))
		}
		b.WriteString(`, "size_bytes": ` + itoa(s.Bytes) + "}")
	})
	return b.Bytes()
}

// pyJSON is pyJSONString's JSON string as a string.
func pyJSON(s string) string {
	var b bytes.Buffer
	pyJSONString(&b, s)
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
			b.WriteString(pyJSON(f[0].(string)) + ": ")
			switch v := f[1].(type) {
			case string:
				b.WriteString(pyJSON(v))
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
			b.WriteString("[" + pyJSON(e[0]) + ", " + pyJSON(e[1]) + "]")
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
