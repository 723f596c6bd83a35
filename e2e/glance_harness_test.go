package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nitro-cloud/nitro/internal/testenv"
)

// glanceOptions configures startGlance. The zero value of a field means
// its default.
type glanceOptions struct {
	// LargeObjectSize is swift_store_large_object_size in glance_store's
	// "MB" (1,024,000 B): a known size at or above it is uploaded as DLO
	// segments. 0 means Glance's default (5120).
	LargeObjectSize int
	// ChunkSize is swift_store_large_object_chunk_size (segment size) in
	// the same unit. 0 means Glance's default (200).
	ChunkSize int
	// DBConnection is the SQLAlchemy URL of Glance's database; "" means a
	// fresh sqlite file in the state dir. Two Glance regions sharing one
	// database pass the same URL (db_sync is idempotent).
	DBConnection string
	// Container is swift_store_container; "" means "glance".
	Container string
	// Port is bind_port; 0 means a free port (a Keystone catalog's image
	// endpoint names a fixed one).
	Port int
	// Keystone, when set, runs Glance in a Keystone cloud: its API behind
	// keystonemiddleware's authtoken and its swift store on Keystone v3.
	Keystone *glanceKeystone
}

// glanceKeystone is a Glance in a Keystone cloud (docs/keystone.md):
// [keystone_authtoken] as the seeded user glance, and the swift store
// with auth v3, the storage URL from the catalog of Region.
type glanceKeystone struct {
	// AuthURL is Keystone's base URL (no /v3), e.g. a recorder's.
	AuthURL string
	// Region is swift_store_region and authtoken's region_name.
	Region string
	// MultiTenant selects swift_store_multi_tenant (the user's token, a
	// container per image); UseTrusts is then swift_store_use_trusts and
	// AdminTenants swift_store_admin_tenants (project IDs).
	MultiTenant  bool
	UseTrusts    bool
	AdminTenants []string
	// User and Password are Glance's own Keystone user (authtoken, and
	// the swift store's service:User).
	User, Password string
}

// glanceAPI is one running glance-api (eventlet, one process) with the
// swift store and no Keystone (every request is an admin context).
type glanceAPI struct {
	URL string // http://127.0.0.1:PORT
	Dir string // state dir: configs, sqlite, lock dir, glance.log
	Log string

	cmd    *exec.Cmd
	exited chan struct{}
}

