package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nitro-cloud/nitro/internal/testenv"
)

// The regions of the Keystone catalog the e2e tests seed. Each has an
// object-store endpoint pointing at that region's Nitro (through the
// test's recorder) and an image endpoint pointing at that region's
// glance-api.
var keystoneRegions = []string{"RegionOne", "RegionTwo"}

// Passwords of the seeded Keystone users (test-only secrets; Keystone
// stores bcrypt hashes with password_hash_rounds = 4).
const (
	ksAdminPassword  = "admin-secret"
	ksGlancePassword = "glance-secret"
	ksNitroPassword  = "nitro-secret"
	ksDemoPassword   = "demo-secret"
	ksAltPassword    = "alt-secret"
)

// keystone is one real Keystone from Debian's package (keystone under
// uwsgi, sqlite in WAL mode, fernet tokens), shared by every test of the
// test binary: its cold start (db_sync, fernet and credential keys,
// bootstrap, seed) takes about half a minute. It is stopped by TestMain.
//
// The catalog is written once, at seed time (Keystone never rewrites
// it), so the endpoints point at loopback ports reserved here: a test
// serves region R's object store on ObjectStoreAddr[R] (a recorder in
// front of its Nitro node) and region R's glance-api on ImageAddr[R].
// Tests run one after another, so each reuses the same ports.
type keystone struct {
	URL string // http://127.0.0.1:PORT (identity API at URL+"/v3")
	Dir string // state: keystone.conf, sqlite, key repositories, logs
	Log string // uwsgi's and Keystone's log

	// ObjectStoreAddr and ImageAddr are the 127.0.0.1:PORT addresses of
	// each region's object-store and image endpoints in the catalog.
	ObjectStoreAddr map[string]string
	ImageAddr       map[string]string
	// Seed is what the seed created: project and user IDs by name, and
	// role names.
	Seed keystoneSeed

	// Steps are the start-up steps with their durations, for the log.
	Steps []string

	cmd    *exec.Cmd
	exited chan struct{}
}

// keystoneSeed is the JSON the seed script (testdata/keystone_seed.py)
// prints.
type keystoneSeed struct {
	Projects map[string]string `json:"projects"` // name -> ID
	Users    map[string]string `json:"users"`    // name -> ID
	Roles    map[string]string `json:"roles"`    // name -> ID
	Services map[string]string `json:"services"` // type -> ID
	Took     float64           `json:"took_seconds"`
}

var (
	keystoneOnce   sync.Once
	sharedKeystone *keystone
	keystoneErr    error
	// atExit holds what TestMain runs after every test has finished
	// (stopping the shared Keystone).
	atExitMu sync.Mutex
	atExit   []func()
)

// runAtExit runs (last registered first) what tests registered with
// atExit; TestMain calls it.
func runAtExit() {
	atExitMu.Lock()
	fs := atExit
	atExit = nil
	atExitMu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}

// sharedKeystoneFor returns the test binary's Keystone, starting it on
// first use. Missing packages skip t (fail it under NITRO_REQUIRE_E2E=1);
// a Keystone that does not start fails t.
func sharedKeystoneFor(t testing.TB) *keystone {
	t.Helper()
	tools := map[string]string{}
	for _, name := range []string{"uwsgi", "keystone-manage", "keystone-wsgi-public"} {
		tools[name] = testenv.Tool(t, name)
	}
	_, err := os.Stat("/usr/lib/uwsgi/plugins/python3_plugin.so")
	testenv.Need(t, err == nil, "uwsgi-plugin-python3 is not installed")
	err = exec.Command("/usr/bin/python3", "-c", "import keystoneclient.v3, keystoneauth1, keystonemiddleware").Run()
	testenv.Need(t, err == nil, "python3-keystoneclient / python3-keystonemiddleware are not installed")
	keystoneOnce.Do(func() {
		start := time.Now()
		if keep := os.Getenv("NITRO_E2E_KEYSTONE_KEEP"); keep != "" {
			sharedKeystone, keystoneErr = keptKeystone(tools, keep)
		} else {
			sharedKeystone, keystoneErr = startKeystone(tools, "")
		}
		if keystoneErr == nil {
			t.Logf("keystone ready at %s in %.1fs (%s)", sharedKeystone.URL, time.Since(start).Seconds(), strings.Join(sharedKeystone.Steps, ", "))
		}
	})
	if keystoneErr != nil {
		t.Fatalf("keystone: %v", keystoneErr)
	}
	select {
	case <-sharedKeystone.exited:
		t.Fatalf("keystone (uwsgi) exited; log:\n%s", tail(sharedKeystone.Log, 40))
	default:
	}
	return sharedKeystone
}

