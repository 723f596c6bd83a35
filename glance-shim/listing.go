package glanceshim

import (
	"bytes"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// listFormat is a listing's response format.
type listFormat int

const (
	formatPlain listFormat = iota
	formatJSON
	formatXML
	formatTextXML // XML, sent as text/xml
)

// listRequest is a parsed listing query (Swift's container and account
// GET parameters).
type listRequest struct {
	opts   ListOptions
	format listFormat
	// empty means limit=0: answer an empty listing without asking the
	// Backend.
	empty bool
	// path is set for ?path= (legacy): only the direct children of
	// opts.Prefix are listed, no subdirs (Swift's list_objects_iter).
	path bool
}

// listingTypes are the content types a listing can have, in Swift's
// order (listing_formats.get_listing_content_type).
var listingTypes = []string{"text/plain", "application/json", "application/xml", "text/xml"}

// parseListing reads the listing parameters as Swift 2.30 does: first
// listing_formats (format= must be UTF-8, 400; it replaces the Accept
// header; a malformed Accept is 400 "Invalid Accept header", none
// acceptable 406), then validate_container_params (each of marker,
// end_marker, prefix, delimiter, path, format, reverse must be UTF-8: 400
// text/plain "\"<name>\" parameter not valid UTF-8"; a limit of digits
// over 10000 is 412 "Maximum limit is 10000", any other non-digit limit is
// ignored). path= sets the prefix to path + "/" and the delimiter to "/".
// Delimiters of any length are allowed; NUL is an ordinary character.
func parseListing(r *http.Request) (listRequest, error) {
	v := r.URL.Query()
	var lr listRequest
	accept := r.Header.Get("Accept")
	if f := v.Get("format"); f != "" {
		if !utf8.ValidString(f) {
			return lr, plainBadRequest(`"format" parameter not valid UTF-8`)
		}
		switch strings.ToLower(f) {
		case "json":
			accept = "application/json"
		case "xml":
			accept = "application/xml"
		default:
			accept = "text/plain"
		}
	}
	ct, err := bestMatchAccept(accept, listingTypes)
	if err != nil {
		return lr, httpErr(http.StatusBadRequest, "Invalid Accept header")
	}
	switch ct {
	case "":
		return lr, httpErr(http.StatusNotAcceptable, "")
	case "application/json":
		lr.format = formatJSON
	case "application/xml":
		lr.format = formatXML
	case "text/xml":
		lr.format = formatTextXML
	}
	for _, k := range []string{"marker", "end_marker", "prefix", "delimiter", "path", "format", "reverse"} {
		if !utf8.ValidString(v.Get(k)) {
			return lr, plainBadRequest(`"` + k + `" parameter not valid UTF-8`)
		}
	}
	lr.opts = ListOptions{
		Prefix: v.Get("prefix"), Delimiter: v.Get("delimiter"),
		Marker: v.Get("marker"), EndMarker: v.Get("end_marker"),
		Limit: ContainerListingMax, Reverse: truthy(v.Get("reverse")),
	}
	if v.Has("path") {
		p := v.Get("path")
		if p != "" {
			p = strings.TrimRight(p, "/") + "/"
		}
		lr.opts.Prefix, lr.opts.Delimiter, lr.path = p, "/", true
	}
	if s := v.Get("limit"); s != "" && isDigits(s) {
		n, err := strconv.Atoi(s)
		switch {
		case err != nil || n > ContainerListingMax:
			return lr, httpErr(http.StatusPreconditionFailed, "Maximum limit is "+strconv.Itoa(ContainerListingMax))
		case n == 0:
			lr.empty = true
		default:
			lr.opts.Limit = n
		}
	}
	return lr, nil
}

// isDigits is Python's str.isdigit for ASCII: non-empty, all 0-9.
func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func (f listFormat) contentType() string {
	switch f {
	case formatJSON:
		return "application/json; charset=utf-8"
	case formatXML:
		return "application/xml; charset=utf-8"
	case formatTextXML:
		return "text/xml; charset=utf-8"
	}
	return "text/plain; charset=utf-8"
}

// renderObjects renders a container listing; ok false means an empty
// plain listing (Swift answers 204).
func renderObjects(f listFormat, container string, objs []ObjectInfo) ([]byte, bool) {
	var b bytes.Buffer
	switch f {
	case formatJSON:
		writePyList(&b, objs, "subdir", func(o ObjectInfo) (string, bool) { return o.Subdir, o.Subdir != "" }, func(b *bytes.Buffer, o ObjectInfo) {
			b.WriteString(`{"bytes": ` + itoa(o.Size) + `, "hash": `)
			pyJSONString(b, listingHash(o))
			b.WriteString(`, "name": `)
			pyJSONString(b, o.Name)
			b.WriteString(`, "content_type": `)
			pyJSONString(b, listingContentType(o.ContentType))
			b.WriteString(`, "last_modified": "` + isoTime(o.Timestamp) + `"`)
			if o.SLOManifest != nil {
				b.WriteString(`, "slo_etag": `)
				pyJSONString(b, `"`+o.ETag+`"`)
			}
			b.WriteByte('}')
		})
		return b.Bytes(), true
	case formatXML, formatTextXML:
		b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
		if len(objs) == 0 { // ElementTree's empty element
			b.WriteString(`<container name="` + xmlAttrEscape(container) + `" />`)
			return b.Bytes(), true
		}
		b.WriteString(`<container name="` + xmlAttrEscape(container) + `">`)
		for _, o := range objs {
			if o.Subdir != "" {
				b.WriteString(`<subdir name="` + xmlAttrEscape(o.Subdir) + `"><name>` + xmlEscape(o.Subdir) + `</name></subdir>`)
				continue
			}
			b.WriteString("<object><name>" + xmlEscape(o.Name) + "</name><hash>" + listingHash(o) +
				"</hash><bytes>" + itoa(o.Size) + "</bytes><content_type>" + xmlEscape(listingContentType(o.ContentType)) +
				"</content_type><last_modified>" + isoTime(o.Timestamp) + "</last_modified></object>")
		}
		b.WriteString("</container>")
		return b.Bytes(), true
	}
	if len(objs) == 0 {
		return nil, false
	}
	for _, o := range objs {
		if o.Subdir != "" {
			b.WriteString(o.Subdir)
		} else {
			b.WriteString(o.Name)
		}
		b.WriteByte('\n')
	}
	return b.Bytes(), true
}

// renderContainers renders an account listing; ok false means an empty
// plain listing (204).
func renderContainers(f listFormat, account string, cs []ContainerInfo) ([]byte, bool) {
	var b bytes.Buffer
	switch f {
	case formatJSON:
		writePyList(&b, cs, "subdir", func(c ContainerInfo) (string, bool) { return c.Subdir, c.Subdir != "" }, func(b *bytes.Buffer, c ContainerInfo) {
			b.WriteString(`{"name": `)
			pyJSONString(b, c.Name)
			b.WriteString(`, "count": ` + itoa(c.Objects) + `, "bytes": ` + itoa(c.Bytes) +
				`, "last_modified": "` + isoTime(c.Modified) + `"}`)
		})
		return b.Bytes(), true
	case formatXML, formatTextXML:
		b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
		b.WriteString(`<account name="` + xmlEscape(account) + `">`)
		for _, c := range cs {
			if c.Subdir != "" {
				b.WriteString(`<subdir name="` + xmlEscape(c.Subdir) + `" />`)
				continue
			}
			b.WriteString("<container><name>" + xmlEscape(c.Name) + "</name><count>" + itoa(c.Objects) +
				"</count><bytes>" + itoa(c.Bytes) + "</bytes><last_modified>" + isoTime(c.Modified) +
				"</last_modified></container>")
		}
		b.WriteString("</account>")
		return b.Bytes(), true
	}
	if len(cs) == 0 {
		return nil, false
	}
	for _, c := range cs {
		b.WriteString(c.Name)
		b.WriteByte('\n')
	}
	return b.Bytes(), true
}

// listingHash is an object's hash in a container listing: its ETag, or
// for an SLO manifest the MD5 of the manifest as slo.py lists it.
func listingHash(o ObjectInfo) string {
	if o.SLOManifest != nil {
		return md5Hex(o.SLOManifest)
	}
	return o.ETag
}

// writePyList writes recs to b as Python's json.dumps writes a list of
// Swift's records, in their key order: a JSON array, ", " between the
// records; a record for which one reports ok is the one-key object
// {"KEY": VALUE} (a listing's subdir, an SLO manifest's data segment),
// record writes the others' JSON objects.
func writePyList[T any](b *bytes.Buffer, recs []T, key string, one func(T) (value string, ok bool), record func(*bytes.Buffer, T)) {
	b.WriteByte('[')
	for i, r := range recs {
		if i > 0 {
			b.WriteString(", ")
		}
		if v, ok := one(r); ok {
			b.WriteString(`{"` + key + `": `)
			pyJSONString(b, v)
			b.WriteByte('}')
			continue
		}
		record(b, r)
	}
	b.WriteByte(']')
}

// xmlEscape escapes XML text as Python's ElementTree does (Swift's
// listing_formats): only '&', '<' and '>'.
func xmlEscape(s string) string { return xmlTextEscaper.Replace(s) }

// xmlAttrEscape escapes an XML attribute value as ElementTree does.
func xmlAttrEscape(s string) string { return xmlAttrEscaper.Replace(s) }

var (
	xmlTextEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
	xmlAttrEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;",
		"\n", "&#10;", "\r", "&#13;", "\t", "&#09;")
)

