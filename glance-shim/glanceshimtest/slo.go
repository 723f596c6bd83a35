package glanceshimtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// testSLO covers static large objects as Swift 2.30's slo middleware
// serves them (every expectation here was checked against Debian's
// Swift): manifest PUT and its validation, GET/HEAD whole, Range across
// segments, conditionals, ?multipart-manifest=get (and &format=raw),
// nested SLOs, the container listing, COPY, overwrite, DELETE with and
// without ?multipart-manifest=delete, /info.
func testSLO(t *testing.T, base, user, key string) {
	c := newClient(t, base, user, key)
	r := c.raw("GET", c.base+"/info", nil, nil)
	var info map[string]map[string]any
	if err := json.Unmarshal(r.body, &info); err != nil {
		t.Fatalf("info: %v", err)
	}
	slo := info["slo"]
	if slo == nil {
		t.Fatalf("/info has no slo: %s", r.body)
	}
	for k, v := range map[string]float64{"max_manifest_segments": 1000, "max_manifest_size": 8 << 20, "min_segment_size": 1, "yield_frequency": 10} {
		if slo[k] != v {
			t.Errorf("/info slo.%s = %v, want %v", k, slo[k], v)
		}
	}

	ct := c.mkContainer(t, "slo-")
	s1, s2, s3 := randBytes(300<<10+17), randBytes(200<<10), []byte("tail")
	for name, b := range map[string][]byte{"s1": s1, "s2": s2, "s3": s3} {
		want(t, c.do("PUT", "/"+ct+"/seg/"+name, map[string]string{"Content-Type": "application/x-seg"}, b), 201, "segment "+name)
	}
	// s2's range cuts chunks at both ends; the data segment sits between
	// object-backed ones.
	manifest := fmt.Sprintf(`[{"path": "/%s/seg/s1", "etag": %q, "size_bytes": %d},
		{"path": "%s/seg/s2", "range": "1000-150000"}, {"data": "aGVsbG8="}, {"path": "%s/seg/s3", "etag": null}]`,
		ct, md5hex(s1), len(s1), ct, ct)
	content := concat(s1, s2[1000:150001], []byte("hello"), s3)
	sloETag := md5hex([]byte(md5hex(s1) + md5hex(s2) + ":1000-150000;" + md5hex([]byte("hello")) + md5hex(s3)))
	r = c.do("PUT", "/"+ct+"/big?multipart-manifest=put", nil, []byte(manifest))
	want(t, r, 201, "manifest PUT")
	if got := r.Header.Get("Etag"); got != `"`+sloETag+`"` {
		t.Errorf("PUT Etag %s, want %q", got, sloETag)
	}

	// HEAD and GET of the whole.
	r = c.do("HEAD", "/"+ct+"/big", nil, nil)
	want(t, r, 200, "HEAD slo")
	mget := c.do("GET", "/"+ct+"/big?multipart-manifest=get", nil, nil)
	want(t, mget, 200, "multipart-manifest=get")
	for k, v := range map[string]string{
		"X-Static-Large-Object": "True", "Etag": `"` + sloETag + `"`, "Content-Length": strconv.Itoa(len(content)),
		"X-Manifest-Etag": md5hex(mget.body), "Accept-Ranges": "bytes",
	} {
		if got := r.Header.Get(k); got != v {
			t.Errorf("HEAD %s: %q, want %q", k, got, v)
		}
	}
	r = c.do("GET", "/"+ct+"/big", nil, nil)
	want(t, r, 200, "GET slo")
	if !bytes.Equal(r.body, content) || r.Header.Get("Etag") != `"`+sloETag+`"` {
		t.Errorf("GET slo: %d bytes (want %d), equal %v, Etag %s", len(r.body), len(content), bytes.Equal(r.body, content), r.Header.Get("Etag"))
	}

	// Ranges across segments.
	n := len(content)
	l1 := len(s1)
	for _, tc := range []struct {
		rng        string
		start, end int // inclusive
	}{
		{"bytes=0-9", 0, 9},
		{fmt.Sprintf("bytes=%d-%d", l1-5, l1+5), l1 - 5, l1 + 5},
		{fmt.Sprintf("bytes=%d-%d", n-12, n-1), n - 12, n - 1},
		{"bytes=-7", n - 7, n - 1},
		{fmt.Sprintf("bytes=%d-", l1+100000), l1 + 100000, n - 1},
		{fmt.Sprintf("bytes=100-%d", n+50), 100, n - 1},
	} {
		r := c.do("GET", "/"+ct+"/big", map[string]string{"Range": tc.rng}, nil)
		want(t, r, 206, "range "+tc.rng)
		if !bytes.Equal(r.body, content[tc.start:tc.end+1]) {
			t.Errorf("range %s: %d bytes, wrong content", tc.rng, len(r.body))
		}
		if cr := r.Header.Get("Content-Range"); cr != fmt.Sprintf("bytes %d-%d/%d", tc.start, tc.end, n) {
			t.Errorf("range %s: Content-Range %q", tc.rng, cr)
		}
	}
	want(t, c.do("GET", "/"+ct+"/big", map[string]string{"Range": fmt.Sprintf("bytes=%d-", n)}, nil), 416, "unsatisfiable range")

	// Conditionals use the SLO ETag.
	for _, tc := range []struct {
		hdr    map[string]string
		status int
	}{
		{map[string]string{"If-None-Match": `"` + sloETag + `"`}, 304},
		{map[string]string{"If-None-Match": sloETag}, 304},
		{map[string]string{"If-Match": `"` + sloETag + `"`}, 200},
		{map[string]string{"If-Match": `"nope"`}, 412},
		{map[string]string{"If-Match": md5hex(mget.body)}, 412},
	} {
		want(t, c.do("GET", "/"+ct+"/big", tc.hdr, nil), tc.status, fmt.Sprint("conditional ", tc.hdr))
	}

	// The manifest, as stored and raw.
	if mget.Header.Get("Content-Type") != "application/json; charset=utf-8" || mget.Header.Get("Etag") != md5hex(mget.body) ||
		mget.Header.Get("X-Static-Large-Object") != "True" {
		t.Errorf("multipart-manifest=get headers %v", mget.Header)
	}
	var segs []map[string]any
	if err := json.Unmarshal(mget.body, &segs); err != nil || len(segs) != 4 {
		t.Fatalf("manifest %s: %v", mget.body, err)
	}
	if segs[0]["name"] != "/"+ct+"/seg/s1" || segs[0]["bytes"] != float64(len(s1)) || segs[0]["hash"] != md5hex(s1) ||
		segs[0]["content_type"] != "application/x-seg" || segs[1]["range"] != "1000-150000" || segs[2]["data"] != "aGVsbG8=" {
		t.Errorf("manifest entries %s", mget.body)
	}
	if lm, _ := segs[0]["last_modified"].(string); !strings.HasSuffix(lm, ".000000") || len(lm) != 26 {
		t.Errorf("manifest last_modified %q", lm)
	}
	raw := c.do("GET", "/"+ct+"/big?multipart-manifest=get&format=raw", nil, nil)
	want(t, raw, 200, "format=raw")
	wantRaw := fmt.Sprintf(`[{"etag": "%s", "path": "/%s/seg/s1", "size_bytes": %d}, {"etag": "%s", "path": "/%s/seg/s2", "range": "1000-150000", "size_bytes": %d}, {"data": "aGVsbG8="}, {"etag": "%s", "path": "/%s/seg/s3", "size_bytes": 4}]`,
		md5hex(s1), ct, len(s1), md5hex(s2), ct, len(s2), md5hex(s3), ct)
	if string(raw.body) != wantRaw || raw.Header.Get("Etag") != md5hex(raw.body) {
		t.Errorf("format=raw:\n got %s\nwant %s", raw.body, wantRaw)
	}
	// The raw form is a valid manifest PUT of the same SLO.
	r = c.do("PUT", "/"+ct+"/again?multipart-manifest=put", nil, raw.body)
	want(t, r, 201, "PUT of the raw manifest")
	if r.Header.Get("Etag") != `"`+sloETag+`"` {
		t.Errorf("raw re-PUT Etag %s", r.Header.Get("Etag"))
	}

	// Nested: an SLO of the SLO and a segment.
	nested := fmt.Sprintf(`[{"path": "%s/big"}, {"path": "%s/seg/s3", "range": "-2"}]`, ct, ct)
	r = c.do("PUT", "/"+ct+"/nested?multipart-manifest=put", nil, []byte(nested))
	want(t, r, 201, "nested PUT")
	r = c.do("GET", "/"+ct+"/nested", nil, nil)
	if !bytes.Equal(r.body, concat(content, []byte("il"))) {
		t.Errorf("nested GET: %d bytes", len(r.body))
	}
	if m := c.do("GET", "/"+ct+"/nested?multipart-manifest=get", nil, nil); !strings.Contains(string(m.body), `"sub_slo": true`) ||
		!strings.Contains(string(m.body), `"hash": "`+sloETag+`"`) || !strings.Contains(string(m.body), `"range": "2-3"`) {
		t.Errorf("nested manifest %s", m.body)
	}

	// The container listing: total bytes, the manifest's hash, slo_etag.
	r = c.do("GET", "/"+ct+"?format=json&prefix=big", nil, nil)
	var list []map[string]any
	if err := json.Unmarshal(r.body, &list); err != nil || len(list) != 1 {
		t.Fatalf("listing %s: %v", r.body, err)
	}
	if list[0]["bytes"] != float64(n) || list[0]["hash"] != md5hex(mget.body) || list[0]["slo_etag"] != `"`+sloETag+`"` {
		t.Errorf("listing entry %v", list[0])
	}

	// Validation: Swift's statuses and bodies.
	big := make([]string, 1001)
	for i := range big {
		big[i] = fmt.Sprintf(`{"path": "%s/seg/s3"}`, ct)
	}
	for _, tc := range []struct {
		name, body string
		hdr        map[string]string
		status     int
		wantBody   string
	}{
		{"not json", `nope`, nil, 400, "Manifest must be valid JSON.\n"},
		{"not a list", `{}`, nil, 400, "Manifest must be a list.\n"},
		{"extraneous", `[{"path": "c/o", "x": 1}]`, nil, 400, "Index 0: extraneous keys \"x\"\n"},
		{"no object", `[{"path": "c"}]`, nil, 400, "Index 0: path does not refer to an object. Path must be of the form /container/object.\n"},
		{"multi range", `[{"path": "c/o", "range": "1-2,4-5"}]`, nil, 400, "Index 0: multiple ranges (only one allowed)\n"},
		{"bad range", `[{"path": "c/o", "range": "x"}]`, nil, 400, "Index 0: invalid range\n"},
		{"unsatisfiable", `[{"path": "c/o", "size_bytes": 10, "range": "20-30"}]`, nil, 400, "Index 0: unsatisfiable range\n"},
		{"size_bytes", `[{"path": "c/o", "size_bytes": "a"}]`, nil, 400, "Index 0: invalid size_bytes\n"},
		{"zero size", `[{"path": "c/o", "size_bytes": 0}, {"path": "c/o"}]`, nil, 400, "Index 0: too small; each segment must be at least 1 byte.\n"},
		{"path type", `[{"path": 5}]`, nil, 400, "Index 0: \"path\" must be a string\n"},
		{"etag type", `[{"path": "c/o", "etag": 5}]`, nil, 400, "Index 0: \"etag\" must be a string or null (if provided)\n"},
		{"bad data", `[{"data": "!!"}]`, nil, 400, "Index 0: data must be valid base64\nInline data segments require at least one object-backed segment.\n"},
		{"only data", `[{"data": "aGVsbG8="}]`, nil, 400, "Inline data segments require at least one object-backed segment.\n"},
		{"self", fmt.Sprintf(`[{"path": "%s/x"}]`, ct), nil, 400, "Index 0: manifest must not include itself as a segment\n"},
		{"segments", fmt.Sprintf(`[{"path": "%s/nope"}, {"path": "%s/seg/s1", "etag": "x", "size_bytes": 3}, {"path": "%s/seg/s2", "range": "999999-"}]`, ct, ct, ct), nil, 400,
			fmt.Sprintf("Errors:\n%s/nope, 404 Not Found\n%s/seg/s1, Size Mismatch\n%s/seg/s1, Etag Mismatch\n%s/seg/s2, Unsatisfiable Range\n", ct, ct, ct, ct)},
		{"segments json", fmt.Sprintf(`[{"path": "%s/nope"}]`, ct), map[string]string{"Accept": "application/json"}, 400,
			fmt.Sprintf(`{"Errors": [["%s/nope", "404 Not Found"]]}`, ct)},
		{"too many", "[" + strings.Join(big, ",") + "]", nil, 413, "Number of object-backed segments must be <= 1000"},
		{"client etag", fmt.Sprintf(`[{"path": "%s/seg/s3"}]`, ct), map[string]string{"Etag": "0123"}, 422, ""},
	} {
		t.Run("invalid/"+tc.name, func(t *testing.T) {
			r := c.do("PUT", "/"+ct+"/x?multipart-manifest=put", tc.hdr, []byte(tc.body))
			want(t, r, tc.status, tc.name)
			if tc.name == "segments" {
				// Swift HEADs the segments concurrently: any order.
				if sortedLines(string(r.body)) != sortedLines(tc.wantBody) {
					t.Errorf("body %q, want the lines of %q", r.body, tc.wantBody)
				}
				return
			}
			if tc.wantBody != "" && string(r.body) != tc.wantBody {
				t.Errorf("body %q, want %q", r.body, tc.wantBody)
			}
		})
	}
	want(t, c.do("HEAD", "/"+ct+"/x", nil, nil), 404, "nothing stored by refused manifests")
	want(t, c.do("POST", "/"+ct+"/seg/s1", map[string]string{"X-Static-Large-Object": "True"}, nil), 400, "reserved header")
	r = c.do("PUT", "/"+ct+"/empty?multipart-manifest=put", nil, []byte(`[]`))
	want(t, r, 201, "empty manifest")
	if r.Header.Get("Etag") != `"`+md5hex(nil)+`"` {
		t.Errorf("empty SLO Etag %s", r.Header.Get("Etag"))
	}

	// COPY: the content by default (a plain object), the manifest with
	// ?multipart-manifest=get (another SLO).
	want(t, c.do("COPY", "/"+ct+"/big", map[string]string{"Destination": ct + "/flat"}, nil), 201, "COPY slo")
	r = c.do("GET", "/"+ct+"/flat", nil, nil)
	if !bytes.Equal(r.body, content) || r.Header.Get("Etag") != md5hex(content) || r.Header.Get("X-Static-Large-Object") != "" {
		t.Errorf("COPY of slo: %d bytes, Etag %s, SLO %q", len(r.body), r.Header.Get("Etag"), r.Header.Get("X-Static-Large-Object"))
	}
	want(t, c.do("COPY", "/"+ct+"/big?multipart-manifest=get", map[string]string{"Destination": ct + "/big2"}, nil), 201, "COPY manifest")
	r = c.do("GET", "/"+ct+"/big2", nil, nil)
	if !bytes.Equal(r.body, content) || r.Header.Get("Etag") != `"`+sloETag+`"` || r.Header.Get("X-Static-Large-Object") != "True" {
		t.Errorf("COPY of the manifest: %d bytes, Etag %s, SLO %q", len(r.body), r.Header.Get("Etag"), r.Header.Get("X-Static-Large-Object"))
	}

	// Overwrite an SLO with a plain object.
	want(t, c.do("PUT", "/"+ct+"/again", nil, []byte("plain now")), 201, "overwrite")
	r = c.do("GET", "/"+ct+"/again", nil, nil)
	if string(r.body) != "plain now" || r.Header.Get("X-Static-Large-Object") != "" || r.Header.Get("Etag") != md5hex([]byte("plain now")) {
		t.Errorf("overwritten slo: %q %v", r.body, r.Header)
	}

	// DELETE without the query deletes the manifest only.
	want(t, c.do("DELETE", "/"+ct+"/big2", nil, nil), 204, "DELETE manifest")
	want(t, c.do("HEAD", "/"+ct+"/seg/s1", nil, nil), 200, "segment kept")

	// ?multipart-manifest=delete: segments (the sub-SLO's too), then the
	// manifest; a segment already gone counts as not found.
	want(t, c.do("DELETE", "/"+ct+"/seg/s3", nil, nil), 204, "delete s3 first")
	r = c.do("DELETE", "/"+ct+"/nested?multipart-manifest=delete", map[string]string{"Accept": "application/json"}, nil)
	want(t, r, 200, "multipart-manifest=delete")
	wantDel := `{"Response Status": "200 OK", "Response Body": "", "Number Deleted": 4, "Number Not Found": 2, "Errors": []}`
	if string(r.body) != wantDel || r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("delete body %s (%s), want %s", r.body, r.Header.Get("Content-Type"), wantDel)
	}
	for _, o := range []string{"nested", "big", "seg/s1", "seg/s2"} {
		want(t, c.do("HEAD", "/"+ct+"/"+o, nil, nil), 404, o+" after multipart delete")
	}
	r = c.do("DELETE", "/"+ct+"/big?multipart-manifest=delete", nil, nil)
	want(t, r, 200, "multipart delete of nothing")
	if string(r.body) != "Number Deleted: 0\nNumber Not Found: 1\nResponse Body: \nResponse Status: 200 OK\nErrors:\n" {
		t.Errorf("multipart delete of nothing: %q", r.body)
	}
	r = c.do("DELETE", "/"+ct+"/flat?multipart-manifest=delete", map[string]string{"Accept": "application/xml"}, nil)
	want(t, r, 200, "multipart delete of a plain object")
	if !strings.Contains(string(r.body), "<name>/"+ct+"/flat</name><status>Not an SLO manifest</status>") ||
		!strings.Contains(string(r.body), "<response_status>400 Bad Request</response_status>") {
		t.Errorf("multipart delete of a plain object: %s", r.body)
	}
}

func sortedLines(s string) string {
	l := strings.Split(s, "\n")
	sort.Strings(l)
	return strings.Join(l, "\n")
}

func concat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
