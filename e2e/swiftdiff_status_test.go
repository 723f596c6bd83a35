package e2e

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// TestSwiftDiffStatus: status codes and headers of issue 11 item 6
// against real Swift: bad paths and markers, COPY and X-Copy-From errors,
// COPY with Range, X-Delete-At / X-If-Delete-At validation, multi-range
// GET, conditional header precedence, X-Object-Manifest as stored,
// container Last-Modified, guessed content types, WWW-Authenticate,
// Connection and Expect.
func TestSwiftDiffStatus(t *testing.T) { runDiff(t, statusCases) }

var boundaryRE = regexp.MustCompile(`[0-9a-f]{32}`)

// sameMultipart compares two multipart/byteranges answers with their
// (random) boundaries replaced.
func sameMultipart(s, n *diffResp) error {
	sb := boundaryRE.ReplaceAllString(string(s.Body), "<boundary>")
	nb := boundaryRE.ReplaceAllString(string(n.Body), "<boundary>")
	if sb != nb {
		return fmt.Errorf("multipart body: swift %q, nitro %q", sb, nb)
	}
	sc := boundaryRE.ReplaceAllString(s.Header.Get("Content-Type"), "<boundary>")
	nc := boundaryRE.ReplaceAllString(n.Header.Get("Content-Type"), "<boundary>")
	if sc != nc {
		return fmt.Errorf("content-type: swift %q, nitro %q", sc, nc)
	}
	if s.Header.Get("Content-Length") != n.Header.Get("Content-Length") {
		return fmt.Errorf("content-length: swift %q, nitro %q", s.Header.Get("Content-Length"), n.Header.Get("Content-Length"))
	}
	return nil
}

// normBoundary hides a multipart boundary in a header.
func normBoundary(v string) string { return boundaryRE.ReplaceAllString(v, "<boundary>") }

func objSetup() []diffStep {
	return []diffStep{
		{Method: "PUT", Path: "{c}", Setup: true},
		{Method: "PUT", Path: "{c}/o", Body: "0123456789abcdefghij", Header: map[string]string{"Content-Type": "text/plain"}, Setup: true},
	}
}

func withObj(steps ...diffStep) []diffStep { return withSetup(objSetup(), steps...) }