// startKeystone writes keystone.conf into a fresh dir, runs db_sync, turns
// on WAL, creates the fernet and credential keys, bootstraps admin
// (RegionOne), starts uwsgi (two processes of one thread: sqlite objects
// are bound to their thread; 'Connection: close' because uwsgi's plain
// http-socket has no keep-alive) and seeds the catalog and accounts in
// one python3-keystoneclient process.
//
// dir "" means a fresh temp dir, removed when Keystone stops at exit;
// otherwise Keystone lives in dir and is left running (keptKeystone).
func startKeystone(tools map[string]string, dir string) (_ *keystone, err error) {
	keep := dir != ""
	if !keep {
		if dir, err = os.MkdirTemp("", "nitro-e2e-keystone-"); err != nil {
			return nil, err
		}
	}
	k := &keystone{ObjectStoreAddr: map[string]string{}, ImageAddr: map[string]string{}}
	for _, r := range keystoneRegions {
		for _, m := range []map[string]string{k.ObjectStoreAddr, k.ImageAddr} {
			p, err := freePortErr()
			if err != nil {
				return nil, err
			}
			m[r] = fmt.Sprintf("127.0.0.1:%d", p)
		}
	}
	if err := k.boot(tools, dir, ksAdminPassword); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w\nsteps: %s\nkeystone log (%s):\n%s", err, strings.Join(k.Steps, ", "), k.Log, tail(k.Log, 40))
			k.stop()
		}
	}()
	if !keep {
		atExitMu.Lock()
		atExit = append(atExit, k.stop)
		atExitMu.Unlock()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	env := keystoneEnv(dir)
	stepStart := time.Now()

	// The seed: one python3-keystoneclient process (≈15 openstack CLI
	// calls would take minutes).
	spec := map[string]any{
		"auth_url":       k.URL + "/v3",
		"admin_password": ksAdminPassword,
		"users": []map[string]any{
			// admin implies member implies reader (bootstrap's implied roles).
			{"name": "glance", "password": ksGlancePassword, "project": "service", "roles": []string{"admin"}},
			{"name": "nitro", "password": ksNitroPassword, "project": "service", "roles": []string{"admin", "service"}},
			{"name": "demo", "password": ksDemoPassword, "project": "demo", "roles": []string{"member"}},
			{"name": "alt", "password": ksAltPassword, "project": "alt", "roles": []string{"member"}},
		},
		"projects": []string{"service", "demo", "alt"},
		"roles":    []string{"service", "ResellerAdmin"},
		"regions":  keystoneRegions,
		"services": []map[string]any{
			{"type": "object-store", "name": "nitro", "description": "Nitro (Swift API)", "endpoints": k.endpoints(k.ObjectStoreAddr, "/v1/AUTH_%(project_id)s")},
			{"type": "image", "name": "glance", "description": "Glance", "endpoints": k.endpoints(k.ImageAddr, "")},
			// bootstrap registered identity in RegionOne only; services of
			// RegionTwo (keystonemiddleware with region_name) look it up
			// in their own region.
			{"type": "identity", "existing": true, "endpoints": []map[string]string{
				{"region": "RegionTwo", "interface": "public", "url": k.URL + "/v3"},
				{"region": "RegionTwo", "interface": "internal", "url": k.URL + "/v3"},
				{"region": "RegionTwo", "interface": "admin", "url": k.URL + "/v3"},
			}},
		},
	}
	specJSON, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	seed := exec.CommandContext(ctx, "/usr/bin/python3", filepath.Join(moduleRoot, "e2e", "testdata", "keystone_seed.py"))
	seed.Env = env
	seed.Stdin = strings.NewReader(string(specJSON))
	out, err := seed.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		return nil, fmt.Errorf("keystone seed: %v\n%s", err, stderr)
	}
	if err := json.Unmarshal(out, &k.Seed); err != nil {
		return nil, fmt.Errorf("keystone seed output: %v\n%s", err, out)
	}
	k.Steps = append(k.Steps, fmt.Sprintf("seed %.1fs", time.Since(stepStart).Seconds()))
	return k, nil
}

