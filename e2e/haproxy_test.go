package e2e

import (
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nitro-cloud/nitro/internal/testenv"
)

// haproxy is one running HAProxy from Debian's package (2.6 in bookworm)
// in front of the Swift API of the nodes of one region, as a region's
// load balancer would be (deploy/haproxy.cfg is the operator's version of
// the same config).
type haproxy struct {
	URL      string // http://127.0.0.1:PORT, the region's Swift endpoint
	StatsURL string // the stats page; StatsURL + ";csv" is its CSV export
	Dir      string // haproxy.cfg and haproxy.log
	Log      string

	cmd    *exec.Cmd
	exited chan struct{}
}

// haproxyBackend is one server line: a node's name and its Swift API's
// host:port.
type haproxyBackend struct{ Name, Addr string }

// haproxyConfig is the test's load balancer config. balance first sends
// every request to the first server that is up (the next one only when
// it is down): the test then knows which node serves Glance and can kill
// it in the middle of a transfer. (A region whose nodes use tempauth
// needs this, or balance source: tempauth tokens are known only to the
// node that issued them, so a client must stay on one node until it
// fails over and logs in again, which swiftclient does on a 401. With
// Keystone tokens any balance works; deploy/haproxy.cfg says so.)
// Health checks every 500 ms on /healthcheck, two failures mark a server
// down and close its sessions; retries with redispatch send a request
// whose connection failed, or that got no answer at all, to the other
// server. Timeouts are generous: two loaded cores.
const haproxyConfig = `# e2e: the load balancer of a region of Nitro nodes
global
    maxconn 512
    log stdout format raw local0
defaults
    mode http
    log global
    option httplog
    timeout connect 2s
    timeout client 5m
    timeout server 5m
    timeout http-request 30s
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response response-timeout
frontend swift
    bind 127.0.0.1:%d
    default_backend nitro
backend nitro
    balance first
    option httpchk GET /healthcheck
    http-check expect status 200
    default-server inter 500ms fastinter 250ms downinter 500ms fall 2 rise 2 on-marked-down shutdown-sessions
%s
listen stats
    bind 127.0.0.1:%d
    stats enable
    stats uri /stats
    stats refresh 0
`

// startHAProxy writes haproxy.cfg into a temp dir (frontend and stats on
// free loopback ports), checks it with `haproxy -c`, runs `haproxy -db`
// (foreground, no daemon: the PID the test holds is HAProxy's) and waits
// until its stats page answers. When t ends it sends SIGTERM to that PID
// (SIGKILL after 10 s).
func startHAProxy(t testing.TB, servers ...haproxyBackend) *haproxy {
	t.Helper()
	bin := testenv.Tool(t, "haproxy")
	dir := t.TempDir()
	port, stats := freePort(t), freePort(t)
	var lines []string
	for _, s := range servers {
		lines = append(lines, fmt.Sprintf("    server %s %s check", s.Name, s.Addr))
	}
	cfg := fmt.Sprintf(haproxyConfig, port, strings.Join(lines, "\n"), stats)
	cfgPath := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "-c", "-f", cfgPath).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s\nconfig:\n%s", err, out, cfg)
	}
	h := &haproxy{URL: fmt.Sprintf("http://127.0.0.1:%d", port), StatsURL: fmt.Sprintf("http://127.0.0.1:%d/stats", stats),
		Dir: dir, Log: filepath.Join(dir, "haproxy.log"), exited: make(chan struct{})}
	h.cmd = exec.Command(bin, "-db", "-f", cfgPath)
	h.cmd.Dir = dir
	startLogged(t, h.cmd, "haproxy", h.Log, 30, h.exited)
	if err := waitHTTP(h.StatsURL, 30*time.Second, h.exited); err != nil {
		t.Fatalf("haproxy: %v\n%s", err, tail(h.Log, 30))
	}
	return h
}

// haproxyServer is one server's row of HAProxy's stats CSV.
type haproxyServer struct {
	Status   string // UP, DOWN, "UP 1/2", "DOWN 1/2", MAINT, ...
	BytesIn  int64  // bin: request bytes sent to the server
	BytesOut int64  // bout: response bytes received from it
}

// logLines returns the lines of HAProxy's log (option httplog, to
// stdout) that contain substr: one per request, with its server, status,
// bytes and termination state ("SD": the server died in the middle).
func (h *haproxy) logLines(substr string) []string {
	b, _ := os.ReadFile(h.Log)
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return out
}

