package glanceshim_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	glanceshim "github.com/nitro-cloud/nitro/glance-shim"
)

// tokenTable is an Authenticator over fixed Keystone identities: a test
// double for the consumer-side interface, so that the front end's
// keystoneauth rules are tested over HTTP without Keystone. The real
// validator is tested in package keystone and against Debian's Keystone
// in e2e/keystone_auth_test.go.
type tokenTable map[string]glanceshim.Identity

func (tt tokenTable) Authenticate(_ context.Context, token string) (glanceshim.Identity, error) {
	switch token {
	case "keystone-down":
		return glanceshim.Identity{}, fmt.Errorf("keystone: validation: %w", glanceshim.ErrUnavailable)
	}
	id, ok := tt[token]
	if !ok {
		return glanceshim.Identity{}, fmt.Errorf("keystone: token not valid: %w", glanceshim.ErrUnauthorized)
	}
	return id, nil
}

func ksID(projectID, projectName, userID, userName string, roles ...string) glanceshim.Identity {
	return glanceshim.Identity{
		Account: "AUTH_" + projectID, User: projectName + ":" + userName, Expires: time.Now().Add(time.Hour),
		Keystone: &glanceshim.KeystoneIdentity{
			UserID: userID, UserName: userName, UserDomainID: "default", UserDomainName: "Default",
			ProjectID: projectID, ProjectName: projectName, ProjectDomainID: "default", ProjectDomainName: "Default",
			Roles: roles,
		},
	}
}

// keystoneServer serves Keystone tokens (tokenTable) and tempauth's users
// side by side (AuthChain), with the AUTH_ and SERVICE_ prefixes.
func keystoneServer(t *testing.T, log *zap.Logger) *httptest.Server {
	t.Helper()
	cfg := testConfig()
	cfg.Keystone = &glanceshim.KeystoneAuth{
		AllowNamesInACLs:   true,
		WWWAuthenticateURI: "http://keystone.example:5000/v3",
		Prefixes: []glanceshim.ResellerPrefix{
			{Prefix: "AUTH_", OperatorRoles: []string{"admin", "member"}},
			{Prefix: "SERVICE_", OperatorRoles: []string{"admin", "member"}, ServiceRoles: []string{"service"}},
		},
	}
	ta, err := glanceshim.NewTempAuth(glanceshim.TempAuthConfig{Accounts: cfg.Accounts})
	if err != nil {
		t.Fatal(err)
	}
	tt := tokenTable{
		"tok-demo":     ksID("p-demo", "demo", "u-demo", "demo", "member", "reader"),
		"tok-demo-ro":  ksID("p-demo", "demo", "u-viewer", "viewer", "reader"),
		"tok-alt":      ksID("p-alt", "alt", "u-alt", "alt", "member"),
		"tok-admin":    ksID("p-admins", "admins", "u-root", "root", "admin"),
		"tok-reseller": ksID("p-service", "service", "u-nitro", "nitro", "admin", "ResellerAdmin"),
		"tok-glance":   ksID("p-service", "service", "u-glance", "glance", "admin", "service"),
		"tok-badproj":  ksID(strings.Repeat("p", 300), "long", "u-l", "l", "admin"),
	}
	if log == nil {
		log = zap.NewNop()
	}
	s, err := glanceshim.New(cfg, newMemBackend(), glanceshim.AuthChain{TempAuth: ta, Other: tt}, log)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts
}

