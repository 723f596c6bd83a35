package glanceshim

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Identity is who a token belongs to, as an Authenticator reports it.
type Identity struct {
	// Account is the account the identity owns, with the reseller prefix
	// ("AUTH_test").
	Account string
	// User is the user's name as ACLs write it ("test:tester").
	User string
	// Groups are the names a container ACL may list to grant access to
	// this identity (tempauth: "test:tester", "test", "AUTH_test"). An ACL
	// entry "x:*" matches any group starting with "x:".
	Groups []string
	// Admin means full access to Account (tempauth's .admin). Keystone
	// identities leave it false: their operator roles are in Keystone.
	Admin bool
	// ResellerAdmin means full access to every account (tempauth's
	// .reseller_admin). Keystone identities leave it false: their
	// reseller admin role is in Keystone.Roles.
	ResellerAdmin bool
	// Expires is when the token stops being valid (zero: unknown).
	Expires time.Time
	// Keystone holds the details of a Keystone v3 token; nil for tempauth.
	// Its presence selects keystoneauth's rules (keystoneauth.go) instead
	// of tempauth's for this identity.
	Keystone *KeystoneIdentity
}

// KeystoneIdentity is what keystonemiddleware's auth_token passes to
// Swift's keystoneauth in X-User-Id, X-Project-Id, X-Roles, ... for a
// validated Keystone v3 token.
type KeystoneIdentity struct {
	UserID, UserName             string
	UserDomainID, UserDomainName string
	// ProjectID and ProjectName are empty for an unscoped or
	// domain-scoped token (such a token owns no account).
	ProjectID, ProjectName             string
	ProjectDomainID, ProjectDomainName string
	// Roles are the token's role names as Keystone spells them.
	Roles []string
	// ServiceRoles are the role names of a valid X-Service-Token sent with
	// the request (set by the front end, never by an Authenticator).
	ServiceRoles []string
}

// Authenticator validates the token of a /v1 request (X-Auth-Token or
// X-Storage-Token). It is declared here, by its consumer, so that a
// Keystone v3 validator can be plugged in beside the built-in TempAuth.
// Implementations must be safe for concurrent use.
type Authenticator interface {
	// Authenticate returns the token's identity, or an error wrapping
	// ErrUnauthorized for an unknown or expired token. Other errors are
	// answered with the error-to-status table (ErrUnavailable: 503).
	Authenticate(ctx context.Context, token string) (Identity, error)
}

// Token is a token issued by a v1 login.
type Token struct {
	ID      string    // the X-Auth-Token value
	Account string    // the account it owns, with the reseller prefix
	Expires time.Time // when it stops being valid
}

// PasswordAuthenticator is an Authenticator that also serves Swift's v1
// login (GET /auth/v1.0). The server answers /auth/v1.0 with 404 when its
// Authenticator does not implement it.
type PasswordAuthenticator interface {
	Authenticator
	// Login checks user ("account:user") and key and returns a token, or
	// an error wrapping ErrUnauthorized.
	Login(ctx context.Context, user, key string) (Token, error)
}

// Account is a tempauth account and its users.
type Account struct {
	// Name is the account's name without the reseller prefix ("test" is
	// served as /v1/AUTH_test).
	Name  string
	Users []User
}

// User is a tempauth user (Swift's user_<account>_<name> = <key> [.admin]
// [.reseller_admin] in proxy-server.conf).
type User struct {
	Name string
	Key  string // the password; compared in constant time, never logged
	// Admin (.admin) gives full access to the user's account; without it
	// the user only reaches containers whose ACLs name it.
	Admin bool
	// ResellerAdmin (.reseller_admin) gives full access to every account.
	ResellerAdmin bool
}

// TempAuth is Swift's tempauth middleware (swift/common/middleware/
// tempauth.py) reduced to what Nitro needs: users from the configuration,
// random tokens kept in memory. It implements PasswordAuthenticator.
type TempAuth struct {
	prefix    string
	ttl       time.Duration
	maxTokens int
	now       func() time.Time

	mu      sync.Mutex
	users   map[string]*tempUser  // by "account:user"; replaced by SetAccounts
	tokens  map[string]*tempToken // by token
	inserts int                   // since the last purge
}

type tempUser struct {
	account string // with prefix
	id      Identity
	key     []byte
	current string // last token issued, reused while valid (as tempauth does)
}

