// Package keystone validates OpenStack Keystone v3 tokens for Nitro's
// Swift API, as keystonemiddleware's auth_token does for Swift's proxy:
// each X-Auth-Token not seen before is checked with
// GET /v3/auth/tokens (X-Subject-Token) under Nitro's own service token,
// and the answer is cached. Authorization (keystoneauth's rules) is the
// Swift front end's job (glance-shim/keystoneauth.go); this package only
// says who a token belongs to.
//
// Protocol: Keystone's Identity API v3 (docs.openstack.org/api-ref/
// identity/v3, "Validate and show information for token"), spoken through
// gophercloud v2 (token issue, re-authentication and the validation
// request).
package keystone

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"
	lru "github.com/hashicorp/golang-lru/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/sync/singleflight"

	glanceshim "github.com/nitro-cloud/nitro/glance-shim"
)

// MaxTokenLen is the longest X-Auth-Token sent to Keystone, in bytes.
// Fernet tokens are under 260 bytes and JWS tokens under 1 KiB; a longer
// or non-printable token is refused (401) without asking Keystone.
const MaxTokenLen = 4096

// renewBefore is how long before its expiry Nitro's own service token is
// replaced (keystoneauth1's MIN_TOKEN_LIFE_SECONDS is 120 s).
const renewBefore = 2 * time.Minute

// Config configures a Validator. Zero durations and sizes take the
// defaults noted on each field.
type Config struct {
	// AuthURL is Keystone's v3 endpoint ("http://127.0.0.1:5000/v3").
	AuthURL string
	// Username, Password, ProjectName, UserDomainName and
	// ProjectDomainName are Nitro's own service user, which must be
	// allowed to validate tokens (e.g. admin in project "service"). The
	// password is never logged.
	Username, Password string
	ProjectName        string
	UserDomainName     string // "" means "Default"
	ProjectDomainName  string // "" means "Default"
	// RegionName is recorded for the logs; validation does not use the
	// catalog.
	RegionName string
	// Timeout bounds each request to Keystone (0 means 5 s): a slow or
	// unreachable Keystone costs an uncached token at most this long
	// before the request is answered 503.
	Timeout time.Duration
	// CacheTTL is how long a valid token is trusted without asking
	// Keystone again, capped by the token's own expiry (0 means 5 min,
	// keystonemiddleware's token_cache_time). A revoked token keeps
	// working until its entry expires.
	CacheTTL time.Duration
	// InvalidCacheTTL is how long an unknown, expired or revoked token is
	// remembered as invalid (0 means 10 s).
	InvalidCacheTTL time.Duration
	// CacheSize bounds the cache in entries (0 means 10000); the least
	// recently used entry goes first.
	CacheSize int
	// ResellerPrefix prefixes the project ID in Identity.Account (""
	// means "AUTH_").
	ResellerPrefix string
}

func (c *Config) setDefaults() {
	if c.UserDomainName == "" {
		c.UserDomainName = "Default"
	}
	if c.ProjectDomainName == "" {
		c.ProjectDomainName = "Default"
	}
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Second
	}
	if c.CacheTTL <= 0 {
		c.CacheTTL = 5 * time.Minute
	}
	if c.InvalidCacheTTL <= 0 {
		c.InvalidCacheTTL = 10 * time.Second
	}
	if c.CacheSize <= 0 {
		c.CacheSize = 10000
	}
	if c.ResellerPrefix == "" {
		c.ResellerPrefix = "AUTH_"
	}
}

// Validator validates Keystone tokens; it implements
// glanceshim.Authenticator and is safe for concurrent use.
type Validator struct {
	cfg      Config
	log      *zap.Logger
	now      func() time.Time
	provider *gophercloud.ProviderClient
	identity *gophercloud.ServiceClient
	authOpts *gophercloud.AuthOptions
	cache    *lru.Cache[[sha256.Size]byte, entry]
	flight   singleflight.Group

	mu         sync.Mutex
	svcExpires time.Time // expiry of Nitro's service token; zero: none yet
	lastOutage time.Time // last outage line logged at Error
}

// outageLogEvery bounds the outage lines at Error level during an
// outage; the others go to Debug.
const outageLogEvery = 10 * time.Second

// outageLevel is Error for the first outage line in outageLogEvery,
// Debug for the rest, so that an outage does not flood the log.
func (v *Validator) outageLevel() zapcore.Level {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := v.now()
	if now.Sub(v.lastOutage) < outageLogEvery && !v.lastOutage.IsZero() {
		return zapcore.DebugLevel
	}
	v.lastOutage = now
	return zapcore.ErrorLevel
}

// entry is a cached validation: an identity, or err for an invalid token.
type entry struct {
	id    glanceshim.Identity
	err   error
	until time.Time
}

