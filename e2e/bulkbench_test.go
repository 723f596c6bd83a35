package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestBulkDeleteBench times one bulk delete (POST ?bulk-delete, JSON
// answer) of N objects on Nitro and on Debian's real Swift 2.30 (the
// differential harness's two servers) and prints
//
//	BULKBENCH n=N nitro=<s> swift=<s> ratio=<swift/nitro>
//
// (ratio > 1: Nitro is faster). N is 300 in `go test` (CI); set
// NITRO_BULK_BENCH_N (up to 10000, Swift's max_deletes_per_request) for
// the full campaign, e.g. NITRO_BULK_BENCH_N=10000. It checks that both
// delete all N objects; the timing is reported, never asserted.
func TestBulkDeleteBench(t *testing.T) {
	n := 300
	if v := os.Getenv("NITRO_BULK_BENCH_N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 || n > 10000 {
			t.Fatalf("NITRO_BULK_BENCH_N=%q: want 1..10000", v)
		}
	}
	h := diffHarnessFor(t)
	cont := fmt.Sprintf("bulkbench-%d-%d", n, time.Now().UnixNano())
	var took [2]time.Duration
	for i, sys := range []*diffSystem{h.nitro, h.swift} {
		// The harness's client times out after 60 s; a bulk delete of
		// 10,000 objects on Swift can take longer (it sends a space every
		// 10 s meanwhile).
		c := &swiftClient{storage: sys.users["tester"].storage, token: sys.users["tester"].token,
			hc: &http.Client{Timeout: 30 * time.Minute}}
		if code, _, body, err := c.do("PUT", "/"+cont, nil, nil); err != nil || code/100 != 2 {
			t.Fatalf("%s: PUT container: %d %v %s", sys.Name, code, err, body)
		}
		upload(t, sys.Name, c, cont, n)
		var list strings.Builder
		for j := 0; j < n; j++ {
			fmt.Fprintf(&list, "%s/obj-%05d\n", cont, j)
		}
		start := time.Now()
		code, _, body, err := c.do("POST", "?bulk-delete", map[string]string{"Accept": "application/json", "Content-Type": "text/plain"}, []byte(list.String()))
		took[i] = time.Since(start)
		if err != nil || code != 200 {
			t.Fatalf("%s: bulk delete: %d %v %.300s", sys.Name, code, err, body)
		}
		var res struct {
			Deleted int    `json:"Number Deleted"`
			Status  string `json:"Response Status"`
		}
		if err := json.Unmarshal([]byte(strings.TrimSpace(string(body))), &res); err != nil || res.Deleted != n || res.Status != "200 OK" {
			t.Fatalf("%s: bulk delete answer %v: %.300s", sys.Name, err, body)
		}
		c.do("DELETE", "/"+cont, nil, nil)
	}
	line := fmt.Sprintf("BULKBENCH n=%d nitro=%.3fs swift=%.3fs ratio=%.2f", n, took[0].Seconds(), took[1].Seconds(), took[1].Seconds()/took[0].Seconds())
	t.Log(line)
	fmt.Println(line)
}

// upload PUTs n small objects obj-00000… into cont with 16 clients at
// once (bounded: n requests, each with the client's 60 s timeout).
func upload(t *testing.T, name string, c *swiftClient, cont string, n int) {
	t.Helper()
	jobs := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				code, _, _, err := c.do("PUT", fmt.Sprintf("/%s/obj-%05d", cont, j), nil, []byte(strconv.Itoa(j)))
				if err == nil && code != 201 {
					err = fmt.Errorf("PUT obj-%05d: %d", j, code)
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for j := 0; j < n; j++ {
		jobs <- j
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		t.Fatalf("%s: upload: %v", name, firstErr)
	}
}
