package node

import (
	"net/http"
	"strings"
	"testing"
)

// TestOpsPprof: net/http/pprof's handlers are on the ops listener (issue 9
// item 5), not on the Swift API.
func TestOpsPprof(t *testing.T) {
	n := startNode(t, testConfig(t))
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/goroutine?debug=1", "/debug/pprof/heap?debug=1"} {
		if body := httpGet(t, n.ops()+path); !strings.Contains(body, "goroutine") && !strings.Contains(body, "heap") {
			t.Errorf("GET %s: %.200q", path, body)
		}
	}
	resp, err := http.Get(n.base() + "/debug/pprof/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Errorf("pprof reachable through the Swift API")
	}
}
