package glanceshim_test

import (
	"net/http"
	"testing"
)

// TestCORS: preflights and CORS response headers from container
// metadata, as Swift 2.30's proxy (strict_cors_mode).
func TestCORS(t *testing.T) {
	ts := startServer(t, testConfig(), nil)
	tok, su := login(t, ts.URL, "test:tester", "testing")

	for _, r := range []struct {
		method, path string
		hdr          map[string]string
		body         string
	}{
		{"PUT", "/c", map[string]string{"X-Container-Meta-Access-Control-Allow-Origin": "http://a.example.com http://b.example.com",
			"X-Container-Meta-Access-Control-Max-Age": "60", "X-Container-Meta-Access-Control-Expose-Headers": "X-Foo  x-bar"}, ""},
		{"PUT", "/star", map[string]string{"X-Container-Meta-Access-Control-Allow-Origin": "*"}, ""},
		{"PUT", "/c/o", map[string]string{"X-Object-Meta-B": "2"}, "hello"},
		{"PUT", "/star/o", nil, "star"},
	} {
		h := map[string]string{"X-Auth-Token": tok}
		for k, v := range r.hdr {
			h[k] = v
		}
		if st, _, b := hc(t, r.method, su+r.path, h, []byte(r.body)); st != 201 {
			t.Fatalf("%s %s: %d %s", r.method, r.path, st, b)
		}
	}
	unauthorized := "<html><h1>Unauthorized</h1><p>This server could not verify that you are authorized to access the document you requested.</p></html>"
	cases := []struct {
		name, method, path string
		hdr                map[string]string
		want               int
		wantHdr            map[string]string // "" means absent
		body               *string
	}{
		{name: "plain OPTIONS object", method: "OPTIONS", path: "/c/o", want: 200,
			wantHdr: map[string]string{"Allow": "POST, GET, DELETE, HEAD, PUT, OPTIONS, COPY", "Access-Control-Allow-Origin": ""}},
		{name: "plain OPTIONS account", method: "OPTIONS", path: "", want: 200,
			wantHdr: map[string]string{"Allow": "POST, GET, HEAD, OPTIONS"}},
		{name: "preflight allowed", method: "OPTIONS", path: "/c/o",
			hdr: map[string]string{"Origin": "http://a.example.com", "Access-Control-Request-Method": "GET",
				"Access-Control-Request-Headers": "x-auth-token, content-type"}, want: 200,
			wantHdr: map[string]string{"Access-Control-Allow-Origin": "http://a.example.com", "Access-Control-Max-Age": "60",
				"Access-Control-Allow-Methods": "POST, GET, DELETE, HEAD, PUT, OPTIONS, COPY",
				"Access-Control-Allow-Headers": "x-auth-token, content-type",
				"Vary":                         "Origin, Access-Control-Request-Headers", "Content-Type": ""}},
		{name: "preflight star", method: "OPTIONS", path: "/star",
			hdr: map[string]string{"Origin": "http://x.org", "Access-Control-Request-Method": "PUT"}, want: 200,
			wantHdr: map[string]string{"Access-Control-Allow-Origin": "*", "Vary": "", "Access-Control-Max-Age": ""}},
		{name: "preflight origin refused", method: "OPTIONS", path: "/c/o",
			hdr: map[string]string{"Origin": "http://evil.com", "Access-Control-Request-Method": "GET"}, want: 401, body: &unauthorized,
			wantHdr: map[string]string{"Allow": "POST, GET, DELETE, HEAD, PUT, OPTIONS", "Www-Authenticate": ""}},
		{name: "preflight without method", method: "OPTIONS", path: "/c/o",
			hdr: map[string]string{"Origin": "http://a.example.com"}, want: 401},
		{name: "preflight COPY", method: "OPTIONS", path: "/c/o",
			hdr: map[string]string{"Origin": "http://a.example.com", "Access-Control-Request-Method": "COPY"}, want: 401},
		{name: "preflight missing container", method: "OPTIONS", path: "/nope/o",
			hdr: map[string]string{"Origin": "http://a.example.com", "Access-Control-Request-Method": "GET"}, want: 401},
		{name: "preflight account", method: "OPTIONS", path: "",
			hdr: map[string]string{"Origin": "http://a.example.com", "Access-Control-Request-Method": "GET"}, want: 200,
			wantHdr: map[string]string{"Access-Control-Allow-Origin": ""}},
		{name: "GET allowed origin", method: "GET", path: "/c/o", hdr: map[string]string{"Origin": "http://b.example.com", "X-Auth-Token": tok}, want: 200,
			wantHdr: map[string]string{"Access-Control-Allow-Origin": "http://b.example.com", "Vary": "Origin",
				"Access-Control-Expose-Headers": "cache-control, content-language, content-type, etag, expires, last-modified, pragma, x-bar, x-foo, x-object-meta-b, x-openstack-request-id, x-timestamp, x-trans-id"}},
		{name: "GET star", method: "GET", path: "/star/o", hdr: map[string]string{"Origin": "http://z", "X-Auth-Token": tok}, want: 200,
			wantHdr: map[string]string{"Access-Control-Allow-Origin": "*", "Vary": ""}},
		{name: "GET refused origin", method: "GET", path: "/c/o", hdr: map[string]string{"Origin": "http://evil.com", "X-Auth-Token": tok}, want: 200,
			wantHdr: map[string]string{"Access-Control-Allow-Origin": "", "Access-Control-Expose-Headers": ""}},
		{name: "HEAD container", method: "HEAD", path: "/c", hdr: map[string]string{"Origin": "http://a.example.com", "X-Auth-Token": tok}, want: 204,
			wantHdr: map[string]string{"Access-Control-Allow-Origin": "http://a.example.com"}},
		{name: "OPTIONS /info", method: "OPTIONS", path: "/info", want: 200, wantHdr: map[string]string{"Allow": "HEAD, GET, OPTIONS"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := su + c.path
			if c.path == "/info" {
				u = ts.URL + "/info"
			}
			st, h, b := hc(t, c.method, u, c.hdr, nil)
			if st != c.want {
				t.Fatalf("status %d %s, want %d", st, b, c.want)
			}
			for k, v := range c.wantHdr {
				if _, present := h[http.CanonicalHeaderKey(k)]; v == "" && present {
					t.Errorf("%s: %q, want absent", k, h.Get(k))
				} else if v != "" && h.Get(k) != v {
					t.Errorf("%s: %q, want %q", k, h.Get(k), v)
				}
			}
			if c.body != nil && string(b) != *c.body {
				t.Errorf("body %q, want %q", b, *c.body)
			}
		})
	}
}

