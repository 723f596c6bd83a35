package glanceshim

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"net/http"
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
)

// listRequest is a parsed listing query (Swift's container and account
// GET parameters).
type listRequest struct {
	opts   ListOptions
	format listFormat
	// empty means limit=0: answer an empty listing without asking the
	// Backend.
	empty bool
}

// parseListing reads prefix, delimiter, marker, end_marker, limit,
// reverse, format and path (legacy: prefix=path, delimiter='/') and the
// Accept header. limit > 10000 or < 0 is 412, a non-integer limit 400, a
// parameter that is not valid UTF-8 400, a delimiter longer than one
// character 412 (Swift's rules).
func parseListing(r *http.Request) (listRequest, error) {
	v := r.URL.Query()
	var lr listRequest
	for _, k := range []string{"prefix", "delimiter", "marker", "end_marker", "path"} {
		s := v.Get(k)
		if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
			return lr, badRequest("Invalid UTF8 or contains NULL")
		}
	}
	lr.opts = ListOptions{
		Prefix: v.Get("prefix"), Delimiter: v.Get("delimiter"),
		Marker: v.Get("marker"), EndMarker: v.Get("end_marker"),
		Limit: ContainerListingMax, Reverse: truthy(v.Get("reverse")),
	}
	if v.Has("path") {
		p := v.Get("path")
		if p != "" && !strings.HasSuffix(p, "/") {
			p += "/"
		}
		lr.opts.Prefix, lr.opts.Delimiter = p, "/"
	}
	if utf8.RuneCountInString(lr.opts.Delimiter) > 1 {
		return lr, httpErr(http.StatusPreconditionFailed, "Bad delimiter")
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		switch {
		case err != nil:
			return lr, httpErr(http.StatusPreconditionFailed, "Value of limit must be a positive integer")
		case n < 0:
			return lr, httpErr(http.StatusPreconditionFailed, "Value of limit must be a positive integer")
		case n > ContainerListingMax:
			return lr, httpErr(http.StatusPreconditionFailed, "Maximum limit is "+strconv.Itoa(ContainerListingMax))
		case n == 0:
			lr.empty = true
		default:
			lr.opts.Limit = n
		}
	}
	f, err := listingFormat(v.Get("format"), r.Header.Get("Accept"))
	lr.format = f
	return lr, err
}

// listingFormat is Swift's get_listing_content_type: format= wins over
// the Accept header; anything else is plain text.
func listingFormat(format, accept string) (listFormat, error) {
	switch strings.ToLower(format) {
	case "json":
		return formatJSON, nil
	case "xml":
		return formatXML, nil
	case "plain", "txt", "text":
		return formatPlain, nil
	}
	for _, a := range strings.Split(accept, ",") {
		mt, _, _ := strings.Cut(strings.TrimSpace(a), ";")
		switch strings.ToLower(strings.TrimSpace(mt)) {
		case "application/json":
			return formatJSON, nil
		case "application/xml", "text/xml":
			return formatXML, nil
		case "text/plain", "*/*":
			return formatPlain, nil
		}
	}
	return formatPlain, nil
}

func (f listFormat) contentType() string {
	switch f {
	case formatJSON:
		return "application/json; charset=utf-8"
	case formatXML:
		return "application/xml; charset=utf-8"
	}
	return "text/plain; charset=utf-8"
}

// objectEntry is one entry of a JSON container listing.
type objectEntry struct {
	Subdir       string `json:"subdir,omitempty"`
	Name         string `json:"name,omitempty"`
	Hash         string `json:"hash,omitempty"`
	Bytes        *int64 `json:"bytes,omitempty"`
	ContentType  string `json:"content_type,omitempty"`
	LastModified string `json:"last_modified,omitempty"`
	SLOETag      string `json:"slo_etag,omitempty"` // quoted; static large objects
}

// containerEntry is one entry of a JSON account listing.
type containerEntry struct {
	Name         string `json:"name"`
	Count        int64  `json:"count"`
	Bytes        int64  `json:"bytes"`
	LastModified string `json:"last_modified"`
}

// renderObjects renders a container listing; ok false means an empty
// plain listing (Swift answers 204).
func renderObjects(f listFormat, container string, objs []ObjectInfo) ([]byte, bool) {
	var b bytes.Buffer
	switch f {
	case formatJSON:
		es := make([]objectEntry, len(objs))
		for i, o := range objs {
			if o.Subdir != "" {
				es[i] = objectEntry{Subdir: o.Subdir}
				continue
			}
			size := o.Size
			es[i] = objectEntry{Name: o.Name, Hash: o.ETag, Bytes: &size,
				ContentType: o.ContentType, LastModified: isoTime(o.Timestamp)}
			if o.SLOManifest != nil { // as slo.py's container listing
				es[i].Hash, es[i].SLOETag = md5Hex(o.SLOManifest), `"`+o.ETag+`"`
			}
		}
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(es)
		return bytes.TrimSuffix(b.Bytes(), []byte("\n")), true
	case formatXML:
		b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
		b.WriteString(`<container name="` + xmlEscape(container) + `">`)
		for _, o := range objs {
			if o.Subdir != "" {
				b.WriteString(`<subdir name="` + xmlEscape(o.Subdir) + `"><name>` + xmlEscape(o.Subdir) + `</name></subdir>`)
				continue
			}
			hash := o.ETag
			if o.SLOManifest != nil { // as slo.py's container listing
				hash = md5Hex(o.SLOManifest)
			}
			b.WriteString("<object><name>" + xmlEscape(o.Name) + "</name><hash>" + hash +
				"</hash><bytes>" + itoa(o.Size) + "</bytes><content_type>" + xmlEscape(o.ContentType) +
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
		es := make([]containerEntry, len(cs))
		for i, c := range cs {
			es[i] = containerEntry{Name: c.Name, Count: c.Objects, Bytes: c.Bytes, LastModified: isoTime(c.Modified)}
		}
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(es)
		return bytes.TrimSuffix(b.Bytes(), []byte("\n")), true
	case formatXML:
		b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
		b.WriteString(`<account name="` + xmlEscape(account) + `">`)
		for _, c := range cs {
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

func xmlEscape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// writeListing sends a rendered listing (200), or 204 for an empty plain
// one; headers already set stay.
func (q *request) writeListing(f listFormat, body []byte, ok bool) {
	h := q.w.Header()
	h.Set("Content-Type", f.contentType())
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
