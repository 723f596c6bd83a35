package glanceshim_test

import (
	"crypto/hmac"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	glanceshim "github.com/nitro-cloud/nitro/glance-shim"
)

// TestTempURLSignatureVectors: TempURLSignature against values computed
// with Swift 2.30's swift.common.digest.get_hmac.
func TestTempURLSignatureVectors(t *testing.T) {
	for _, c := range []struct {
		algo, method, path, ip, want string
	}{
		{"sha1", "GET", "/v1/AUTH_test/c/o", "", "2550599b0555e9d06bbfcfeb44693378ff15297b"},
		{"sha256", "PUT", "prefix:/v1/AUTH_test/c/p", "", "c7f584c73ed2861dd8609c9c64151d01bcd1cc218ee5e698efeee7d846389707"},
		{"sha512", "GET", "/v1/AUTH_test/c/o", "127.0.0.1", "e6a2a218bf15e600c18358786204bddcd40fbc6e2dcde7400c2846451133ed4402b56dded97864dddcd01d6aa6889125fb9e2a2805cab4976911ae020379f9ee"},
	} {
		if got := glanceshim.TempURLSignature(c.algo, "secret", c.method, 1700000000, c.path, c.ip); got != c.want {
			t.Errorf("%s %s %s: %s, want %s", c.algo, c.method, c.path, got, c.want)
		}
	}
}

// tuFixture is an account with an account key "akey", container "c"
// with key "ckey", container "d" without, objects c/o, c/pre/x, d/o.
type tuFixture struct {
	ts   *testServer
	tok  string
	su   string // storage URL
	path string // /v1/AUTH_test
}

func newTUFixture(t *testing.T) *tuFixture {
	ts := startServer(t, testConfig(), nil)
	tok, su := login(t, ts.URL, "test:tester", "testing")
	f := &tuFixture{ts: ts, tok: tok, su: su, path: "/v1/AUTH_test"}
	must := func(method, p string, hdr map[string]string, body string, want int) {
		t.Helper()
		if hdr == nil {
			hdr = map[string]string{}
		}
		hdr["X-Auth-Token"] = tok
		var b []byte
		if body != "" || method == "PUT" {
			b = []byte(body)
		}
		if st, _, rb := hc(t, method, su+p, hdr, b); st != want {
			t.Fatalf("%s %s: %d %s, want %d", method, p, st, rb, want)
		}
	}
	must("POST", "", map[string]string{"X-Account-Meta-Temp-URL-Key": "akey"}, "", 204)
	must("PUT", "/c", map[string]string{"X-Container-Meta-Temp-URL-Key-2": "ckey"}, "", 201)
	must("PUT", "/d", nil, "", 201)
	must("PUT", "/c/o", map[string]string{"X-Object-Meta-Public-A": "1", "X-Object-Meta-B": "2"}, "hello", 201)
	must("PUT", "/c/pre/x", nil, "x", 201)
	must("PUT", "/d/o", nil, "d", 201)
	return f
}

func (f *tuFixture) url(p string, q string) string { return f.ts.URL + f.path + p + "?" + q }