// TestReferrerACL: X-Container-Read referrer designations with wildcard
// and negated domains (Swift's acl.referrer_allowed: the last match wins).
func TestReferrerACL(t *testing.T) {
	ts := startServer(t, testConfig(), nil)
	tok, su := login(t, ts.URL, "test:tester", "testing")
	for _, r := range []struct{ p, acl, body string }{
		{"/c", ".r:*.example.com,.r:-bad.example.com", ""},
		{"/c/o", "", "x"},
	} {
		h := map[string]string{"X-Auth-Token": tok}
		if r.acl != "" {
			h["X-Container-Read"] = r.acl
		}
		if st, _, b := hc(t, "PUT", su+r.p, h, []byte(r.body)); st != 201 {
			t.Fatalf("PUT %s: %d %s", r.p, st, b)
		}
	}
	_, h, _ := hc(t, "HEAD", su+"/c", map[string]string{"X-Auth-Token": tok}, nil)
	if got := h.Get("X-Container-Read"); got != ".r:.example.com,.r:-bad.example.com" {
		t.Errorf("cleaned ACL %q", got)
	}
	for _, c := range []struct {
		referer, path string
		want          int
	}{
		{"http://www.example.com/page", "/c/o", 200},
		{"https://a.b.example.com:8443/", "/c/o", 200},
		{"http://example.com/", "/c/o", 401}, // ".example.com" needs a subdomain
		{"http://bad.example.com/x", "/c/o", 401},
		{"http://www.example.org/", "/c/o", 401},
		{"", "/c/o", 401},
		{"http://www.example.com/", "/c", 401}, // listing needs .rlistings
	} {
		hdr := map[string]string{}
		if c.referer != "" {
			hdr["Referer"] = c.referer
		}
		if st, _, _ := hc(t, "GET", su+c.path, hdr, nil); st != c.want {
			t.Errorf("GET %s Referer %q: %d, want %d", c.path, c.referer, st, c.want)
		}
	}
	for _, bad := range []string{".r:", ".r:-", ".x:y"} {
		if st, _, b := hc(t, "POST", su+"/c", map[string]string{"X-Auth-Token": tok, "X-Container-Read": bad}, nil); st != 400 {
			t.Errorf("ACL %q: %d %s, want 400", bad, st, b)
		}
	}
}
