package e2e

import (
	"context"
	"os"
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

// authKeystone is a private Keystone for the token tests of
// keystone_auth_test.go: the shared harness's Keystone (keystone.boot),
// but the test's own instance, because the tests stop it on purpose to
// see Nitro answer 503. Seeding goes through gophercloud with the
// bootstrap admin (one process, a few seconds).
type authKeystone struct {
	*keystone
	admin    *gophercloud.ServiceClient
	Projects map[string]string // name → ID
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

	dir, err := os.MkdirTemp("", "nitro-e2e-authkeystone-")
	if err != nil {
		t.Fatal(err)
	}
	k := &authKeystone{keystone: &keystone{}, Projects: map[string]string{}}
	if err := k.boot(tools, dir, authKeystoneAdminPassword); err != nil {
		t.Fatalf("keystone: %v", err)
	}
	t.Cleanup(func() {
		if _, err := os.Stat(k.Log); err == nil && t.Failed() { // a test that stops Keystone removes it
			t.Logf("keystone log (%s):\n%s", k.Log, tail(k.Log, 30))
		}
		k.stop()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

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
