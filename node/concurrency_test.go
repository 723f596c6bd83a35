package node

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// loadClient is a Swift client safe for many goroutines: it returns
// errors instead of failing the test, and keeps enough idle connections
// for every writer.
type loadClient struct {
	http       *http.Client
	storageURL string
	token      string
}

func newLoadClient(c *swiftClient, conns int) *loadClient {
	tr := &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns}
	return &loadClient{http: &http.Client{Transport: tr, Timeout: 2 * time.Minute}, storageURL: c.storageURL, token: c.token}
}

// do sends method to storage URL + path and returns the status, headers
// and body.
func (c *loadClient) do(method, path string, body []byte) (int, http.Header, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, c.storageURL+path, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("X-Auth-Token", c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b, err
}

// writerLoad runs writers goroutines that each do ops PUT / overwrite /
// DELETE requests in container /c: most on names of their own (whose
// final state the writer knows), some on a few names every writer shares
// (overwrite races between writers). It returns the status counts, the
// writers' own surviving objects (name → size), the names whose last
// request failed without a verdict (5xx, transport error) and failures
// (transport errors, unexpected statuses) as strings.
func writerLoad(c *loadClient, writers, ops int, seed uint64) (statuses map[int]int, own map[string]int, unsure map[string]bool, failures []string) {
	var mu sync.Mutex
	statuses, own, unsure = map[int]int{}, map[string]int{}, map[string]bool{}
	var wg sync.WaitGroup
	var fails atomic.Int64
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			mine := map[string]int{} // this writer's live names → size
			record := func(method, name string, code int, b []byte, err error, ok ...int) {
				mu.Lock()
				defer mu.Unlock()
				statuses[code]++
				if err != nil || code >= 500 {
					unsure[name] = true // committed or not: unknown
				}
				if err != nil {
					failures = append(failures, fmt.Sprintf("%s %s: %v", method, name, err))
					fails.Add(1)
					return
				}
				for _, o := range ok {
					if code == o {
						return
					}
				}
				failures = append(failures, fmt.Sprintf("%s %s: %d %.100s", method, name, code, b))
				fails.Add(1)
			}
			for i := range ops {
				if fails.Load() > 50 {
					break // enough evidence
				}
				body := make([]byte, rng.IntN(4096))
				for j := range body {
					body[j] = byte(rng.Uint32())
				}
				switch p := rng.IntN(10); {
				case p < 2: // a shared name: overwritten or deleted by anyone
					name := "/c/shared-" + strconv.Itoa(rng.IntN(8))
					if rng.IntN(3) == 0 {
						code, _, b, err := c.do("DELETE", name, nil)
						record("DELETE", name, code, b, err, 204, 404)
					} else {
						code, _, b, err := c.do("PUT", name, body)
						record("PUT", name, code, b, err, 201)
					}
				case p < 4 && len(mine) > 0: // delete one of mine
					var name string
					for name = range mine {
						break
					}
					code, _, b, err := c.do("DELETE", name, nil)
					record("DELETE", name, code, b, err, 204)
					if err == nil && code == 204 {
						delete(mine, name)
					}
				default: // a new object of mine, or an overwrite of one
					name := fmt.Sprintf("/c/w%03d-%d", w, rng.IntN(ops/2+1))
					if i%5 == 4 && len(mine) > 0 {
						for name = range mine {
							break
						}
					}
					code, _, b, err := c.do("PUT", name, body)
					record("PUT", name, code, b, err, 201)
					if err == nil && code == 201 {
						mine[name] = len(body)
					}
				}
			}
			mu.Lock()
			for k, v := range mine {
				own[k] = v
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	for name := range unsure {
		delete(own, name)
	}
	return statuses, own, unsure, failures
}

// TestConcurrentWritersOneContainer: 200 clients PUT, overwrite and DELETE
// objects in one container at once (Glance keeps every image in one
// container). No request may fail with a 5xx (Badger's transaction
// conflicts on a record every write updates were 500s), and once the
// writers stop the container's and the account's object count and bytes
// used match the listing exactly.
func TestConcurrentWritersOneContainer(t *testing.T) {
	r := startNode(t, testConfig(t))
	sc := login(t, r.base(), "test:tester", "testing")
	sc.must(201, "PUT", "/c", nil, nil)
	sc.must(201, "PUT", "/other", nil, nil)
	sc.must(201, "PUT", "/other/x", nil, bytes.NewReader([]byte("12345")))

	const writers, ops = 200, 12
	c := newLoadClient(sc, writers)
	start := time.Now()
	statuses, own, unsure, failures := writerLoad(c, writers, ops, 1)
	t.Logf("%d writers × %d ops in %v: statuses %v", writers, ops, time.Since(start).Round(time.Millisecond), statuses)
	for i, f := range failures {
		if i == 20 {
			t.Errorf("… %d more", len(failures)-20)
			break
		}
		t.Error(f)
	}
	for code, n := range statuses {
		if code >= 500 {
			t.Errorf("%d responses with status %d", n, code)
		}
	}

	// Quiescent: the stats must match the listing, and the writers' own
	// names must be exactly what they left.
	code, _, body, err := c.do("GET", "/c?format=json", nil)
	if err != nil || code != 200 {
		t.Fatalf("listing: %d %v", code, err)
	}
	var listing []struct {
		Name  string `json:"name"`
		Bytes int64  `json:"bytes"`
	}
	if err := json.Unmarshal(body, &listing); err != nil {
		t.Fatal(err)
	}
	var objects, bytesUsed int64
	listed := map[string]int64{}
	for _, o := range listing {
		objects++
		bytesUsed += o.Bytes
		listed["/c/"+o.Name] = o.Bytes
	}
	for name, size := range own {
		if got, ok := listed[name]; !ok || got != int64(size) {
			t.Errorf("%s: listed %v (%d bytes), want %d bytes", name, ok, got, size)
		}
		delete(listed, name)
	}
	for name := range listed {
		if unsure[name] {
			continue
		}
		if len(name) < len("/c/shared-") || name[:len("/c/shared-")] != "/c/shared-" {
			t.Errorf("%s listed but its writer deleted it", name)
		}
	}
	code, h, _, err := c.do("HEAD", "/c", nil)
	if err != nil || code != 204 {
		t.Fatalf("HEAD container: %d %v", code, err)
	}
	if got, want := h.Get("X-Container-Object-Count"), strconv.FormatInt(objects, 10); got != want {
		t.Errorf("X-Container-Object-Count %s, listing has %s", got, want)
	}
	if got, want := h.Get("X-Container-Bytes-Used"), strconv.FormatInt(bytesUsed, 10); got != want {
		t.Errorf("X-Container-Bytes-Used %s, listing sums to %s", got, want)
	}
	code, h, _, err = c.do("HEAD", "", nil)
	if err != nil || code != 204 {
		t.Fatalf("HEAD account: %d %v", code, err)
	}
	if got, want := h.Get("X-Account-Object-Count"), strconv.FormatInt(objects+1, 10); got != want {
		t.Errorf("X-Account-Object-Count %s, want %s", got, want)
	}
	if got, want := h.Get("X-Account-Bytes-Used"), strconv.FormatInt(bytesUsed+5, 10); got != want {
		t.Errorf("X-Account-Bytes-Used %s, want %s", got, want)
	}
	if objects == 0 {
		t.Error("no object left: the load proves nothing about the counts")
	}
}
