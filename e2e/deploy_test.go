package e2e

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// TestDeployExampleConfig runs `nitro serve` with deploy/nitro.yaml (its
// addresses and paths moved to loopback and a temp dir), so the example
// stays valid as the config schema changes, and checks that its Glance
// account logs in.
func TestDeployExampleConfig(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(moduleRoot, "deploy", "nitro.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(b)
	for _, r := range []struct{ re, repl string }{
		{`(?m)^data_dir: .*$`, "data_dir: {{.DataDir}}"},
		{`(?m)^  listen: .*$`, "  listen: {{.Listen}}"},
		{`(?m)^ops_listen: .*$`, "ops_listen: {{.OpsListen}}"},
		{`(?m)^  healthcheck_disable_file: .*$`, "  healthcheck_disable_file: {{.Dir}}/healthcheck-disabled"},
	} {
		re := regexp.MustCompile(r.re)
		if !re.MatchString(cfg) {
			t.Fatalf("deploy/nitro.yaml has no line matching %s", r.re)
		}
		cfg = re.ReplaceAllString(cfg, r.repl)
	}
	n := startNitro(t, cfg)
	user, key := "glance:glance", regexp.MustCompile(`key: (\S+),`).FindStringSubmatch(cfg)[1]
	req, _ := http.NewRequest(http.MethodGet, n.URL+"/auth/v1.0", nil)
	req.Header.Set("X-Auth-User", user)
	req.Header.Set("X-Auth-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Auth-Token") == "" {
		t.Fatalf("auth as %s: %s", user, resp.Status)
	}
	if st, _ := n.storedBytes(t); st != 0 {
		t.Errorf("fresh node stores %d B", st)
	}
}
