package node

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkMetricsWrap is the cost the request metrics add to every Swift
// API request (a counter and a histogram observation).
func BenchmarkMetricsWrap(b *testing.B) {
	r := startNode(b, testConfig(b))
	h := r.metrics.wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	req := httptest.NewRequest("HEAD", "/v1/AUTH_test/c/o", nil)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, req)
	}
}

// BenchmarkMetricsScrape is one GET /metrics of a single-region node with
// a few objects: it reads in-memory counts, the account stats and the
// data dir's file sizes, never the chunk keys.
func BenchmarkMetricsScrape(b *testing.B) {
	r := startNode(b, testConfig(b))
	c := login(b, r.base(), "test:tester", "testing")
	c.must(201, "PUT", "/c", nil, nil)
	h := r.metrics.handler()
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}
