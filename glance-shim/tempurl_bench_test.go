package glanceshim_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	glanceshim "github.com/nitro-cloud/nitro/glance-shim"
)

// BenchmarkHeadObjectTempURL is BenchmarkHeadObject through a temp URL
// instead of a token: query parsing, the account and container key
// lookups (the in-memory double), up to four HMACs for a HEAD (HEAD, GET,
// POST, PUT signatures are accepted; a GET-signed URL matches on the
// second) and the outgoing header rules. "invalid" is a wrong signature:
// every key and method tried, then 401.
func BenchmarkHeadObjectTempURL(b *testing.B) {
	for _, c := range []struct {
		name, algo, key string
		want            int
	}{
		{"sha1", "sha1", "k", 200},
		{"sha256", "sha256", "k", 200},
		{"sha512", "sha512", "k", 200},
		{"invalid", "sha256", "wrong", 401},
	} {
		b.Run(c.name, func(b *testing.B) {
			h, tok := benchServer(b)
			for _, r := range []struct{ method, path, hk, hv string }{
				{"POST", "/v1/AUTH_test", "X-Account-Meta-Temp-URL-Key", "k"},
				{"POST", "/v1/AUTH_test/c", "X-Container-Meta-Temp-URL-Key", "ck"},
				{"PUT", "/v1/AUTH_test/c/o", "X-Object-Meta-A", "1"},
			} {
				req := httptest.NewRequest(r.method, r.path, bytes.NewReader([]byte("x")))
				req.Header.Set("X-Auth-Token", tok)
				req.Header.Set(r.hk, r.hv)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code/100 != 2 {
					b.Fatalf("%s %s: %d", r.method, r.path, w.Code)
				}
			}
			exp := time.Now().Add(time.Hour).Unix()
			url := "/v1/AUTH_test/c/o?temp_url_sig=" +
				glanceshim.TempURLSignature(c.algo, c.key, "GET", exp, "/v1/AUTH_test/c/o", "") +
				"&temp_url_expires=" + strconv.FormatInt(exp, 10)
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest("HEAD", url, nil)
				w := &discardWriter{h: http.Header{}}
				h.ServeHTTP(w, req)
				if w.status != c.want {
					b.Fatalf("HEAD: %d", w.status)
				}
			}
		})
	}
}

// BenchmarkTempURLSignature is one HMAC of a temp URL (Swift's get_hmac).
func BenchmarkTempURLSignature(b *testing.B) {
	for _, algo := range []string{"sha1", "sha256", "sha512"} {
		b.Run(algo, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = glanceshim.TempURLSignature(algo, "secret-key", "GET", 1700000000, "/v1/AUTH_test/images/ubuntu-24.04.qcow2", "")
			}
		})
	}
}