// New returns a Validator for cfg. It does not contact Keystone: the
// service token is fetched on the first validation, so Nitro starts (and
// serves tempauth) while Keystone is down. log nil means no logging.
func New(cfg Config, log *zap.Logger) (*Validator, error) {
	cfg.setDefaults()
	if !strings.HasPrefix(cfg.AuthURL, "http://") && !strings.HasPrefix(cfg.AuthURL, "https://") {
		return nil, fmt.Errorf("keystone: auth_url %q must start with http:// or https://", cfg.AuthURL)
	}
	if cfg.Username == "" || cfg.Password == "" || cfg.ProjectName == "" {
		return nil, errors.New("keystone: username, password and project_name are required")
	}
	if log == nil {
		log = zap.NewNop()
	}
	provider, err := openstack.NewClient(cfg.AuthURL)
	if err != nil {
		return nil, fmt.Errorf("keystone: auth_url: %w", err)
	}
	provider.HTTPClient = http.Client{Timeout: cfg.Timeout}
	provider.UserAgent.Prepend("nitro-keystone")
	idc, err := openstack.NewIdentityV3(provider, gophercloud.EndpointOpts{})
	if err != nil {
		return nil, fmt.Errorf("keystone: identity client: %w", err)
	}
	cache, err := lru.New[[sha256.Size]byte, entry](cfg.CacheSize)
	if err != nil {
		return nil, fmt.Errorf("keystone: cache: %w", err)
	}
	v := &Validator{
		cfg: cfg, log: log.Named("keystone"), now: time.Now,
		provider: provider, identity: idc, cache: cache,
		authOpts: &gophercloud.AuthOptions{
			IdentityEndpoint: cfg.AuthURL,
			Username:         cfg.Username,
			Password:         cfg.Password,
			DomainName:       cfg.UserDomainName,
			AllowReauth:      true, // a 401 on our own token re-authenticates once
			Scope: &gophercloud.AuthScope{
				ProjectName: cfg.ProjectName,
				DomainName:  cfg.ProjectDomainName,
			},
		},
	}
	return v, nil
}

// TokenHash is the short, non-reversible form of a token used in logs:
// the first 12 hex digits of its SHA-256.
func TokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:6])
}

