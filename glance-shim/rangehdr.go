package glanceshim

import (
	"strconv"
	"strings"
)

// byteRange is a satisfiable range [Start, Start+Length) of a body.
type byteRange struct {
	Start, Length int64
}

// maxRanges is the most byte-range-specs a Range header may carry before
// it is ignored (Swift's swob.Range: MAX_RANGES = 50).
const maxRanges = 50

// parseRange parses a Range header against a body of size bytes, like
// Swift's swob.Range and ranges_for_length:
//
//   - ok false: the header is absent, not "bytes=", syntactically
//     invalid (e.g. "bytes=5-2") or has more than 50 specs; it is ignored
//     and the whole body is served (200).
//   - ok true, len(rs) == 0: no spec is satisfiable (416, with
//     "Content-Range: bytes */size").
//   - otherwise rs holds the satisfiable ranges, clamped to size: "a-b"
//     ends at min(b, size-1), "a-" runs to the end, "-n" is the last n
//     bytes (all of them if n >= size; "-0" is unsatisfiable).
func parseRange(header string, size int64) (rs []byteRange, ok bool) {
	unit, specs, found := strings.Cut(strings.TrimSpace(header), "=")
	if !found || strings.ToLower(strings.TrimSpace(unit)) != "bytes" {
		return nil, false
	}
	parts := strings.Split(specs, ",")
	if len(parts) > maxRanges {
		return nil, false
	}
	rs = []byteRange{}
	for _, part := range parts {
		part = strings.TrimSpace(part)
		first, last, found := strings.Cut(part, "-")
		if !found {
			return nil, false
		}
		first, last = strings.TrimSpace(first), strings.TrimSpace(last)
		if first == "" {
			// Suffix range "-n".
			n, err := parseDigits(last)
			if err != nil {
				return nil, false
			}
			if n == 0 || size == 0 {
				continue
			}
			if n > size {
				n = size
			}
			rs = append(rs, byteRange{size - n, n})
			continue
		}
		a, err := parseDigits(first)
		if err != nil {
			return nil, false
		}
		end := int64(-1)
		if last != "" {
			if end, err = parseDigits(last); err != nil || end < a {
				return nil, false
			}
		}
		if a >= size {
			continue
		}
		if end < 0 || end >= size {
			end = size - 1
		}
		rs = append(rs, byteRange{a, end - a + 1})
	}
	return rs, true
}

// parseDigits parses a non-empty string of ASCII digits into an int64.
func parseDigits(s string) (int64, error) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, strconv.ErrSyntax
	}
	return strconv.ParseInt(s, 10, 64)
}

// contentRange is the Content-Range value of r in a body of size bytes.
func contentRange(r byteRange, size int64) string {
	return "bytes " + itoa(r.Start) + "-" + itoa(r.Start+r.Length-1) + "/" + itoa(size)
}