// waitLogLine waits up to timeout for a line of HAProxy's log that
// contains substr and satisfies match, polling every 100 ms, and returns
// the lines that contain substr at the end (for reports) and whether one
// matched. HAProxy writes a request's httplog line at the end of its
// stream (configuration.txt, "option logasap"), one unbuffered writev per
// line to fd 1 (the log file here): the client of a request it aborted
// (Glance, and through it the test) may have its answer before that line
// is written, so a check right after the answer can find no line yet.
func (h *haproxy) waitLogLine(substr string, match func(string) bool, timeout time.Duration) ([]string, bool) {
	deadline := time.Now().Add(timeout)
	for {
		ls := h.logLines(substr)
		if slices.ContainsFunc(ls, match) {
			return ls, true
		}
		if time.Now().After(deadline) {
			return ls, false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// servers returns the backend's servers from the stats CSV (fields
// pxname, svname, ..., bin (8), bout (9), ..., status (17): HAProxy's
// management guide, "9.1. CSV format").
func (h *haproxy) servers(t testing.TB) map[string]haproxyServer {
	t.Helper()
	resp, err := http.Get(h.StatsURL + ";csv")
	if err != nil {
		t.Fatalf("haproxy stats: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("haproxy stats: %s %v", resp.Status, err)
	}
	r := csv.NewReader(strings.NewReader(strings.TrimPrefix(string(b), "# ")))
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatalf("haproxy stats CSV: %v", err)
	}
	out := map[string]haproxyServer{}
	for _, row := range rows[1:] {
		if len(row) < 18 || row[0] != "nitro" || row[1] == "FRONTEND" || row[1] == "BACKEND" {
			continue
		}
		bin, _ := strconv.ParseInt(row[8], 10, 64)
		bout, _ := strconv.ParseInt(row[9], 10, 64)
		out[row[1]] = haproxyServer{Status: row[17], BytesIn: bin, BytesOut: bout}
	}
	return out
}

// waitServer polls the stats until server name's status starts with want
// ("UP" or "DOWN"), or fails t after timeout.
func (h *haproxy) waitServer(t testing.TB, name, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := h.servers(t)[name]
		if s.Status == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("haproxy server %s is %q after %v, want %s", name, s.Status, timeout, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestHAProxyFailover checks the load balancer harness on its own: two
// single-region nodes (not a region: each has its own data) behind
// HAProxy; every request goes to the first while it is up; after it is
// SIGKILLed, the next requests (a login and a GET) reach the second
// within the retries, without an error to the client, and HAProxy marks
// the first down.
func TestHAProxyFailover(t *testing.T) {
	testenv.Short(t)
	a := startNitro(t, singleNodeConfig)
	b := startNitro(t, singleNodeConfig)
	lb := startHAProxy(t, haproxyBackend{"a", strings.TrimPrefix(a.URL, "http://")}, haproxyBackend{"b", strings.TrimPrefix(b.URL, "http://")})
	lb.waitServer(t, "a", "UP", 30*time.Second)
	lb.waitServer(t, "b", "UP", 30*time.Second)
	for name, n := range map[string]*nitroNode{"a": a, "b": b} {
		c := mustLogin(t, n.URL)
		c.must(t, 201, "PUT", "/c", nil)
		c.must(t, 201, "PUT", "/c/o", []byte("from "+name))
	}
	c := mustLogin(t, lb.URL)
	if got := string(c.must(t, 200, "GET", "/c/o", nil)); got != "from a" {
		t.Fatalf("through haproxy with both up: %q, want the first server's", got)
	}
	a.kill()
	// Right after the kill, before any health check noticed: the
	// connection is refused and the request is redispatched to b, which
	// does not know a's token (401); the client logs in again.
	code, _, _, err := c.do("GET", "/c/o", nil, nil)
	if err != nil || (code != 401 && code != 200) {
		t.Fatalf("GET right after the kill: %d %v; want an answer from b (401 for a's token)", code, err)
	}
	c = mustLogin(t, lb.URL)
	if got := string(c.must(t, 200, "GET", "/c/o", nil)); got != "from b" {
		t.Fatalf("through haproxy after the kill: %q, want the second server's", got)
	}
	lb.waitServer(t, "a", "DOWN", 30*time.Second)
}

// TestDeployHAProxyConfig checks deploy/haproxy.cfg, the operator's
// sample, with `haproxy -c` (syntax and semantics; nothing is bound).
func TestDeployHAProxyConfig(t *testing.T) {
	bin := testenv.Tool(t, "haproxy")
	out, err := exec.Command(bin, "-c", "-f", filepath.Join(moduleRoot, "deploy", "haproxy.cfg")).CombinedOutput()
	if err != nil {
		t.Fatalf("haproxy -c -f deploy/haproxy.cfg: %v\n%s", err, out)
	}
}
