package node

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaultConfig(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
	want := map[string]any{
		"region": c.Region == "local", "listen": c.Swift.Listen == "127.0.0.1:8080",
		"data_dir": c.DataDir == "./nitro-data", "gc.interval": c.GC.Interval == 10*time.Minute,
		"gc.grace": c.GC.Grace == time.Hour, "reclaim": c.GC.ReclaimAge == 7*24*time.Hour,
		"token_ttl": c.Swift.TokenTTL == 24*time.Hour, "ops off": c.OpsListen == "",
		"dev accounts": c.DevAccounts(), "3 users": len(c.Swift.Accounts) == 2 && len(c.Swift.Accounts[0].Users) == 2,
	}
	for k, ok := range want {
		if ok != true {
			t.Errorf("default %s wrong: %+v", k, c)
		}
	}
	u := c.Swift.Accounts[0].Users[0]
	if c.Swift.Accounts[0].Name != "test" || u.Name != "tester" || u.Key != "testing" || u.Roles[0] != RoleAdmin {
		t.Errorf("first default user %+v", u)
	}
	sc := shimConfig(c)
	if !sc.Accounts[1].Users[0].ResellerAdmin || sc.Accounts[0].Users[1].Admin {
		t.Errorf("roles not mapped: %+v", sc.Accounts)
	}
}

// parseCase is a config file and what Parse must make of it.
type parseCase struct {
	name    string
	yaml    string
	wantErr string                       // substring; "" means valid
	check   func(t *testing.T, c Config) // of a valid one; nil: none
}

// runParseCases parses each case's yaml as test.yaml in a subtest: a
// valid one goes to its check, an invalid one must fail with an error
// containing wantErr, which errCheck (if not nil) checks further.
func runParseCases(t *testing.T, tests []parseCase, errCheck func(t *testing.T, tt parseCase, err error)) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(strings.NewReader(tt.yaml), "test.yaml")
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if tt.check != nil {
					tt.check(t, c)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
			if errCheck != nil {
				errCheck(t, tt, err)
			}
		})
	}
}

func TestParseConfig(t *testing.T) {
	tests := []parseCase{
		{name: "empty file keeps defaults", yaml: "", check: func(t *testing.T, c Config) {
			if !c.DevAccounts() || c.Swift.Listen != "127.0.0.1:8080" {
				t.Errorf("%+v", c)
			}
		}},
		{name: "override some", yaml: "region: eu-west\nswift:\n  listen: 0.0.0.0:9000\ngc:\n  grace: 2h\n  interval: 0s\n",
			check: func(t *testing.T, c Config) {
				if c.Region != "eu-west" || c.Swift.Listen != "0.0.0.0:9000" || c.GC.Grace != 2*time.Hour || c.GC.Interval != 0 || c.Swift.TokenTTL != 24*time.Hour {
					t.Errorf("%+v", c)
				}
			}},
		{name: "accounts replace the defaults", yaml: "swift:\n  accounts:\n    - name: glance\n      users: [{name: glance, key: s3cret, roles: [admin]}]\n",
			check: func(t *testing.T, c Config) {
				if c.DevAccounts() || len(c.Swift.Accounts) != 1 || c.Swift.Accounts[0].Users[0].Key != "s3cret" {
					t.Errorf("%+v", c.Swift.Accounts)
				}
			}},
		{name: "no accounts", yaml: "swift:\n  accounts: []\n", check: func(t *testing.T, c Config) {
			if len(c.Swift.Accounts) != 0 {
				t.Errorf("%+v", c.Swift.Accounts)
			}
		}},
		{name: "unknown key", yaml: "regoin: x\n", wantErr: "field regoin not found"},
		{name: "unknown nested key", yaml: "gc:\n  intervall: 1m\n", wantErr: "field intervall not found"},
		{name: "bad duration", yaml: "gc:\n  grace: soon\n", wantErr: "soon"},
		{name: "empty region", yaml: "region: \"\"\n", wantErr: "region: must not be empty"},
		{name: "bad listen", yaml: "swift:\n  listen: 8080\n", wantErr: "swift.listen"},
		{name: "bad ops listen", yaml: "ops_listen: nowhere\n", wantErr: "ops_listen"},
		{name: "grace below touch", yaml: "store:\n  touch_after: 1h\n", wantErr: "gc.grace"},
		{name: "avg not power of two", yaml: "store:\n  avg_size: 1000\n", wantErr: "store.avg_size"},
		{name: "compression", yaml: "store:\n  compression_level: 9\n", wantErr: "store.compression_level"},
		{name: "role", yaml: "swift:\n  accounts: [{name: a, users: [{name: u, key: k, roles: [root]}]}]\n", wantErr: "swift.accounts[0].users[0].roles"},
		{name: "empty key", yaml: "swift:\n  accounts: [{name: a, users: [{name: u}]}]\n", wantErr: "swift.accounts[0].users[0].key"},
		{name: "duplicate user", yaml: "swift:\n  accounts: [{name: a, users: [{name: u, key: k}, {name: u, key: j}]}]\n", wantErr: "duplicate user \"a:u\""},
		{name: "account with colon", yaml: "swift:\n  accounts: [{name: \"a:b\", users: []}]\n", wantErr: "swift.accounts[0].name"},
		{name: "log level", yaml: "log:\n  level: loud\n", wantErr: "log.level"},
		{name: "log format", yaml: "log:\n  format: xml\n", wantErr: "log.format"},
		{name: "storage url", yaml: "swift:\n  storage_url: swift.example.com\n", wantErr: "swift.storage_url"},
		{name: "token ttl", yaml: "swift:\n  token_ttl: 0s\n", wantErr: "swift.token_ttl: must be positive, got 0s"},
		{name: "max uploads", yaml: "swift:\n  max_uploads: 0\n", wantErr: "swift.max_uploads: must be positive, got 0"},
		{name: "negative workers", yaml: "store:\n  workers: -1\n", wantErr: "store.workers: must not be negative, got -1"},
		{name: "negative touch", yaml: "store:\n  touch_after: -1s\n", wantErr: "store.touch_after: must not be negative, got -1s"},
		{name: "cluster not yet", yaml: "cluster:\n  peers: [a]\n", wantErr: "cluster"},
		{name: "two errors at once", yaml: "region: \"\"\ndata_dir: \"\"\n", wantErr: "data_dir: must not be empty"},
	}
	runParseCases(t, tests, func(t *testing.T, _ parseCase, err error) {
		if !strings.Contains(err.Error(), "test.yaml") {
			t.Errorf("error does not name the file: %v", err)
		}
	})
}

func TestLoadConfigFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "nitro.yaml")
	if err := os.WriteFile(p, []byte("region: r1\nlog: {format: json, level: debug}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p)
	if err != nil || c.Region != "r1" || c.Log.Format != "json" {
		t.Fatalf("Load = %+v, %v", c, err)
	}
	if _, err := c.NewLogger(); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p + ".missing"); err == nil {
		t.Fatal("missing file loaded")
	}
}
