package node

import (
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	glanceshim "github.com/nitro-cloud/nitro/glance-shim"
	"github.com/nitro-cloud/nitro/keystone"
)

// KeystoneConfig configures Keystone v3 token validation (as
// keystonemiddleware's auth_token) and authorization (as Swift's
// keystoneauth). Keystone is off while AuthURL is "".
type KeystoneConfig struct {
	// AuthURL is Keystone's v3 endpoint ("http://127.0.0.1:5000/v3").
	AuthURL string `yaml:"auth_url"`
	// Username, Password, ProjectName, UserDomainName, ProjectDomainName:
	// Nitro's own service user, which validates tokens.
	Username          string `yaml:"username"`
	Password          string `yaml:"password"`
	ProjectName       string `yaml:"project_name"`
	UserDomainName    string `yaml:"user_domain_name"`
	ProjectDomainName string `yaml:"project_domain_name"`
	// RegionName is recorded in the logs.
	RegionName string `yaml:"region_name"`
	// Timeout bounds each request to Keystone (> 0).
	Timeout time.Duration `yaml:"timeout"`
	// CacheTTL caps how long a valid token is cached (> 0).
	CacheTTL time.Duration `yaml:"cache_ttl"`
	// InvalidCacheTTL is how long an invalid token is cached (> 0).
	InvalidCacheTTL time.Duration `yaml:"invalid_cache_ttl"`
	// CacheSize bounds the token cache in entries (> 0).
	CacheSize int `yaml:"cache_size"`
	// WWWAuthenticateURI is the uri of 401's WWW-Authenticate: Keystone
	// header; "" means AuthURL.
	WWWAuthenticateURI string `yaml:"www_authenticate_uri"`
	// ResellerAdminRole reaches every account (keystoneauth's
	// reseller_admin_role).
	ResellerAdminRole string `yaml:"reseller_admin_role"`
	// DefaultDomainID and AllowNamesInACLs: keystoneauth's options of the
	// same names.
	DefaultDomainID  string `yaml:"default_domain_id"`
	AllowNamesInACLs bool   `yaml:"allow_names_in_acls"`
	// ResellerPrefixes are the account prefixes with their roles; the
	// first one names the project's account in the logs.
	ResellerPrefixes []ResellerPrefixConfig `yaml:"reseller_prefixes"`
}

// ResellerPrefixConfig is one of keystoneauth's reseller prefixes with its
// operator_roles and service_roles.
type ResellerPrefixConfig struct {
	Prefix        string   `yaml:"prefix"`
	OperatorRoles []string `yaml:"operator_roles"`
	ServiceRoles  []string `yaml:"service_roles"`
}

// Enabled reports whether Keystone is configured.
func (k *KeystoneConfig) Enabled() bool { return k.AuthURL != "" }

// validateKeystone checks the keystone section; errors name the field.
func (c *Config) validateKeystone(add func(field, format string, args ...any)) {
	k := &c.Keystone
	if !k.Enabled() {
		return
	}
	if !strings.HasPrefix(k.AuthURL, "http://") && !strings.HasPrefix(k.AuthURL, "https://") {
		add("keystone.auth_url", "%q must start with http:// or https://", k.AuthURL)
	}
	for f, v := range map[string]string{"keystone.username": k.Username, "keystone.password": k.Password,
		"keystone.project_name": k.ProjectName, "keystone.reseller_admin_role": k.ResellerAdminRole} {
		if v == "" {
			add(f, "must not be empty when keystone.auth_url is set")
		}
	}
	for f, d := range map[string]time.Duration{"keystone.timeout": k.Timeout, "keystone.cache_ttl": k.CacheTTL,
		"keystone.invalid_cache_ttl": k.InvalidCacheTTL} {
		positive(add, f, d)
	}
	positive(add, "keystone.cache_size", k.CacheSize)
	if len(k.ResellerPrefixes) == 0 {
		add("keystone.reseller_prefixes", "must list at least one prefix")
	}
	seen := map[string]bool{}
	for i, p := range k.ResellerPrefixes {
		f := fmt.Sprintf("keystone.reseller_prefixes[%d]", i)
		if p.Prefix == "" || strings.ContainsAny(p.Prefix, "/:\x00") {
			add(f+".prefix", "%q must be non-empty without '/', ':' or NUL", p.Prefix)
		}
		if seen[p.Prefix] {
			add(f+".prefix", "duplicate prefix %q", p.Prefix)
		}
		seen[p.Prefix] = true
	}
	if c.DevAccounts() {
		add("swift.accounts", "the built-in developer accounts must not be served with Keystone: list your own tempauth users, or [] to turn tempauth off")
	}
}

// keystoneValidatorConfig maps cfg.Keystone to the validator's config.
func keystoneValidatorConfig(cfg Config) keystone.Config {
	k := cfg.Keystone
	prefix := "AUTH_"
	if len(k.ResellerPrefixes) > 0 {
		prefix = k.ResellerPrefixes[0].Prefix
	}
	return keystone.Config{
		AuthURL: k.AuthURL, Username: k.Username, Password: k.Password, ProjectName: k.ProjectName,
		UserDomainName: k.UserDomainName, ProjectDomainName: k.ProjectDomainName, RegionName: k.RegionName,
		Timeout: k.Timeout, CacheTTL: k.CacheTTL, InvalidCacheTTL: k.InvalidCacheTTL, CacheSize: k.CacheSize,
		ResellerPrefix: prefix,
	}
}

// keystoneAuthConfig maps cfg.Keystone to the front end's keystoneauth
// rules (nil when Keystone is off).
func keystoneAuthConfig(cfg Config) *glanceshim.KeystoneAuth {
	k := cfg.Keystone
	if !k.Enabled() {
		return nil
	}
	ka := &glanceshim.KeystoneAuth{
		ResellerAdminRole: k.ResellerAdminRole, DefaultDomainID: k.DefaultDomainID,
		AllowNamesInACLs: k.AllowNamesInACLs, WWWAuthenticateURI: k.WWWAuthenticateURI,
	}
	if ka.WWWAuthenticateURI == "" {
		ka.WWWAuthenticateURI = k.AuthURL
	}
	for _, p := range k.ResellerPrefixes {
		ka.Prefixes = append(ka.Prefixes, glanceshim.ResellerPrefix{
			Prefix: p.Prefix, OperatorRoles: p.OperatorRoles, ServiceRoles: p.ServiceRoles,
		})
	}
	return ka
}

// swiftAuthenticator returns the Swift front end's Authenticator: nil
// (the built-in tempauth over swift.accounts) without Keystone; with it,
// the Keystone validator alone when swift.accounts is empty, else both
// side by side (glanceshim.AuthChain).
func swiftAuthenticator(cfg Config, log *zap.Logger) (glanceshim.Authenticator, error) {
	if !cfg.Keystone.Enabled() {
		return nil, nil
	}
	v, err := keystone.New(keystoneValidatorConfig(cfg), log)
	if err != nil {
		return nil, fmt.Errorf("node: keystone: %w", err)
	}
	if len(cfg.Swift.Accounts) == 0 {
		return v, nil
	}
	sc := shimConfig(cfg)
	ta, err := glanceshim.NewTempAuth(glanceshim.TempAuthConfig{
		Accounts: sc.Accounts, ResellerPrefix: sc.ResellerPrefix, TokenTTL: sc.TokenTTL, MaxTokens: sc.MaxTokens,
	})
	if err != nil {
		return nil, fmt.Errorf("node: tempauth: %w", err)
	}
	return glanceshim.AuthChain{TempAuth: ta, Other: v}, nil
}
