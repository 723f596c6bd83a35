package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestStatsAfterSIGKILL: a node killed (SIGKILL) while 50 clients PUT and
// DELETE in one container comes back with container and account totals
// that match its listing exactly (the stats deltas commit or vanish with
// their object records), and with every write acknowledged before the
// kill.
func TestStatsAfterSIGKILL(t *testing.T) {
	const clients = 50
	node := reliabilityNode
	node.DataDir = t.TempDir()
	cfg := node.template()
	n := startNitro(t, cfg)
	lc := mustLogin(t, n.URL)
	lc.hc = &http.Client{Transport: &http.Transport{MaxIdleConns: clients, MaxIdleConnsPerHost: clients}, Timeout: time.Minute}
	if code, _, b, err := lc.do("PUT", "/images", nil, nil); err != nil || code != 201 {
		t.Fatalf("PUT container: %d %v %s", code, err, b)
	}

	// acked: name → MD5 of the last acknowledged PUT, "" for an
	// acknowledged DELETE; names with a request in flight at the kill are
	// dropped (either outcome is right).
	var mu sync.Mutex
	acked, unsure := map[string]string{}, map[string]bool{}
	var done atomic.Int64
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), 9))
			for i := 0; ; i++ {
				name := fmt.Sprintf("c%02d-%d", c, rng.IntN(20))
				method, body := "PUT", make([]byte, rng.IntN(32<<10))
				for j := range body {
					body[j] = byte(rng.Uint32())
				}
				if i%4 == 3 {
					method, body = "DELETE", nil
				}
				code, _, _, err := lc.do(method, "/images/"+name, nil, body)
				mu.Lock()
				switch {
				case err != nil || code >= 500: // killed mid-request
					unsure[name] = true
				case method == "PUT" && code == 201:
					acked[name] = relMD5(body)
				case method == "DELETE" && (code == 204 || code == 404):
					acked[name] = ""
				default:
					t.Errorf("%s %s: %d", method, name, code)
				}
				mu.Unlock()
				if err != nil {
					return // the node is gone
				}
				done.Add(1)
			}
		}()
	}
	for done.Load() < 400 {
		time.Sleep(50 * time.Millisecond)
	}
	n.kill()
	wg.Wait()

	n2 := startNitro(t, cfg)
	s2 := mustLogin(t, n2.URL)
	lc.storage, lc.token = s2.storage, s2.token
	code, _, b, err := lc.do("GET", "/images?format=json", nil, nil)
	if err != nil || code != 200 {
		t.Fatalf("listing after restart: %d %v", code, err)
	}
	var l []struct {
		Name  string `json:"name"`
		Bytes int64  `json:"bytes"`
		Hash  string `json:"hash"`
	}
	if err := json.Unmarshal(b, &l); err != nil {
		t.Fatal(err)
	}
	var bytesUsed int64
	listed := map[string]string{}
	for _, o := range l {
		bytesUsed += o.Bytes
		listed[o.Name] = o.Hash
	}
	for name, sum := range acked {
		if !unsure[name] && listed[name] != sum {
			t.Errorf("%s after restart: hash %q, acknowledged %q", name, listed[name], sum)
		}
	}
	code, h, _, err := lc.do("HEAD", "/images", nil, nil)
	if err != nil || code != 204 {
		t.Fatalf("HEAD container: %d %v", code, err)
	}
	if got, want := h.Get("X-Container-Object-Count"), strconv.Itoa(len(l)); got != want {
		t.Errorf("X-Container-Object-Count %s after SIGKILL, listing has %s", got, want)
	}
	if got, want := h.Get("X-Container-Bytes-Used"), strconv.FormatInt(bytesUsed, 10); got != want {
		t.Errorf("X-Container-Bytes-Used %s after SIGKILL, listing sums to %s", got, want)
	}
	code, h, _, err = lc.do("HEAD", "", nil, nil)
	if err != nil || code/100 != 2 || h.Get("X-Account-Object-Count") != strconv.Itoa(len(l)) ||
		h.Get("X-Account-Bytes-Used") != strconv.FormatInt(bytesUsed, 10) {
		t.Errorf("HEAD account after SIGKILL: %d %v, %s objects %s bytes; listing %d, %d",
			code, err, h.Get("X-Account-Object-Count"), h.Get("X-Account-Bytes-Used"), len(l), bytesUsed)
	}
	t.Logf("killed after %d requests; %d objects, %d bytes after restart; %d names in flight at the kill",
		done.Load(), len(l), bytesUsed, len(unsure))
}