// keystoneEnv is the environment Keystone's tools and uwsgi run in.
func keystoneEnv(dir string) []string {
	return []string{"PATH=/usr/bin:/usr/sbin:/bin:/sbin", "HOME=" + dir, "LANG=C.UTF-8", "PYTHONWARNINGS=ignore"}
}

// boot makes k a running Keystone in dir, with no seed beyond
// keystone-manage bootstrap's admin (adminPassword, project admin,
// RegionOne): it writes keystone.conf, runs db_sync, turns on WAL, creates
// the fernet and credential keys, bootstraps, and starts uwsgi (two
// processes of one thread: sqlite objects are bound to their thread;
// 'Connection: close' because uwsgi's plain http-socket has no
// keep-alive). k.stop ends it and removes dir. On error, whatever started
// is stopped.
func (k *keystone) boot(tools map[string]string, dir, adminPassword string) (err error) {
	k.Dir, k.Log, k.exited = dir, filepath.Join(dir, "keystone.log"), make(chan struct{})
	port, err := freePortErr()
	if err != nil {
		return err
	}
	k.URL = fmt.Sprintf("http://127.0.0.1:%d", port)
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w\nsteps: %s\nkeystone log (%s):\n%s", err, strings.Join(k.Steps, ", "), k.Log, tail(k.Log, 40))
			k.stop()
		}
	}()
	conf := fmt.Sprintf(`[DEFAULT]
log_file = %[1]s/keystone.log
debug = False

[database]
connection = sqlite:///%[1]s/keystone.sqlite

[token]
provider = fernet
expiration = 7200

[fernet_tokens]
key_repository = %[1]s/fernet-keys

[credential]
key_repository = %[1]s/credential-keys

[identity]
# bcrypt rounds: test-only speed-up
password_hash_rounds = 4

[cache]
enabled = False
`, dir)
	confPath := filepath.Join(dir, "keystone.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		return err
	}
	for _, d := range []string{"fernet-keys", "credential-keys"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	env := keystoneEnv(dir)
	stepStart := time.Now()
	step := func(name string) {
		k.Steps = append(k.Steps, fmt.Sprintf("%s %.1fs", name, time.Since(stepStart).Seconds()))
		stepStart = time.Now()
	}
	manage := func(args ...string) error {
		defer step(args[0])
		cmd := exec.CommandContext(ctx, tools["keystone-manage"], append([]string{"--config-file", confPath}, args...)...)
		cmd.Env, cmd.Dir = env, dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("keystone-manage %s: %v\n%s", args[0], err, out)
		}
		return nil
	}
	if err := manage("db_sync"); err != nil {
		return err
	}
	// Two uwsgi processes on one sqlite file: without WAL an open read
	// transaction in one blocks the other's commits ("database is
	// locked"). The journal mode is persistent.
	wal := exec.CommandContext(ctx, "/usr/bin/python3", "-c",
		"import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('PRAGMA journal_mode=WAL').fetchone()[0])",
		filepath.Join(dir, "keystone.sqlite"))
	if out, err := wal.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "wal" {
		return fmt.Errorf("sqlite WAL: %v %s", err, out)
	}
	for _, setup := range []string{"fernet_setup", "credential_setup"} {
		if err := manage(setup, "--keystone-user", "root", "--keystone-group", "root"); err != nil {
			return err
		}
	}
	if err := manage("bootstrap", "--bootstrap-password", adminPassword,
		"--bootstrap-admin-url", k.URL+"/v3", "--bootstrap-internal-url", k.URL+"/v3",
		"--bootstrap-public-url", k.URL+"/v3", "--bootstrap-region-id", "RegionOne"); err != nil {
		return err
	}

	logf, err := os.OpenFile(k.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	k.cmd = exec.Command(tools["uwsgi"],
		"--plugin", "python3",
		"--http-socket", strings.TrimPrefix(k.URL, "http://"),
		"--wsgi-file", tools["keystone-wsgi-public"],
		"--master", "--lazy-apps", "--die-on-term", "--no-orphans",
		"--processes", "2", "--threads", "1",
		"--add-header", "Connection: close",
		"--buffer-size", "65535",
		"--env", "OS_KEYSTONE_CONFIG_FILES="+confPath,
		"--chdir", dir,
	)
	k.cmd.Env = env
	k.cmd.Dir = dir
	k.cmd.Stdout, k.cmd.Stderr = logf, logf
	k.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := k.cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	go func() {
		k.cmd.Wait()
		logf.Close()
		close(k.exited)
	}()
	if err := waitHTTP(k.URL+"/v3", 5*time.Minute, k.exited); err != nil {
		return fmt.Errorf("uwsgi keystone: %w", err)
	}
	step("uwsgi")

	return nil
}

