package node

import (
	"strings"
	"testing"
)

// TestStoreIdentity: nodes on one cluster and prefix gossip the same
// store identity whatever their names and keys; another cluster, account,
// prefix or container count is another store; Badger is a store of the
// node's own (""); the key never shows.
func TestStoreIdentity(t *testing.T) {
	base := func() Config {
		var c Config
		c.Store.Backend = BackendSwift
		c.Store.Swift = StoreSwiftConfig{AuthURL: "http://10.0.0.1:8080/auth/v1.0", AuthVersion: 1,
			User: "test:tester", Key: "secret-key-1", ContainerPrefix: "nitro", Containers: 256}
		return c
	}
	ref := storeIdentity(base())
	if !strings.HasPrefix(ref, "swift:") || strings.Contains(ref, "secret") {
		t.Fatalf("identity %q", ref)
	}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		same bool
	}{
		{"OtherNodeAndKey", func(c *Config) { c.Node = "b"; c.Store.Swift.Key = "other"; c.Store.Swift.User = "test:other" }, true},
		{"TrailingSlash", func(c *Config) { c.Store.Swift.AuthURL += "/" }, true},
		{"OtherCluster", func(c *Config) { c.Store.Swift.AuthURL = "http://10.9.0.1:8080/auth/v1.0" }, false},
		{"OtherAccount", func(c *Config) { c.Store.Swift.User = "prod:tester" }, false},
		{"OtherPrefix", func(c *Config) { c.Store.Swift.ContainerPrefix = "nitro2" }, false},
		{"OtherContainers", func(c *Config) { c.Store.Swift.Containers = 16 }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.edit(&c)
			if got := storeIdentity(c); (got == ref) != tc.same {
				t.Fatalf("identity %q vs %q: same %v, want %v", got, ref, got == ref, tc.same)
			}
		})
	}
	c := base()
	c.Store.Backend = BackendBadger
	if got := storeIdentity(c); got != "" {
		t.Fatalf("badger identity %q, want \"\"", got)
	}
}
