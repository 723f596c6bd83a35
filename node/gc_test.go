package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
)

// stallReader yields first, then blocks for stall, then yields rest: an
// upload whose client pauses in the middle (a slow link, a paused VM
// export).
type stallReader struct {
	first, rest []byte
	stall       time.Duration
	stalled     bool
}

func (s *stallReader) Read(p []byte) (int, error) {
	if len(s.first) > 0 {
		n := copy(p, s.first)
		s.first = s.first[n:]
		return n, nil
	}
	if !s.stalled {
		s.stalled = true
		time.Sleep(s.stall)
	}
	if len(s.rest) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.rest)
	s.rest = s.rest[n:]
	return n, nil
}

// TestGCUnderWriters (issue 9): with gc.grace at the smallest value the
// config accepts (2 s, touch_after 1 s), writers PUT (identical content
// from several writers, chunks shared between objects, and uploads that
// stall for longer than the grace period), overwrite and DELETE over the
// Swift API while POST /gc runs back to back on the ops listener.
// Afterwards every acknowledged object reads back (sha256 and ETag), every
// deleted one is 404, and an offline fsck is clean.
func TestGCUnderWriters(t *testing.T) {
	cfg := testConfig(t)
	cfg.Store.MinSize, cfg.Store.AvgSize, cfg.Store.MaxSize = 16<<10, 32<<10, 128<<10
	r := startNode(t, cfg)
	c := login(t, r.base(), "test:tester", "testing")
	c.must(201, "PUT", "/gc", nil, nil)

	// 24 contents shared by every writer: a common 256 KiB prefix (shared
	// chunks) and a part of their own.
	prefix := randomBytes(t, 256<<10)
	var pool [][]byte
	for i := range 24 {
		pool = append(pool, append(bytes.Clone(prefix), randomBytes(t, 32<<10+i*16<<10)...))
	}

	const fast, slow = 16, 4
	run := 6 * time.Second
	stop := time.Now().Add(run)
	client := &http.Client{Timeout: 2 * time.Minute}
	do := func(method, path string, body io.Reader) (int, []byte, string, error) {
		req, err := http.NewRequest(method, c.storageURL+path, body)
		if err != nil {
			return 0, nil, "", err
		}
		req.Header.Set("X-Auth-Token", c.token)
		resp, err := client.Do(req)
		if err != nil {
			return 0, nil, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, b, resp.Header.Get("Etag"), err
	}

	type want struct {
		data    []byte // nil: deleted
		deleted bool
	}
	var mu sync.Mutex
	expect := map[string]want{} // acknowledged state per name
	var acked, deletes, gcs atomic.Int64
	errc := make(chan error, fast+slow+1)

	go func() { // GC back to back
		for time.Now().Before(stop) {
			body, err := httpPost(r.ops() + "/gc?grace=2s")
			if err != nil {
				errc <- fmt.Errorf("gc: %v: %s", err, body)
				return
			}
			gcs.Add(1)
		}
		errc <- nil
	}()
	writer := func(w int, slowUploads bool) {
		rng := rand.New(rand.NewPCG(uint64(w), 9))
		for time.Now().Before(stop) {
			// Each writer owns its names, so the last acknowledged write
			// of a name is the one that must read back.
			name := fmt.Sprintf("w%02d-%d", w, rng.IntN(4))
			if rng.IntN(6) == 0 {
				code, b, _, err := do("DELETE", "/gc/"+name, nil)
				if err != nil || (code != 204 && code != 404) {
					errc <- fmt.Errorf("DELETE %s: %d %v %.100s", name, code, err, b)
					return
				}
				mu.Lock()
				expect[name] = want{deleted: true}
				mu.Unlock()
				deletes.Add(1)
				continue
			}
			var data []byte
			var body io.Reader
			if slowUploads {
				// More than a Badger batch (4 MiB) before the stall, so
				// chunks of the upload are committed while its recipe is
				// not written yet, then a stall longer than the grace.
				data = append(randomBytes(t, 6<<20), pool[rng.IntN(len(pool))]...)
				body = &stallReader{first: data[:5<<20], rest: data[5<<20:], stall: 2500*time.Millisecond + time.Duration(rng.IntN(1000))*time.Millisecond}
			} else {
				data = pool[rng.IntN(len(pool))]
				body = bytes.NewReader(data)
			}
			code, b, etag, err := do("PUT", "/gc/"+name, body)
			if err != nil || code != 201 || etag != md5hex(data) {
				errc <- fmt.Errorf("PUT %s: %d %v etag %s: %.100s", name, code, err, etag, b)
				return
			}
			mu.Lock()
			expect[name] = want{data: data}
			mu.Unlock()
			acked.Add(1)
		}
		errc <- nil
	}
	for w := range fast {
		go writer(w, false)
	}
	for w := range slow {
		go writer(fast+w, true)
	}
	for range fast + slow + 1 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	// One more collection once every upload is in.
	if body, err := httpPost(r.ops() + "/gc?grace=2s"); err != nil {
		t.Fatalf("gc: %v: %s", err, body)
	}

	lost := 0
	for name, w := range expect {
		code, b, etag, err := do("GET", "/gc/"+name, nil)
		switch {
		case err != nil:
			lost++
			t.Errorf("%s: GET: %v", name, err)
		case w.deleted && code != 404:
			t.Errorf("%s: deleted, GET says %d", name, code)
		case !w.deleted && (code != 200 || sha(b) != sha(w.data) || etag != md5hex(w.data)):
			lost++
			t.Errorf("%s: acknowledged %d bytes, GET says %d, %d bytes: %.120s", name, len(w.data), code, len(b), b)
		}
	}
	t.Logf("%d PUTs and %d DELETEs acknowledged, %d GCs, %d names checked, %d lost", acked.Load(), deletes.Load(), gcs.Load(), len(expect), lost)

	r.stop(t)
	rep, err := OfflineFsck(context.Background(), cfg, false, zap.NewNop())
	if err != nil || !rep.OK() {
		js, _ := json.Marshal(rep)
		t.Fatalf("offline fsck: %v: %s", err, js)
	}
}
