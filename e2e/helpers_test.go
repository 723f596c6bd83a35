package e2e

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// moduleRoot is the directory of go.mod (the parent of e2e/), set by
// TestMain.
var moduleRoot string

// binDir holds the binaries built once per test binary (nitro); removed
// when the tests end.
var binDir string

func TestMain(m *testing.M) {
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	moduleRoot = filepath.Dir(wd)
	binDir, err = os.MkdirTemp("", "nitro-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	runAtExit() // shared fixtures: Keystone
	os.RemoveAll(binDir)
	os.Exit(code)
}

var (
	buildOnce sync.Once
	nitroBin  string
	buildErr  error
)

// nitroBinary builds github.com/nitro-cloud/nitro once per test binary
// (the first test that needs it pays; tests that skip earlier do not) and
// returns its path. NITRO_E2E_BIN overrides the build with a prebuilt
// binary.
func nitroBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		if p := os.Getenv("NITRO_E2E_BIN"); p != "" {
			nitroBin = p
			return
		}
		out := filepath.Join(binDir, "nitro")
		cmd := exec.Command("go", "build", "-o", out, "github.com/nitro-cloud/nitro")
		cmd.Dir = moduleRoot
		if b, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build nitro: %v\n%s", err, b)
			return
		}
		nitroBin = out
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return nitroBin
}

// freePort returns a loopback TCP port that was free a moment ago (listen
// on :0, close). Another process may take it before we do; the servers
// started on it fail loudly if so.
func freePort(t testing.TB) int {
	t.Helper()
	port, err := freePortErr()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// waitHTTP polls url with GET until it answers 200, the process behind it
// exits (exited is closed), or timeout passes.
func waitHTTP(url string, timeout time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(timeout)
	c := &http.Client{Timeout: 2 * time.Second}
	var last error
	for time.Now().Before(deadline) {
		resp, err := c.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		last = err
		select {
		case <-exited:
			return fmt.Errorf("process exited while waiting for %s (last: %v)", url, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not ready after %v: %v", url, timeout, last)
}

// debianEnv is a clean environment for Debian's Python tools: /usr/bin
// before pyenv's shims (docs/openstack-here.md gotcha 1), a fresh HOME per
// call (python-glanceclient bug, gotcha 13) and no OS_* variables from the
// caller.
func debianEnv(t testing.TB) []string {
	return []string{
		"PATH=/usr/bin:/usr/sbin:/bin:/sbin",
		"HOME=" + t.TempDir(),
		"LANG=C.UTF-8",
		"PYTHONWARNINGS=ignore",
	}
}

// run runs a command with env, logs it and its duration, and returns its
// stdout; it fails t with the combined output when the command fails.
func run(t testing.TB, ctx context.Context, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	t.Logf("$ %s %s  (%.1fs)", filepath.Base(name), strings.Join(args, " "), time.Since(start).Seconds())
	if err != nil {
		t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", name, err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// digest is what a stream of bytes hashes to.
type digest struct {
	Size   int64
	SHA256 string
	MD5    string
}

func digestReader(r io.Reader) (digest, error) {
	s, m := sha256.New(), md5.New()
	n, err := io.Copy(io.MultiWriter(s, m), r)
	return digest{n, hex.EncodeToString(s.Sum(nil)), hex.EncodeToString(m.Sum(nil))}, err
}

func digestFile(t testing.TB, path string) digest {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := digestReader(f)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// tail returns the last n lines of the file at path (for failure dumps).
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// artifactDir is where a test keeps files worth reading after it ends
// (traces): $NITRO_E2E_ARTIFACTS/<test name> when set, else
// t.ArtifactDir() (kept under -outputdir with `go test -artifacts`,
// otherwise a temp dir removed after the test; the trace is t.Logged
// either way).
func artifactDir(t testing.TB) string {
	t.Helper()
	base := os.Getenv("NITRO_E2E_ARTIFACTS")
	if base == "" {
		return t.ArtifactDir()
	}
	d := filepath.Join(base, strings.ReplaceAll(t.Name(), "/", "_"))
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// swiftClient is a TempAuth v1 session on a node's Swift API: the storage
// URL and token of one login, and the HTTP client it uses.
type swiftClient struct {
	storage, token string
	hc             *http.Client
}

// swiftLogin logs user in with key at base+"/auth/v1.0" (TempAuth v1:
// X-Auth-User, X-Auth-Key; X-Storage-Url and X-Auth-Token come back)
// through hc (nil: http.DefaultClient). A status other than 200 is an
// error.
func swiftLogin(base, user, key string, hc *http.Client) (*swiftClient, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	req, err := http.NewRequest("GET", base+"/auth/v1.0", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Auth-User", user)
	req.Header.Set("X-Auth-Key", key)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("auth %s at %s: %s", user, base, resp.Status)
	}
	return &swiftClient{storage: resp.Header.Get("X-Storage-Url"), token: resp.Header.Get("X-Auth-Token"), hc: hc}, nil
}

// mustLogin is swiftLogin of test:tester (the default TempAuth account)
// through http.DefaultClient; it fails t on an error.
func mustLogin(t testing.TB, base string) *swiftClient {
	t.Helper()
	c, err := swiftLogin(base, "test:tester", "testing", nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// send sends method to the storage URL + path with the token and the
// headers hdr; the caller closes the answer's body.
func (c *swiftClient) send(method, path string, hdr map[string]string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequest(method, c.storage+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Auth-Token", c.token)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return c.hc.Do(req)
}

// do sends one request (body nil: none) and reads the whole answer; err
// is a transport or read error.
func (c *swiftClient) do(method, path string, hdr map[string]string, body []byte) (int, http.Header, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	resp, err := c.send(method, path, hdr, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b, err
}

// status sends one request and returns the answer's status; a transport
// error fails t.
func (c *swiftClient) status(t testing.TB, method, path string, body []byte) int {
	t.Helper()
	code, _ := c.mustDo(t, method, path, body)
	return code
}

// must sends one request and returns the answer's body; a transport error
// or a status other than want fails t.
func (c *swiftClient) must(t testing.TB, want int, method, path string, body []byte) []byte {
	t.Helper()
	code, b := c.mustDo(t, method, path, body)
	if code != want {
		t.Fatalf("%s %s: %d (want %d): %.200s", method, path, code, want, b)
	}
	return b
}

func (c *swiftClient) mustDo(t testing.TB, method, path string, body []byte) (int, []byte) {
	t.Helper()
	resp, err := c.send(method, path, nil, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// startLogged starts cmd (named what) with its output in the file at
// logPath, closes exited when it ends, and stops it when t ends: SIGTERM
// to its PID, SIGKILL after 10 s; when t failed it logs the last tailN
// lines of the log.
func startLogged(t testing.TB, cmd *exec.Cmd, what, logPath string, tailN int, exited chan struct{}) {
	t.Helper()
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("%s: %v", what, err)
	}
	go func() {
		cmd.Wait()
		logf.Close()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("%s log (%s), last lines:\n%s", what, logPath, tail(logPath, tailN))
		}
	})
}
