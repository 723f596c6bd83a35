package glanceshim

import (
	"testing"
)

// Table tests of slo.go's parsers and encoders against what Python and
// swob do (values checked with /usr/bin/python3 and Swift 2.30's swob).
func TestStrictB64(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"aGVsbG8=", "hello", true},
		{"aGVsbG8==", "hello", true}, // Python's b64decode tolerates extra padding
		{"aGVsbG8", "", false},       // incorrect padding
		{"aGVs bG8=", "", false},     // whitespace is not tolerated by strict_b64decode
		{"!!", "", false},
		{"", "", true},
		{"=aGVsbG8=", "hello", true},
		{"YQ==", "a", true},
	} {
		got, err := strictB64(tc.in)
		if (err == nil) != tc.ok || (tc.ok && string(got) != tc.want) {
			t.Errorf("strictB64(%q) = %q, %v; want %q ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestAcceptBestMatch(t *testing.T) {
	for _, tc := range []struct{ accept, want string }{
		{"", "text/plain"},
		{"application/json", "application/json"},
		{"text/xml", "text/xml"},
		{"*/*", "text/plain"},
		{"application/*", "application/json"},
		{"text/plain;q=0.5, application/xml", "application/xml"},
		{"image/png", ""},
		{"application/json;q=0", "application/json"}, // swob ignores q=0
	} {
		if got := acceptBestMatch(tc.accept); got != tc.want {
			t.Errorf("acceptBestMatch(%q) = %q, want %q", tc.accept, got, tc.want)
		}
	}
}

func TestPyJSONString(t *testing.T) {
	for in, want := range map[string]string{
		"plain":        `"plain"`,
		`q"b\`:         `"q\"b\\"`,
		"é/ü":          `"\u00e9/\u00fc"`,
		"\x01\n\t\x7f": `"\u0001\n\t\u007f"`,
		"😀":            `"\ud83d\ude00"`,
	} {
		if got := pyJSON(in); got != want {
			t.Errorf("pyJSON(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestValidRangeSpec(t *testing.T) {
	for spec, want := range map[string]bool{
		"1-2": true, "5-": true, "-3": true, "1-2,4-5": true, "0-0": true,
		"5-1": false, "-": false, "x": false, "1": false, "1-x": false, "--1": false,
	} {
		if got := validRangeSpec(spec); got != want {
			t.Errorf("validRangeSpec(%q) = %v, want %v", spec, got, want)
		}
	}
}

func TestRawManifest(t *testing.T) {
	stored := encodeManifest([]storedSegment{
		{Name: "/c/o", Bytes: 10, Hash: "h", ContentType: "t", LastModified: "2026-01-01T00:00:00.000000", Range: "1-2"},
		{Data: "aGk="},
		{Name: "/c/s", Bytes: 3, Hash: "g", ContentType: "t", LastModified: "x", SubSLO: true},
	})
	want := `[{"name": "/c/o", "bytes": 10, "hash": "h", "content_type": "t", "last_modified": "2026-01-01T00:00:00.000000", "range": "1-2"}, {"data": "aGk="}, {"name": "/c/s", "bytes": 3, "hash": "g", "content_type": "t", "last_modified": "x", "sub_slo": true}]`
	if string(stored) != want {
		t.Fatalf("encodeManifest:\n got %s\nwant %s", stored, want)
	}
	raw := `[{"etag": "h", "path": "/c/o", "range": "1-2", "size_bytes": 10}, {"data": "aGk="}, {"etag": "g", "path": "/c/s", "size_bytes": 3}]`
	if got := string(rawManifest(stored)); got != raw {
		t.Fatalf("rawManifest:\n got %s\nwant %s", got, raw)
	}
}