type tempToken struct {
	user    *tempUser
	expires time.Time
}

// TempAuthConfig configures NewTempAuth.
type TempAuthConfig struct {
	Accounts []Account
	// ResellerPrefix is prepended to account names ("" means "AUTH_").
	ResellerPrefix string
	// TokenTTL is how long a token is valid (0 means 24h, tempauth's
	// token_life default 86400 s).
	TokenTTL time.Duration
	// MaxTokens bounds the tokens kept in memory (0 means 100000); when
	// full, expired tokens are purged, then the ones expiring first.
	MaxTokens int
}

// NewTempAuth returns a TempAuth for the configured users. Account and
// user names must be non-empty, without ':' and '/'; keys non-empty.
func NewTempAuth(cfg TempAuthConfig) (*TempAuth, error) {
	a := &TempAuth{
		prefix:    cfg.ResellerPrefix,
		ttl:       cfg.TokenTTL,
		maxTokens: cfg.MaxTokens,
		tokens:    map[string]*tempToken{},
		now:       time.Now,
	}
	if a.prefix == "" {
		a.prefix = "AUTH_"
	}
	if a.ttl <= 0 {
		a.ttl = 24 * time.Hour
	}
	if a.maxTokens <= 0 {
		a.maxTokens = 100000
	}
	users, err := a.buildUsers(cfg.Accounts)
	if err != nil {
		return nil, err
	}
	a.users = users
	return a, nil
}

// buildUsers validates accounts and returns their users by
// "account:user".
func (a *TempAuth) buildUsers(accounts []Account) (map[string]*tempUser, error) {
	users := map[string]*tempUser{}
	for _, acc := range accounts {
		if acc.Name == "" || strings.ContainsAny(acc.Name, ":/") {
			return nil, fmt.Errorf("glanceshim: tempauth: bad account name %q", acc.Name)
		}
		for _, u := range acc.Users {
			if u.Name == "" || strings.ContainsAny(u.Name, ":/") || u.Key == "" {
				return nil, fmt.Errorf("glanceshim: tempauth: bad user %q in account %q (empty key or name with ':' or '/')", u.Name, acc.Name)
			}
			name := acc.Name + ":" + u.Name
			if _, dup := users[name]; dup {
				return nil, fmt.Errorf("glanceshim: tempauth: duplicate user %q", name)
			}
			full := a.prefix + acc.Name
			users[name] = &tempUser{
				account: full,
				key:     []byte(u.Key),
				id: Identity{
					Account:       full,
					User:          name,
					Groups:        []string{name, acc.Name, full},
					Admin:         u.Admin || u.ResellerAdmin,
					ResellerAdmin: u.ResellerAdmin,
				},
			}
		}
	}
	return users, nil
}

