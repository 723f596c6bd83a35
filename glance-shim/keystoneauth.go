package glanceshim

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// KeystoneAuth holds the options of Swift's keystoneauth middleware
// (swift/common/middleware/keystoneauth.py), applied to identities with a
// Keystone field. The zero value of a field takes keystoneauth's default
// as Nitro configures it.
type KeystoneAuth struct {
	// Prefixes are keystoneauth's reseller_prefix list with the per-prefix
	// operator_roles and service_roles; empty means one "AUTH_" prefix
	// with operator roles admin and member.
	Prefixes []ResellerPrefix
	// ResellerAdminRole reaches every account ("" means "ResellerAdmin";
	// compared case-insensitively).
	ResellerAdminRole string
	// DefaultDomainID: names in ACLs match only users and projects of this
	// domain ("" means "default").
	DefaultDomainID string
	// AllowNamesInACLs lets ACLs name projects and users by name, not only
	// by ID (keystoneauth's allow_names_in_acls; Nitro's config defaults
	// it to true).
	AllowNamesInACLs bool
	// WWWAuthenticateURI, if set, is sent on 401 as
	// `WWW-Authenticate: Keystone uri="…"` (keystonemiddleware's
	// www_authenticate_uri).
	WWWAuthenticateURI string
}

// ResellerPrefix is one account prefix of keystoneauth ("AUTH_",
// "SERVICE_") with its rules: an identity owns <Prefix><project id> when
// its token has one of OperatorRoles and, if ServiceRoles is not empty,
// the request also carries an X-Service-Token with one of ServiceRoles.
// Role names compare case-insensitively.
type ResellerPrefix struct {
	Prefix        string
	OperatorRoles []string
	ServiceRoles  []string
}

// keystoneRules is KeystoneAuth with defaults applied and roles lower case.
type keystoneRules struct {
	prefixes      []ResellerPrefix
	resellerAdmin string
	defaultDomain string
	allowNames    bool
	wwwAuth       string
}

func newKeystoneRules(ka *KeystoneAuth) *keystoneRules {
	if ka == nil {
		ka = &KeystoneAuth{AllowNamesInACLs: true}
	}
	r := &keystoneRules{resellerAdmin: strings.ToLower(ka.ResellerAdminRole),
		defaultDomain: ka.DefaultDomainID, allowNames: ka.AllowNamesInACLs, wwwAuth: ka.WWWAuthenticateURI}
	if r.resellerAdmin == "" {
		r.resellerAdmin = "reselleradmin"
	}
	if r.defaultDomain == "" {
		r.defaultDomain = "default"
	}
	prefixes := ka.Prefixes
	if len(prefixes) == 0 {
		prefixes = []ResellerPrefix{{Prefix: "AUTH_", OperatorRoles: []string{"admin", "member"}}}
	}
	for _, p := range prefixes {
		r.prefixes = append(r.prefixes, ResellerPrefix{Prefix: p.Prefix,
			OperatorRoles: lower(p.OperatorRoles), ServiceRoles: lower(p.ServiceRoles)})
	}
	return r
}

func lower(ss []string) []string {
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, strings.ToLower(s))
		}
	}
	return out
}

// isResellerAdmin: keystoneauth grants a token with reseller_admin_role
// unconditional access (swift_owner) to every account.
func (r *keystoneRules) isResellerAdmin(ks *KeystoneIdentity) bool {
	return slices.Contains(lower(ks.Roles), r.resellerAdmin)
}

// accountMatchesTenant is keystoneauth's _account_matches_tenant: account
// is <prefix><project id> for one of the prefixes.
func (r *keystoneRules) accountMatchesTenant(account, projectID string) bool {
	if projectID == "" {
		return false
	}
	for _, p := range r.prefixes {
		if p.Prefix+projectID == account {
			return true
		}
	}
	return false
}