// keptKeystone is a developer's shortcut (NITRO_E2E_KEYSTONE_KEEP=DIR):
// the Keystone described by DIR/state.json if it still answers, else a
// new one started in DIR and left running after the tests (stop it with
// kill -TERM -<pgid in state.json>). Under load a cold Keystone takes
// minutes; CI never sets this.
func keptKeystone(tools map[string]string, dir string) (*keystone, error) {
	state := filepath.Join(dir, "state.json")
	if b, err := os.ReadFile(state); err == nil {
		var k keystone
		if json.Unmarshal(b, &k) == nil && waitHTTP(k.URL+"/v3", 5*time.Second, nil) == nil {
			k.exited = make(chan struct{})
			return &k, nil
		}
	}
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	k, err := startKeystone(tools, dir)
	if err != nil {
		return nil, err
	}
	b, _ := json.Marshal(struct {
		*keystone
		PGID int
	}{k, k.cmd.Process.Pid})
	return k, os.WriteFile(state, b, 0o600)
}

// endpoints is the seed's endpoint list for one service: public and
// internal in every region, http://ADDR<path>. (The admin interface is
// left out: nothing here uses it, and each endpoint costs a request.)
func (k *keystone) endpoints(addrs map[string]string, path string) []map[string]string {
	var eps []map[string]string
	for _, r := range keystoneRegions {
		for _, iface := range []string{"public", "internal"} {
			eps = append(eps, map[string]string{"region": r, "interface": iface, "url": "http://" + addrs[r] + path})
		}
	}
	return eps
}

// stop ends uwsgi (SIGTERM to its process group: master and workers) and
// keeps Keystone's log under $NITRO_E2E_ARTIFACTS/keystone when set.
func (k *keystone) stop() {
	if k.cmd != nil && k.cmd.Process != nil {
		_ = syscall.Kill(-k.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-k.exited:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-k.cmd.Process.Pid, syscall.SIGKILL)
			<-k.exited
		}
	}
	if base := os.Getenv("NITRO_E2E_ARTIFACTS"); base != "" {
		if err := os.MkdirAll(filepath.Join(base, "keystone"), 0o755); err == nil {
			copyFile(k.Log, filepath.Join(base, "keystone", filepath.Base(k.Dir)+".log"))
		}
	}
	os.RemoveAll(k.Dir)
}

