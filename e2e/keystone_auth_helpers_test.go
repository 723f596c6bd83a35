package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/projects"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/roles"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/users"

	"github.com/nitro-cloud/nitro/internal/testenv"
)

// authKeystone is a minimal private Keystone for the token tests of
// keystone_auth_test.go (Debian's keystone under uwsgi, sqlite in WAL
// mode, fernet tokens; the gotchas of /work/shared/docs/openstack-here.md
// §21). It is the test's own instance, because the tests stop it on
// purpose to see Nitro answer 503. Seeding goes through gophercloud with
// the bootstrap admin (one process, a few seconds).
type authKeystone struct {
	URL      string // http://127.0.0.1:PORT (append /v3)
	Dir, Log string
	admin    *gophercloud.ServiceClient
	Projects map[string]string // name → ID
	cmd      *exec.Cmd
	exited   chan struct{}
}

// authKeystoneUser is a seeded user: password, project and roles there.
type authKeystoneUser struct {
	Name, Password, Project string
	Roles                   []string
}

const authKeystoneAdminPassword = "ks-admin-e2e-pw"

// startAuthKeystone starts Keystone, seeds projects, roles and users, and
// stops it when t ends. Missing packages skip t (fail under
// NITRO_REQUIRE_E2E=1).
func startAuthKeystone(t *testing.T, projectNames []string, roleNames []string, seed []authKeystoneUser) *authKeystone {
	t.Helper()
	tools := map[string]string{}
	for _, name := range []string{"uwsgi", "keystone-manage", "keystone-wsgi-public"} {
		tools[name] = testenv.Tool(t, name)
	}
	_, err := os.Stat("/usr/lib/uwsgi/plugins/python3_plugin.so")
	testenv.Need(t, err == nil, "uwsgi-plugin-python3 is not installed")

	dir := t.TempDir()
	k := &authKeystone{Dir: dir, Log: filepath.Join(dir, "keystone.log"), Projects: map[string]string{}, exited: make(chan struct{})}
	k.URL = fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	conf := fmt.Sprintf(`[DEFAULT]
log_file = %[1]s/keystone.log
[database]
connection = sqlite:///%[1]s/keystone.sqlite
[token]
provider = fernet
expiration = 3600
[fernet_tokens]
key_repository = %[1]s/fernet-keys
[credential]
key_repository = %[1]s/credential-keys
[identity]
# bcrypt rounds: a test-only speed-up
password_hash_rounds = 4
[cache]
enabled = False
`, dir)
	confPath := filepath.Join(dir, "keystone.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	env := []string{"PATH=/usr/bin:/usr/sbin:/bin:/sbin", "HOME=" + dir, "LANG=C.UTF-8", "PYTHONWARNINGS=ignore"}
	manage := func(args ...string) {
		t.Helper()
		cmd := exec.CommandContext(ctx, tools["keystone-manage"], append([]string{"--config-file", confPath}, args...)...)
		cmd.Env, cmd.Dir = env, dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("keystone-manage %s: %v\n%s", args[0], err, out)
		}
	}
	manage("db_sync")
	wal := exec.CommandContext(ctx, "/usr/bin/python3", "-c",
		"import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('PRAGMA journal_mode=WAL').fetchone()[0])",
		filepath.Join(dir, "keystone.sqlite"))
	if out, err := wal.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "wal" {
		t.Fatalf("sqlite WAL: %v %s", err, out)
	}
	manage("fernet_setup", "--keystone-user", "root", "--keystone-group", "root")
	manage("credential_setup", "--keystone-user", "root", "--keystone-group", "root")
	manage("bootstrap", "--bootstrap-password", authKeystoneAdminPassword,
		"--bootstrap-public-url", k.URL+"/v3", "--bootstrap-region-id", "RegionOne")

	logf, err := os.OpenFile(k.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	k.cmd = exec.Command(tools["uwsgi"], "--plugin", "python3",
		"--http-socket", strings.TrimPrefix(k.URL, "http://"),
		"--wsgi-file", tools["keystone-wsgi-public"],
		"--master", "--lazy-apps", "--die-on-term", "--no-orphans",
		"--processes", "2", "--threads", "1",
		"--add-header", "Connection: close",
		"--buffer-size", "65535",
		"--env", "OS_KEYSTONE_CONFIG_FILES="+confPath, "--chdir", dir)
	k.cmd.Env, k.cmd.Dir = env, dir
	k.cmd.Stdout, k.cmd.Stderr = logf, logf
	k.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := k.cmd.Start(); err != nil {
		logf.Close()
		t.Fatal(err)
	}
	go func() {
		_ = k.cmd.Wait()
		logf.Close()
		close(k.exited)
	}()
	t.Cleanup(func() {
		k.stop()
		if t.Failed() {
			t.Logf("keystone log (%s):\n%s", k.Log, tail(k.Log, 30))
		}
	})
	if err := waitHTTP(k.URL+"/v3", 2*time.Minute, k.exited); err != nil {
		t.Fatalf("keystone under uwsgi: %v\n%s", err, tail(k.Log, 30))
	}

	k.admin = k.client(t, "admin", authKeystoneAdminPassword, "admin")
	roleIDs := map[string]string{}
	pages, err := roles.List(k.admin, nil).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	all, err := roles.ExtractRoles(pages)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range all {
		roleIDs[r.Name] = r.ID
	}
	for _, name := range roleNames {
		if _, ok := roleIDs[name]; ok {
			continue
		}
		r, err := roles.Create(ctx, k.admin, roles.CreateOpts{Name: name}).Extract()
		if err != nil {
			t.Fatalf("role %s: %v", name, err)
		}
		roleIDs[name] = r.ID
	}
	for _, name := range projectNames {
		p, err := projects.Create(ctx, k.admin, projects.CreateOpts{Name: name, DomainID: "default"}).Extract()
		if err != nil {
			t.Fatalf("project %s: %v", name, err)
		}
		k.Projects[name] = p.ID
	}
	for _, u := range seed {
		usr, err := users.Create(ctx, k.admin, users.CreateOpts{Name: u.Name, DomainID: "default", Password: u.Password,
			DefaultProjectID: k.Projects[u.Project]}).Extract()
		if err != nil {
			t.Fatalf("user %s: %v", u.Name, err)
		}
		for _, r := range u.Roles {
			if err := roles.Assign(ctx, k.admin, roleIDs[r], roles.AssignOpts{UserID: usr.ID, ProjectID: k.Projects[u.Project]}).ExtractErr(); err != nil {
				t.Fatalf("role %s for %s: %v", r, u.Name, err)
			}
		}
	}
	return k
}

// client authenticates user (default domain) scoped to project and
// returns an identity v3 client carrying that token.
func (k *authKeystone) client(t *testing.T, user, password, project string) *gophercloud.ServiceClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // Keystone is slow on a loaded machine
	defer cancel()
	provider, err := openstack.NewClient(k.URL + "/v3")
	if err != nil {
		t.Fatal(err)
	}
	err = openstack.AuthenticateV3(ctx, provider, &gophercloud.AuthOptions{
		IdentityEndpoint: k.URL + "/v3", Username: user, Password: password, DomainName: "Default",
		Scope: &gophercloud.AuthScope{ProjectName: project, DomainName: "Default"},
	}, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatalf("keystone login %s: %v", user, err)
	}
	c, err := openstack.NewIdentityV3(provider, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// token issues a new project-scoped token for user.
func (k *authKeystone) token(t *testing.T, u authKeystoneUser) string {
	t.Helper()
	return k.client(t, u.Name, u.Password, u.Project).Token()
}

// revoke revokes token (as the admin).
func (k *authKeystone) revoke(t *testing.T, token string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := tokens.Revoke(ctx, k.admin, token).Err; err != nil {
		t.Fatalf("revoke: %v", err)
	}
}

// stop ends uwsgi (SIGTERM to its process group) and waits for it.
func (k *authKeystone) stop() {
	if k.cmd == nil || k.cmd.Process == nil {
		return
	}
	select {
	case <-k.exited:
		return
	default:
	}
	_ = syscall.Kill(-k.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-k.exited:
	case <-time.After(20 * time.Second):
		_ = syscall.Kill(-k.cmd.Process.Pid, syscall.SIGKILL)
		<-k.exited
	}
}
