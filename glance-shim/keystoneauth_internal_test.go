package glanceshim

import (
	"strings"
	"testing"
)

// TestCleanACL mirrors Swift's test_acl.py TestACL.test_clean_acl.
func TestCleanACL(t *testing.T) {
	cases := []struct {
		name, in, want string
		bad            bool
	}{
		{"x-container-read", ".r:*", ".r:*", false},
		{"x-container-read", ".r:specific.host", ".r:specific.host", false},
		{"x-container-read", ".r:.ending.with", ".r:.ending.with", false},
		{"x-container-read", ".r:*.ending.with", ".r:.ending.with", false},
		{"x-container-read", ".r:-*.ending.with", ".r:-.ending.with", false},
		{"x-container-read", ".r:one,.r:two", ".r:one,.r:two", false},
		{"x-container-read", ".r:*,.r:-specific.host", ".r:*,.r:-specific.host", false},
		{"x-container-read", ".r:*,.r:-.ending.with", ".r:*,.r:-.ending.with", false},
		{"x-container-read", ".r:one,.r:-two", ".r:one,.r:-two", false},
		{"x-container-read", ".r:one,.r:-two,account,account:user", ".r:one,.r:-two,account,account:user", false},
		{"x-container-read", "TEST_account", "TEST_account", false},
		{"x-container-read", ".ref:*", ".r:*", false},
		{"x-container-read", ".referer:*", ".r:*", false},
		{"x-container-read", ".referrer:*", ".r:*", false},
		{"x-container-read", " .r : one , ,, .r:two , .r : - three ", ".r:one,.r:two,.r:-three", false},
		{"x-container-read", "bob , sue", "bob,sue", false},
		{"x-container-read", "bob,,,sue", "bob,sue", false},
		{"x-container-read", ".r:*, .rlistings", ".r:*,.rlistings", false},
		{"x-container-read", "*:*", "*:*", false},
		{"x-container-read", "proj-id:user-id, *:bob, demo:*", "proj-id:user-id,*:bob,demo:*", false},
		{"x-container-read", ".unknown:test", "", true},
		{"x-container-read", ".r:", "", true},
		{"x-container-read", ".r:*.", "", true},
		{"x-container-read", ".r : * . ", "", true},
		{"x-container-read", ".r:-*.", "", true},
		{"x-container-read", ".r : - * . ", "", true},
		{"x-container-read", ".r:-", "", true},
		{"x-container-write", ".r:r", "", true},
		{"x-container-write", "proj:*", "proj:*", false},
	}
	for _, c := range cases {
		got, err := cleanACL(c.name, c.in)
		if c.bad {
			if err == nil {
				t.Errorf("cleanACL(%s, %q) = %q, want an error", c.name, c.in, got)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("cleanACL(%s, %q) = %q, %v; want %q", c.name, c.in, got, err, c.want)
		}
	}
}

// TestReferrerAllowed mirrors Swift's test_acl.py test_referrer_allowed.
func TestReferrerAllowed(t *testing.T) {
	cases := []struct {
		referer string
		acl     string
		want    bool
	}{
		{"host", "", false},
		{"", ".r:*", true},
		{"", ".r:.example.com", false},
		{"http://www.example.com/index.html", ".r:.example.com", true},
		{"http://www.example.com/index.html", ".r:www.example.com", true},
		{"http://www.example.com/index.html", ".r:example.com", false},
		{"http://www.example.com/index.html", ".r:*,.r:-www.example.com", false},
		{"http://www.example.com/index.html", ".r:*,.r:-.example.com", false},
		{"http://www.example.com/index.html", ".r:-.example.com,.r:*", true},
		{"http://thief.example.com/", ".r:.example.com,.r:-thief.example.com", false},
		{"http://good.example.com/", ".r:.example.com,.r:-thief.example.com", true},
		{"http://www.example.com:8080/", ".r:www.example.com", true},
		{"../index.html", ".r:.example.com", false},
		{"www.example.com", ".r:*", true},
	}
	for _, c := range cases {
		refs, _ := parseACL(c.acl)
		if got := referrerAllowed(c.referer, refs); got != c.want {
			t.Errorf("referrerAllowed(%q, %q) = %v, want %v", c.referer, c.acl, got, c.want)
		}
	}
}

// TestKeystoneAuthorize mirrors the decision cases of Swift's
// test/unit/common/middleware/test_keystoneauth.py (TestAuthorize,
// TestAuthorize.test_authorize_succeeds_*, the service-role table of
// TestAuthMultiplePrefixes, cross-tenant names/IDs and the default-domain
// rule). The result is "owner" (swift_owner), "acl" (allowed by a
// container ACL) or "denied".
func TestKeystoneAuthorize(t *testing.T) {
	rules := newKeystoneRules(&KeystoneAuth{
		AllowNamesInACLs: true,
		Prefixes: []ResellerPrefix{
			{Prefix: "AUTH_", OperatorRoles: []string{"admin", "swiftoperator"}},
			{Prefix: "SERVICE_", OperatorRoles: []string{"admin", "swiftoperator"}, ServiceRoles: []string{"service"}},
		},
	})
	id := func(mod func(*KeystoneIdentity)) *KeystoneIdentity {
		ks := &KeystoneIdentity{UserID: "user_id", UserName: "user_name", UserDomainID: "default",
			ProjectID: "tenant_id", ProjectName: "tenant_name", ProjectDomainID: "default", Roles: []string{"reader"}}
		if mod != nil {
			mod(ks)
		}
		return ks
	}
	roles := func(rs ...string) func(*KeystoneIdentity) {
		return func(k *KeystoneIdentity) { k.Roles = rs }
	}
	const own, other = "AUTH_tenant_id", "AUTH_other_id"
	cases := []struct {
		name    string
		ks      *KeystoneIdentity
		account string
		acl     string
		referer string
		listing bool
		want    string
	}{
		{"reseller admin, any account", id(roles("ResellerAdmin")), other, "", "", false, "owner"},
		{"reseller admin, case-insensitive", id(roles("reselleradmin")), "SERVICE_x", "", "", false, "owner"},
		{"operator role owns its project's account", id(roles("swiftoperator")), own, "", "", false, "owner"},
		{"operator role, case-insensitive", id(roles("Admin")), own, "", "", false, "owner"},
		{"operator role, another project's account", id(roles("admin")), other, "", "", false, "denied"},
		{"no operator role", id(roles("reader")), own, "", "", false, "denied"},
		{"invalid reseller prefix", id(roles("admin")), "BLAH_tenant_id", "", "", false, "denied"},
		{"project-id account only, not name", id(roles("admin")), "AUTH_tenant_name", "", "", false, "denied"},
		{"no project (unscoped token)", id(func(k *KeystoneIdentity) { k.ProjectID, k.Roles = "", []string{"admin"} }), "AUTH_", "", "", false, "denied"},
		{"ACL tenant_name:user_name", id(nil), other, "tenant_name:user_name", "", false, "acl"},
		{"ACL tenant_id:user_id", id(nil), other, "tenant_id:user_id", "", false, "acl"},
		{"ACL tenant_id:user_name", id(nil), other, "tenant_id:user_name", "", false, "acl"},
		{"ACL tenant_name:user_id", id(nil), other, "tenant_name:user_id", "", false, "acl"},
		{"ACL *:user_name", id(nil), other, "*:user_name", "", false, "acl"},
		{"ACL *:user_id", id(nil), other, "*:user_id", "", false, "acl"},
		{"ACL tenant_name:*", id(nil), other, "tenant_name:*", "", false, "acl"},
		{"ACL tenant_id:*", id(nil), other, "tenant_id:*", "", false, "acl"},
		{"ACL *:*", id(nil), other, "*:*", "", false, "acl"},
		{"ACL other tenant", id(nil), other, "other:*", "", false, "denied"},
		{"ACL other user", id(nil), other, "tenant_id:bob", "", false, "denied"},
		{"ACL is case-sensitive", id(nil), other, "TENANT_NAME:*", "", false, "denied"},
		{"ACL tenant:user without separator", id(nil), other, "tenant_id", "", false, "denied"},
		{"names outside default domain: name denied",
			id(func(k *KeystoneIdentity) { k.UserDomainID = "other_dom" }), other, "tenant_name:user_name", "", false, "denied"},
		{"names outside default domain: IDs still match",
			id(func(k *KeystoneIdentity) { k.UserDomainID = "other_dom" }), other, "tenant_id:user_id", "", false, "acl"},
		{"project outside default domain: name denied",
			id(func(k *KeystoneIdentity) { k.ProjectDomainID = "other_dom" }), other, "tenant_name:*", "", false, "denied"},
		{"role in ACL", id(roles("reader", "editor")), other, "editor", "", false, "acl"},
		{"role in ACL, case-insensitive", id(roles("Editor")), other, "EDITOR", "", false, "acl"},
		{"role not in ACL", id(roles("reader")), other, "editor", "", false, "denied"},
		{"referrer .r:* object", id(nil), other, ".r:*", "", false, "acl"},
		{"referrer .r:* listing without .rlistings", id(nil), other, ".r:*", "", true, "denied"},
		{"referrer .r:* listing with .rlistings", id(nil), other, ".r:*,.rlistings", "", true, "acl"},
		{"referrer allowed but no listings beats a role in the ACL", id(roles("editor")), other, ".r:*,editor", "", true, "denied"},
		{"referrer host match", id(nil), other, ".r:.example.com", "http://www.example.com/x", false, "acl"},
		{"referrer host mismatch", id(nil), other, ".r:.example.com", "http://evil.org/x", false, "denied"},
		// Service prefix: operator role AND a service token role.
		{"SERVICE_: operator role without service token", id(roles("admin")), "SERVICE_tenant_id", "", "", false, "denied"},
		{"SERVICE_: operator role + service token role", id(func(k *KeystoneIdentity) {
			k.Roles, k.ServiceRoles = []string{"admin"}, []string{"service"}
		}), "SERVICE_tenant_id", "", "", false, "owner"},
		{"SERVICE_: service token without the role", id(func(k *KeystoneIdentity) {
			k.Roles, k.ServiceRoles = []string{"admin"}, []string{"reader"}
		}), "SERVICE_tenant_id", "", "", false, "denied"},
		{"SERVICE_: service role but no operator role", id(func(k *KeystoneIdentity) {
			k.Roles, k.ServiceRoles = []string{"reader"}, []string{"service"}
		}), "SERVICE_tenant_id", "", "", false, "denied"},
		{"AUTH_ needs no service token", id(func(k *KeystoneIdentity) {
			k.Roles, k.ServiceRoles = []string{"admin"}, []string{"service"}
		}), own, "", "", false, "owner"},
	}
	for _, c := range cases {
		got := "denied"
		if rules.isOwner(c.ks, c.account) {
			got = "owner"
		} else if rules.authorizeKeystone(c.ks, c.acl, c.referer, c.listing) {
			got = "acl"
		}
		if got != c.want {
			t.Errorf("%s: %s (account %s, ACL %q), want %s", c.name, got, c.account, c.acl, c.want)
		}
	}
}

// TestKeystoneRulesDefaults: keystoneauth's defaults as Nitro applies
// them (AUTH_ with operator roles admin and member; ResellerAdmin) and
// allow_names_in_acls = false.
func TestKeystoneRulesDefaults(t *testing.T) {
	r := newKeystoneRules(nil)
	ks := &KeystoneIdentity{UserID: "u", UserName: "un", ProjectID: "p", ProjectName: "pn", Roles: []string{"member"}}
	if !r.isOwner(ks, "AUTH_p") {
		t.Error("member does not own AUTH_<project id> by default")
	}
	if r.isOwner(ks, "SERVICE_p") {
		t.Error("SERVICE_ owned without being configured")
	}
	noNames := newKeystoneRules(&KeystoneAuth{AllowNamesInACLs: false})
	if noNames.authorizeKeystone(ks, "pn:un", "", false) || !noNames.authorizeKeystone(ks, "p:u", "", false) {
		t.Error("allow_names_in_acls = false must match IDs only")
	}
	if strings.ToLower(r.resellerAdmin) != "reselleradmin" {
		t.Errorf("reseller admin role %q", r.resellerAdmin)
	}
}
