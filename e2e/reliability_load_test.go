package e2e

import (
	"bufio"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// reliabilityConfig is a single-region node with the shortest GC grace
// the store accepts (gc.grace = 2 × store.touch_after) and the periodic GC
// off: the test POSTs /gc itself every few seconds, under load.
var reliabilityConfig = reliabilityNode.template()

// reliabilityNode is reliabilityConfig as a nodeConfig.
var reliabilityNode = nodeConfig{Comment: "e2e reliability campaign", TouchAfter: "1s", Grace: "2s", LogLevel: "warn"}

// TestReliabilityLoad is the reliability campaign of one node: 200
// concurrent Swift clients do a mix of PUT (new objects and overwrites),
// GET, HEAD, container listing and DELETE in ONE container (as Glance
// does), while a garbage collection with the shortest grace runs every
// 3 s. It requires 0 errors (transport errors, 5xx, any status the client
// did not expect) and 0 losses (every acknowledged object reads back with
// its MD5, during the run and at the end), and that the container's count
// and bytes match the acknowledged objects. It logs one summary line,
// "RELIABILITY …", with p99 latency per method and the peak RssAnon of
// the nitro process.
//
// CI size: 12 s of load. NITRO_RELIABILITY_FULL=1 (scripts/reliability.sh)
// runs 60 s.
func TestReliabilityLoad(t *testing.T) {
	const clients = 200
	duration := 12 * time.Second
	if os.Getenv("NITRO_RELIABILITY_FULL") == "1" {
		duration = 60 * time.Second
	}
	n := startNitro(t, reliabilityConfig)
	lc := mustLogin(t, n.URL)
	lc.hc = &http.Client{Transport: &http.Transport{MaxIdleConns: clients, MaxIdleConnsPerHost: clients}, Timeout: 2 * time.Minute}
	if code, _, b, err := lc.do("PUT", "/images", nil, nil); err != nil || code != 201 {
		t.Fatalf("PUT container: %d %v %s", code, err, b)
	}

	rss := relWatchRSS(n.cmd.Process.Pid)
	stop := make(chan struct{})
	var gcRuns, gcErrs atomic.Int64
	var gcWG sync.WaitGroup
	gcWG.Add(1)
	go func() { // GC under load, shortest grace, every 3 s
		defer gcWG.Done()
		tick := time.NewTicker(3 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			resp, err := http.Post(n.OpsURL+"/gc?grace=2s", "", nil)
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					err = fmt.Errorf("%s: %s", resp.Status, b)
				}
			}
			gcRuns.Add(1)
			if err != nil {
				gcErrs.Add(1)
				t.Errorf("POST /gc: %v", err)
			}
		}
	}()

	var st relStats
	deadline := time.Now().Add(duration)
	var wg sync.WaitGroup
	states := make([]map[string]string, clients) // per client: name → MD5 of the acknowledged body
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			states[c] = relRunClient(lc, &st, c, deadline)
		}()
	}
	wg.Wait()
	close(stop)
	gcWG.Wait()

	// Quiescent: every acknowledged object reads back intact, and the
	// container's totals are theirs.
	var objects int64
	for c, live := range states {
		for name, sum := range live {
			objects++
			code, _, b, err := lc.do("GET", "/images/"+name, nil, nil)
			if err != nil || code != 200 || relMD5(b) != sum {
				st.lose(fmt.Sprintf("final GET %s (client %d): %d %v, md5 %s want %s", name, c, code, err, relMD5(b), sum))
			}
		}
	}
	code, h, _, err := lc.do("HEAD", "/images", nil, nil)
	if err != nil || code != 204 {
		t.Errorf("HEAD container: %d %v", code, err)
	} else if got := h.Get("X-Container-Object-Count"); got != strconv.FormatInt(objects, 10) {
		t.Errorf("X-Container-Object-Count %s, %d objects acknowledged", got, objects)
	} else if got, want := h.Get("X-Container-Bytes-Used"), strconv.FormatInt(st.liveBytes.Load(), 10); got != want {
		t.Errorf("X-Container-Bytes-Used %s, acknowledged objects hold %s", got, want)
	}
	peak := rss.stop()

	st.mu.Lock()
	defer st.mu.Unlock()
	var p99 []string
	for _, m := range []string{"PUT", "GET", "HEAD", "LIST", "DELETE"} {
		p99 = append(p99, fmt.Sprintf("p99_%s_ms=%.1f", m, relPercentile(st.lat[m], 0.99)))
	}
	t.Logf("RELIABILITY clients=%d duration=%v requests=%d errors=%d lost=%d gc_runs=%d gc_errors=%d objects=%d %s peak_rss_anon_mib=%.1f",
		clients, duration, st.requests, len(st.errors), len(st.lost), gcRuns.Load(), gcErrs.Load(), objects,
		strings.Join(p99, " "), float64(peak)/(1<<20))
	for i, e := range append(st.errors, st.lost...) {
		if i == 30 {
			t.Errorf("… %d more", len(st.errors)+len(st.lost)-30)
			break
		}
		t.Error(e)
	}
	if gcRuns.Load() == 0 {
		t.Error("no GC ran under load")
	}
}

// relStats collects a campaign's outcome. Safe for concurrent use.
type relStats struct {
	mu        sync.Mutex
	requests  int
	lat       map[string][]time.Duration // by method ("LIST" for listings)
	errors    []string                   // transport errors, 5xx, unexpected statuses
	lost      []string                   // acknowledged objects missing or wrong
	liveBytes atomic.Int64               // bytes of the acknowledged live objects
}

func (s *relStats) took(method string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lat == nil {
		s.lat = map[string][]time.Duration{}
	}
	s.requests++
	s.lat[method] = append(s.lat[method], d)
}

