package glanceshim

import (
	"fmt"
	"math"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestParsePath(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want swiftPath
		err  int
	}{
		{"/auth/v1.0/", swiftPath{Kind: kindAuth}, 0},
		{"/auth/v1", swiftPath{Kind: kindAuth}, 0},
		{"/info", swiftPath{Kind: kindInfo}, 0},
		{"/healthcheck", swiftPath{Kind: kindHealth}, 0},
		{"/v1/AUTH_a", swiftPath{kindAccount, "v1", "AUTH_a", "", ""}, 0},
		{"/v1/AUTH_a/", swiftPath{kindAccount, "v1", "AUTH_a", "", ""}, 0},
		{"/v1.0/AUTH_a/c", swiftPath{kindContainer, "v1.0", "AUTH_a", "c", ""}, 0},
		{"/v1/AUTH_a/c/", swiftPath{kindContainer, "v1", "AUTH_a", "c", ""}, 0},
		{"/v1/AUTH_a/c/o", swiftPath{kindObject, "v1", "AUTH_a", "c", "o"}, 0},
		{"/v1/AUTH_a/c//o", swiftPath{kindObject, "v1", "AUTH_a", "c", "/o"}, 0},
		{"/v1/AUTH_a/c/a//b/../c/", swiftPath{kindObject, "v1", "AUTH_a", "c", "a//b/../c/"}, 0},
		{"/v1/AUTH_a/c/x/v1/y", swiftPath{kindObject, "v1", "AUTH_a", "c", "x/v1/y"}, 0},
		{"/v1/AUTH_a/c/x%2Fy%25", swiftPath{kindObject, "v1", "AUTH_a", "c", "x/y%"}, 0},
		{"/v1/AUTH_a/c%20d/o", swiftPath{kindObject, "v1", "AUTH_a", "c d", "o"}, 0},
		{"/v1/AUTH_a/c%2Fd/o", swiftPath{}, 400},
		{"/v1/AUTH_a//o", swiftPath{}, 400},
		{"/v1/AUTH_a/c/%FF", swiftPath{}, 412},
		{"/v1/AUTH_a/c/%00", swiftPath{}, 412},
		{"/v1/AUTH_a/c/%zz", swiftPath{}, 400},
		{"/v1/AUTH_a/c/" + strings.Repeat("o", 1024), swiftPath{kindObject, "v1", "AUTH_a", "c", strings.Repeat("o", 1024)}, 0},
		{"/v1/AUTH_a/c/" + strings.Repeat("o", 1025), swiftPath{}, 400},
		{"/v1/AUTH_a/" + strings.Repeat("c", 257), swiftPath{}, 400},
		{"/v1", swiftPath{}, 412},
		{"/v1/", swiftPath{}, 412},
		{"/v2/a", swiftPath{}, 400},
		{"/nope", swiftPath{}, 412},
		{"/", swiftPath{}, 404},
		{"", swiftPath{}, 404},
	} {
		got, err := parsePath(tc.in)
		if tc.err != 0 {
			st, _ := statusOf(err)
			if err == nil || st != tc.err {
				t.Errorf("parsePath(%q) = %+v, %v; want status %d", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parsePath(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

// FuzzParsePath: parsing never panics; what it accepts satisfies the
// constraints, and re-escaping the parts gives a path that parses to the
// same parts.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"/v1/AUTH_a/c/o", "/v1/a/c//o/../", "/v1/a/c/x%2Fy", "/v1/a/", "/auth/v1.0/", "/v1/a/c%FF/o", "/v1.0/a/c/%E2%9C%93"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		p, err := parsePath(in)
		if err != nil {
			if st, _ := statusOf(err); st != 400 && st != 404 && st != 412 {
				t.Fatalf("status %d for %q", st, in)
			}
			return
		}
		if p.Kind < kindAccount {
			return
		}
		for _, s := range []string{p.Account, p.Container, p.Object} {
			if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
				t.Fatalf("invalid name %q from %q", s, in)
			}
		}
		if len(p.Account) > MaxAccountNameLength || len(p.Container) > MaxContainerNameLength ||
			len(p.Object) > MaxObjectNameLength || strings.Contains(p.Container, "/") || p.Account == "" {
			t.Fatalf("constraint violated: %+v from %q", p, in)
		}
		if p.Kind == kindObject && (p.Container == "" || p.Object == "") {
			t.Fatalf("object without container or name: %+v", p)
		}
		re := "/" + p.Version + "/" + url.PathEscape(p.Account)
		if p.Kind >= kindContainer {
			re += "/" + url.PathEscape(p.Container)
		}
		if p.Kind == kindObject {
			re += "/" + escapePath(p.Object)
		}
		q, err := parsePath(re)
		if err != nil || q != p {
			t.Fatalf("round trip %q → %+v → %q → %+v, %v", in, p, re, q, err)
		}
	})
}

func TestParseRange(t *testing.T) {
	for _, tc := range []struct {
		h    string
		size int64
		ok   bool
		want []byteRange
	}{
		{"bytes=0-0", 10, true, []byteRange{{0, 1}}},
		{"bytes=2-", 10, true, []byteRange{{2, 8}}},
		{"bytes=-3", 10, true, []byteRange{{7, 3}}},
		{"bytes=-30", 10, true, []byteRange{{0, 10}}},
		{"bytes=5-100", 10, true, []byteRange{{5, 5}}},
		{"bytes=10-", 10, true, []byteRange{}},
		{"bytes=-0", 10, true, []byteRange{}},
		{"bytes=0-", 0, true, []byteRange{}},
		{"bytes=0-1, 4-5", 10, true, []byteRange{{0, 2}, {4, 2}}},
		{" Bytes = 1-2 ", 10, true, []byteRange{{1, 2}}},
		{"bytes=3-2", 10, false, nil},
		{"bytes=a-b", 10, false, nil},
		{"bytes=1", 10, false, nil},
		{"bytes=+1-2", 10, true, []byteRange{{1, 2}}}, // Python's int("+1")
		{"bytes=--1", 10, false, nil},
		{"items=1-2", 10, false, nil},
		{"bytes=99999999999999999999-", 10, true, []byteRange{}},
		{"bytes=1-99999999999999999999", 10, true, []byteRange{{1, 9}}},
		{"", 10, false, nil},
		// Egregious ranges (swob.Range.ranges_for_length): more than 50
		// satisfiable, more than 2 overlapping pairs, 8 or more out of
		// order are unsatisfiable. Each want is what swob answers (checked
		// with Debian's /usr/bin/python3 and swift.common.swob).
		{"bytes=" + strings.Repeat("0-0,", 50) + "0-0", 10, true, []byteRange{}},
		{"bytes=" + strings.Repeat("0-0,", 49) + "0-0", 10, true, slices.Repeat([]byteRange{{0, 1}}, 50)},
		{"bytes=" + strings.Repeat("0-0,", 50) + "100-200", 10, true, slices.Repeat([]byteRange{{0, 1}}, 50)},
		{"bytes=0-5,1-6,2-7", 10, true, []byteRange{}},
		{"bytes=0-5,1-6,2-7,100-", 10, true, []byteRange{}},
		{"bytes=0-5,1-6", 10, true, []byteRange{{0, 6}, {1, 6}}},
		{"bytes=9-9,8-8,7-7,6-6,5-5,4-4,3-3,2-2", 10, true, []byteRange{}},
		{"bytes=9-9,8-8,7-7,6-6,5-5,4-4,3-3", 10, true, []byteRange{{9, 1}, {8, 1}, {7, 1}, {6, 1}, {5, 1}, {4, 1}, {3, 1}}},
		{"bytes=0-0,0-0", 10, true, []byteRange{{0, 1}, {0, 1}}},
		{"bytes=-1,1-2,-2", 3, true, []byteRange{{2, 1}, {1, 2}, {1, 2}}},
		// Python's int() for the first position, digits for the last;
		// every space is removed first.
		{"bytes=1_0-12", 20, true, []byteRange{{10, 3}}},
		{"bytes=1__0-12", 20, false, nil},
		{"bytes=_1-12", 20, false, nil},
		{"bytes=1-1_2", 20, false, nil},
		{"bytes=\t1-3", 10, true, []byteRange{{1, 3}}},
		{"bytes=1\t-3", 10, true, []byteRange{{1, 3}}},
		{"byt es=1-3", 10, true, []byteRange{{1, 3}}},
		{"bytes=-", 10, false, nil},
		{"bytes=1-3,,5-6", 10, false, nil},
	} {
		got, ok := parseRange(tc.h, tc.size)
		if ok != tc.ok || len(got) != len(tc.want) {
			t.Errorf("parseRange(%q, %d) = %v, %v; want %v, %v", tc.h, tc.size, got, ok, tc.want, tc.ok)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("parseRange(%q, %d) = %v; want %v", tc.h, tc.size, got, tc.want)
			}
		}
	}
}

// FuzzParseRange: every returned range lies inside the body and is
// non-empty.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-99", "bytes=-5", "bytes=5-", "bytes=1-2,3-4", "bytes=9-1", "bytes=-0"} {
		f.Add(s, int64(100))
	}
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			size = -size
			if size < 0 {
				size = 0
			}
		}
		rs, ok := parseRange(h, size)
		if !ok && rs != nil {
			t.Fatalf("ignored header with ranges %v", rs)
		}
		for _, r := range rs {
			if r.Start < 0 || r.Length <= 0 || r.Start+r.Length > size || r.Start+r.Length < r.Start {
				t.Fatalf("parseRange(%q, %d): bad range %+v", h, size, r)
			}
			cr := contentRange(r, size)
			if !strings.HasPrefix(cr, "bytes ") {
				t.Fatal(cr)
			}
		}
	})
}