// TestTempURL is the tempurl table: signatures, scopes, expiry forms,
// prefixes, IP ranges, methods, header rules and Swift's 401 body.
func TestTempURL(t *testing.T) {
	f := newTUFixture(t)
	exp := time.Now().Add(time.Hour).Unix()
	sig := func(algo, key, method, p string, e int64) string {
		return glanceshim.TempURLSignature(algo, key, method, e, p, "")
	}
	q := func(s string, e int64) string {
		return "temp_url_sig=" + url.QueryEscape(s) + "&temp_url_expires=" + strconv.FormatInt(e, 10)
	}
	obj := f.path + "/c/o"
	mac := hmac.New(sha512.New, []byte("ckey"))
	mac.Write([]byte(fmt.Sprintf("GET\n%d\n%s", exp, obj)))
	b64 := "sha512:" + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	iso := time.Unix(exp, 0).UTC().Format("2006-01-02T15:04:05Z")
	cases := []struct {
		name, method, path, query string
		hdr                       map[string]string
		want                      int
		body                      string
		check                     func(t *testing.T, h http.Header)
	}{
		{name: "account key sha1", method: "GET", path: "/c/o", query: q(sig("sha1", "akey", "GET", obj, exp), exp), want: 200, body: "hello",
			check: func(t *testing.T, h http.Header) {
				if h.Get("X-Object-Meta-B") != "" || h.Get("X-Object-Meta-Public-A") != "1" {
					t.Errorf("outgoing meta rules: %v", h)
				}
				if got := h.Get("Content-Disposition"); got != `attachment; filename="o"; filename*=UTF-8''o` {
					t.Errorf("Content-Disposition %q", got)
				}
				if got := h.Get("Expires"); got != time.Unix(exp, 0).UTC().Format(http.TimeFormat) {
					t.Errorf("Expires %q", got)
				}
			}},
		{name: "container key-2 sha256", method: "GET", path: "/c/o", query: q(sig("sha256", "ckey", "GET", obj, exp), exp), want: 200, body: "hello"},
		{name: "sha512 base64 url-safe", method: "GET", path: "/c/o", query: q(b64, exp), want: 200, body: "hello"},
		{name: "ISO 8601 expiry", method: "GET", path: "/c/o", query: "temp_url_sig=" + sig("sha256", "akey", "GET", obj, exp) + "&temp_url_expires=" + iso, want: 200},
		{name: "expired", method: "GET", path: "/c/o", query: q(sig("sha256", "akey", "GET", obj, 1700000000), 1700000000), want: 401, body: "401 Unauthorized: Temp URL invalid\n"},
		{name: "wrong key", method: "GET", path: "/c/o", query: q(sig("sha256", "nope", "GET", obj, exp), exp), want: 401, body: "401 Unauthorized: Temp URL invalid\n",
			check: func(t *testing.T, h http.Header) {
				if h.Get("Www-Authenticate") != `Swift realm="unknown"` {
					t.Errorf("WWW-Authenticate %q", h.Get("Www-Authenticate"))
				}
			}},
		{name: "upper-case hex", method: "GET", path: "/c/o", query: q(strings.ToUpper(sig("sha1", "akey", "GET", obj, exp)), exp), want: 401},
		{name: "bad digest length", method: "GET", path: "/c/o", query: q("abcd", exp), want: 401},
		{name: "sig without expires", method: "GET", path: "/c/o", query: "temp_url_sig=abc", want: 401},
		{name: "GET sig used for PUT", method: "PUT", path: "/c/o", query: q(sig("sha1", "akey", "GET", obj, exp), exp), want: 401},
		{name: "HEAD with GET sig", method: "HEAD", path: "/c/o", query: q(sig("sha1", "akey", "GET", obj, exp), exp), want: 200},
		{name: "HEAD with PUT sig", method: "HEAD", path: "/c/o", query: q(sig("sha1", "akey", "PUT", obj, exp), exp), want: 200},
		{name: "HEAD invalid no body", method: "HEAD", path: "/c/o", query: q("00", exp), want: 401, body: ""},
		{name: "COPY not allowed", method: "COPY", path: "/c/o", query: q(sig("sha1", "akey", "COPY", obj, exp), exp), want: 401},
		{name: "container key other container", method: "GET", path: "/d/o",
			query: q(sig("sha1", "ckey", "GET", f.path+"/d/o", exp), exp), want: 401},
		{name: "account key other container", method: "GET", path: "/d/o",
			query: q(sig("sha1", "akey", "GET", f.path+"/d/o", exp), exp), want: 200, body: "d"},
		{name: "prefix", method: "GET", path: "/c/pre/x",
			query: q(glanceshim.TempURLSignature("sha256", "akey", "GET", exp, "prefix:"+f.path+"/c/pre/", ""), exp) + "&temp_url_prefix=pre/", want: 200, body: "x"},
		{name: "prefix mismatch", method: "GET", path: "/c/o",
			query: q(glanceshim.TempURLSignature("sha256", "akey", "GET", exp, "prefix:"+f.path+"/c/pre/", ""), exp) + "&temp_url_prefix=pre/", want: 401},
		{name: "ip range in", method: "GET", path: "/c/o",
			query: q(glanceshim.TempURLSignature("sha256", "akey", "GET", exp, obj, "127.0.0.0/8"), exp) + "&temp_url_ip_range=127.0.0.0/8", want: 200},
		{name: "ip range out", method: "GET", path: "/c/o",
			query: q(glanceshim.TempURLSignature("sha256", "akey", "GET", exp, obj, "10.0.0.0/8"), exp) + "&temp_url_ip_range=10.0.0.0/8", want: 401},
		{name: "ip range host bits", method: "GET", path: "/c/o",
			query: q(glanceshim.TempURLSignature("sha256", "akey", "GET", exp, obj, "127.0.0.1/8"), exp) + "&temp_url_ip_range=127.0.0.1/8", want: 401},
		{name: "inline filename", method: "GET", path: "/c/o",
			query: q(sig("sha1", "akey", "GET", obj, exp), exp) + "&inline&filename=a%20b%C3%A9;x.txt", want: 200,
			check: func(t *testing.T, h http.Header) {
				if got := h.Get("Content-Disposition"); got != `inline; filename="a b%C3%A9%3Bx.txt"; filename*=UTF-8''a%20b%C3%A9%3Bx.txt` {
					t.Errorf("Content-Disposition %q", got)
				}
			}},
		{name: "inline", method: "GET", path: "/c/o", query: q(sig("sha1", "akey", "GET", obj, exp), exp) + "&inline", want: 200,
			check: func(t *testing.T, h http.Header) {
				if got := h.Get("Content-Disposition"); got != "inline" {
					t.Errorf("Content-Disposition %q", got)
				}
			}},
		{name: "PUT", method: "PUT", path: "/c/new", query: q(sig("sha1", "akey", "PUT", f.path+"/c/new", exp), exp), want: 201,
			check: func(t *testing.T, h http.Header) {
				if h.Get("Content-Disposition") != "" {
					t.Error("Content-Disposition on PUT")
				}
			}},
		{name: "PUT with X-Object-Manifest", method: "PUT", path: "/c/new", query: q(sig("sha1", "akey", "PUT", f.path+"/c/new", exp), exp),
			hdr: map[string]string{"X-Object-Manifest": "c/seg"}, want: 400, body: "The header 'X-Object-Manifest' is not allowed in this tempurl"},
		{name: "DELETE", method: "DELETE", path: "/c/pre/x", query: q(sig("sha512", "ckey", "DELETE", f.path+"/c/pre/x", exp), exp), want: 204},
		{name: "container path", method: "GET", path: "/c", query: q(sig("sha1", "akey", "GET", f.path+"/c", exp), exp), want: 401},
		{name: "no temp url params", method: "GET", path: "/c/o", query: "filename=x", want: 401, body: "<html><h1>Unauthorized</h1><p>This server could not verify that you are authorized to access the document you requested.</p></html>"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body []byte
			if c.method == "PUT" {
				body = []byte("new")
			}
			st, h, b := hc(t, c.method, f.url(c.path, c.query), c.hdr, body)
			if st != c.want {
				t.Fatalf("status %d (%s), want %d", st, b, c.want)
			}
			if c.body != "" || c.method == "HEAD" {
				if string(b) != c.body {
					t.Errorf("body %q, want %q", b, c.body)
				}
			}
			if c.check != nil {
				c.check(t, h)
			}
		})
	}
}

