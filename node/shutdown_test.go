package node

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"go.uber.org/zap"
)

// TestGracefulShutdown: an acknowledged PUT survives a shutdown and a
// reopen, and a PUT in flight when the shutdown starts is allowed to finish
// and is answered, then survives too; new connections are refused.
func TestGracefulShutdown(t *testing.T) {
	cfg := testConfig(t)
	r := startNode(t, cfg)
	c := login(t, r.base(), "test:tester", "testing")
	c.must(201, "PUT", "/c", nil, nil)
	acked := randomBytes(t, 3<<20)
	c.must(201, "PUT", "/c/acked", nil, bytes.NewReader(acked))

	// A slow upload: half the body now, the rest after the shutdown began.
	slow := randomBytes(t, 2<<20)
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("PUT", c.storageURL+"/c/inflight", pr)
	req.ContentLength = int64(len(slow))
	req.Header.Set("X-Auth-Token", c.token)
	answered := make(chan int, 1)
	// A connection of its own: on a reused keep-alive connection the
	// server is idle until it has parsed the request's header, and
	// http.Server.Shutdown closes idle connections at once.
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	go func() {
		resp, err := fresh.Do(req)
		if err != nil {
			t.Errorf("in-flight PUT: %v", err)
			answered <- 0
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	if _, err := pw.Write(slow[:1<<20]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the server accepts and reads the header
	stopped := make(chan struct{})
	go func() { r.stop(t); close(stopped) }() // SIGTERM: cancel Run's context
	time.Sleep(300 * time.Millisecond)
	if _, err := http.Get(r.base() + "/healthcheck"); err == nil {
		t.Error("a new connection was accepted during the shutdown")
	}
	select {
	case <-stopped:
		t.Fatal("Run returned with a request in flight")
	default:
	}
	if _, err := pw.Write(slow[1<<20:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if code := <-answered; code != 201 {
		t.Fatalf("in-flight PUT answered %d, want 201", code)
	}
	<-stopped

	// Reopen the same data dir.
	cfg2 := cfg
	r2 := startNode(t, cfg2)
	c2 := login(t, r2.base(), "test:tester", "testing")
	for name, want := range map[string][]byte{"acked": acked, "inflight": slow} {
		_, got := c2.must(200, "GET", "/c/"+name, nil, nil)
		if !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes after reopen, want %d", name, len(got), len(want))
		}
	}
}

// TestSecondNodeOnSameDir: Badger's directory lock makes a second node
// (or `nitro gc`) on a running node's data dir fail with a clear error.
func TestSecondNodeOnSameDir(t *testing.T) {
	cfg := testConfig(t)
	startNode(t, cfg)
	_, err := New(cfg, zap.NewNop())
	if err == nil {
		t.Fatal("second node on the same data dir started")
	}
	if _, gcErr := OfflineGC(context.Background(), cfg, 0, zap.NewNop()); gcErr == nil {
		t.Fatal("offline GC ran on a running node's data dir")
	} else if !bytes.Contains([]byte(gcErr.Error()), []byte("stop it first")) {
		t.Errorf("unclear error: %v", gcErr)
	}
}
