package node

import (
	"strings"
	"testing"
	"time"

	glanceshim "github.com/nitro-cloud/nitro/glance-shim"
	"github.com/nitro-cloud/nitro/keystone"
)

const ksBase = "swift:\n  accounts: []\nkeystone:\n  auth_url: http://127.0.0.1:5000/v3\n  username: swift\n  password: pw\n  project_name: service\n"

func TestKeystoneConfig(t *testing.T) {
	tests := []parseCase{
		{name: "off by default", yaml: "", check: func(t *testing.T, c Config) {
			k := c.Keystone
			if k.Enabled() || k.Timeout != 5*time.Second || k.CacheTTL != 5*time.Minute || k.InvalidCacheTTL != 10*time.Second ||
				k.CacheSize != 10000 || k.ResellerAdminRole != "ResellerAdmin" || !k.AllowNamesInACLs || k.DefaultDomainID != "default" ||
				len(k.ResellerPrefixes) != 1 || k.ResellerPrefixes[0].Prefix != "AUTH_" ||
				strings.Join(k.ResellerPrefixes[0].OperatorRoles, ",") != "admin,member" {
				t.Errorf("%+v", k)
			}
			if a, err := swiftAuthenticator(c, nil); a != nil || err != nil {
				t.Errorf("authenticator without keystone: %v %v (want nil: built-in tempauth)", a, err)
			}
		}},
		{name: "keystone only", yaml: ksBase, check: func(t *testing.T, c Config) {
			a, err := swiftAuthenticator(c, nil)
			if _, ok := a.(*keystone.Validator); !ok || err != nil {
				t.Errorf("authenticator %T %v, want *keystone.Validator", a, err)
			}
			ka := keystoneAuthConfig(c)
			if ka == nil || ka.WWWAuthenticateURI != "http://127.0.0.1:5000/v3" || ka.Prefixes[0].Prefix != "AUTH_" {
				t.Errorf("keystoneauth %+v", ka)
			}
		}},
		{name: "keystone and tempauth", yaml: strings.Replace(ksBase, "accounts: []", "accounts: [{name: glance, users: [{name: glance, key: k, roles: [admin]}]}]", 1) +
			"  reseller_prefixes:\n    - {prefix: AUTH_, operator_roles: [admin]}\n    - {prefix: SERVICE_, operator_roles: [admin], service_roles: [service]}\n",
			check: func(t *testing.T, c Config) {
				a, err := swiftAuthenticator(c, nil)
				if _, ok := a.(glanceshim.AuthChain); !ok || err != nil {
					t.Errorf("authenticator %T %v, want glanceshim.AuthChain", a, err)
				}
				if p := keystoneAuthConfig(c).Prefixes; len(p) != 2 || p[1].ServiceRoles[0] != "service" {
					t.Errorf("prefixes %+v", p)
				}
			}},
		{name: "developer accounts refused with keystone", yaml: strings.Replace(ksBase, "swift:\n  accounts: []\n", "", 1), wantErr: "swift.accounts: the built-in developer accounts"},
		{name: "bad url", yaml: strings.Replace(ksBase, "http://127.0.0.1:5000/v3", "keystone:5000", 1), wantErr: "keystone.auth_url"},
		{name: "no password", yaml: strings.Replace(ksBase, "  password: pw\n", "", 1), wantErr: "keystone.password"},
		{name: "no timeout", yaml: ksBase + "  timeout: 0s\n", wantErr: "keystone.timeout"},
		{name: "no cache", yaml: ksBase + "  cache_size: 0\n", wantErr: "keystone.cache_size"},
		{name: "no prefixes", yaml: ksBase + "  reseller_prefixes: []\n", wantErr: "keystone.reseller_prefixes"},
		{name: "duplicate prefix", yaml: ksBase + "  reseller_prefixes: [{prefix: AUTH_}, {prefix: AUTH_}]\n", wantErr: "duplicate prefix"},
		{name: "unknown key", yaml: ksBase + "  auth_uri: x\n", wantErr: "field auth_uri not found"},
	}
	runParseCases(t, tests, func(t *testing.T, tt parseCase, err error) {
		if strings.Contains(err.Error(), "pw") && !strings.Contains(tt.wantErr, "pw") {
			t.Errorf("password in error: %v", err)
		}
	})
}