// copyFile copies src to dst (best effort, for artifacts).
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// freePortErr is freePort without a testing.TB, for shared fixtures.
func freePortErr() (int, error) {
	// A port below the kernel's ephemeral range (32768–60999 here): a
	// port picked now and bound seconds later by a server (glance-api
	// after db_sync) must not be taken meanwhile as the source port of
	// some outgoing connection, which the ephemeral range invites.
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 12000 {
				low = n
			}
		}
	}
	// A port is handed out at most once per test binary: two picks in a
	// row (a node's ops and peer listeners) must never be the same free
	// port (CI stop 17 failed on exactly that).
	givenPorts.Lock()
	defer givenPorts.Unlock()
	for range 200 {
		port := 10000 + rand.IntN(low-10000)
		if givenPorts.m[port] {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			l.Close()
			givenPorts.m[port] = true
			return port, nil
		}
	}
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !givenPorts.m[port] {
			givenPorts.m[port] = true
			return port, nil
		}
	}
	return 0, fmt.Errorf("no free loopback port not handed out already")
}

// givenPorts are the ports freePortErr handed out in this test binary.
var givenPorts = struct {
	sync.Mutex
	m map[int]bool
}{m: map[int]bool{}}

// ksCreds are one Keystone user's password credentials, project-scoped,
// in the default domain.
type ksCreds struct {
	User, Password, Project string
}

// openstackEnv is a clean environment (debianEnv) with the OS_* variables
// of creds against this Keystone, for the openstack and glance CLIs; the
// region selects the catalog's endpoints.
func (k *keystone) openstackEnv(t testing.TB, c ksCreds, region string) []string {
	return append(debianEnv(t),
		"OS_AUTH_URL="+k.URL+"/v3",
		"OS_IDENTITY_API_VERSION=3",
		"OS_AUTH_TYPE=password",
		"OS_USERNAME="+c.User,
		"OS_PASSWORD="+c.Password,
		"OS_PROJECT_NAME="+c.Project,
		"OS_USER_DOMAIN_ID=default",
		"OS_PROJECT_DOMAIN_ID=default",
		"OS_REGION_NAME="+region,
		"OS_INTERFACE=public",
	)
}