var statusCases = []diffCase{
	{Name: "bad paths", Steps: []diffStep{
		{Method: "GET", Path: "/v1"},
		{Method: "GET", Path: "/v1/"},
		{Method: "HEAD", Path: "/v1"},
		{Method: "GET", Path: "/v1/AUTH_test/%FF"},
		{Method: "GET", Path: "/v1/AUTH_test/c/%00"},
		{Method: "PUT", Path: "/v1/AUTH_test/c%00", As: "tester"},
		{Method: "GET", Path: "/v2/AUTH_test"},
		{Method: "GET", Path: "/nope"},
	}},
	{Name: "copy errors", Steps: withObj(
		diffStep{Method: "COPY", Path: "{c}/o"},
		diffStep{Method: "COPY", Path: "{c}/o", Header: map[string]string{"Destination": "nocontainer"}},
		diffStep{Method: "COPY", Path: "{c}/o", Header: map[string]string{"Destination": "{c1}/x"}},
		diffStep{Method: "COPY", Path: "{c1}/o", Header: map[string]string{"Destination": "{c}/x"}},
		diffStep{Method: "PUT", Path: "{c}/x", Body: "body", Header: map[string]string{"X-Copy-From": "{c}/o"}},
		diffStep{Method: "PUT", Path: "{c}/x", Header: map[string]string{"X-Copy-From": "{c1}/o", "Content-Length": "0"}},
		diffStep{Method: "PUT", Path: "{c}/x", Header: map[string]string{"X-Copy-From": "{c}/missing", "Content-Length": "0"}},
		diffStep{Method: "PUT", Path: "{c}/x", Header: map[string]string{"X-Copy-From": "bad", "Content-Length": "0"}},
	)},
	{Name: "copy with range", Steps: withObj(
		diffStep{Method: "COPY", Path: "{c}/o", Header: map[string]string{"Destination": "{c}/r", "Range": "bytes=2-5"}, Compare: []string{"Etag"}},
		diffStep{Method: "GET", Path: "{c}/r", Compare: []string{"Etag"}},
		diffStep{Method: "PUT", Path: "{c}/r2", Header: map[string]string{"X-Copy-From": "{c}/o", "Range": "bytes=-3", "Content-Length": "0"}, Compare: []string{"Etag"}},
		diffStep{Method: "GET", Path: "{c}/r2", Compare: []string{"Etag"}},
		diffStep{Method: "COPY", Path: "{c}/o", Header: map[string]string{"Destination": "{c}/r3", "Range": "bytes=50-60"}},
	)},
	{Name: "delete-at validation", Steps: withObj(
		diffStep{Method: "PUT", Path: "{c}/d", Body: "x", Header: map[string]string{"X-Delete-At": "abc"}},
		diffStep{Method: "PUT", Path: "{c}/d", Body: "x", Header: map[string]string{"X-Delete-At": "1"}},
		diffStep{Method: "PUT", Path: "{c}/d", Body: "x", Header: map[string]string{"X-Delete-At": "9999999999.5"}},
		diffStep{Method: "PUT", Path: "{c}/d", Body: "x", Header: map[string]string{"X-Delete-After": "abc"}},
		diffStep{Method: "PUT", Path: "{c}/d", Body: "x", Header: map[string]string{"X-Delete-After": "-5"}},
		diffStep{Method: "PUT", Path: "{c}/d", Body: "x", Header: map[string]string{"X-Delete-After": "0"}},
		diffStep{Method: "PUT", Path: "{c}/d", Body: "x", Header: map[string]string{"X-Delete-At": "-1"}},
		diffStep{Method: "PUT", Path: "{c}/d", Body: "x", Header: map[string]string{"X-Delete-At": "99999999999"}},
		diffStep{Method: "POST", Path: "{c}/o", Header: map[string]string{"X-Delete-At": "abc"}},
		diffStep{Method: "POST", Path: "{c}/o", Header: map[string]string{"X-Delete-After": "1.5"}},
		diffStep{Method: "DELETE", Path: "{c}/o", Header: map[string]string{"X-If-Delete-At": "abc"}},
		diffStep{Method: "DELETE", Path: "{c}/o", Header: map[string]string{"X-If-Delete-At": "12345"}},
		diffStep{Method: "HEAD", Path: "{c}/o"},
	)},
	{Name: "multi range get", Steps: withObj(
		diffStep{Method: "GET", Path: "{c}/o", Header: map[string]string{"Range": "bytes=0-1,5-6"}, BodyMode: bodyIgnore, Check: sameMultipart,
			Norm: map[string]func(string) string{"Content-Type": normBoundary}},
		diffStep{Method: "GET", Path: "{c}/o", Header: map[string]string{"Range": "bytes=0-1,-2"}, BodyMode: bodyIgnore, Check: sameMultipart,
			Norm: map[string]func(string) string{"Content-Type": normBoundary}},
		diffStep{Method: "GET", Path: "{c}/o", Header: map[string]string{"Range": "bytes=0-1,100-200"}, Compare: []string{"Content-Range"}},
		diffStep{Method: "GET", Path: "{c}/o", Header: map[string]string{"Range": "bytes=100-200,300-400"}, Compare: []string{"Content-Range"}},
		diffStep{Method: "HEAD", Path: "{c}/o", Header: map[string]string{"Range": "bytes=0-1,5-6"},
			Norm: map[string]func(string) string{"Content-Type": normBoundary}},
	)},
	// swob.Range.ranges_for_length's limits on egregious ranges (RFC 7233
	// §6.1): more than 50 satisfiable ranges, more than 2 overlapping
	// pairs, or 8 or more out of order are unsatisfiable (416).
	{Name: "egregious ranges", Steps: withObj(
		rangeStep(strings.Repeat("0-0,", 50)+"0-0"),
		rangeStep(strings.Repeat("0-0,", 49)+"0-0"),
		rangeStep(strings.Repeat("0-0,", 50)+"0-0,100-200"),
		rangeStep(strings.Repeat("0-0,", 49)+"0-0,100-200"),
		rangeStep("99999999999999999999-"),
		rangeStep("1-99999999999999999999"),
		rangeStep("1_0-12"),
		rangeStep("0-5,1-6,2-7"),
		rangeStep("0-5,1-6"),
		rangeStep("0-5,0-5,0-5,0-5"),
		rangeStep("9-9,8-8,7-7,6-6,5-5,4-4,3-3,2-2"),
		rangeStep("9-9,8-8,7-7,6-6,5-5,4-4,3-3"),
		rangeStep("9-9,8-8,7-7,6-6,5-5,4-4,3-3,100-"),
		rangeStep("+1-3"),
		rangeStep("1-+3"),
		rangeStep("-"),
		rangeStep("1-3,,5-6"),
	)},
	{Name: "conditional precedence 412", Steps: withObj(
		diffStep{Method: "GET", Path: "{c}/o", Header: map[string]string{"If-Match": "\"nope\"", "If-Unmodified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"}},
		diffStep{Method: "GET", Path: "{c}/o", Header: map[string]string{"If-Match": "*", "If-Unmodified-Since": "Fri, 01 Jan 1999 00:00:00 GMT"}},
		diffStep{Method: "GET", Path: "{c}/o", Header: map[string]string{"If-None-Match": "\"nope\"", "If-Match": "\"nope\""}},
		diffStep{Method: "GET", Path: "{c}/o", Header: map[string]string{"If-Modified-Since": "garbage"}},
		diffStep{Method: "GET", Path: "{c}/o", Header: map[string]string{"If-Match": "\"nope\"", "Range": "bytes=0-1"}},
	)},
	// Entity-tag lists and forms in conditionals (swob's match rules).
	{Name: "conditional etag lists", Steps: withObj(
		condStep("If-Match", `"nope", "%[1]s"`),
		condStep("If-Match", `"nope","other"`),
		condStep("If-Match", `W/"%[1]s"`),
		condStep("If-Match", `%[1]s, "nope"`),
		condStep("If-Match", `"%[1]s" , *`),
		condStep("If-None-Match", `"nope", "%[1]s"`),
		condStep("If-None-Match", `W/"%[1]s"`),
		condStep("If-None-Match", `"nope", *`),
		condStep("If-None-Match", `"%[1]s`),
		condStep("If-Match", ``),
	)},
	{
		Name: "conditional precedence 304",
		Steps: withObj(
			diffStep{Method: "GET", Path: "{c}/o", Header: map[string]string{"If-None-Match": "*", "If-Modified-Since": "Fri, 01 Jan 1999 00:00:00 GMT"}, Compare: []string{"Etag"}},
			diffStep{Method: "GET", Path: "{c}/o", Header: map[string]string{"If-None-Match": "\"nope\"", "If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"}},
			diffStep{Method: "GET", Path: "{c}/o", Header: map[string]string{"If-Match": "\"nope\"", "If-None-Match": "*"}},
			diffStep{Method: "GET", Path: "{c}/o", Header: map[string]string{"If-Unmodified-Since": "Fri, 01 Jan 1999 00:00:00 GMT", "If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"}},
			diffStep{Method: "HEAD", Path: "{c}/o", Header: map[string]string{"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"}},
		),
	},
	{Name: "manifest header as stored", Steps: withObj(
		diffStep{Method: "PUT", Path: "{c}/m", Header: map[string]string{"X-Object-Manifest": "{c}/seg%20x", "Content-Length": "0"}},
		diffStep{Method: "HEAD", Path: "{c}/m", Compare: []string{"X-Object-Manifest"}, Norm: map[string]func(string) string{"Etag": normPresent}},
		diffStep{Method: "PUT", Path: "{c}/m2", Header: map[string]string{"X-Object-Manifest": "{c}/seg x/ü", "Content-Length": "0"}},
		diffStep{Method: "GET", Path: "{c}/m2?multipart-manifest=get", Compare: []string{"X-Object-Manifest"}},
	)},
	{Name: "container last-modified", Steps: []diffStep{
		{Method: "PUT", Path: "{c}", Setup: true},
		{Method: "HEAD", Path: "{c}", Compare: []string{"Last-Modified", "X-Timestamp", "X-Put-Timestamp"}},
		{Method: "PUT", Path: "{c}/o", Body: "x", Setup: true},
		{Method: "HEAD", Path: "{c}", Compare: []string{"Last-Modified"}},
		{Method: "POST", Path: "{c}", Header: map[string]string{"X-Container-Meta-A": "b"}, Setup: true},
		{Method: "GET", Path: "{c}", Compare: []string{"Last-Modified"}},
	}},
	{Name: "guessed content types", Steps: func() []diffStep {
		s := []diffStep{{Method: "PUT", Path: "{c}", Setup: true}}
		for _, n := range []string{"a.wav", "a.tar.gz", "a.tgz", "a.gz", ".bashrc", "a.JSON", "a.qcow2", "a.iso", "a.svgz", "a.js", "a.mp4", "a.xml"} {
			s = append(s, diffStep{Method: "PUT", Path: "{c}/" + n, Body: "x", Setup: true},
				diffStep{Method: "HEAD", Path: "{c}/" + n})
		}
		s = append(s, diffStep{Method: "PUT", Path: "{c}/d.wav", Body: "x", Header: map[string]string{"Content-Type": "text/plain", "X-Detect-Content-Type": "true"}},
			diffStep{Method: "HEAD", Path: "{c}/d.wav"})
		return s
	}()},
	{Name: "www-authenticate", Steps: []diffStep{
		{Method: "GET", Path: "", As: "anon", Compare: []string{"Www-Authenticate"}},
		{Method: "GET", Path: "/v1/AUTH_test/c", As: "anon", Compare: []string{"Www-Authenticate"}},
		{Method: "GET", Path: "", Header: map[string]string{"X-Auth-Token": "AUTH_tkbad"}, Compare: []string{"Www-Authenticate"}},
		{Method: "GET", Path: "/auth/v1.0", As: "anon", Header: map[string]string{"X-Auth-User": "test:tester", "X-Auth-Key": "wrong"}, Compare: []string{"Www-Authenticate"}},
	}},
	{Name: "connection and expect", Steps: withObj(
		diffStep{Method: "GET", Path: "{c}/o", Header: map[string]string{"Connection": "keep-alive"}},
		diffStep{Method: "PUT", Path: "{c}/e", Body: "expect", Header: map[string]string{"Expect": "100-continue"}, Compare: []string{"Etag"}},
		diffStep{Method: "GET", Path: "{c}/e"},
		diffStep{Method: "PUT", Path: "{c}/e2", Body: strings.Repeat("e", 10), Header: map[string]string{"Expect": "100-continue", "Connection": "keep-alive"}},
	)},
}

// rangeStep is a GET of {c}/o with "Range: bytes=<spec>", multipart
// bodies compared with their boundaries hidden.
func rangeStep(spec string) diffStep {
	return diffStep{Name: "bytes=" + spec, Method: "GET", Path: "{c}/o", Header: map[string]string{"Range": "bytes=" + spec},
		Compare: []string{"Content-Range"}, BodyMode: bodyIgnore, Check: sameMultipart,
		Norm: map[string]func(string) string{"Content-Type": normBoundary}}
}

// condStep is a GET of {c}/o (objSetup's body) with header h set to v,
// "%[1]s" in v standing for the object's MD5.
func condStep(h, v string) diffStep {
	v = fmt.Sprintf(v, "MD5")
	return diffStep{Name: h + ": " + v, Method: "GET", Path: "{c}/o", Header: map[string]string{h: strings.ReplaceAll(v, "MD5", objMD5)}, Compare: []string{"Etag"}}
}

// objMD5 is the MD5 of objSetup's object.
const objMD5 = "644be06dfc54061fd1e67f5ebbabcd58"
