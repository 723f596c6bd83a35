package node

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"github.com/nitro-cloud/nitro/node/internal/namespace"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

// testConfig is the default config on loopback port 0 in a temp dir, with
// GC stamps short enough that tests can collect right away.
func testConfig(t testing.TB) Config {
	cfg := Default()
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.Swift.Listen = "127.0.0.1:0"
	cfg.OpsListen = "127.0.0.1:0"
	cfg.Store.TouchAfter = time.Second
	cfg.GC.Grace = 2 * time.Second
	cfg.GC.Interval = 0
	cfg.ShutdownTimeout = 5 * time.Second
	cfg.Log.Level = "warn"
	return cfg
}

// running is a node started by startNode.
type running struct {
	*Node
	cancel context.CancelFunc
	done   chan error
}

// base returns the Swift API's base URL.
func (r *running) base() string { return "http://" + r.SwiftAddr() }

// ops returns the ops listener's base URL.
func (r *running) ops() string { return "http://" + r.OpsAddr() }

// stop cancels Run, waits for it and closes the node; it is idempotent.
func (r *running) stop(t testing.TB) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("Run did not return 30 s after cancel")
		return
	}
	if err := r.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// startNode runs a node with cfg until the test ends.
func startNode(t testing.TB, cfg Config) *running {
	t.Helper()
	log := zap.NewNop()
	if testing.Verbose() {
		log = zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	}
	return startNodeLog(t, cfg, log)
}

// startNodeLog is startNode with the node logging to log.
func startNodeLog(t testing.TB, cfg Config, log *zap.Logger) *running {
	t.Helper()
	n, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Node: n, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- n.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// recipeOf returns the live record of AUTH_test/container/object on r and
// the recipe it names, failing t if either is missing.
func (r *running) recipeOf(t testing.TB, container, object string) (*namespace.Record, *recipe.Recipe) {
	t.Helper()
	rec, err := r.ns.GetLive(t.Context(), namespace.ObjectKey("AUTH_test", container, object))
	if err != nil {
		t.Fatalf("record of %s/%s: %v", container, object, err)
	}
	rc, err := r.store.Recipe(t.Context(), rec.Recipe)
	if err != nil {
		t.Fatalf("recipe of %s/%s: %v", container, object, err)
	}
	return rec, rc
}

// swiftClient is a tiny authenticated Swift client for the node's tests.
type swiftClient struct {
	t          testing.TB
	storageURL string
	token      string
}

func login(t testing.TB, base, user, key string) *swiftClient {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/auth/v1.0", nil)
	req.Header.Set("X-Auth-User", user)
	req.Header.Set("X-Auth-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("auth %s: %s", user, resp.Status)
	}
	return &swiftClient{t: t, storageURL: resp.Header.Get("X-Storage-Url"), token: resp.Header.Get("X-Auth-Token")}
}

// do sends a request to storage URL + path and returns the response with
// its body read.
func (c *swiftClient) do(method, path string, hdr map[string]string, body io.Reader) (*http.Response, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.storageURL+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("X-Auth-Token", c.token)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp, b
}

// must is do that fails the test unless the status is want.
func (c *swiftClient) must(want int, method, path string, hdr map[string]string, body io.Reader) (*http.Response, []byte) {
	c.t.Helper()
	resp, b := c.do(method, path, hdr, body)
	if resp.StatusCode != want {
		c.t.Fatalf("%s %s: %s (want %d): %.200s", method, path, resp.Status, want, b)
	}
	return resp, b
}

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func sha(b []byte) [32]byte { return sha256.Sum256(b) }

// httpGet returns the body of a GET that must answer 200.
func httpGet(t testing.TB, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s: %s", url, resp.Status, b)
	}
	return string(b)
}

var errStatus = errors.New("unexpected status")

// httpPost POSTs to url and returns the body; errStatus unless 200.
func httpPost(url string) (string, error) {
	resp, err := http.Post(url, "", strings.NewReader(""))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return string(b), errStatus
	}
	return string(b), nil
}

func md5hex(b []byte) string { return fmt.Sprintf("%x", md5.Sum(b)) }