// TestKeystoneAuthHTTP walks keystoneauth's rules through the Swift API:
// project accounts, operator roles, cross-project ACLs by ID and name,
// referrers, reseller admin, service tokens for SERVICE_, the Glance
// multi-tenant pattern, bad tokens, Keystone down, and tempauth users
// beside Keystone users with the same ACL syntax.
func TestKeystoneAuthHTTP(t *testing.T) {
	ts := keystoneServer(t, nil)
	v1 := ts.URL + "/v1/"
	tok := func(tk string, kv ...string) map[string]string {
		h := map[string]string{"X-Auth-Token": tk}
		for i := 0; i < len(kv); i += 2 {
			h[kv[i]] = kv[i+1]
		}
		return h
	}
	temp, _ := login(t, ts.URL, "test:reader", "reading")
	tempAdmin, _ := login(t, ts.URL, "test:tester", "testing")
	steps := []struct {
		what   string
		method string
		url    string
		hdr    map[string]string
		body   []byte
		status int
	}{
		{"member owns AUTH_<project id>", "PUT", v1 + "AUTH_p-demo/c", tok("tok-demo"), nil, 201},
		{"owner puts an object", "PUT", v1 + "AUTH_p-demo/c/o", tok("tok-demo"), []byte("data"), 201},
		{"owner lists the account", "GET", v1 + "AUTH_p-demo", tok("tok-demo"), nil, 200},
		{"account by project name is not the project's", "PUT", v1 + "AUTH_demo/c", tok("tok-demo"), nil, 403},
		{"reader role is no operator", "GET", v1 + "AUTH_p-demo/c/o", tok("tok-demo-ro"), nil, 403},
		{"another project's token: 403", "GET", v1 + "AUTH_p-demo/c/o", tok("tok-alt"), nil, 403},
		{"another project's account HEAD: 403", "HEAD", v1 + "AUTH_p-demo", tok("tok-alt"), nil, 403},
		{"anonymous: 401", "GET", v1 + "AUTH_p-demo/c/o", nil, nil, 401},
		{"unknown token: 401", "GET", v1 + "AUTH_p-demo/c/o", tok("gAAAAAnope"), nil, 401},
		{"unknown tempauth-style token: 401", "GET", v1 + "AUTH_p-demo/c/o", tok("AUTH_tknope"), nil, 401},
		{"Keystone down: 503", "GET", v1 + "AUTH_p-demo/c/o", tok("keystone-down"), nil, 503},
		{"reseller admin reaches every account", "GET", v1 + "AUTH_p-demo/c/o", tok("tok-reseller"), nil, 200},
		{"reseller admin on a tempauth account (empty: 204)", "GET", v1 + "AUTH_test", tok("tok-reseller"), nil, 204},
		// Cross-project ACLs.
		{"owner sets ACLs by name and ID", "POST", v1 + "AUTH_p-demo/c",
			tok("tok-demo", "X-Container-Read", "alt:alt, p-demo:u-viewer", "X-Container-Write", "p-alt:*"), nil, 204},
		{"alt reads by name ACL", "GET", v1 + "AUTH_p-demo/c/o", tok("tok-alt"), nil, 200},
		{"alt lists by name ACL", "GET", v1 + "AUTH_p-demo/c", tok("tok-alt"), nil, 200},
		{"viewer reads by ID ACL", "GET", v1 + "AUTH_p-demo/c/o", tok("tok-demo-ro"), nil, 200},
		{"alt writes by project-ID ACL", "PUT", v1 + "AUTH_p-demo/c/alt", tok("tok-alt"), []byte("a"), 201},
		{"viewer may not write", "PUT", v1 + "AUTH_p-demo/c/v", tok("tok-demo-ro"), []byte("v"), 403},
		{"ACL holder may not POST the container", "POST", v1 + "AUTH_p-demo/c", tok("tok-alt", "X-Container-Read", "*:*"), nil, 403},
		{"ACL holder may not DELETE the container", "DELETE", v1 + "AUTH_p-demo/c", tok("tok-alt"), nil, 403},
		{"bad ACL: 400", "POST", v1 + "AUTH_p-demo/c", tok("tok-demo", "X-Container-Write", ".r:*"), nil, 400},
		// A tempauth identity matches ACL entries exactly, as Swift's
		// tempauth (keystoneauth's wildcards are for Keystone users).
		{"tempauth user not matched by *:reader", "POST", v1 + "AUTH_p-demo/c", tok("tok-demo", "X-Container-Read", "*:reader"), nil, 204},
		{"tempauth reader gets no wildcard", "GET", v1 + "AUTH_p-demo/c/o", tok(temp), nil, 403},
		{"tempauth user named exactly", "POST", v1 + "AUTH_p-demo/c", tok("tok-demo", "X-Container-Read", "test:reader"), nil, 204},
		{"tempauth reader reads a Keystone container", "GET", v1 + "AUTH_p-demo/c/o", tok(temp), nil, 200},
		{"and alt no longer does", "GET", v1 + "AUTH_p-demo/c/o", tok("tok-alt"), nil, 403},
		{"*:* lets every authenticated user read", "POST", v1 + "AUTH_p-demo/c", tok("tok-demo", "X-Container-Read", "*:*"), nil, 204},
		{"*:* alt", "GET", v1 + "AUTH_p-demo/c/o", tok("tok-alt"), nil, 200},
		{"*:* anonymous still 401", "GET", v1 + "AUTH_p-demo/c/o", nil, nil, 401},
		// Referrers.
		{"public read", "POST", v1 + "AUTH_p-demo/c", tok("tok-demo", "X-Container-Read", ".r:*"), nil, 204},
		{"anonymous object read", "GET", v1 + "AUTH_p-demo/c/o", nil, nil, 200},
		{"anonymous listing needs .rlistings", "GET", v1 + "AUTH_p-demo/c", nil, nil, 401},
		{"alt listing needs .rlistings", "GET", v1 + "AUTH_p-demo/c", tok("tok-alt"), nil, 403},
		{"host referrer", "POST", v1 + "AUTH_p-demo/c", tok("tok-demo", "X-Container-Read", ".r:.example.com,.rlistings"), nil, 204},
		{"matching Referer lists", "GET", v1 + "AUTH_p-demo/c", map[string]string{"Referer": "http://www.example.com/page"}, nil, 200},
		{"other Referer: 401", "GET", v1 + "AUTH_p-demo/c/o", map[string]string{"Referer": "http://evil.org/"}, nil, 401},
		// Tempauth users keep tempauth's rules side by side.
		{"tempauth admin owns AUTH_test", "PUT", v1 + "AUTH_test/t", tok(tempAdmin, "X-Container-Read", "demo:*"), nil, 201},
		{"tempauth admin may not touch a project account", "GET", v1 + "AUTH_p-demo", tok(tempAdmin), nil, 403},
		{"Keystone user by name ACL on a tempauth container (empty: 204)", "GET", v1 + "AUTH_test/t", tok("tok-demo"), nil, 204},
		{"Keystone member does not own AUTH_test", "PUT", v1 + "AUTH_test/k", tok("tok-demo"), nil, 403},
		// Glance multi-tenant: the user's own account, one container per
		// image, ACLs for the admin tenants.
		{"glance mt: container for an image", "PUT", v1 + "AUTH_p-demo/glance_img1",
			tok("tok-demo", "X-Container-Read", "admins:*", "X-Container-Write", "admins:*"), nil, 201},
		{"glance mt: image data", "PUT", v1 + "AUTH_p-demo/glance_img1/img1", tok("tok-demo"), []byte("image"), 201},
		{"glance mt: admin tenant reads", "GET", v1 + "AUTH_p-demo/glance_img1/img1", tok("tok-admin"), nil, 200},
		{"glance mt: admin tenant deletes", "DELETE", v1 + "AUTH_p-demo/glance_img1/img1", tok("tok-admin"), nil, 204},
		{"glance mt: another tenant cannot", "GET", v1 + "AUTH_p-demo/glance_img1", tok("tok-alt"), nil, 403},
		// Single-tenant Glance: service:glance (admin in project service).
		{"glance st: own account", "PUT", v1 + "AUTH_p-service/glance", tok("tok-glance"), nil, 201},
		// Service tokens for SERVICE_ accounts.
		{"SERVICE_: user token alone", "PUT", v1 + "SERVICE_p-demo/s", tok("tok-demo"), nil, 403},
		{"SERVICE_: with glance's service token", "PUT", v1 + "SERVICE_p-demo/s", tok("tok-demo", "X-Service-Token", "tok-glance"), nil, 201},
		{"SERVICE_: service token without the role", "PUT", v1 + "SERVICE_p-demo/s2", tok("tok-demo", "X-Service-Token", "tok-alt"), nil, 403},
		{"SERVICE_: invalid service token 401", "PUT", v1 + "SERVICE_p-demo/s3", tok("tok-demo", "X-Service-Token", "gAAAAAbad"), nil, 401},
		// Bad account names from the token's project.
		{"project ID too long for an account name", "PUT", v1 + "AUTH_" + strings.Repeat("p", 300) + "/c", tok("tok-badproj"), nil, 400},
	}
	for _, s := range steps {
		st, h, body := hc(t, s.method, s.url, s.hdr, s.body)
		if st != s.status {
			t.Errorf("%s: %s %s = %d, want %d (%s)", s.what, s.method, s.url, st, s.status, body)
		}
		if st == 401 && h.Get("Www-Authenticate") != `Keystone uri="http://keystone.example:5000/v3"` {
			t.Errorf("%s: 401 with WWW-Authenticate %q", s.what, h.Get("Www-Authenticate"))
		}
	}
	// ACL headers are shown to owners only.
	_, h, _ := hc(t, "HEAD", v1+"AUTH_p-demo/glance_img1", tok("tok-admin"), nil)
	if h.Get("X-Container-Read") != "" {
		t.Errorf("ACL holder sees X-Container-Read %q", h.Get("X-Container-Read"))
	}
	_, h, _ = hc(t, "HEAD", v1+"AUTH_p-demo/glance_img1", tok("tok-demo"), nil)
	if h.Get("X-Container-Read") != "admins:*" {
		t.Errorf("owner sees X-Container-Read %q", h.Get("X-Container-Read"))
	}
}

