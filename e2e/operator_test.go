package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// nitroCmd runs the nitro binary with args and returns its stdout, stderr
// and error.
func nitroCmd(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.Command(nitroBinary(t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	t.Logf("$ nitro %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	return stdout.String(), stderr.String(), err
}

// httpDo sends one request and returns the response with its body read.
func httpDo(t *testing.T, method, url string, hdr map[string]string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// loginStatus logs in to n as user with key and returns the status and
// the token and storage URL.
func loginStatus(t *testing.T, n *nitroNode, user, key string) (int, string, string) {
	t.Helper()
	resp, _ := httpDo(t, "GET", n.URL+"/auth/v1.0", map[string]string{"X-Auth-User": user, "X-Auth-Key": key}, nil)
	return resp.StatusCode, resp.Header.Get("X-Auth-Token"), resp.Header.Get("X-Storage-Url")
}

// TestOperatorCommandsSingleRegion runs `nitro status`, `nitro fsck --live`
// and `nitro version` against a single-region node: status used to need a
// cluster (it asked the peer listener), and the offline fsck cannot open
// the data dir of a running node.
func TestOperatorCommandsSingleRegion(t *testing.T) {
	n := startNitro(t, singleNodeConfig)
	cfg := filepath.Join(n.Dir, "nitro.yaml")
	st, tok, su := loginStatus(t, n, "test:tester", "testing")
	if st != 200 {
		t.Fatalf("login: %d", st)
	}
	auth := map[string]string{"X-Auth-Token": tok}
	httpDo(t, "PUT", su+"/images", auth, nil)
	body := bytes.Repeat([]byte("nitro operator test "), 20000)
	if resp, _ := httpDo(t, "PUT", su+"/images/one", auth, body); resp.StatusCode != 201 {
		t.Fatalf("PUT: %s", resp.Status)
	}

	out, _, err := nitroCmd(t, "status", "--config", cfg)
	if err != nil || !strings.Contains(out, "objects: 1 in 1 containers of 1 accounts") || !strings.Contains(out, "cluster: none (single region)") {
		t.Errorf("nitro status: %v\n%s", err, out)
	}
	out, _, err = nitroCmd(t, "status", "--json", "--config", cfg)
	var js struct {
		Objects struct {
			Objects    int64 `json:"objects"`
			PlainBytes int64 `json:"plain_bytes"`
		} `json:"objects"`
		Store struct {
			StoredBytes int64 `json:"stored_bytes"`
		} `json:"store"`
		Version struct {
			Version string `json:"version"`
		} `json:"version"`
	}
	if err != nil || json.Unmarshal([]byte(out), &js) != nil || js.Objects.Objects != 1 ||
		js.Objects.PlainBytes != int64(len(body)) || js.Store.StoredBytes == 0 {
		t.Errorf("nitro status --json: %v %+v", err, js)
	}
	if keys := regexp.MustCompile(`"([^"]+)":`).FindAllStringSubmatch(out, -1); len(keys) == 0 {
		t.Error("no keys")
	} else {
		for _, k := range keys {
			if !regexp.MustCompile(`^[a-z][a-z0-9_]*$`).MatchString(k[1]) {
				t.Errorf("status key %q is not snake_case", k[1])
			}
		}
	}

	out, _, err = nitroCmd(t, "fsck", "--live", "--config", cfg)
	var rep struct {
		ChunksChecked  int `json:"chunks_checked"`
		RecipesChecked int `json:"recipes_checked"`
	}
	if err != nil || json.Unmarshal([]byte(out), &rep) != nil || rep.ChunksChecked == 0 || rep.RecipesChecked != 1 {
		t.Errorf("nitro fsck --live: %v %+v", err, rep)
	}
	if _, stderr, err := nitroCmd(t, "fsck", "--config", cfg); err == nil || !strings.Contains(stderr, "a running nitro node holds it") {
		t.Errorf("offline fsck of a live node's dir: %v %s", err, stderr)
	}
	if _, _, err := nitroCmd(t, "fsck", "--live", "--repair", "--config", cfg); err == nil {
		t.Error("fsck --live --repair accepted")
	}

	v1, _, err1 := nitroCmd(t, "version")
	v2, _, err2 := nitroCmd(t, "--version")
	if err1 != nil || err2 != nil || v1 != v2 || !strings.HasPrefix(v1, "nitro "+js.Version.Version+" ") {
		t.Errorf("nitro version %q (%v), --version %q (%v), status version %q", v1, err1, v2, err2, js.Version.Version)
	}
	_, info := httpDo(t, "GET", n.URL+"/info", nil, nil)
	var in struct {
		Swift struct{ Version string } `json:"swift"`
		Nitro struct{ Version string } `json:"nitro"`
	}
	if json.Unmarshal(info, &in) != nil || in.Nitro.Version != js.Version.Version || in.Swift.Version == "" {
		t.Errorf("/info: %s", info)
	}
}

// TestServeSIGHUP: SIGHUP reloads accounts and the log level from the
// config file and never stops the node (before, SIGHUP's default action
// killed it); a config that does not load leaves the node as it was.
func TestServeSIGHUP(t *testing.T) {
	n := startNitro(t, singleNodeConfig)
	cfgPath := filepath.Join(n.Dir, "nitro.yaml")
	orig, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	hup := func(wantLog string) {
		t.Helper()
		if err := n.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(readFile(t, n.Log), wantLog) {
			select {
			case <-n.exited:
				t.Fatalf("nitro serve exited on SIGHUP: %v", n.err)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %q in the log 20 s after SIGHUP:\n%s", wantLog, tail(n.Log, 20))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	hup("configuration reloaded") // nothing changed
	if err := os.WriteFile(cfgPath, []byte("region: [broken\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hup("configuration not reloaded")
	if st, _, _ := loginStatus(t, n, "test:tester", "testing"); st != 200 {
		t.Fatalf("login after a broken config: %d", st)
	}

	next := strings.Replace(string(orig), "  level: info", "  level: debug", 1)
	next = strings.Replace(next, "swift:\n", "swift:\n  accounts:\n    - name: glance\n      users:\n        - {name: glance, key: reloaded-key, roles: [admin]}\n", 1)
	if err := os.WriteFile(cfgPath, []byte(next), 0o644); err != nil {
		t.Fatal(err)
	}
	hup("tempauth accounts reloaded")
	if st, _, _ := loginStatus(t, n, "glance:glance", "reloaded-key"); st != 200 {
		t.Errorf("new account after SIGHUP: %d", st)
	}
	if st, _, _ := loginStatus(t, n, "test:tester", "testing"); st != 401 {
		t.Errorf("removed account after SIGHUP: %d, want 401", st)
	}
	if log := readFile(t, n.Log); !strings.Contains(log, `log.level`) || strings.Contains(log, "reloaded-key") {
		t.Errorf("reload log: want log.level applied, never the key:\n%s", tail(n.Log, 10))
	}
}

// TestStatusTwoRegions: `nitro status` of a node in a cluster shows its
// peers (the JSON the multi-region Glance test reads, through the ops
// listener) with snake_case keys.
func TestStatusTwoRegions(t *testing.T) {
	a := startRegion(t, "a")
	b := startRegion(t, "b", a.gossipAddr())
	deadline := time.Now().Add(60 * time.Second)
	for b.status(t).alivePeers() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("b does not see a alive after 60 s: %+v", b.status(t))
		}
		time.Sleep(500 * time.Millisecond)
	}
	cfg := filepath.Join(b.Dir, "nitro.yaml")
	out, _, err := nitroCmd(t, "status", "--config", cfg)
	if err != nil || !strings.Contains(out, "REGION") || !strings.Contains(out, "a-node") {
		t.Errorf("nitro status: %v\n%s", err, out)
	}
	out, _, err = nitroCmd(t, "status", "--json", "--config", cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range regexp.MustCompile(`"([^"]+)":`).FindAllStringSubmatch(out, -1) {
		if !regexp.MustCompile(`^[a-z][a-z0-9_]*$`).MatchString(k[1]) {
			t.Errorf("status key %q is not snake_case", k[1])
		}
	}
}
