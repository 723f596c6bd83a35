package glanceshim_test

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/nitro-cloud/nitro/internal/testenv"
)

// TestSwiftCLITempURL: Debian's python-swiftclient sets account metadata
// and the temp URL key with `swift post -m`, reads them with `swift stat`,
// and its `swift tempurl` URLs (seconds, --iso8601, --prefix-based, PUT)
// work with plain HTTP.
func TestSwiftCLITempURL(t *testing.T) {
	testenv.Short(t)
	swift := testenv.Tool(t, "swift")
	ts := startServer(t, testConfig(), nil)
	run := func(auth bool, args ...string) string {
		t.Helper()
		if auth {
			args = append([]string{"-A", ts.URL + "/auth/v1.0", "-U", "test:tester", "-K", "testing", "--retries", "0"}, args...)
		}
		cmd := exec.Command(swift, args...)
		cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("swift %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run(true, "post", "-m", "Color:blue", "-m", "Temp-URL-Key:cli-key")
	if out := run(true, "stat"); !strings.Contains(out, "Meta Color: blue") || !strings.Contains(out, "Meta Temp-Url-Key: cli-key") {
		t.Fatalf("stat: %q", out)
	}
	run(true, "post", "-m", "Color:")
	if out := run(true, "stat"); strings.Contains(out, "Color") {
		t.Errorf("Color not removed: %q", out)
	}
	run(true, "post", "c")
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/obj", []byte("from swift"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(swift, "-A", ts.URL+"/auth/v1.0", "-U", "test:tester", "-K", "testing", "upload", "--object-name", "dir/obj", "c", "obj")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("upload: %v %s", err, out)
	}
	do := func(method, path string, body string) (int, string) {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, _ := http.NewRequest(method, ts.URL+path, rd)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, args := range [][]string{
		{"tempurl", "GET", "600", "/v1/AUTH_test/c/dir/obj", "cli-key"},
		{"tempurl", "--digest", "sha256", "GET", "1h", "/v1/AUTH_test/c/dir/obj", "cli-key"},
		{"tempurl", "--iso8601", "GET", "600", "/v1/AUTH_test/c/dir/obj", "cli-key"},
		{"tempurl", "--prefix-based", "GET", "600", "/v1/AUTH_test/c/dir/", "cli-key"},
	} {
		p := run(false, args...)
		if strings.Contains(strings.Join(args, " "), "prefix") {
			p = strings.Replace(p, "/c/dir/?", "/c/dir/obj?", 1)
		}
		if st, b := do("GET", p, ""); st != 200 || b != "from swift" {
			t.Errorf("%v: GET %s: %d %q", args, p, st, b)
		}
	}
	if _, err := exec.Command(swift, "tempurl", "--digest", "sha512", "GET", "600", "/v1/AUTH_test/c/dir/obj", "cli-key").Output(); err != nil {
		t.Logf("this swiftclient has no sha512 digest option: %v", err)
	}
	p := run(false, "tempurl", "PUT", "600", "/v1/AUTH_test/c/put", "cli-key")
	if st, b := do("PUT", p, "put by temp URL"); st != 201 {
		t.Fatalf("PUT %s: %d %q", p, st, b)
	}
	if out := run(true, "download", "c", "put", "-o", "-"); out != "put by temp URL" {
		t.Errorf("download: %q", out)
	}
	if out := run(true, "capabilities"); !strings.Contains(out, "tempurl") || !strings.Contains(out, "account_quotas") {
		t.Errorf("capabilities: %q", out)
	}
}