// SetAccounts replaces the accounts and users (a configuration reload).
// Users whose key and roles are unchanged keep their tokens; the tokens
// of removed or changed users are revoked at once. On a validation error
// (as NewTempAuth's) nothing changes. It returns the number of tokens
// revoked.
func (a *TempAuth) SetAccounts(accounts []Account) (revoked int, err error) {
	users, err := a.buildUsers(accounts)
	if err != nil {
		return 0, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for name, nu := range users {
		if old, ok := a.users[name]; ok && sameUser(old, nu) {
			users[name] = old // keeps its tokens and current token
		}
	}
	for id, t := range a.tokens {
		if users[t.user.id.User] != t.user {
			delete(a.tokens, id)
			revoked++
		}
	}
	a.users = users
	return revoked, nil
}

func sameUser(a, b *tempUser) bool {
	return a.account == b.account && subtle.ConstantTimeCompare(a.key, b.key) == 1 &&
		a.id.Admin == b.id.Admin && a.id.ResellerAdmin == b.id.ResellerAdmin
}

// Login implements PasswordAuthenticator: a valid user gets its current
// token if it is still valid for at least half of TokenTTL, else a new
// one ("AUTH_tk" + 32 random bytes in hex).
func (a *TempAuth) Login(_ context.Context, user, key string) (Token, error) {
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	u, ok := a.users[user]
	if !ok {
		return Token{}, fmt.Errorf("login of %q: unknown user: %w", user, ErrUnauthorized)
	}
	if subtle.ConstantTimeCompare(u.key, []byte(key)) != 1 {
		return Token{}, fmt.Errorf("login of %q: wrong key: %w", user, ErrUnauthorized)
	}
	if t, ok := a.tokens[u.current]; ok && t.expires.Sub(now) > a.ttl/2 {
		return Token{ID: u.current, Account: u.account, Expires: t.expires}, nil
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return Token{}, fmt.Errorf("glanceshim: token: %w", err)
	}
	id := "AUTH_tk" + hex.EncodeToString(b[:])
	a.purgeLocked(now)
	exp := now.Add(a.ttl)
	a.tokens[id] = &tempToken{user: u, expires: exp}
	u.current = id
	return Token{ID: id, Account: u.account, Expires: exp}, nil
}

// purgeLocked makes room for one more token: every 1024 inserts, or when
// the map is full, it drops expired tokens; if still full, the tokens
// expiring first. Purging on insert needs no goroutine.
func (a *TempAuth) purgeLocked(now time.Time) {
	a.inserts++
	if a.inserts < 1024 && len(a.tokens) < a.maxTokens {
		return
	}
	a.inserts = 0
	for id, t := range a.tokens {
		if !now.Before(t.expires) {
			delete(a.tokens, id)
		}
	}
	for len(a.tokens) >= a.maxTokens {
		var oldest string
		var when time.Time
		for id, t := range a.tokens {
			if oldest == "" || t.expires.Before(when) {
				oldest, when = id, t.expires
			}
		}
		delete(a.tokens, oldest)
	}
}

// Authenticate implements Authenticator.
func (a *TempAuth) Authenticate(_ context.Context, token string) (Identity, error) {
	a.mu.Lock()
	t, ok := a.tokens[token]
	if ok && !a.now().Before(t.expires) {
		delete(a.tokens, token)
		a.mu.Unlock()
		// The user, never the token, names it in the log.
		return Identity{}, fmt.Errorf("token of %q expired at %s: %w", t.user.id.User, t.expires.UTC().Format(time.RFC3339), ErrUnauthorized)
	}
	a.mu.Unlock()
	if !ok {
		return Identity{}, fmt.Errorf("unknown token (never issued, expired and purged, or issued before a restart): %w", ErrUnauthorized)
	}
	id := t.user.id
	id.Expires = t.expires
	return id, nil
}

var _ PasswordAuthenticator = (*TempAuth)(nil)

// handleAuth serves GET /auth/v1.0 like tempauth's handle_get_token:
// X-Auth-User "account:user" + X-Auth-Key (or X-Storage-User +
// X-Storage-Pass) → 200 with X-Auth-Token, X-Storage-Token,
// X-Storage-Url and X-Auth-Token-Expires (seconds), empty body.
func (q *request) handleAuth() error {
	if q.r.Method != http.MethodGet && q.r.Method != http.MethodHead {
		return httpErr(http.StatusMethodNotAllowed, "")
	}
	pa, ok := q.s.auth.(PasswordAuthenticator)
	if !ok {
		return httpErr(http.StatusNotFound, "")
	}
	user := q.r.Header.Get("X-Auth-User")
	if user == "" {
		user = q.r.Header.Get("X-Storage-User")
	}
	key := q.r.Header.Get("X-Auth-Key")
	if key == "" {
		key = q.r.Header.Get("X-Storage-Pass")
	}
	if user == "" || key == "" {
		return fmt.Errorf("login without credentials: %w", ErrUnauthorized)
	}
	tok, err := pa.Login(q.r.Context(), user, key)
	if err != nil {
		return err
	}
	h := q.w.Header()
	h.Set("X-Auth-Token", tok.ID)
	h.Set("X-Storage-Token", tok.ID)
	h.Set("X-Storage-Url", q.s.storageURL(q.r, tok.Account))
	secs := int64(time.Until(tok.Expires) / time.Second)
	if secs < 0 {
		secs = 0
	}
	h.Set("X-Auth-Token-Expires", strconv.FormatInt(secs, 10))
	h.Set("Content-Type", "text/html; charset=UTF-8") // tempauth's (swob's default)
	h.Set("Content-Length", "0")
	q.w.WriteHeader(http.StatusOK)
	return nil
}

// storageURL is the X-Storage-Url of account: Config.StorageURL, else the
// scheme and Host header of the request (as tempauth builds it).
func (s *Server) storageURL(r *http.Request, account string) string {
	base := s.cfg.StorageURL
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	return strings.TrimSuffix(base, "/") + "/v1/" + escapePath(account)
}

// authenticate sets q.id from the request's token; a request without a
// token stays anonymous (q.id nil) and is refused by authorize unless a
// container ACL lets everyone in. For a Keystone identity, a valid
// X-Service-Token adds its roles as the identity's ServiceRoles (an
// invalid one is 401, as keystonemiddleware answers).
func (q *request) authenticate() error {
	tok := q.r.Header.Get("X-Auth-Token")
	if tok == "" {
		tok = q.r.Header.Get("X-Storage-Token")
	}
	if tok == "" {
		return nil
	}
	id, err := q.s.auth.Authenticate(q.r.Context(), tok)
	if err != nil {
		return err
	}
	if st := q.r.Header.Get("X-Service-Token"); st != "" && id.Keystone != nil {
		sid, err := q.s.auth.Authenticate(q.r.Context(), st)
		if err != nil {
			return fmt.Errorf("service token: %w", err)
		}
		ks := *id.Keystone // a copy: the Authenticator may share *id.Keystone
		if sid.Keystone != nil {
			ks.ServiceRoles = sid.Keystone.Roles
		}
		id.Keystone = &ks
	}
	q.id = &id
	return nil
}

// isOwner reports whether the identity has full access to the request's
// account: a reseller admin, or an admin of that account.
func (q *request) isOwner() bool { return q.isOwnerOf(q.p.Account) }

// isOwnerOf is isOwner for any account: keystoneauth's swift_owner rules
// for a Keystone identity (keystoneauth.go), tempauth's otherwise.
func (q *request) isOwnerOf(account string) bool {
	if q.id == nil {
		return false
	}
	if q.id.Keystone != nil {
		return q.s.ks.isOwner(q.id.Keystone, account)
	}
	return q.id.ResellerAdmin || q.id.Admin && q.id.Account == account
}

// denied is 401 for an anonymous request and 403 for an identified one.
func (q *request) denied() error {
	if q.id == nil {
		return fmt.Errorf("no token: %w", ErrUnauthorized)
	}
	return fmt.Errorf("%s on %s: %w", q.id.User, q.p.Account, ErrForbidden)
}

// authorizeContainer decides access to a container or its objects for a
// non-owner from the container's ACLs: read for GET/HEAD, write for the
// rest; listing is a container GET/HEAD. Keystone identities follow
// keystoneauth (cross-tenant "<project>:<user>" entries by ID or name,
// referrers, roles); tempauth identities match their groups with the
// exact "<account>:<user>" or "<account>" entries (no wildcards, as
// tempauth); then
// referrer ACLs (".r:*", ".r:host", ".r:.domain", ".r:-host"; listings
// also need ".rlistings"). Owners never get here.
func (q *request) authorizeContainer(meta map[string]string, write, listing bool) error {
	acl := meta["x-container-read"]
	if write {
		acl = meta["x-container-write"]
	}
	if q.id != nil && q.id.Keystone != nil {
		if q.s.ks.authorizeKeystone(q.id.Keystone, acl, q.r.Referer(), listing) {
			return nil
		}
		return q.denied()
	}
	referrers, groups := parseACL(acl)
	if q.id != nil && aclMatches(groups, q.id.Groups) {
		return nil
	}
	if referrerAllowed(q.r.Referer(), referrers) && (!listing || slices.Contains(groups, ".rlistings")) {
		return nil
	}
	return q.denied()
}

// aclMatches reports whether ACL groups (from parseACL: "a:u", "b") name
// one of a tempauth identity's groups ("account:user", "account",
// "AUTH_account"). As Swift's tempauth, only exact names match: "a:*",
// "*:u" and "*:*" are keystoneauth's wildcards and name no tempauth user.
func aclMatches(acl []string, groups []string) bool {
	for _, e := range acl {
		if strings.HasPrefix(e, ".") {
			continue
		}
		if slices.Contains(groups, e) {
			return true
		}
	}
	return false
}

// errNoAuthenticator is returned by New without Authenticator nor users.
var errNoAuthenticator = errors.New("glanceshim: no Authenticator and no Config.Accounts")