func (s *relStats) fail(msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errors = append(s.errors, msg)
}

func (s *relStats) lose(msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lost = append(s.lost, msg)
}

// relRunClient is one client until deadline, on names of its own ("cNNN-K"),
// so it knows what each must hold: PUT of a new name or an overwrite, GET
// and HEAD checked against the last acknowledged body, a listing of its
// prefix checked against its names, DELETE. It returns its live names
// with the MD5 of their bodies.
func relRunClient(lc *swiftClient, st *relStats, c int, deadline time.Time) map[string]string {
	rng := rand.New(rand.NewPCG(uint64(c), 42))
	live := map[string]string{}
	sizes := map[string]int64{}
	prefix := fmt.Sprintf("c%03d-", c)
	next := 0
	pick := func() string { // one of the client's live names, at random
		names := make([]string, 0, len(live))
		for k := range live {
			names = append(names, k)
		}
		slices.Sort(names)
		return names[rng.IntN(len(names))]
	}
	errs := 0
	for time.Now().Before(deadline) && errs < 5 {
		call := func(method, path string, hdr map[string]string, body []byte, want int) (http.Header, []byte, bool) {
			t0 := time.Now()
			code, h, b, err := lc.do(method, path, hdr, body)
			m := method
			if method == "GET" && strings.Contains(path, "?") {
				m = "LIST"
			}
			st.took(m, time.Since(t0))
			if err != nil || code != want {
				st.fail(fmt.Sprintf("%s %s: %d (want %d) %v %.120s", method, path, code, want, err, b))
				errs++
				return nil, nil, false
			}
			return h, b, true
		}
		switch p := rng.IntN(100); {
		case p < 30 || len(live) == 0: // PUT: a new name, or overwrite one
			name := prefix + strconv.Itoa(next)
			if len(live) > 0 && rng.IntN(3) == 0 {
				name = pick()
			} else {
				next++
			}
			size := rng.IntN(64 << 10)
			if rng.IntN(20) == 0 {
				size = 1<<20 + rng.IntN(1<<20) // a few chunks
			}
			body := make([]byte, size)
			for i := 0; i+8 <= len(body); i += 8 {
				v := rng.Uint64()
				for j := range 8 {
					body[i+j] = byte(v >> (8 * j))
				}
			}
			sum := relMD5(body)
			if _, _, ok := call("PUT", "/images/"+name, map[string]string{"Etag": sum}, body, 201); ok {
				st.liveBytes.Add(int64(size) - sizes[name])
				live[name], sizes[name] = sum, int64(size)
			} else {
				// Unknown outcome: stop checking this name.
				st.liveBytes.Add(-sizes[name])
				delete(live, name)
				delete(sizes, name)
			}
		case p < 60: // GET
			name := pick()
			if _, b, ok := call("GET", "/images/"+name, nil, nil, 200); ok && relMD5(b) != live[name] {
				st.lose(fmt.Sprintf("GET %s: %d bytes, md5 %s, want %s", name, len(b), relMD5(b), live[name]))
			}
		case p < 75: // HEAD
			name := pick()
			if h, _, ok := call("HEAD", "/images/"+name, nil, nil, 200); ok && strings.Trim(h.Get("Etag"), `"`) != live[name] {
				st.lose(fmt.Sprintf("HEAD %s: etag %s, want %s", name, h.Get("Etag"), live[name]))
			}
		case p < 85: // list the client's own names
			_, b, ok := call("GET", "/images?format=json&prefix="+url.QueryEscape(prefix), nil, nil, 200)
			if !ok {
				break
			}
			var l []struct {
				Name string `json:"name"`
				Hash string `json:"hash"`
			}
			if err := json.Unmarshal(b, &l); err != nil {
				st.fail(fmt.Sprintf("listing %s: %v", prefix, err))
				break
			}
			got := map[string]string{}
			for _, o := range l {
				got[o.Name] = o.Hash
			}
			for name, sum := range live {
				if got[name] != sum {
					st.lose(fmt.Sprintf("listing %s: %s has hash %q, want %s", prefix, name, got[name], sum))
				}
				delete(got, name)
			}
			for name := range got {
				st.fail(fmt.Sprintf("listing %s: %s listed after its DELETE", prefix, name))
			}
		default: // DELETE
			name := pick()
			call("DELETE", "/images/"+name, nil, nil, 204)
			st.liveBytes.Add(-sizes[name])
			delete(live, name) // on failure the outcome is unknown: stop checking it
			delete(sizes, name)
		}
	}
	return live
}

func relMD5(b []byte) string { s := md5.Sum(b); return hex.EncodeToString(s[:]) }

// relPercentile returns the q-quantile of d in milliseconds (0 if empty).
func relPercentile(d []time.Duration, q float64) float64 {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return float64(s[int(q*float64(len(s)-1))].Microseconds()) / 1000
}

// relRSSWatch samples a process's RssAnon (/proc/PID/status) every 100 ms.
type relRSSWatch struct {
	done chan struct{}
	peak atomic.Int64 // bytes
	wg   sync.WaitGroup
}

func relWatchRSS(pid int) *relRSSWatch {
	w := &relRSSWatch{done: make(chan struct{})}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			if v := relRSSAnon(pid); v > w.peak.Load() {
				w.peak.Store(v)
			}
			select {
			case <-w.done:
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

// stop ends the sampling and returns the peak in bytes.
func (w *relRSSWatch) stop() int64 {
	close(w.done)
	w.wg.Wait()
	return w.peak.Load()
}

// relRSSAnon returns the RssAnon of pid in bytes (0 if unreadable).
func relRSSAnon(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "RssAnon:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