// startGlance writes glance-api.conf (swift store default, single tenant,
// glance-swift.conf with auth v1 at swiftAuthURL, user test:tester key
// testing, container created on first PUT), runs db_sync, starts
// glance-api on a free port and waits for /healthcheck. It is killed when
// t ends. See docs/openstack-here.md for every line.
func startGlance(t testing.TB, swiftAuthURL string, opts glanceOptions) *glanceAPI {
	t.Helper()
	api := testenv.Tool(t, "glance-api")
	manage := testenv.Tool(t, "glance-manage")
	_, err := os.Stat("/etc/glance/glance-api-paste.ini")
	testenv.Need(t, err == nil, "glance-api package (no /etc/glance/glance-api-paste.ini)")

	dir := t.TempDir()
	g := &glanceAPI{Dir: dir, Log: filepath.Join(dir, "glance.log"), exited: make(chan struct{})}
	port := opts.Port
	if port == 0 {
		port = freePort(t)
	}
	g.URL = fmt.Sprintf("http://127.0.0.1:%d", port)
	if opts.DBConnection == "" {
		opts.DBConnection = "sqlite:///" + filepath.Join(dir, "glance.sqlite")
	}
	if opts.Container == "" {
		opts.Container = "glance"
	}
	paste, err := os.ReadFile("/etc/glance/glance-api-paste.ini")
	if err != nil {
		t.Fatal(err)
	}
	var sizes string
	if opts.LargeObjectSize > 0 {
		sizes += fmt.Sprintf("swift_store_large_object_size = %d\n", opts.LargeObjectSize)
	}
	if opts.ChunkSize > 0 {
		sizes += fmt.Sprintf("swift_store_large_object_chunk_size = %d\n", opts.ChunkSize)
	}
	conf := fmt.Sprintf(`[DEFAULT]
bind_host = 127.0.0.1
bind_port = %d
workers = 0
debug = False

[database]
connection = %s

[paste_deploy]
flavor =
config_file = %s/glance-api-paste.ini

[oslo_concurrency]
lock_path = %s/lock

[glance_store]
stores = swift,http
default_store = swift
swift_store_config_file = %s/glance-swift.conf
default_swift_reference = ref1
swift_store_container = %s
swift_store_create_container_on_put = True
%s`, port, opts.DBConnection, dir, dir, dir, opts.Container, sizes)
	swiftConf := fmt.Sprintf(`[ref1]
auth_address = %s
user = test:tester
key = testing
auth_version = 1
`, swiftAuthURL)
	if ks := opts.Keystone; ks != nil {
		conf, swiftConf = glanceKeystoneConf(conf, dir, ks)
	}
	for name, body := range map[string]string{
		"glance-api.conf":      conf,
		"glance-swift.conf":    swiftConf,
		"glance-api-paste.ini": string(paste),
		"lock/.keep":           "",
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	confPath := filepath.Join(dir, "glance-api.conf")

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	if out, err := exec.CommandContext(ctx, manage, "--config-file", confPath, "db_sync").CombinedOutput(); err != nil {
		t.Fatalf("glance-manage db_sync: %v\n%s", err, out)
	}
	t.Logf("glance-manage db_sync: %.1fs", time.Since(start).Seconds())

	g.cmd = exec.Command(api, "--config-file", confPath)
	g.cmd.Dir = dir
	g.cmd.Env = []string{"PATH=/usr/bin:/usr/sbin:/bin:/sbin", "HOME=" + dir, "LANG=C.UTF-8"}
	startLogged(t, g.cmd, "glance-api", g.Log, 40, g.exited)
	start = time.Now()
	if err := waitHTTP(g.URL+"/healthcheck", 90*time.Second, g.exited); err != nil {
		t.Fatalf("glance-api: %v\n%s", err, tail(g.Log, 40))
	}
	t.Logf("glance-api ready at %s in %.1fs", g.URL, time.Since(start).Seconds())
	return g
}

// glanceKeystoneConf turns the no-auth glance-api.conf into a Keystone
// one: the keystone paste flavor with [keystone_authtoken], and the swift
// store on Keystone v3, single tenant (a swift_store_config_file
// reference: auth_version 3, Keystone's /v3, user service:glance, domain
// IDs) or multi tenant (glance_store refuses swift_store_config_file
// there: the single-reference options carry Glance's user, the trustee).
// It returns glance-api.conf and glance-swift.conf.
func glanceKeystoneConf(conf, dir string, ks *glanceKeystone) (string, string) {
	v3 := ks.AuthURL + "/v3"
	conf = strings.Replace(conf, "[paste_deploy]\nflavor =\n", "[paste_deploy]\nflavor = keystone\n", 1)
	if ks.MultiTenant { // glance_store logs its trust set-up at debug level
		conf = strings.Replace(conf, "debug = False\n", "debug = True\n", 1)
	}
	store := fmt.Sprintf("swift_store_auth_version = 3\nswift_store_region = %s\n", ks.Region)
	swiftConf := ""
	if ks.MultiTenant {
		conf = strings.Replace(conf, fmt.Sprintf("swift_store_config_file = %s/glance-swift.conf\ndefault_swift_reference = ref1\n", dir), "", 1)
		store += fmt.Sprintf(`swift_store_multi_tenant = True
swift_store_use_trusts = %v
swift_store_admin_tenants = %s
swift_store_auth_address = %s
swift_store_user = service:%s
swift_store_key = %s
`, ks.UseTrusts, strings.Join(ks.AdminTenants, ","), v3, ks.User, ks.Password)
	} else {
		store += "swift_store_multi_tenant = False\n"
		swiftConf = fmt.Sprintf(`[ref1]
auth_version = 3
auth_address = %s
user = service:%s
key = %s
user_domain_id = default
project_domain_id = default
`, v3, ks.User, ks.Password)
	}
	conf += store + fmt.Sprintf(`
[keystone_authtoken]
www_authenticate_uri = %[1]s
auth_url = %[1]s
auth_type = password
username = %[2]s
password = %[3]s
project_name = service
user_domain_id = default
project_domain_id = default
region_name = %[4]s
service_token_roles_required = True
`, ks.AuthURL, ks.User, ks.Password, ks.Region)
	return conf, swiftConf
}

// openstack runs the openstack CLI against this Glance without Keystone
// and returns its stdout.
func (g *glanceAPI) openstack(t testing.TB, ctx context.Context, args ...string) string {
	t.Helper()
	bin := testenv.Tool(t, "openstack")
	return run(t, ctx, debianEnv(t), bin, append([]string{"--os-auth-type", "none", "--os-endpoint", g.URL}, args...)...)
}

// glance runs python-glanceclient's CLI (fresh HOME each call: bug 13 of
// docs/openstack-here.md) and returns its stdout.
func (g *glanceAPI) glance(t testing.TB, ctx context.Context, args ...string) string {
	t.Helper()
	bin := testenv.Tool(t, "glance")
	return run(t, ctx, debianEnv(t), bin, append([]string{"--os-image-url", g.URL, "--os-auth-token", "x"}, args...)...)
}

var tableIDRE = regexp.MustCompile(`(?m)^\|\s*id\s*\|\s*([0-9a-f-]{36})\s*\|`)

// tableID extracts the id row of a glance CLI table.
func tableID(t testing.TB, out string) string {
	t.Helper()
	m := tableIDRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no id in:\n%s", out)
	}
	return m[1]
}