// token issues a project-scoped token for creds (POST /v3/auth/tokens)
// and returns it with the storage URL of the object-store endpoint of
// region from the token's catalog.
func (k *keystone) token(t testing.TB, c ksCreds, region string) (token, storageURL string) {
	t.Helper()
	body := fmt.Sprintf(`{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":%q,"domain":{"id":"default"},"password":%q}}},"scope":{"project":{"name":%q,"domain":{"id":"default"}}}}}`,
		c.User, c.Password, c.Project)
	resp, err := http.Post(k.URL+"/v3/auth/tokens", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 201 {
		t.Fatalf("token for %s: %s: %s", c.User, resp.Status, b)
	}
	var tr struct {
		Token struct {
			Catalog []struct {
				Type      string `json:"type"`
				Endpoints []struct {
					Region    string `json:"region_id"`
					Interface string `json:"interface"`
					URL       string `json:"url"`
				} `json:"endpoints"`
			} `json:"catalog"`
		} `json:"token"`
	}
	if err := json.Unmarshal(b, &tr); err != nil {
		t.Fatal(err)
	}
	for _, s := range tr.Token.Catalog {
		if s.Type != "object-store" {
			continue
		}
		for _, e := range s.Endpoints {
			if e.Region == region && e.Interface == "public" {
				storageURL = e.URL
			}
		}
	}
	if storageURL == "" {
		t.Fatalf("no public object-store endpoint for %s in %s's catalog", region, c.User)
	}
	return resp.Header.Get("X-Subject-Token"), storageURL
}

// keystoneSection is a Nitro config's keystone section (node/default.yaml)
// for the seeded service user "nitro" against authURL (Keystone's /v3,
// usually through a recorder), with keystoneauth's default roles. The
// timeout is generous: a loaded CI machine's Keystone can take seconds.
func keystoneSection(authURL, region string) string {
	return fmt.Sprintf(`keystone:
  auth_url: %s
  username: nitro
  password: %s
  project_name: service
  user_domain_name: Default
  project_domain_name: Default
  region_name: %s
  timeout: 60s
  reseller_admin_role: ResellerAdmin
  reseller_prefixes:
    - prefix: AUTH_
      operator_roles: [admin, member]
`, authURL, ksNitroPassword, region)
}

// keystoneNodeConfig is singleNodeConfig with tempauth off and Keystone
// on (keystoneSection).
func keystoneNodeConfig(authURL, region string) string {
	return nodeConfig{
		Comment: "e2e single-region node with Keystone", Region: region,
		Swift: []string{"accounts: []"}, Extra: keystoneSection(authURL, region),
	}.template()
}

// keystoneClusterNodeConfig is clusterNodeConfig (a region joining the
// gossip addresses join) with tempauth off and Keystone on.
func keystoneClusterNodeConfig(region, authURL string, join ...string) string {
	c := fmt.Sprintf(clusterNodeConfig, region, strings.Join(join, ", "))
	c = strings.Replace(c, "  listen: {{.Listen}}\n", "  listen: {{.Listen}}\n  accounts: []\n", 1)
	return c + keystoneSection(authURL, region)
}

// keystoneTrace renders a recorder's exchanges with Keystone, one line
// each: time, method, path (IDs of the seed replaced by their names),
// status, and who asked (the User-Agent's first word).
func keystoneTrace(k *keystone, xs []exchange) []string {
	names := map[string]string{}
	for n, id := range k.Seed.Projects {
		names[id] = "<project:" + n + ">"
	}
	for n, id := range k.Seed.Users {
		names[id] = "<user:" + n + ">"
	}
	for n, id := range k.Seed.Roles {
		names[id] = "<role:" + n + ">"
	}
	hex32 := regexp.MustCompile(`[0-9a-f]{32}`)
	var out []string
	for _, e := range xs {
		p := hex32.ReplaceAllStringFunc(e.Path, func(id string) string {
			if n, ok := names[id]; ok {
				return n
			}
			return "<id>"
		})
		ua := e.ReqHdr.Get("User-Agent")
		if f := strings.Fields(ua); len(f) > 0 {
			ua = f[0]
		}
		extra := ""
		if e.ReqHdr.Get("X-Subject-Token") != "" {
			extra = " [X-Subject-Token]"
		}
		out = append(out, fmt.Sprintf("%7.2fs %-6s %s%s -> %d (%s, %.2fs)", e.Start.Seconds(), e.Method, p, extra, e.Status, ua, e.Elapsed.Seconds()))
	}
	return out
}

// writeLines writes lines to path (artifacts).
func writeLines(t testing.TB, path string, lines []string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// trustCalls counts the trust creations and deletions in Keystone's own
// request log (uwsgi's lines). Clients reach the trust API through the
// catalog's identity endpoint, which is Keystone itself, not a test's
// recorder.
func (k *keystone) trustCalls(t testing.TB) (created, deleted int) {
	t.Helper()
	b, err := os.ReadFile(k.Log)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		switch {
		case strings.Contains(l, "POST /v3/OS-TRUST/trusts =>") && strings.Contains(l, "(HTTP/1.1 201)"):
			created++
		case strings.Contains(l, "DELETE /v3/OS-TRUST/trusts/") && strings.Contains(l, "(HTTP/1.1 204)"):
			deleted++
		}
	}
	return created, deleted
}