// prefixOf is keystoneauth's _get_account_prefix: the first non-empty
// configured prefix that account starts with, else the "" prefix if it
// is configured; ok false when none applies.
func (r *keystoneRules) prefixOf(account string) (ResellerPrefix, bool) {
	for _, p := range r.prefixes {
		if p.Prefix != "" && strings.HasPrefix(account, p.Prefix) {
			return p, true
		}
	}
	for _, p := range r.prefixes {
		if p.Prefix == "" {
			return p, true
		}
	}
	return ResellerPrefix{}, false
}

// isOwner is keystoneauth's swift_owner decision: the reseller admin
// role, or the account of the token's project with an operator role of
// the account's prefix, and, when that prefix has service roles, an
// X-Service-Token with one of them:
//
//	operator role | prefix has service_roles | service token role | owner
//	yes           | yes                      | yes                | yes
//	yes           | yes                      | no                 | no
//	yes           | no                       | -                  | yes
//	no            | -                        | -                  | no
func (r *keystoneRules) isOwner(ks *KeystoneIdentity, account string) bool {
	if r.isResellerAdmin(ks) {
		return true
	}
	if !r.accountMatchesTenant(account, ks.ProjectID) {
		return false
	}
	p, ok := r.prefixOf(account)
	if !ok {
		return false
	}
	roles := lower(ks.Roles)
	op := false
	for _, role := range p.OperatorRoles {
		op = op || slices.Contains(roles, role)
	}
	if !op {
		return false
	}
	if len(p.ServiceRoles) == 0 {
		return true
	}
	svc := lower(ks.ServiceRoles)
	for _, role := range p.ServiceRoles {
		if slices.Contains(svc, role) {
			return true
		}
	}
	return false
}

// namesAllowed is keystoneauth's _is_name_allowed_in_acl: ACL entries
// may name projects and users by name only when the user and the token's
// project are in the default domain. For an account that is not the
// token's project, Swift also checks the project domain it recorded in
// the account's sysmeta; Nitro records none, which Swift treats as a
// legacy account in the default domain (allowed).
func (r *keystoneRules) namesAllowed(ks *KeystoneIdentity) bool {
	if !r.allowNames {
		return false
	}
	if ks.UserDomainID != "" && ks.UserDomainID != r.defaultDomain {
		return false
	}
	if ks.ProjectDomainID != "" && ks.ProjectDomainID != r.defaultDomain {
		return false
	}
	return true
}

// crossTenant is keystoneauth's _authorize_cross_tenant: the ACL entry
// "<project>:<user>" that matches the identity, where project and user
// may each be the ID, "*" or (when names are allowed) the name; "" when
// none matches.
func crossTenant(ks *KeystoneIdentity, groups []string, allowNames bool) string {
	tenants := []string{ks.ProjectID, "*"}
	users := []string{ks.UserID, "*"}
	if allowNames {
		tenants = append(tenants, ks.ProjectName)
		users = append(users, ks.UserName)
	}
	for _, t := range tenants {
		for _, u := range users {
			if s := t + ":" + u; slices.Contains(groups, s) {
				return s
			}
		}
	}
	return ""
}

// authorizeKeystone is keystoneauth's authorize for a non-owner of the
// container's account (owners never get here): cross-tenant ACL entries,
// then referrer ACLs (objects, or listings with .rlistings), then the
// token's roles listed in the ACL. It reports whether access is granted.
func (r *keystoneRules) authorizeKeystone(ks *KeystoneIdentity, acl, referer string, listing bool) bool {
	referrers, groups := parseACL(acl)
	if len(groups) > 0 && crossTenant(ks, groups, r.namesAllowed(ks)) != "" {
		return true
	}
	if referrerAllowed(referer, referrers) {
		// keystoneauth: allowed for an object, or a listing with
		// .rlistings; otherwise denied outright (no role check).
		return !listing || slices.Contains(groups, ".rlistings")
	}
	lg := lower(groups)
	for _, role := range lower(ks.Roles) {
		if slices.Contains(lg, role) {
			return true
		}
	}
	return false
}