// image returns the image record (GET /v2/images/{id}); nil on 404.
func (g *glanceAPI) image(t testing.TB, id string) map[string]any {
	t.Helper()
	return g.imageAs(t, id, "")
}

// imageAs returns the image record as the user of token sees it (GET
// /v2/images/{id} with X-Auth-Token; no token when ""); nil on 404.
func (g *glanceAPI) imageAs(t testing.TB, id, token string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, g.URL+"/v2/images/"+id, nil)
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusNotFound {
		return nil
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET image %s: %s: %s", id, resp.Status, b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// waitActive polls the image until its status is active (fails on
// killed/deleted or after timeout) and returns the record.
func (g *glanceAPI) waitActive(t testing.TB, id string, timeout time.Duration) map[string]any {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		m := g.image(t, id)
		if m == nil {
			t.Fatalf("image %s vanished", id)
		}
		switch s, _ := m["status"].(string); s {
		case "active":
			return m
		case "killed", "deleted", "deactivated":
			t.Fatalf("image %s is %s: %v", id, s, m)
		}
		if time.Now().After(deadline) {
			t.Fatalf("image %s not active after %v: %v", id, timeout, m)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// download GETs /v2/images/{id}/file and hashes the body; it also returns
// Glance's Content-MD5 header.
func (g *glanceAPI) download(t testing.TB, id string) (digest, string) {
	t.Helper()
	resp, err := http.Get(g.URL + "/v2/images/" + id + "/file")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("download %s: %s: %s", id, resp.Status, b)
	}
	d, err := digestReader(resp.Body)
	if err != nil {
		t.Fatalf("download %s: %v after %d bytes", id, err, d.Size)
	}
	return d, resp.Header.Get("Content-Md5")
}

// str returns m[key] as a string ("" if absent or not a string).
func str(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

// num returns m[key] as an int64 (0 if absent).
func num(m map[string]any, key string) int64 {
	f, _ := m[key].(float64)
	return int64(f)
}

// lines is a helper for failure messages.
func lines(ss []string) string { return strings.Join(ss, "\n") }