// TestTempURLKeysHidden: temp URL keys are only shown to the account's
// owners (Swift's swift_owner_headers); /info lists tempurl.
func TestTempURLKeysHidden(t *testing.T) {
	f := newTUFixture(t)
	must := func(st int, want int) {
		t.Helper()
		if st != want {
			t.Fatalf("status %d, want %d", st, want)
		}
	}
	st, _, _ := hc(t, "POST", f.su+"/c", map[string]string{"X-Auth-Token": f.tok, "X-Container-Read": "test:reader"}, nil)
	must(st, 204)
	_, h, _ := hc(t, "HEAD", f.su+"/c", map[string]string{"X-Auth-Token": f.tok}, nil)
	if h.Get("X-Container-Meta-Temp-Url-Key-2") != "ckey" {
		t.Errorf("owner does not see the container key: %v", h)
	}
	rtok, _ := login(t, f.ts.URL, "test:reader", "reading")
	st, h, _ = hc(t, "HEAD", f.su+"/c", map[string]string{"X-Auth-Token": rtok}, nil)
	must(st, 204)
	if h.Get("X-Container-Meta-Temp-Url-Key-2") != "" {
		t.Errorf("reader sees the container key: %v", h)
	}
	_, _, b := hc(t, "GET", f.ts.URL+"/info", nil, nil)
	if !strings.Contains(string(b), `"tempurl":{"allowed_digests":["sha1","sha256","sha512"],"deprecated_digests":["sha1"]`) {
		t.Errorf("/info: %s", b)
	}
}
