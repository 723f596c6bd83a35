package e2e

import (
	"strings"
	"testing"

	"github.com/nitro-cloud/nitro/internal/testenv"
)

// TestKeystoneHarness checks the shared Keystone the other Keystone tests
// use: the demo user gets a project-scoped fernet token whose catalog has
// an object-store endpoint per region, pointing at that region's reserved
// address with AUTH_<demo project ID>.
func TestKeystoneHarness(t *testing.T) {
	testenv.Short(t)
	k := sharedKeystoneFor(t)
	for _, r := range keystoneRegions {
		tok, su := k.token(t, ksCreds{"demo", ksDemoPassword, "demo"}, r)
		if !strings.HasPrefix(tok, "gAAAA") {
			t.Errorf("token %.8s...: want a fernet token", tok)
		}
		want := "http://" + k.ObjectStoreAddr[r] + "/v1/AUTH_" + k.Seed.Projects["demo"]
		if su != want {
			t.Errorf("%s object-store endpoint %s, want %s", r, su, want)
		}
	}
	for _, name := range []string{"glance", "nitro", "demo", "alt"} {
		if k.Seed.Users[name] == "" {
			t.Errorf("seed has no user %s: %+v", name, k.Seed.Users)
		}
	}
}
