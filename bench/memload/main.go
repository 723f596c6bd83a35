// Command memload measures a Nitro node's memory under concurrent uploads
// and downloads: for each concurrency level it PUTs that many objects at
// once (distinct, incompressible bytes that share no chunk), then GETs them
// all back at once, while sampling /proc/PID/status of the node every
// 100 ms. It prints one row per level and direction with the peak RssAnon
// and VmRSS seen during that phase. scripts/bench-memory.sh runs it against
// a fresh `nitro serve`.
//
//	memload -url http://127.0.0.1:8080 -pid 1234 [-size 64MiB] [-conc 1,8,32,200]
package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "memload:", err)
		os.Exit(1)
	}
}

func run() error {
	url := flag.String("url", "http://127.0.0.1:8080", "the node's Swift API `base` URL")
	user := flag.String("user", "test:tester", "tempauth user")
	key := flag.String("key", "testing", "tempauth key")
	pid := flag.Int("pid", 0, "`PID` of the node to sample (required)")
	sizeMiB := flag.Int("size", 64, "object size in `MiB`")
	concs := flag.String("conc", "1,8,32,200", "comma-separated concurrency levels")
	flag.Parse()
	if *pid <= 0 {
		return errors.New("-pid is required")
	}
	var levels []int
	for _, f := range strings.Split(*concs, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || c <= 0 {
			return fmt.Errorf("-conc: bad level %q", f)
		}
		levels = append(levels, c)
	}
	size := int64(*sizeMiB) << 20
	ctx := context.Background()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024, DisableCompression: true}}
	storage, token, err := login(ctx, hc, *url, *user, *key)
	if err != nil {
		return err
	}
	cont := storage + "/memload"
	if err := do(ctx, hc, http.MethodPut, cont, token, nil, -1); err != nil {
		return err
	}
	base, err := sample(*pid)
	if err != nil {
		return err
	}
	fmt.Printf("object size %d MiB; node PID %d; RssAnon at start %d MiB\n", *sizeMiB, *pid, base.anon>>20)
	fmt.Printf("%-6s %-5s %12s %12s %10s %10s %6s\n", "conc", "dir", "peak_anon", "peak_rss", "end_anon", "MB/s", "errors")
	for _, c := range levels {
		for _, dir := range []string{"PUT", "GET"} {
			r := phase(ctx, hc, *pid, cont, token, dir, c, size)
			fmt.Printf("%-6d %-5s %8d MiB %8d MiB %6d MiB %10.1f %6d\n", c, dir, r.peak.anon>>20, r.peak.rss>>20,
				r.end.anon>>20, float64(int64(c)*size)/r.dur.Seconds()/1e6, r.errs)
			if r.firstErr != nil {
				fmt.Fprintln(os.Stderr, "  first error:", r.firstErr)
			}
		}
	}
	return nil
}

type mem struct{ anon, rss int64 }

type result struct {
	peak, end mem
	dur       time.Duration
	errs      int
	firstErr  error
}

// phase runs c concurrent PUTs or GETs of objects c-0..c-(c-1) and returns
// the peak memory of pid seen meanwhile (sampled every 100 ms).
func phase(ctx context.Context, hc *http.Client, pid int, cont, token, dir string, c int, size int64) result {
	var res result
	var mu sync.Mutex
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			if m, err := sample(pid); err == nil {
				res.peak.anon = max(res.peak.anon, m.anon)
				res.peak.rss = max(res.peak.rss, m.rss)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	start := time.Now()
	var wg sync.WaitGroup
	var nerr atomic.Int64
	for i := range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := fmt.Sprintf("%s/o-%d-%d", cont, c, i)
			var err error
			if dir == "PUT" {
				err = do(ctx, hc, http.MethodPut, u, token, newObject(uint64(c)<<32|uint64(i), size), size)
			} else {
				err = do(ctx, hc, http.MethodGet, u, token, nil, size)
			}
			if err != nil {
				nerr.Add(1)
				mu.Lock()
				if res.firstErr == nil {
					res.firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.dur = time.Since(start)
	close(stop)
	<-sampled
	res.errs = int(nerr.Load())
	res.end, _ = sample(pid)
	return res
}

// sample reads RssAnon and VmRSS of pid in bytes.
func sample(pid int) (mem, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return mem{}, err
	}
	defer f.Close()
	var m mem
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fs := strings.Fields(v)
		if len(fs) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(fs[0], 10, 64)
		switch k {
		case "RssAnon":
			m.anon = n << 10
		case "VmRSS":
			m.rss = n << 10
		}
	}
	return m, sc.Err()
}

func login(ctx context.Context, hc *http.Client, base, user, key string) (storage, token string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/auth/v1.0", nil)
	if err != nil {
		return "", "", err
	}
	req.Header.Set("X-Auth-User", user)
	req.Header.Set("X-Auth-Key", key)
	resp, err := hc.Do(req)
	if err != nil {
		return "", "", err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return "", "", fmt.Errorf("login: %s", resp.Status)
	}
	return resp.Header.Get("X-Storage-Url"), resp.Header.Get("X-Auth-Token"), nil
}

// do sends one request; for GET it reads the body and checks it has size
// bytes.
func do(ctx context.Context, hc *http.Client, method, url, token string, body io.Reader, size int64) error {
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return err
	}
	if body != nil {
		req.ContentLength = size
	}
	req.Header.Set("X-Auth-Token", token)
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: body: %w", method, url, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s", method, url, resp.Status)
	}
	if method == http.MethodGet && n != size {
		return fmt.Errorf("GET %s: %d bytes, want %d", url, n, size)
	}
	return nil
}

// baseBlock is 1 MiB of random bytes every object repeats, stamped.
var baseBlock = func() []byte {
	b := make([]byte, 1<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	return b
}()

// object is size bytes of baseBlock repeated, with (id, offset) written
// over the first 16 bytes of every 4 KiB: incompressible, and no chunk
// (16 KiB at least) is shared with another object or offset.
type object struct {
	id        uint64
	off, size int64
}

func newObject(id uint64, size int64) *object { return &object{id: id, size: size} }

func (o *object) Read(p []byte) (int, error) {
	if o.off >= o.size {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && o.off < o.size {
		in := int(o.off % int64(len(baseBlock)))
		c := copy(p[n:], baseBlock[in:min(len(baseBlock), in+int(min(int64(len(p)-n), o.size-o.off)))])
		n += c
		o.off += int64(c)
	}
	// Stamp every 4 KiB boundary that starts inside p.
	start := o.off - int64(n)
	for b := (start + 4095) &^ 4095; b+16 <= o.off; b += 4096 {
		i := b - start
		binary.LittleEndian.PutUint64(p[i:], o.id)
		binary.LittleEndian.PutUint64(p[i+8:], uint64(b))
	}
	return n, nil
}