// FuzzParseManifest: an accepted X-Object-Manifest splits into a valid
// container and a prefix, and the echoed (escaped) value parses back to
// the same.
func FuzzParseManifest(f *testing.F) {
	for _, s := range []string{"glance/0b5c-", "c/", "a%20b/x%2Fy", "/x", "nocontainer", "c%FF/x", "c/p?q"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		dec, err := parseManifestHeader(v)
		if err != nil {
			if st, _ := statusOf(err); st != 400 {
				t.Fatalf("status %d", st)
			}
			return
		}
		c, p, err := splitManifest(dec)
		if err != nil || c == "" || strings.Contains(c, "/") || len(c) > MaxContainerNameLength || !utf8.ValidString(p) {
			t.Fatalf("%q → %q → %q %q %v", v, dec, c, p, err)
		}
		again, err := parseManifestHeader(escapePath(dec))
		if err != nil || again != dec {
			t.Fatalf("echo round trip %q → %q → %q, %v", v, dec, again, err)
		}
	})
}

func TestTimeFormats(t *testing.T) {
	ts := mustTime(t, "2026-01-02T03:04:05.1234567Z")
	if got := xTimestamp(ts); got != "1767323045.12346" {
		t.Errorf("xTimestamp = %q", got)
	}
	if got := httpDate(ts); got != "Fri, 02 Jan 2026 03:04:06 GMT" {
		t.Errorf("httpDate = %q (rounded up)", got)
	}
	if got := isoTime(ts); got != "2026-01-02T03:04:05.123456" {
		t.Errorf("isoTime = %q", got)
	}
	exact := mustTime(t, "2026-01-02T03:04:05Z")
	if got := httpDate(exact); got != "Fri, 02 Jan 2026 03:04:05 GMT" {
		t.Errorf("httpDate exact = %q", got)
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// TestETagListMatches: If-Match / If-None-Match lists as swob's Match
// reads them (normalize_etag: one pair of quotes off; no weak tags).
func TestETagListMatches(t *testing.T) {
	const e = "644be06dfc54061fd1e67f5ebbabcd58"
	for _, tc := range []struct {
		list, etag string
		want       bool
	}{
		{`"` + e + `"`, e, true},
		{e, e, true},
		{`"nope", "` + e + `"`, e, true},
		{`"nope","other"`, e, false},
		{`W/"` + e + `"`, e, false},
		{`"` + e, e, false},
		{`""` + e + `""`, e, false},
		{`"nope", *`, e, true},
		{`"` + e + `"`, `"` + e + `"`, true}, // an SLO's quoted ETag
		{``, e, false},
	} {
		if got := etagListMatches(tc.list, tc.etag); got != tc.want {
			t.Errorf("etagListMatches(%q, %q) = %v, want %v", tc.list, tc.etag, got, tc.want)
		}
	}
}

// TestFormattersMatchFmt checks the hand-built X-Timestamp and
// Content-Range against the fmt formulations they replace, at the edges
// of their padding and widths.
func TestFormattersMatchFmt(t *testing.T) {
	for _, ns := range []int64{0, 4999, 5000, 10_000, 123_456_789, 1_767_323_045_123_456_789, 9_223_372_036_854_770_000} {
		ts := time.Unix(0, ns)
		u := (ts.UnixNano() + 5000) / 10000
		want := fmt.Sprintf("%010d.%05d", u/100000, u%100000)
		if got := xTimestamp(ts); got != want {
			t.Errorf("xTimestamp(%d ns) = %q, want %q", ns, got, want)
		}
	}
	for _, tc := range []struct {
		r    byteRange
		size int64
	}{
		{byteRange{0, 1}, 1},
		{byteRange{0, 4096}, 2 << 30},
		{byteRange{2<<30 - 65536, 65536}, 2 << 30},
		{byteRange{math.MaxInt64 - 10, 10}, math.MaxInt64},
	} {
		want := fmt.Sprintf("bytes %d-%d/%d", tc.r.Start, tc.r.Start+tc.r.Length-1, tc.size)
		if got := contentRange(tc.r, tc.size); got != want {
			t.Errorf("contentRange(%v, %d) = %q, want %q", tc.r, tc.size, got, want)
		}
	}
}
