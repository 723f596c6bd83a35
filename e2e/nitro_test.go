package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// nitroNode is one running `nitro serve`.
type nitroNode struct {
	URL    string // Swift API, http://127.0.0.1:PORT (auth at /auth/v1.0)
	OpsURL string // ops listener (/gc, /stats, /metrics); "" if not configured
	Dir    string // the node's working dir; data under Dir/data
	Log    string // path of its combined stdout/stderr
	Ports  map[string]int

	cfgPath string // Dir/nitro.yaml
	cmd     *exec.Cmd
	exited  chan struct{}
	err     error // from Wait, valid once exited is closed
	killed  bool  // by kill: stop has nothing to do
}

// nitroConfigData is what a config template passed to startNitro sees.
type nitroConfigData struct {
	Dir       string // the node's working directory (also its cwd)
	DataDir   string // Dir/data
	Listen    string // 127.0.0.1:PORT for the Swift API
	OpsListen string // 127.0.0.1:PORT for the ops listener
}

// singleNodeConfig is the config of a single-region node with an ops
// listener (schema: node/default.yaml, node/CONFIG.md). The periodic GC is
// off and the grace period short (1 s, the least store.touch_after of
// 500 ms allows), so a test decides when garbage is collected: gc(t)
// after a deletion empties the store.
var singleNodeConfig = singleNode.template()

// singleNode is singleNodeConfig as a nodeConfig, to derive variants from.
var singleNode = nodeConfig{Comment: "e2e single-region node"}

// startNitro writes cfgTemplate (text/template over nitroConfigData, plus
// {{port "name"}} for further free ports, e.g. a peer listener) to
// Dir/nitro.yaml, runs `nitro serve --config` there and waits for
// /healthcheck. When t ends it sends SIGTERM and requires exit status 0
// within 30 s; if t failed, the tail of the node's log is dumped.
func startNitro(t testing.TB, cfgTemplate string) *nitroNode {
	t.Helper()
	n, cfg := prepareNitro(t, cfgTemplate)
	n.launch(t)
	t.Cleanup(func() {
		n.stop(t)
		if t.Failed() {
			t.Logf("nitro log (%s), last lines:\n%s", n.Log, tail(n.Log, 40))
		}
	})
	if err := waitHTTP(n.URL+"/healthcheck", 30*time.Second, n.exited); err != nil {
		t.Fatalf("nitro serve: %v\nconfig:\n%s\nlog:\n%s", err, cfg, tail(n.Log, 40))
	}
	return n
}

// prepareNitro writes cfgTemplate (see startNitro) to a fresh
// Dir/nitro.yaml and returns the node, not yet started, and the config.
func prepareNitro(t testing.TB, cfgTemplate string) (*nitroNode, string) {
	t.Helper()
	dir := t.TempDir()
	n := &nitroNode{Dir: dir, Log: filepath.Join(dir, "nitro.log"), Ports: map[string]int{}, exited: make(chan struct{})}
	data, cfg, cfgPath := writeNodeConfig(t, dir, cfgTemplate, n.Ports)
	n.cfgPath = cfgPath
	n.URL = "http://" + data.Listen
	if strings.Contains(cfgTemplate, ".OpsListen") {
		n.OpsURL = "http://" + data.OpsListen
	}
	return n, cfg
}

// launch runs `nitro serve --config` in n.Dir, output to n.Log, without
// waiting for it to be ready; n.exited is closed when it exits.
func (n *nitroNode) launch(t testing.TB) {
	t.Helper()
	logf, err := os.Create(n.Log)
	if err != nil {
		t.Fatal(err)
	}
	n.cmd = exec.Command(nitroBinary(t), "serve", "--config", n.cfgPath)
	n.cmd.Dir = n.Dir
	n.cmd.Stdout, n.cmd.Stderr = logf, logf
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		n.err = n.cmd.Wait()
		logf.Close()
		close(n.exited)
	}()
}

// kill sends SIGKILL (a crash) and waits for the process to exit.
func (n *nitroNode) kill() {
	n.killed = true
	_ = n.cmd.Process.Kill()
	<-n.exited
}

// stop sends SIGTERM and requires a clean exit (status 0) within 30 s.
func (n *nitroNode) stop(t testing.TB) {
	t.Helper()
	if n.killed {
		return
	}
	select {
	case <-n.exited:
		t.Errorf("nitro serve exited before the test ended: %v", n.err)
		return
	default:
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
		if n.err != nil {
			t.Errorf("nitro serve after SIGTERM: %v (want exit status 0)", n.err)
		}
	case <-time.After(30 * time.Second):
		_ = n.cmd.Process.Kill()
		<-n.exited
		t.Errorf("nitro serve did not exit within 30 s of SIGTERM")
	}
}

// ops sends method to the ops listener's path and decodes the JSON answer
// into a generic map.
func (n *nitroNode) ops(t testing.TB, method, path string) map[string]any {
	t.Helper()
	if n.OpsURL == "" {
		t.Fatal("node has no ops listener")
	}
	req, err := http.NewRequest(method, n.OpsURL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %s: %s", method, path, resp.Status, b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s %s: %v: %s", method, path, err, b)
	}
	return m
}

// storedBytes returns the bytes of chunks the node stores (ops GET /stats).
func (n *nitroNode) storedBytes(t testing.TB) (bytes int64, raw map[string]any) {
	t.Helper()
	m := n.ops(t, http.MethodGet, "/stats")
	return jsonInt(t, m, "stored_bytes"), m
}

// gc runs garbage collection now (ops POST /gc) with a 1 s grace period
// (the least singleNodeConfig allows; the store stamps chunks in whole
// seconds, so it first waits 2 s for everything written before the call to
// age past it) and returns its stats.
func (n *nitroNode) gc(t testing.TB) map[string]any {
	t.Helper()
	time.Sleep(2 * time.Second)
	return n.ops(t, http.MethodPost, "/gc?grace=1s")
}

// jsonInt finds key in m, also one level down (nested objects), as an
// integer.
func jsonInt(t testing.TB, m map[string]any, key string) int64 {
	t.Helper()
	if v, ok := m[key].(float64); ok {
		return int64(v)
	}
	for _, v := range m {
		if sub, ok := v.(map[string]any); ok {
			if f, ok := sub[key].(float64); ok {
				return int64(f)
			}
		}
	}
	t.Fatalf("no numeric %q in %v", key, m)
	return 0
}