// TestKeystoneLogHygiene: Keystone tokens (and service tokens) never reach
// the front end's log, also when they fail.
func TestKeystoneLogHygiene(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	ts := keystoneServer(t, zap.New(core))
	v1 := ts.URL + "/v1/"
	hc(t, "PUT", v1+"AUTH_p-demo/c", map[string]string{"X-Auth-Token": "tok-demo"}, nil)
	hc(t, "GET", v1+"AUTH_p-demo/c", map[string]string{"X-Auth-Token": "gAAAAAsecret-bad-token"}, nil)
	hc(t, "GET", v1+"AUTH_p-demo/c", map[string]string{"X-Auth-Token": "keystone-down"}, nil)
	hc(t, "PUT", v1+"SERVICE_p-demo/c", map[string]string{"X-Auth-Token": "tok-demo", "X-Service-Token": "gAAAAAsecret-svc"}, nil)
	hc(t, "GET", v1+"AUTH_p-alt", map[string]string{"X-Auth-Token": "tok-alt"}, nil)
	if logs.Len() == 0 {
		t.Fatal("nothing logged")
	}
	for _, e := range logs.All() {
		texts := []string{e.Message}
		for k, v := range e.ContextMap() {
			texts = append(texts, fmt.Sprintf("%s=%v", k, v))
		}
		for _, s := range texts {
			for _, sec := range []string{"tok-demo", "tok-alt", "secret-bad-token", "secret-svc", "keystone-down"} {
				if strings.Contains(s, sec) {
					t.Errorf("token %q in log: %s", sec, s)
				}
			}
		}
	}
}
