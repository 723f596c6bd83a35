package glanceshim

import "net/http"

// copyRange applies a COPY's (or X-Copy-From PUT's) Range header to a
// source of size bytes, as Swift's copy middleware does by passing it to
// the source GET: one satisfiable range copies those bytes; none is 416
// (with the source's content type, as Swift relays the GET's answer);
// no header, an unparsable one or several ranges copy the whole source.
func copyRange(hdr string, size int64, contentType string) (byteRange, error) {
	full := byteRange{0, size}
	if hdr == "" {
		return full, nil
	}
	rs, ok := parseRange(hdr, size)
	switch {
	case !ok:
		return full, nil
	case len(rs) == 0:
		if contentType == "" {
			contentType = "application/octet-stream"
		}
		return full, &statusError{status: http.StatusRequestedRangeNotSatisfiable, contentType: contentType}
	case len(rs) > 1:
		return full, nil
	}
	return rs[0], nil
}