// wellFormed reports whether token may be sent to Keystone: 1 to
// MaxTokenLen printable ASCII bytes without spaces.
func wellFormed(token string) bool {
	if token == "" || len(token) > MaxTokenLen {
		return false
	}
	for i := 0; i < len(token); i++ {
		if c := token[i]; c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

// Authenticate implements glanceshim.Authenticator. A token in the cache
// is answered from it; otherwise one request to Keystone is made however
// many callers ask for the same token at once. Errors: wrapping
// glanceshim.ErrUnauthorized for a malformed, unknown, expired or revoked
// token (401); wrapping glanceshim.ErrUnavailable when Keystone cannot
// answer within Config.Timeout (503); ctx's error if ctx ends first.
func (v *Validator) Authenticate(ctx context.Context, token string) (glanceshim.Identity, error) {
	if !wellFormed(token) {
		return glanceshim.Identity{}, fmt.Errorf("keystone: malformed token (%d bytes): %w", len(token), glanceshim.ErrUnauthorized)
	}
	key := sha256.Sum256([]byte(token))
	if e, ok := v.cache.Get(key); ok && v.now().Before(e.until) {
		return e.id, e.err
	}
	ch := v.flight.DoChan(string(key[:]), func() (any, error) {
		e := v.validate(token, key)
		return e, nil
	})
	select {
	case r := <-ch:
		e := r.Val.(entry)
		return e.id, e.err
	case <-ctx.Done():
		return glanceshim.Identity{}, fmt.Errorf("keystone: waiting for validation: %w", ctx.Err())
	}
}

// validate asks Keystone about token and caches a definite answer. It runs
// once per token at a time (singleflight) on its own context, bounded by
// Config.Timeout, so a caller giving up does not fail the others.
func (v *Validator) validate(token string, key [sha256.Size]byte) entry {
	ctx, cancel := context.WithTimeout(context.Background(), v.cfg.Timeout)
	defer cancel()
	th := TokenHash(token)
	if err := v.ensureServiceToken(ctx); err != nil {
		if ce := v.log.Check(v.outageLevel(), "keystone unreachable or refusing Nitro's service user: answering 503 for uncached tokens"); ce != nil {
			ce.Write(zap.String("auth_url", v.cfg.AuthURL), zap.String("user", v.cfg.Username),
				zap.String("token_sha256", th), zap.Error(err))
		}
		return entry{err: fmt.Errorf("keystone: service token: %w", glanceshim.ErrUnavailable)}
	}
	var r tokens.GetResult
	// ?nocatalog: the catalog is not needed and is most of the body.
	resp, err := v.identity.Get(ctx, v.identity.ServiceURL("auth", "tokens")+"?nocatalog", &r.Body,
		&gophercloud.RequestOpts{MoreHeaders: map[string]string{"X-Subject-Token": token}, OkCodes: []int{200, 203}})
	_, r.Header, r.Err = gophercloud.ParseResponse(resp, err)
	now := v.now()
	switch {
	case r.Err == nil:
		id, err := v.identityOf(r)
		if err != nil {
			v.log.Error("keystone: unreadable token validation", zap.String("token_sha256", th), zap.Error(err))
			return entry{err: fmt.Errorf("keystone: %w: %w", err, glanceshim.ErrUnavailable)}
		}
		until := now.Add(v.cfg.CacheTTL)
		if !id.Expires.IsZero() && id.Expires.Before(until) {
			until = id.Expires
		}
		if !now.Before(until) { // expired while in flight
			e := entry{err: fmt.Errorf("keystone: token expired: %w", glanceshim.ErrUnauthorized), until: now.Add(v.cfg.InvalidCacheTTL)}
			v.cache.Add(key, e)
			return e
		}
		e := entry{id: id, until: until}
		v.cache.Add(key, e)
		v.log.Debug("keystone token validated", zap.String("token_sha256", th),
			zap.String("user_id", id.Keystone.UserID), zap.String("project_id", id.Keystone.ProjectID),
			zap.Time("expires", id.Expires))
		return e
	case gophercloud.ResponseCodeIs(r.Err, http.StatusNotFound):
		// Keystone's answer for an unknown, expired or revoked token.
		e := entry{err: fmt.Errorf("keystone: token not valid: %w", glanceshim.ErrUnauthorized), until: now.Add(v.cfg.InvalidCacheTTL)}
		v.cache.Add(key, e)
		v.log.Debug("keystone token rejected", zap.String("token_sha256", th))
		return e
	default:
		if ce := v.log.Check(v.outageLevel(), "keystone unreachable or failing: answering 503 for uncached tokens"); ce != nil {
			ce.Write(zap.String("auth_url", v.cfg.AuthURL), zap.String("token_sha256", th), zap.Error(r.Err))
		}
		return entry{err: fmt.Errorf("keystone: validation: %w", glanceshim.ErrUnavailable)}
	}
}

// identityOf maps a validation response to an Identity.
func (v *Validator) identityOf(r tokens.GetResult) (glanceshim.Identity, error) {
	tok, err := r.ExtractToken()
	if err != nil {
		return glanceshim.Identity{}, err
	}
	user, err := r.ExtractUser()
	if err != nil {
		return glanceshim.Identity{}, err
	}
	roles, err := r.ExtractRoles()
	if err != nil {
		return glanceshim.Identity{}, err
	}
	proj, err := r.ExtractProject()
	if err != nil {
		return glanceshim.Identity{}, err
	}
	ks := &glanceshim.KeystoneIdentity{
		UserID: user.ID, UserName: user.Name,
		UserDomainID: user.Domain.ID, UserDomainName: user.Domain.Name,
	}
	for _, ro := range roles {
		ks.Roles = append(ks.Roles, ro.Name)
	}
	id := glanceshim.Identity{Expires: tok.ExpiresAt, Keystone: ks, User: ":" + user.Name}
	if proj != nil && proj.ID != "" {
		ks.ProjectID, ks.ProjectName = proj.ID, proj.Name
		ks.ProjectDomainID, ks.ProjectDomainName = proj.Domain.ID, proj.Domain.Name
		id.Account = v.cfg.ResellerPrefix + proj.ID
		id.User = proj.Name + ":" + user.Name
	}
	return id, nil
}

// ensureServiceToken gets Nitro's own token when there is none or it
// expires within renewBefore (one request however many callers).
// Between renewals, gophercloud re-authenticates once on a 401.
func (v *Validator) ensureServiceToken(ctx context.Context) error {
	v.mu.Lock()
	exp := v.svcExpires
	v.mu.Unlock()
	if !exp.IsZero() && v.now().Add(renewBefore).Before(exp) {
		return nil
	}
	_, err, _ := v.flight.Do("\x00service-token", func() (any, error) {
		if err := openstack.AuthenticateV3(ctx, v.provider, v.authOpts, gophercloud.EndpointOpts{}); err != nil {
			return nil, err
		}
		exp := v.now().Add(time.Hour) // if Keystone gives no expiry
		if cr, ok := v.provider.GetAuthResult().(tokens.CreateResult); ok {
			if t, err := cr.ExtractToken(); err == nil && !t.ExpiresAt.IsZero() {
				exp = t.ExpiresAt
			}
		}
		v.mu.Lock()
		v.svcExpires = exp
		v.mu.Unlock()
		v.log.Info("keystone service token issued", zap.String("auth_url", v.cfg.AuthURL),
			zap.String("user", v.cfg.Username), zap.String("project", v.cfg.ProjectName),
			zap.String("region", v.cfg.RegionName), zap.Time("expires", exp))
		return nil, nil
	})
	return err
}

var _ glanceshim.Authenticator = (*Validator)(nil)
