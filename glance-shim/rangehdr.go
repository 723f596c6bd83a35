package glanceshim

import (
	"math"
	"strconv"
	"strings"
)

// byteRange is a satisfiable range [Start, Start+Length) of a body.
type byteRange struct {
	Start, Length int64
}

// Swift's limits on egregious Range headers (swob.py, after RFC 7233
// §6.1): more satisfiable ranges than maxRanges, more overlapping pairs
// than maxRangeOverlaps, or maxNonascendingRanges or more ranges out of
// order make the header unsatisfiable (416).
const (
	maxRanges             = 50
	maxRangeOverlaps      = 2
	maxNonascendingRanges = 8
)

// parseRange parses a Range header against a body of size bytes as
// Swift's swob.Range and its ranges_for_length do:
//
//   - ok false: the header is absent or syntactically invalid (not
//     "bytes=" once every space is removed, a spec without "-", "5-2",
//     "-", a first position that Python's int() refuses, a last one not
//     all digits); it is ignored and the whole body is served (200).
//   - ok true, len(rs) == 0: no spec is satisfiable, or the ranges are
//     egregious (see maxRanges) (416, "Content-Range: bytes */size").
//   - otherwise rs holds the satisfiable ranges, clamped to size: "a-b"
//     ends at min(b, size-1), "a-" runs to the end, "-n" is the last n
//     bytes (all of them if n >= size; "-0" is unsatisfiable).
//
// Positions beyond int64 (Python's ints are unbounded) count as
// math.MaxInt64: past the end of any body.
func parseRange(header string, size int64) (rs []byteRange, ok bool) {
	h := strings.ReplaceAll(header, " ", "")
	if len(h) < len("bytes=") || !strings.EqualFold(h[:len("bytes=")], "bytes=") {
		return nil, false
	}
	type spec struct{ first, last int64 } // -1: absent
	var specs []spec
	for _, part := range strings.Split(h[len("bytes="):], ",") {
		first, last, found := strings.Cut(part, "-")
		if !found {
			return nil, false
		}
		sp := spec{-1, -1}
		if first != "" {
			n, ok := pyNonNegInt(first)
			if !ok {
				return nil, false
			}
			sp.first = n
		}
		if last != "" {
			n, ok := digitsSaturated(last)
			if !ok || (sp.first >= 0 && n < sp.first) {
				return nil, false
			}
			sp.last = n
		} else if sp.first < 0 {
			return nil, false // "-"
		}
		specs = append(specs, sp)
	}
	rs = []byteRange{}
	for _, sp := range specs {
		switch {
		case sp.first < 0: // suffix "-n"
			n := sp.last
			if n == 0 || size == 0 {
				continue
			}
			rs = append(rs, byteRange{size - min(n, size), min(n, size)})
		case sp.first >= size:
			continue
		case sp.last < 0 || sp.last >= size:
			rs = append(rs, byteRange{sp.first, size - sp.first})
		default:
			rs = append(rs, byteRange{sp.first, sp.last - sp.first + 1})
		}
	}
	if egregiousRanges(rs) {
		return []byteRange{}, true
	}
	return rs, true
}

// egregiousRanges is swob's test of ranges_for_length's result: more
// than maxRanges, more than maxRangeOverlaps overlapping pairs (ends
// strictly inside one another), or at least maxNonascendingRanges not in
// ascending (start, end) order.
func egregiousRanges(rs []byteRange) bool {
	if len(rs) > maxRanges {
		return true
	}
	overlaps := 0
	for i, a := range rs {
		s1, e1 := a.Start, a.Start+a.Length
		for _, b := range rs[i+1:] {
			s2, e2 := b.Start, b.Start+b.Length
			if (s1 < s2 && s2 < e1) || (s1 < e2 && e2 < e1) || (s2 < s1 && s1 < e2) || (s2 < e1 && e1 < e2) {
				overlaps++
				if overlaps > maxRangeOverlaps {
					return true
				}
			}
		}
	}
	for i := 1; i < len(rs); i++ {
		p, c := rs[i-1], rs[i]
		if p.Start > c.Start || (p.Start == c.Start && p.Length > c.Length) {
			return len(rs) >= maxNonascendingRanges
		}
	}
	return false
}

// pyNonNegInt parses s as Python's int(s) does for a non-negative decimal
// (pyInt without the sign, saturating):
// surrounding whitespace, an optional "+", digits with single "_"
// between them; values beyond int64 saturate at math.MaxInt64.
func pyNonNegInt(s string) (int64, bool) {
	s = strings.Trim(s, " \t\n\v\f\r")
	s = strings.TrimPrefix(s, "+")
	if s == "" || s[0] == '_' || s[len(s)-1] == '_' || strings.Contains(s, "__") {
		return 0, false
	}
	return digitsSaturated(strings.ReplaceAll(s, "_", ""))
}

// digitsSaturated parses a non-empty string of ASCII digits; values
// beyond int64 saturate at math.MaxInt64.
func digitsSaturated(s string) (int64, bool) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil { // only ErrRange is left: too many digits
		return math.MaxInt64, true
	}
	return n, true
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
	// One allocation (every Range GET sends it).
	var buf [6 + 3*20 + 2]byte
	b := append(buf[:0], "bytes "...)
	b = strconv.AppendInt(b, r.Start, 10)
	b = append(b, '-')
	b = strconv.AppendInt(b, r.Start+r.Length-1, 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, size, 10)
	return string(b)
}
