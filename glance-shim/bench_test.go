package glanceshim_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	glanceshim "github.com/nitro-cloud/nitro/glance-shim"
)

// benchServer returns the handler over the in-memory test double, with
// a token and a container "c"; requests go straight to the handler (no
// sockets), so the numbers are the front end's own overhead plus the
// test double's copies.
func benchServer(b *testing.B) (http.Handler, string) {
	b.Helper()
	s, err := glanceshim.New(testConfig(), newMemBackend(), nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	h := s.Handler()
	req := httptest.NewRequest("GET", "/auth/v1.0", nil)
	req.Header.Set("X-Auth-User", "test:tester")
	req.Header.Set("X-Auth-Key", "testing")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	tok := w.Header().Get("X-Auth-Token")
	req = httptest.NewRequest("PUT", "/v1/AUTH_test/c", nil)
	req.Header.Set("X-Auth-Token", tok)
	h.ServeHTTP(httptest.NewRecorder(), req)
	return h, tok
}

// discardWriter is a ResponseWriter that drops the body.
type discardWriter struct {
	h      http.Header
	status int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(s int)           { d.status = s }

func BenchmarkGetObject(b *testing.B) {
	for _, size := range []int{4 << 10, 1 << 20, 16 << 20} {
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			h, tok := benchServer(b)
			req := httptest.NewRequest("PUT", "/v1/AUTH_test/c/o", bytes.NewReader(make([]byte, size)))
			req.Header.Set("X-Auth-Token", tok)
			h.ServeHTTP(httptest.NewRecorder(), req)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest("GET", "/v1/AUTH_test/c/o", nil)
				req.Header.Set("X-Auth-Token", tok)
				w := &discardWriter{h: http.Header{}}
				h.ServeHTTP(w, req)
				if w.status != 200 {
					b.Fatalf("GET: %d", w.status)
				}
			}
		})
	}
}

// BenchmarkRangeGetObject is issue 15's small Range GET through the
// front end alone (no sockets, the in-memory test double): the handler's
// own time and allocations per request (auth, lookups, Swift headers,
// Content-Range, the access log check), for a 64 KiB range of a 1 MiB
// object.
func BenchmarkRangeGetObject(b *testing.B) {
	h, tok := benchServer(b)
	const size, n = 1 << 20, 64 << 10
	req := httptest.NewRequest("PUT", "/v1/AUTH_test/c/o", bytes.NewReader(make([]byte, size)))
	req.Header.Set("X-Auth-Token", tok)
	h.ServeHTTP(httptest.NewRecorder(), req)
	b.SetBytes(n)
	b.ReportAllocs()
	off := 0
	for b.Loop() {
		req := httptest.NewRequest("GET", "/v1/AUTH_test/c/o", nil)
		req.Header.Set("X-Auth-Token", tok)
		req.Header.Set("Range", "bytes="+strconv.Itoa(off)+"-"+strconv.Itoa(off+n-1))
		w := &discardWriter{h: http.Header{}}
		h.ServeHTTP(w, req)
		if w.status != http.StatusPartialContent {
			b.Fatalf("GET: %d", w.status)
		}
		off = (off + n) % size
	}
}

func BenchmarkPutObject(b *testing.B) {
	for _, size := range []int{4 << 10, 1 << 20, 16 << 20} {
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			h, tok := benchServer(b)
			data := make([]byte, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest("PUT", "/v1/AUTH_test/c/o", bytes.NewReader(data))
				req.Header.Set("X-Auth-Token", tok)
				w := &discardWriter{h: http.Header{}}
				h.ServeHTTP(w, req)
				if w.status != 201 {
					b.Fatalf("PUT: %d", w.status)
				}
			}
		})
	}
}

// BenchmarkHeadObject is the per-request overhead without a body: auth,
// path, headers, trans id, access log check.
func BenchmarkHeadObject(b *testing.B) {
	h, tok := benchServer(b)
	req := httptest.NewRequest("PUT", "/v1/AUTH_test/c/o", bytes.NewReader([]byte("x")))
	req.Header.Set("X-Auth-Token", tok)
	h.ServeHTTP(httptest.NewRecorder(), req)
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("HEAD", "/v1/AUTH_test/c/o", nil)
		req.Header.Set("X-Auth-Token", tok)
		w := &discardWriter{h: http.Header{}}
		h.ServeHTTP(w, req)
		if w.status != 200 {
			b.Fatalf("HEAD: %d", w.status)
		}
	}
}
