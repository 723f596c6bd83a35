package e2e

import (
	"sort"
	"strings"
	"testing"
)

// TestSwiftDiffCore compares what Nitro already did before issue 11:
// account, container and object CRUD, metadata, listings in every format,
// DLO, COPY, ranges, conditional requests, ACLs and errors.
func TestSwiftDiffCore(t *testing.T) { runDiff(t, coreCases) }

// Shorthands for the core cases.
func put(path, body string, h ...string) diffStep {
	return diffStep{Method: "PUT", Path: path, Body: body, Header: hdrs(h...), Setup: true}
}

// hdrs makes a header map from "Name: value" strings.
func hdrs(h ...string) map[string]string {
	if len(h) == 0 {
		return nil
	}
	m := map[string]string{}
	for _, kv := range h {
		k, v, _ := strings.Cut(kv, ":")
		m[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return m
}

var (
	objHdrs  = []string{"Etag", "X-Timestamp", "Last-Modified", "Accept-Ranges", "X-Object-Meta-Color", "X-Object-Meta-Size"}
	contHdrs = []string{"X-Container-Object-Count", "X-Container-Bytes-Used", "X-Timestamp", "X-Put-Timestamp", "X-Storage-Policy",
		"Accept-Ranges", "X-Container-Meta-Color", "X-Container-Read", "X-Container-Write", "Last-Modified"}
	tenObjs = []diffStep{
		put("{c}", ""), put("{c}/a", "1"), put("{c}/b", "22"), put("{c}/b/c", "333"), put("{c}/b/d", "4444"),
		put("{c}/c-d/e", "5"), put("{c}/d", "66", "Content-Type: text/plain; charset=utf-8"),
		put("{c}/%C3%A9t%C3%A9", "7"), put("{c}/z&<>\"'", "88"),
	}
)

// withSetup prepends setup steps to steps.
func withSetup(setup []diffStep, steps ...diffStep) []diffStep {
	return append(append([]diffStep{}, setup...), steps...)
}

var coreCases = []diffCase{
	// --- accounts -------------------------------------------------------
	{Name: "account head", Steps: []diffStep{
		put("{c}", ""),
		{Method: "HEAD", Path: "", Compare: []string{"X-Account-Container-Count", "X-Timestamp", "X-Account-Bytes-Used", "X-Account-Object-Count", "Accept-Ranges"},
			Norm: map[string]func(string) string{"X-Account-Container-Count": normPresent, "X-Account-Bytes-Used": normPresent, "X-Account-Object-Count": normPresent}},
	}},
	{Name: "account listing formats", Steps: []diffStep{
		put("{c1}", ""), put("{c2}", ""), put("{c3}", ""),
		{Method: "GET", Path: "?prefix={c}&format=json", BodyMode: bodyJSON},
		{Method: "GET", Path: "?prefix={c}"},
		{Method: "GET", Path: "?prefix={c}&format=xml", BodyMode: bodyXML},
		{Method: "GET", Path: "?prefix={c}", Header: hdrs("Accept: application/json"), BodyMode: bodyJSON},
		{Method: "GET", Path: "?prefix={c}&limit=2"},
		{Method: "GET", Path: "?prefix={c}&marker={c1}"},
		{Method: "GET", Path: "?prefix={c}&end_marker={c3}"},
		{Method: "GET", Path: "?prefix={c}&reverse=true"},
		{Method: "GET", Path: "?prefix={c}-nothing"},
		{Method: "GET", Path: "?prefix={c}-nothing&format=json"},
	}},
	{Name: "account of another user", Steps: []diffStep{
		{As: "tester2", Method: "GET", Path: "/v1/AUTH_test"},
		{As: "tester3", Method: "GET", Path: "/v1/AUTH_test"},
		{As: "anon", Method: "GET", Path: "/v1/AUTH_test"},
		{As: "admin", Method: "HEAD", Path: "/v1/AUTH_test"},
		{As: "tester3", Method: "PUT", Path: "{c}"},
	}},

	// --- containers -----------------------------------------------------
	{Name: "container lifecycle", Steps: []diffStep{
		{Method: "HEAD", Path: "{c}"},
		{Method: "PUT", Path: "{c}", Header: hdrs("X-Container-Meta-Color: red")},
		{Method: "PUT", Path: "{c}"},
		{Method: "HEAD", Path: "{c}", Compare: contHdrs},
		put("{c}/o", "x"),
		{Method: "DELETE", Path: "{c}"},
		{Method: "DELETE", Path: "{c}/o"},
		{Method: "DELETE", Path: "{c}"},
		{Method: "DELETE", Path: "{c}"},
		{Method: "GET", Path: "{c}"},
	}},
	{Name: "container metadata", Steps: []diffStep{
		put("{c}", "", "X-Container-Meta-Color: red", "X-Container-Meta-Shape: round"),
		{Method: "POST", Path: "{c}", Header: hdrs("X-Container-Meta-Color: blue", "X-Remove-Container-Meta-Shape: x", "X-Container-Meta-New: n")},
		{Method: "HEAD", Path: "{c}", Compare: append(contHdrs, "X-Container-Meta-Shape", "X-Container-Meta-New")},
		{Method: "POST", Path: "{c}", Header: hdrs("X-Container-Meta-Color:")},
		{Method: "HEAD", Path: "{c}", Compare: append(contHdrs, "X-Container-Meta-Shape", "X-Container-Meta-New")},
		{Method: "POST", Path: "{c}-absent", Header: hdrs("X-Container-Meta-Color: blue")},
	}},
	{Name: "container name limits", Steps: []diffStep{
		{Method: "PUT", Path: strings.Repeat("n", 257)},
		{Method: "PUT", Path: "{c}" + strings.Repeat("n", 256-len("sd000-container-name-limits-c"))},
		{Method: "PUT", Path: "{c}", Header: hdrs("X-Container-Meta-" + strings.Repeat("k", 129) + ": v")},
		{Method: "PUT", Path: "{c}", Header: hdrs("X-Container-Meta-K: " + strings.Repeat("v", 257))},
		{Method: "PUT", Path: "{c}", Header: hdrs("X-Storage-Policy: nope")},
		{Method: "PUT", Path: "{c}", Header: hdrs("X-Storage-Policy: Policy-0")},
	}},

	// --- objects --------------------------------------------------------
	{Name: "object metadata post", Steps: []diffStep{
		put("{c}", ""),
		put("{c}/o", "data", "X-Object-Meta-Color: red", "X-Object-Meta-Size: big", "Content-Type: text/x-one", "Content-Disposition: attachment"),
		{Method: "POST", Path: "{c}/o", Header: hdrs("X-Object-Meta-Color: blue")},
		{Method: "HEAD", Path: "{c}/o", Compare: append(objHdrs, "Content-Disposition")},
		{Method: "POST", Path: "{c}/o", Header: hdrs("Content-Type: text/x-two")},
		{Method: "HEAD", Path: "{c}/o", Compare: append(objHdrs, "Content-Disposition")},
		{Method: "POST", Path: "{c}/absent", Header: hdrs("X-Object-Meta-Color: blue")},
	}},
	{Name: "object put variants", Steps: []diffStep{
		put("{c}", ""),
		{Method: "PUT", Path: "{c}/e", Body: "hello", Header: hdrs("Etag: 5d41402abc4b2a76b9719d911017c592"), Compare: []string{"Etag"}},
		{Method: "PUT", Path: "{c}/e", Body: "hello", Header: hdrs("Etag: 00000000000000000000000000000000")},
		{Method: "PUT", Path: "{c}/e", Body: "hello", Header: hdrs("If-None-Match: *")},
		{Method: "PUT", Path: "{c}/n", Body: "hello", Header: hdrs("If-None-Match: *"), Compare: []string{"Etag"}},
		{Method: "PUT", Path: "{c}/empty", Compare: []string{"Etag"}},
		{Method: "HEAD", Path: "{c}/empty", Compare: objHdrs},
		{Method: "PUT", Path: "{c}/t.html", Body: "<p>", Compare: []string{"Etag"}},
		{Method: "HEAD", Path: "{c}/t.html", Compare: objHdrs},
		{Method: "PUT", Path: "{c}/t.json", Body: "{}", Header: hdrs("Content-Type: text/plain", "X-Detect-Content-Type: true")},
		{Method: "HEAD", Path: "{c}/t.json"},
		{Method: "PUT", Path: "{c}-absent/o", Body: "x"},
		{Method: "PUT", Path: "{c}/" + strings.Repeat("o", 1025), Body: "x"},
		{Method: "PUT", Path: "{c}/m", Body: "x", Header: hdrs("X-Object-Meta-" + strings.Repeat("k", 129) + ": v")},
		{Method: "PUT", Path: "{c}/d", Body: "x", Header: hdrs("X-Delete-After: -1")},
		{Method: "PUT", Path: "{c}/d", Body: "x", Header: hdrs("X-Delete-At: soon")},
		{Method: "PUT", Path: "{c}/d", Body: "x", Header: hdrs("X-Delete-After: 3600")},
		{Method: "HEAD", Path: "{c}/d", Compare: []string{"X-Delete-At"}, Norm: map[string]func(string) string{"X-Delete-At": normPresent}},
	}},
	{Name: "object delete and absent", Steps: []diffStep{
		put("{c}", ""), put("{c}/o", "x"),
		{Method: "DELETE", Path: "{c}/o"},
		{Method: "DELETE", Path: "{c}/o"},
		{Method: "HEAD", Path: "{c}/o"},
		{Method: "GET", Path: "{c}/o"},
		{Method: "GET", Path: "{c}-absent/o"},
	}},
	{Name: "object names with odd bytes", Steps: []diffStep{
		put("{c}", ""),
		{Method: "PUT", Path: "{c}/a%20b", Body: "1"},
		{Method: "PUT", Path: "{c}/a+b", Body: "2"},
		{Method: "PUT", Path: "{c}/%E2%82%AC", Body: "3"},
		{Method: "PUT", Path: "{c}/dir//x", Body: "4"},
		{Method: "PUT", Path: "{c}/./x", Body: "5"},
		{Method: "PUT", Path: "{c}/%3F%23", Body: "6"},
		{Method: "GET", Path: "{c}?format=json", BodyMode: bodyJSON},
		{Method: "GET", Path: "{c}/a+b"},
		{Method: "GET", Path: "{c}/dir//x"},
	}},

	// --- listings ---------------------------------------------------------
	{Name: "container listing formats", Steps: withSetup(tenObjs,
		diffStep{Method: "GET", Path: "{c}", Compare: contHdrs},
		diffStep{Method: "GET", Path: "{c}?format=json", BodyMode: bodyJSON},
		diffStep{Method: "GET", Path: "{c}?format=xml", BodyMode: bodyXML},
		diffStep{Method: "GET", Path: "{c}", Header: hdrs("Accept: application/xml"), BodyMode: bodyXML},
		diffStep{Method: "GET", Path: "{c}", Header: hdrs("Accept: text/xml"), BodyMode: bodyXML},
		diffStep{Method: "GET", Path: "{c}", Header: hdrs("Accept: */*")},
		diffStep{Method: "GET", Path: "{c}?format=plain"},
		diffStep{Method: "GET", Path: "{c}?format=bogus"},
	)},
	{Name: "container listing parameters", Steps: withSetup(tenObjs,
		diffStep{Method: "GET", Path: "{c}?limit=2"},
		diffStep{Method: "GET", Path: "{c}?limit=0"},
		diffStep{Method: "GET", Path: "{c}?marker=b"},
		diffStep{Method: "GET", Path: "{c}?end_marker=b/d"},
		diffStep{Method: "GET", Path: "{c}?marker=a&end_marker=c"},
		diffStep{Method: "GET", Path: "{c}?prefix=b/"},
		diffStep{Method: "GET", Path: "{c}?delimiter=/"},
		diffStep{Method: "GET", Path: "{c}?delimiter=/&format=json", BodyMode: bodyJSON},
		diffStep{Method: "GET", Path: "{c}?delimiter=/&format=xml", BodyMode: bodyXML},
		diffStep{Method: "GET", Path: "{c}?prefix=b/&delimiter=/"},
		diffStep{Method: "GET", Path: "{c}?path=b"},
		diffStep{Method: "GET", Path: "{c}?reverse=on"},
		diffStep{Method: "GET", Path: "{c}?reverse=on&marker=c"},
		diffStep{Method: "GET", Path: "{c}?prefix=zz"},
		diffStep{Method: "GET", Path: "{c}?prefix=zz&format=json", BodyMode: bodyJSON},
	)},
	{Name: "listing of an empty container", Steps: []diffStep{
		put("{c}", ""),
		{Method: "GET", Path: "{c}"},
		{Method: "GET", Path: "{c}?format=json"},
		{Method: "GET", Path: "{c}?format=xml", BodyMode: bodyXML},
		{Method: "HEAD", Path: "{c}?format=json"},
	}},

	// --- DLO ----------------------------------------------------------------
	{Name: "dlo get head range", Steps: []diffStep{
		put("{c}", ""), put("{c1}", ""),
		put("{c1}/seg/01", "aaaa"), put("{c1}/seg/02", "bbbb"), put("{c1}/seg/03", "cc"),
		{Method: "PUT", Path: "{c}/m", Header: hdrs("X-Object-Manifest: {c1}/seg/", "Content-Type: text/x-big"), Compare: []string{"Etag"}},
		{Method: "HEAD", Path: "{c}/m", Compare: []string{"Etag", "X-Object-Manifest", "Accept-Ranges"}},
		{Method: "GET", Path: "{c}/m", Compare: []string{"Etag", "X-Object-Manifest"}},
		{Method: "GET", Path: "{c}/m", Header: hdrs("Range: bytes=3-5"), Compare: []string{"Content-Range", "Etag"}},
		{Method: "GET", Path: "{c}/m", Header: hdrs("Range: bytes=-3"), Compare: []string{"Content-Range"}},
		{Method: "GET", Path: "{c}/m?multipart-manifest=get", Compare: []string{"Etag", "X-Object-Manifest"}},
		{Method: "GET", Path: "{c}?format=json", BodyMode: bodyJSON},
		{Method: "PUT", Path: "{c}/bad", Header: hdrs("X-Object-Manifest: nocontainer")},
		{Method: "PUT", Path: "{c}/empty", Header: hdrs("X-Object-Manifest: {c1}/none/")},
		{Method: "GET", Path: "{c}/empty", Compare: []string{"Etag"}},
	}},

	{Name: "dlo copy and manifest copy", Steps: []diffStep{
		put("{c}", ""), put("{c1}", ""),
		put("{c1}/seg/01", "aaaa"), put("{c1}/seg/02", "bbbb"),
		put("{c}/m", "", "X-Object-Manifest: {c1}/seg/"),
		{Method: "COPY", Path: "{c}/m", Header: hdrs("Destination: {c}/flat"), Compare: []string{"Etag", "X-Copied-From"}},
		{Method: "GET", Path: "{c}/flat", Compare: []string{"Etag", "X-Object-Manifest"}},
		{Method: "COPY", Path: "{c}/m?multipart-manifest=get", Header: hdrs("Destination: {c}/m2"), Compare: []string{"X-Copied-From"}},
		{Method: "GET", Path: "{c}/m2", Compare: []string{"Etag", "X-Object-Manifest"}},
	}},
	{Name: "object post without the manifest header",
		Steps: []diffStep{
			put("{c}", ""), put("{c1}", ""), put("{c1}/seg/01", "aaaa"),
			put("{c}/m", "", "X-Object-Manifest: {c1}/seg/"),
			{Method: "POST", Path: "{c}/m", Header: hdrs("X-Object-Meta-Color: c")},
			{Method: "HEAD", Path: "{c}/m", Compare: []string{"Etag", "X-Object-Manifest", "X-Object-Meta-Color"}},
		}},

	// --- COPY ---------------------------------------------------------------
	{Name: "copy and copy-from", Steps: []diffStep{
		put("{c}", ""), put("{c2}", ""),
		put("{c}/src", "source", "X-Object-Meta-Color: red", "Content-Type: text/x-src"),
		{Method: "COPY", Path: "{c}/src", Header: hdrs("Destination: {c2}/dst"), Compare: []string{"Etag", "X-Copied-From", "X-Copied-From-Last-Modified"}},
		{Method: "HEAD", Path: "{c2}/dst", Compare: objHdrs},
		{Method: "PUT", Path: "{c2}/dst2", Header: hdrs("X-Copy-From: {c}/src", "X-Object-Meta-Size: s"), Compare: []string{"Etag", "X-Copied-From"}},
		{Method: "HEAD", Path: "{c2}/dst2", Compare: objHdrs},
		{Method: "PUT", Path: "{c2}/dst3", Header: hdrs("X-Copy-From: {c}/src", "X-Fresh-Metadata: true", "Content-Type: text/x-new")},
		{Method: "HEAD", Path: "{c2}/dst3", Compare: objHdrs},
		{Method: "COPY", Path: "{c}/absent", Header: hdrs("Destination: {c2}/x")},
		{Method: "COPY", Path: "{c}/src", Header: hdrs("Destination: nocontainer")},
		{Method: "COPY", Path: "{c}/src", Header: hdrs("Destination: {c}-absent/x")},
		{Method: "COPY", Path: "{c}/src", Header: hdrs("Destination: /v1/AUTH_test/{c2}/y")},
		{Method: "COPY", Path: "{c}/src", Header: hdrs("Destination: {c2}/acct", "Destination-Account: AUTH_test2")},
		{As: "tester2", Method: "PUT", Path: "/v1/AUTH_test2/{c}", Setup: true},
		{Method: "PUT", Path: "/v1/AUTH_test2/{c}/x", Header: hdrs("X-Copy-From: {c}/src")},
		{As: "admin", Method: "PUT", Path: "/v1/AUTH_test2/{c}/x", Header: hdrs("X-Copy-From: {c}/src", "X-Copy-From-Account: AUTH_test"), Compare: []string{"X-Copied-From", "X-Copied-From-Account"}},
	}},

	// --- ranges -------------------------------------------------------------
	{Name: "ranges", Steps: []diffStep{
		put("{c}", ""), put("{c}/o", "0123456789"),
		{Method: "GET", Path: "{c}/o", Header: hdrs("Range: bytes=2-4"), Compare: []string{"Content-Range", "Etag"}},
		{Method: "GET", Path: "{c}/o", Header: hdrs("Range: bytes=7-"), Compare: []string{"Content-Range"}},
		{Method: "GET", Path: "{c}/o", Header: hdrs("Range: bytes=-2"), Compare: []string{"Content-Range"}},
		{Method: "GET", Path: "{c}/o", Header: hdrs("Range: bytes=5-100"), Compare: []string{"Content-Range"}},
		{Method: "GET", Path: "{c}/o", Header: hdrs("Range: bytes=10-"), Compare: []string{"Content-Range"}},
		{Method: "GET", Path: "{c}/o", Header: hdrs("Range: bytes=-0"), Compare: []string{"Content-Range"}},
		{Method: "GET", Path: "{c}/o", Header: hdrs("Range: bytes=4-2"), Compare: []string{"Content-Range"}},
		{Method: "GET", Path: "{c}/o", Header: hdrs("Range: junk"), Compare: []string{"Content-Range"}},
		{Method: "HEAD", Path: "{c}/o", Header: hdrs("Range: bytes=2-4"), Compare: []string{"Content-Range"}},
		{Method: "GET", Path: "{c}/o", Header: hdrs("Range: bytes=2-4", "If-Range: \"781e5e245d69b566979b86e28d23f2c7\""), Compare: []string{"Content-Range"}},
	}},
	{Name: "if-range with another etag", Differs: "Nitro honours If-Range (RFC 9110 §13.1.5: a stale validator gets the whole object, 200); Swift 2.30 ignores If-Range and serves the range",
		Steps: []diffStep{
			put("{c}", ""), put("{c}/o", "0123456789"),
			{Method: "GET", Path: "{c}/o", Header: hdrs("Range: bytes=2-4", "If-Range: \"nope\""), Compare: []string{"Content-Range"},
				Nitro: &diffWant{Status: 200, Header: map[string]string{"Content-Range": "", "Content-Length": "10"}, Body: strp("0123456789")}},
		}},

	// --- conditionals ---------------------------------------------------------
	{Name: "conditional requests", Steps: []diffStep{
		put("{c}", ""), put("{c}/o", "0123456789"),
		{Method: "GET", Path: "{c}/o", Header: hdrs("If-Match: \"781e5e245d69b566979b86e28d23f2c7\"")},
		{Method: "GET", Path: "{c}/o", Header: hdrs("If-Match: 781e5e245d69b566979b86e28d23f2c7")},
		{Method: "GET", Path: "{c}/o", Header: hdrs("If-Match: \"nope\"")},
		{Method: "GET", Path: "{c}/o", Header: hdrs("If-Match: *")},
		{Method: "GET", Path: "{c}/o", Header: hdrs("If-None-Match: \"781e5e245d69b566979b86e28d23f2c7\""), Compare: []string{"Etag"}},
		{Method: "GET", Path: "{c}/o", Header: hdrs("If-None-Match: \"nope\"")},
		{Method: "HEAD", Path: "{c}/o", Header: hdrs("If-None-Match: *")},
		{Method: "GET", Path: "{c}/o", Header: hdrs("If-Modified-Since: Thu, 01 Jan 2099 00:00:00 GMT")},
		{Method: "GET", Path: "{c}/o", Header: hdrs("If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT")},
		{Method: "GET", Path: "{c}/o", Header: hdrs("If-Unmodified-Since: Thu, 01 Jan 1970 00:00:00 GMT")},
		{Method: "GET", Path: "{c}/o", Header: hdrs("If-Unmodified-Since: Thu, 01 Jan 2099 00:00:00 GMT")},
		{Method: "GET", Path: "{c}/o", Header: hdrs("If-Modified-Since: garbage")},
		{Method: "GET", Path: "{c}/absent", Header: hdrs("If-Match: *")},
	}},

	// --- ACLs -----------------------------------------------------------------
	{Name: "container acls", Steps: []diffStep{
		put("{c}", ""), put("{c}/o", "secret"),
		{As: "tester3", Method: "GET", Path: "{c}/o"},
		{As: "tester3", Method: "GET", Path: "{c}"},
		{As: "anon", Method: "GET", Path: "{c}/o"},
		{Method: "POST", Path: "{c}", Header: hdrs("X-Container-Read: test:tester3")},
		{As: "tester3", Method: "GET", Path: "{c}/o"},
		{As: "tester3", Method: "GET", Path: "{c}"},
		{As: "tester3", Method: "HEAD", Path: "{c}", Compare: contHdrs},
		{As: "tester3", Method: "PUT", Path: "{c}/w", Body: "x"},
		{As: "tester3", Method: "DELETE", Path: "{c}/o"},
		{Method: "POST", Path: "{c}", Header: hdrs("X-Container-Write: test:*")},
		{As: "tester3", Method: "PUT", Path: "{c}/w", Body: "x"},
		{As: "tester3", Method: "POST", Path: "{c}/w", Header: hdrs("X-Object-Meta-Color: c")},
		{As: "tester3", Method: "DELETE", Path: "{c}/w"},
		{As: "tester3", Method: "POST", Path: "{c}", Header: hdrs("X-Container-Meta-X: y")},
		{As: "tester2", Method: "GET", Path: "/v1/AUTH_test/{c}/o"},
		{Method: "POST", Path: "{c}", Header: hdrs("X-Container-Read: .r:*")},
		{As: "anon", Method: "GET", Path: "{c}/o"},
		{As: "anon", Method: "GET", Path: "{c}"},
		{Method: "POST", Path: "{c}", Header: hdrs("X-Container-Read: .r:*,.rlistings")},
		{As: "anon", Method: "GET", Path: "{c}"},
		{Method: "POST", Path: "{c}", Header: hdrs("X-Container-Read: .r:-bad.example.com,.r:*")},
		{As: "anon", Method: "GET", Path: "{c}/o", Header: hdrs("Referer: http://bad.example.com/x")},
		{As: "anon", Method: "GET", Path: "{c}/o", Header: hdrs("Referer: http://good.example.com/x")},
		{Method: "HEAD", Path: "{c}", Compare: contHdrs},
		{Method: "POST", Path: "{c}", Header: hdrs("X-Container-Read: .r:")},
		{Method: "POST", Path: "{c}", Header: hdrs("X-Container-Read: .bogus:x")},
		{As: "admin", Method: "GET", Path: "/v1/AUTH_test/{c}/o"},
		{As: "admin", Method: "PUT", Path: "/v1/AUTH_test2/{c}"},
		{As: "tester2", Method: "DELETE", Path: "/v1/AUTH_test2/{c}"},
	}},

	// --- errors -----------------------------------------------------------------
	{Name: "auth errors", Steps: []diffStep{
		{As: "anon", Method: "GET", Path: "", Compare: []string{"Www-Authenticate"}},
		{As: "anon", Method: "GET", Path: "", Header: hdrs("X-Auth-Token: AUTH_tk00000000000000000000000000000000"), Compare: []string{"Www-Authenticate"}},
		{As: "anon", Method: "GET", Path: "/auth/v1.0", Header: hdrs("X-Auth-User: test:tester", "X-Auth-Key: wrong")},
		{As: "anon", Method: "GET", Path: "/auth/v1.0", Header: hdrs("X-Auth-User: nobody:x", "X-Auth-Key: wrong")},
		{As: "anon", Method: "GET", Path: "/auth/v1.0", BodyMode: bodyIgnore},
		{As: "anon", Method: "GET", Path: "/auth/v1.0", Header: hdrs("X-Auth-User: test:tester", "X-Auth-Key: testing"),
			Compare: []string{"X-Auth-Token", "X-Storage-Token", "X-Storage-Url", "X-Auth-Token-Expires"}},
		{As: "anon", Method: "GET", Path: "/auth/v1.0", Header: hdrs("X-Storage-User: test:tester", "X-Storage-Pass: testing"),
			Compare: []string{"X-Auth-Token", "X-Storage-Url"}},
	}},
	{Name: "method and path errors", Steps: []diffStep{
		put("{c}", ""), put("{c}/o", "x"),
		{Method: "PATCH", Path: "{c}/o"},
		{Method: "PATCH", Path: "{c}"},
		{Method: "PATCH", Path: ""},
		{Method: "GET", Path: "/healthcheck"},
		{Method: "HEAD", Path: "/info", BodyMode: bodyIgnore},
		{Method: "POST", Path: "/info"},
		{Method: "GET", Path: "/info?swiftinfo_sig=x"},
		{Method: "GET", Path: "/info?swiftinfo_expires=1"},
	}},
	{Name: "allow header of 405 and options",
		Steps: []diffStep{
			put("{c}", ""), put("{c}/o", "x"),
			{Method: "PATCH", Path: "{c}/o", Compare: []string{"Allow"}, Norm: map[string]func(string) string{"Allow": normList}},
			{Method: "PATCH", Path: "{c}", Compare: []string{"Allow"}, Norm: map[string]func(string) string{"Allow": normList}},
			{Method: "PATCH", Path: "", Compare: []string{"Allow"}, Norm: map[string]func(string) string{"Allow": normList}},
			{Method: "OPTIONS", Path: "{c}/o", Compare: []string{"Allow"}, Norm: map[string]func(string) string{"Allow": normList}},
			{Method: "POST", Path: "/info", Compare: []string{"Allow"}, Norm: map[string]func(string) string{"Allow": normList}},
		}},
	{Name: "bad api version",
		Steps: []diffStep{
			{Method: "GET", Path: "/v2/AUTH_test"},
			{Method: "GET", Path: "/v1"},
			{Method: "GET", Path: "/foo"},
		}},
	{Name: "header line over 8 KiB", Differs: "Swift's eventlet refuses a header line over 8192 bytes before the proxy sees it (400, no body, no Content-Type); Nitro's own max_header_size check answers Swift's proxy message",
		Steps: []diffStep{
			put("{c}", ""), put("{c}/o", "x"),
			{Method: "GET", Path: "/v1/AUTH_test/{c}/o", Header: hdrs("X-Object-Meta-Big: " + strings.Repeat("x", 8200)),
				Nitro: &diffWant{Status: 400, Header: map[string]string{"Content-Type": "text/plain"}, Body: strp("Header value too long: X-Object-Meta-Big")}},
		}},
}

// normList normalises a comma-separated header value (Allow: Swift builds
// it from a Python set, in hash order) to its sorted items.
func normList(v string) string {
	items := strings.Split(v, ",")
	for i := range items {
		items[i] = strings.TrimSpace(items[i])
	}
	sort.Strings(items)
	return strings.Join(items, ", ")
}