// listingContentType is an object's content type as a container listing
// shows it (Swift's extract_swift_bytes over parse_content_type): the
// parameters joined by ';' without blanks, swift_bytes dropped.
func listingContentType(ct string) string {
	typ, params, ok := strings.Cut(ct, ";")
	if !ok {
		return ct
	}
	out := strings.TrimSpace(typ)
	for _, p := range strings.Split(params, ";") {
		k, v, ok := strings.Cut(p, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || k == "swift_bytes" {
			continue
		}
		out += ";" + k + "=" + v
	}
	return out
}

// getListing parses the listing parameters of an account or container
// GET (parseListing's errors); a HEAD gets the zero listRequest, as its
// parameters only pick the Content-Type (writeListingHead).
func (q *request) getListing() (listRequest, error) {
	if q.r.Method != http.MethodGet {
		return listRequest{}, nil
	}
	return parseListing(q.r)
}

// headListingContentType is the Content-Type of a HEAD of an account or
// container: the listing's, as Swift's listing_formats sets it for HEAD
// too (plain text when format= is bad: HEAD has no body to refuse).
func (q *request) headListingContentType() string {
	lr, err := parseListing(q.r)
	if err != nil {
		return formatPlain.contentType()
	}
	return lr.format.contentType()
}

// writeListingHead answers a HEAD of an account or container, its
// headers already set: 204 with the listing's Content-Type and Vary.
func (q *request) writeListingHead() {
	q.w.Header().Set("Content-Type", q.headListingContentType())
	q.varyAccept()
	q.writeEmpty(http.StatusNoContent)
}

// writeListing sends a rendered listing (200), or 204 for an empty plain
// one; headers already set stay.
func (q *request) writeListing(f listFormat, body []byte, ok bool) {
	h := q.w.Header()
	h.Set("Content-Type", f.contentType())
	q.varyAccept()
	if !ok {
		q.w.WriteHeader(http.StatusNoContent)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	q.w.WriteHeader(http.StatusOK)
	if q.r.Method != http.MethodHead {
		_, _ = q.w.Write(body)
	}
}

// varyAccept adds Accept to the Vary header of a successful account or
// container GET or HEAD without format= (Swift's listing_formats: the
// Accept header picks the listing's format).
func (q *request) varyAccept() {
	if q.r.URL.Query().Has("format") {
		return
	}
	h := q.w.Header()
	v := h.Get("Vary")
	switch {
	case v == "":
		h.Set("Vary", "Accept")
	case !slices.ContainsFunc(strings.Split(v, ","), func(s string) bool { return strings.EqualFold(strings.TrimSpace(s), "accept") }):
		h.Set("Vary", v+", Accept")
	}
}
