package node

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"testing"
)

// TestConcurrentStatsExact: container and account totals are maintained in
// the same transactions as the object records, so they stay exact under
// concurrent PUTs, overwrites and DELETEs in one container (Badger
// conflicts make the losers retry).
func TestConcurrentStatsExact(t *testing.T) {
	r := startNode(t, testConfig(t))
	c := login(t, r.base(), "test:tester", "testing")
	c.must(201, "PUT", "/c", nil, nil)
	const workers, each = 8, 12
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				name := fmt.Sprintf("/c/o%d", (w*each+i)%40) // overlapping names: overwrites
				body := bytes.Repeat([]byte{byte(w)}, 1000*(i+1))
				resp, _ := c.do("PUT", name, nil, bytes.NewReader(body))
				if resp.StatusCode != 201 {
					t.Errorf("PUT %s: %s", name, resp.Status)
				}
				if i%3 == 2 {
					c.do("DELETE", name, nil, nil) // 204, or 404 if another worker got there
				}
			}
		}()
	}
	wg.Wait()
	_, body := c.must(200, "GET", "/c?format=json", nil, nil)
	var list []struct {
		Name  string `json:"name"`
		Bytes int64  `json:"bytes"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatal(err)
	}
	objects, bytesUsed := int64(len(list)), int64(0)
	for _, o := range list {
		bytesUsed += o.Bytes
	}
	if objects == 0 {
		t.Fatal("nothing left to count")
	}
	head, _ := c.must(204, "HEAD", "/c", nil, nil)
	if got := head.Header.Get("X-Container-Object-Count"); got != strconv.FormatInt(objects, 10) {
		t.Errorf("object count %s, listing has %d", got, objects)
	}
	if got := head.Header.Get("X-Container-Bytes-Used"); got != strconv.FormatInt(bytesUsed, 10) {
		t.Errorf("bytes used %s, listing sums %d", got, bytesUsed)
	}
	acct, _ := c.must(204, "HEAD", "", nil, nil)
	if got := acct.Header.Get("X-Account-Bytes-Used"); got != strconv.FormatInt(bytesUsed, 10) {
		t.Errorf("account bytes %s, want %d", got, bytesUsed)
	}
}