// cleanACL is Swift's acl.clean_acl: it validates and normalizes an
// X-Container-Read/-Write value ("bob , sue" → "bob,sue", ".ref:*.x.com"
// → ".r:.x.com"). Errors (answered 400): referrers in a write ACL, an
// unknown ".designator", a referrer without a host.
func cleanACL(name, value string) (string, error) {
	write := strings.Contains(strings.ToLower(name), "write")
	var out []string
	for _, raw := range strings.Split(value, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		first, second, ok := strings.Cut(raw, ":")
		if !ok {
			out = append(out, raw)
			continue
		}
		first, second = strings.TrimSpace(first), strings.TrimSpace(second)
		switch {
		case first == "" || first[0] != '.':
			out = append(out, raw)
		case first == ".r" || first == ".ref" || first == ".referer" || first == ".referrer":
			if write {
				return "", fmt.Errorf("Referrers not allowed in write ACL: '%s'", raw)
			}
			neg := ""
			if strings.HasPrefix(second, "-") {
				neg, second = "-", strings.TrimSpace(second[1:])
			}
			if second != "" && second != "*" && second[0] == '*' {
				second = strings.TrimSpace(second[1:])
			}
			if second == "" || second == "." {
				return "", fmt.Errorf("No host/domain value after referrer designation in ACL: '%s'", raw)
			}
			out = append(out, ".r:"+neg+second)
		default:
			return "", fmt.Errorf("Unknown designator '%s' in ACL: '%s'", first, raw)
		}
	}
	return strings.Join(out, ","), nil
}

// parseACL is Swift's acl.parse_acl over the cleaned ACL: referrer
// designations (without ".r:") and groups (everything else, e.g.
// "proj:user", ".rlistings", role names). An ACL that does not clean
// (stored before validation existed) grants nothing.
func parseACL(acl string) (referrers, groups []string) {
	clean, err := cleanACL("x-container-read", acl)
	if err != nil || clean == "" {
		return nil, nil
	}
	for _, v := range strings.Split(clean, ",") {
		if rest, ok := strings.CutPrefix(v, ".r:"); ok {
			referrers = append(referrers, rest)
		} else {
			groups = append(groups, v)
		}
	}
	return referrers, groups
}

// referrerAllowed is Swift's acl.referrer_allowed: the Referer's host
// against the referrer designations, in order ("*", "host", ".domain",
// and "-" to deny); the last match wins.
func referrerAllowed(referer string, referrers []string) bool {
	if len(referrers) == 0 {
		return false
	}
	rhost := "unknown"
	if u, err := url.Parse(referer); err == nil && u.Hostname() != "" {
		rhost = strings.ToLower(u.Hostname())
	}
	allow := false
	for _, m := range referrers {
		if m == "" {
			continue
		}
		if m[0] == '-' {
			m = m[1:]
			if m != "" && (m == rhost || m[0] == '.' && strings.HasSuffix(rhost, m)) {
				allow = false
			}
		} else if m == "*" || m == rhost || m[0] == '.' && strings.HasSuffix(rhost, m) {
			allow = true
		}
	}
	return allow
}

// AuthChain serves tempauth and Keystone tokens side by side, as a Swift
// pipeline with both tempauth and authtoken + keystoneauth: tokens with
// tempauth's prefix ("AUTH_tk") go to TempAuth, every other token to
// Other. /auth/v1.0 logins go to TempAuth. Both fields must be set.
type AuthChain struct {
	TempAuth *TempAuth
	Other    Authenticator
}

// Authenticate implements Authenticator.
func (c AuthChain) Authenticate(ctx context.Context, token string) (Identity, error) {
	if strings.HasPrefix(token, "AUTH_tk") {
		return c.TempAuth.Authenticate(ctx, token)
	}
	return c.Other.Authenticate(ctx, token)
}

// Login implements PasswordAuthenticator with TempAuth.
func (c AuthChain) Login(ctx context.Context, user, key string) (Token, error) {
	return c.TempAuth.Login(ctx, user, key)
}

var _ PasswordAuthenticator = AuthChain{}
