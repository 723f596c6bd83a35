package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nitro-cloud/nitro/internal/testenv"
	"github.com/nitro-cloud/nitro/node"
)

// devstackEnv is the DevStack environment the plugin sees in the tests:
// the variables stack.sh sets before it runs plugins, with every path in
// dir.
func devstackEnv(dir string, extra map[string]string) []string {
	env := map[string]string{
		"PATH":                 "/usr/bin:/usr/sbin:/bin:/sbin",
		"HOME":                 dir,
		"CALLS":                filepath.Join(dir, "calls.tsv"),
		"ENABLED_SERVICES":     "key,keystone,g-api,glance,nitro",
		"DEST":                 filepath.Join(dir, "opt-stack"),
		"DATA_DIR":             filepath.Join(dir, "data"),
		"STACK_USER":           currentUser(),
		"REGION_NAME":          "RegionOne",
		"SERVICE_HOST":         "10.0.0.5",
		"SERVICE_PROTOCOL":     "http",
		"SERVICE_PASSWORD":     "s3rvice-pw",
		"SERVICE_PROJECT_NAME": "service",
		"SERVICE_DOMAIN_NAME":  "Default",
		"SERVICE_TIMEOUT":      "60",
		"KEYSTONE_SERVICE_URI": "http://10.0.0.5/identity",
		"GLANCE_CONF_DIR":      filepath.Join(dir, "etc-glance"),
		"GLANCE_API_CONF":      filepath.Join(dir, "etc-glance", "glance-api.conf"),
		"NITRO_DIR":            filepath.Join(dir, "nitro-src"),
		"NITRO_BIN":            filepath.Join(dir, "bin", "nitro"),
		"NITRO_CONF_DIR":       filepath.Join(dir, "etc-nitro"),
	}
	for k, v := range extra {
		env[k] = v
	}
	var out []string
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

func currentUser() string {
	out, err := exec.Command("id", "-un").Output()
	if err != nil {
		return "root"
	}
	return strings.TrimSpace(string(out))
}

// runDevstackPhase sources the stand-ins, devstack/settings and
// devstack/plugin.sh with the phase's arguments in bash (errexit, nounset,
// pipefail: stricter than stack.sh), as DevStack's run_phase does, and
// returns the calls recorded so far (one []string per call) and bash's
// exit error.
func runDevstackPhase(t *testing.T, bash string, env []string, phase ...string) error {
	t.Helper()
	script := `set -o errexit -o nounset -o pipefail
source "$STANDINS"
source "$PLUGIN_DIR/settings"
source "$PLUGIN_DIR/plugin.sh" "$@"
`
	cmd := exec.Command(bash, append([]string{"-c", script, "devstack"}, phase...)...)
	cmd.Env = append(env,
		"STANDINS="+filepath.Join(moduleRoot, "e2e", "testdata", "devstack_standins.sh"),
		"PLUGIN_DIR="+filepath.Join(moduleRoot, "devstack"))
	out, err := cmd.CombinedOutput()
	if len(out) > 0 {
		t.Logf("%s: %s", strings.Join(phase, " "), strings.TrimSpace(string(out)))
	}
	return err
}

// readCalls returns the recorded calls whose names are in keep.
func readCalls(t *testing.T, path string, keep ...string) [][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	k := map[string]bool{}
	for _, n := range keep {
		k[n] = true
	}
	var out [][]string
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if l == "" {
			continue
		}
		f := strings.Split(l, "\t")
		if len(keep) == 0 || k[f[0]] {
			out = append(out, f)
		}
	}
	return out
}

// devstackCalls are the calls the test compares exactly: every config
// line (iniset, inidelete), every Keystone call, and the process calls.
var devstackCalls = []string{"iniset", "inidelete", "create_service_user", "get_or_create_role",
	"get_or_create_service", "get_or_create_endpoint", "get_or_create_project",
	"run_process", "stop_process", "wait_for_service", "die", "curl"}

// TestDevstackPlugin runs devstack/plugin.sh's phases (stack install,
// stack post-config, stack extra, unstack, clean) against stand-ins for
// DevStack's functions (testdata/devstack_standins.sh: DevStack itself
// cannot run here) and checks every Keystone call, every glance-api.conf
// and glance-nitro-store.conf line, and the nitro.yaml it writes, which
// must also load with Nitro's own config loader (node.Load).
func TestDevstackPlugin(t *testing.T) {
	bash := testenv.Tool(t, "bash")
	const (
		ep      = "http://10.0.0.5:8080"
		ks      = "http://10.0.0.5/identity/v3"
		gapi    = "$GLANCE_API_CONF"
		gstore  = "$GLANCE_CONF_DIR/glance-nitro-store.conf"
		nitroUp = "run_process|nitro|$NITRO_BIN serve --config $NITRO_CONF_DIR/nitro.yaml"
	)
	keystoneCalls := []string{
		"create_service_user|nitro|admin",
		"create_service_user|glance-swift|member",
		"get_or_create_role|ResellerAdmin",
		"get_or_create_service|nitro|object-store|Nitro object store (Swift API)",
		"get_or_create_endpoint|object-store|RegionOne|" + ep + "/v1/AUTH_$(project_id)s|" + ep + "|" + ep + "/v1/AUTH_$(project_id)s",
	}
	started := []string{nitroUp, "wait_for_service|60|" + ep + "/healthcheck"}
	common := func(section string) []string {
		return []string{
			"iniset|" + gapi + "|" + section + "|swift_store_container|glance",
			"iniset|" + gapi + "|" + section + "|swift_store_create_container_on_put|True",
			"iniset|" + gapi + "|" + section + "|swift_store_large_object_size|5120",
			"iniset|" + gapi + "|" + section + "|swift_store_large_object_chunk_size|200",
		}
	}
	legacyStores := []string{
		"iniset|" + gapi + "|glance_store|stores|file,http,swift",
		"iniset|" + gapi + "|glance_store|default_store|swift",
	}
	v3 := func(section string) []string {
		return []string{
			"iniset|" + gapi + "|" + section + "|swift_store_auth_version|3",
			"iniset|" + gapi + "|" + section + "|swift_store_region|RegionOne",
			"iniset|" + gapi + "|" + section + "|swift_store_service_type|object-store",
			"iniset|" + gapi + "|" + section + "|swift_store_endpoint_type|publicURL",
		}
	}
	singleTenant := func(section string) []string {
		return []string{
			"iniset|" + gstore + "|nitro|auth_address|" + ks,
			"iniset|" + gstore + "|nitro|auth_version|3",
			"iniset|" + gstore + "|nitro|user|service:glance-swift",
			"iniset|" + gstore + "|nitro|key|s3rvice-pw",
			"iniset|" + gstore + "|nitro|user_domain_name|Default",
			"iniset|" + gstore + "|nitro|project_domain_name|Default",
			"iniset|" + gapi + "|" + section + "|swift_store_multi_tenant|False",
			"iniset|" + gapi + "|" + section + "|swift_store_config_file|" + gstore,
			"iniset|" + gapi + "|" + section + "|default_swift_reference|nitro",
		}
	}
	multiTenant := func(trusts string) []string {
		return []string{
			"get_or_create_project|service|Default",
			"iniset|" + gapi + "|glance_store|swift_store_multi_tenant|True",
			"iniset|" + gapi + "|glance_store|swift_store_use_trusts|" + trusts,
			"iniset|" + gapi + "|glance_store|swift_store_admin_tenants|project-id-service",
			"iniset|" + gapi + "|glance_store|swift_store_auth_address|" + ks,
			"iniset|" + gapi + "|glance_store|swift_store_user|service:glance-swift",
			"iniset|" + gapi + "|glance_store|swift_store_key|s3rvice-pw",
			"iniset|" + gapi + "|glance_store|default_swift_reference|nitro",
			"inidelete|" + gapi + "|glance_store|swift_store_config_file",
		}
	}
	keystoneYAML := `# Written by the Nitro DevStack plugin (NITRO_AUTH=keystone).
region: RegionOne
data_dir: $DATA_DIR/nitro
swift:
  listen: 10.0.0.5:8080
  accounts: []
keystone:
  auth_url: ` + ks + `
  username: nitro
  password: "s3rvice-pw"
  project_name: service
  user_domain_name: Default
  project_domain_name: Default
  region_name: RegionOne
  reseller_admin_role: ResellerAdmin
  reseller_prefixes:
    - prefix: AUTH_
      operator_roles: [admin, member]
ops_listen: 127.0.0.1:9091
log:
  level: info
`
	tempauthYAML := `# Written by the Nitro DevStack plugin (NITRO_AUTH=tempauth).
region: RegionOne
data_dir: $DATA_DIR/nitro
swift:
  listen: 10.0.0.5:8080
  accounts:
    - name: glance
      users:
        - {name: glance, key: "s3rvice-pw", roles: [admin]}
ops_listen: 127.0.0.1:9091
log:
  level: info
`
	cat := func(parts ...[]string) []string {
		var out []string
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	cases := []struct {
		name  string
		env   map[string]string
		calls []string
		yaml  string
	}{
		{"keystone_single_tenant", nil,
			cat(keystoneCalls, started, legacyStores, common("glance_store"), v3("glance_store"), singleTenant("glance_store")),
			keystoneYAML},
		{"keystone_multi_tenant", map[string]string{"NITRO_GLANCE_MULTI_TENANT": "True"},
			cat(keystoneCalls, started, legacyStores, common("glance_store"), v3("glance_store"), multiTenant("True")),
			keystoneYAML},
		{"keystone_multi_tenant_no_trusts", map[string]string{"NITRO_GLANCE_MULTI_TENANT": "yes", "NITRO_GLANCE_USE_TRUSTS": "False"},
			cat(keystoneCalls, started, legacyStores, common("glance_store"), v3("glance_store"), multiTenant("False")),
			keystoneYAML},
		{"keystone_multi_store", map[string]string{"GLANCE_ENABLE_MULTIPLE_STORES": "True", "INIGET_DEFAULT_enabled_backends": "fast:file"},
			cat(keystoneCalls, started, []string{
				"iniset|" + gapi + "|DEFAULT|enabled_backends|fast:file,nitro:swift",
				"iniset|" + gapi + "|glance_store|default_backend|nitro",
			}, common("nitro"), v3("nitro"), singleTenant("nitro")),
			keystoneYAML},
		{"tempauth", map[string]string{"NITRO_AUTH": "tempauth"},
			cat(started, legacyStores, common("glance_store"), []string{
				"iniset|" + gstore + "|nitro|auth_address|" + ep + "/auth/v1.0",
				"iniset|" + gstore + "|nitro|auth_version|1",
				"iniset|" + gstore + "|nitro|user|glance:glance",
				"iniset|" + gstore + "|nitro|key|s3rvice-pw",
				"iniset|" + gapi + "|glance_store|swift_store_multi_tenant|False",
				"iniset|" + gapi + "|glance_store|swift_store_config_file|" + gstore,
				"iniset|" + gapi + "|glance_store|default_swift_reference|nitro",
			}),
			tempauthYAML},
		{"keystone_without_glance", map[string]string{"ENABLED_SERVICES": "key,keystone,nitro"},
			cat(keystoneCalls, started), keystoneYAML},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			env := devstackEnv(dir, tc.env)
			expand := func(s string) string {
				return os.Expand(s, func(k string) string {
					for _, kv := range env {
						if strings.HasPrefix(kv, k+"=") {
							return kv[len(k)+1:]
						}
					}
					return "$" + k
				})
			}
			calls := filepath.Join(dir, "calls.tsv")
			if err := os.MkdirAll(filepath.Join(dir, "nitro-src"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
				t.Fatal(err)
			}

			// stack install: builds nitro (go is a stand-in here) and
			// installs the binary; no Keystone or config calls.
			if err := runDevstackPhase(t, bash, env, "stack", "install"); err != nil {
				t.Fatalf("stack install: %v", err)
			}
			if got := readCalls(t, calls, devstackCalls...); len(got) != 0 {
				t.Errorf("stack install made calls %v; want none", got)
			}
			if b := readCalls(t, calls, "go"); len(b) == 0 || b[len(b)-1][1] != "build" {
				t.Errorf("stack install: go calls %v, want a go build", b)
			}
			if _, err := os.Stat(expand("$NITRO_BIN")); err != nil {
				t.Errorf("stack install did not install the binary: %v", err)
			}
			os.Remove(calls)

			if err := runDevstackPhase(t, bash, env, "stack", "post-config"); err != nil {
				t.Fatalf("stack post-config: %v", err)
			}
			got := readCalls(t, calls, devstackCalls...)
			var want [][]string
			for _, c := range tc.calls {
				want = append(want, strings.Split(expand(c), "|"))
			}
			if strings.Join(flatten(got), "\n") != strings.Join(flatten(want), "\n") {
				t.Errorf("stack post-config calls:\n%s\nwant:\n%s", strings.Join(flatten(got), "\n"), strings.Join(flatten(want), "\n"))
			}
			conf := expand("$NITRO_CONF_DIR/nitro.yaml")
			b, err := os.ReadFile(conf)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != expand(tc.yaml) {
				t.Errorf("nitro.yaml:\n%s\nwant:\n%s", b, expand(tc.yaml))
			}
			if st, err := os.Stat(conf); err != nil || st.Mode().Perm() != 0o600 {
				t.Errorf("nitro.yaml mode %v (%v), want 0600: it holds a password", st.Mode(), err)
			}
			ksURL := ks
			if tc.env["NITRO_AUTH"] == "tempauth" {
				ksURL = ""
			}
			checkNitroConfig(t, conf, ksURL)
			os.Remove(calls)

			if err := runDevstackPhase(t, bash, env, "stack", "extra"); err != nil {
				t.Fatalf("stack extra: %v", err)
			}
			if got := readCalls(t, calls, devstackCalls...); len(got) != 0 {
				t.Errorf("stack extra made calls %v; want none", got)
			}
			if err := runDevstackPhase(t, bash, env, "unstack"); err != nil {
				t.Fatalf("unstack: %v", err)
			}
			if got := flatten(readCalls(t, calls, devstackCalls...)); strings.Join(got, "\n") != "stop_process|nitro" {
				t.Errorf("unstack calls %v, want stop_process nitro", got)
			}
			os.Remove(calls)
			if err := runDevstackPhase(t, bash, env, "clean"); err != nil {
				t.Fatalf("clean: %v", err)
			}
			for _, p := range []string{"$NITRO_CONF_DIR", "$DATA_DIR/nitro"} {
				if _, err := os.Stat(expand(p)); !os.IsNotExist(err) {
					t.Errorf("clean left %s (%v)", expand(p), err)
				}
			}
		})
	}

	t.Run("keystone_needs_keystone", func(t *testing.T) {
		dir := t.TempDir()
		env := devstackEnv(dir, map[string]string{"ENABLED_SERVICES": "g-api,glance,nitro"})
		if err := runDevstackPhase(t, bash, env, "stack", "post-config"); err == nil {
			t.Fatal("post-config with NITRO_AUTH=keystone and no keystone service succeeded")
		}
		got := readCalls(t, filepath.Join(dir, "calls.tsv"), devstackCalls...)
		if len(got) != 1 || got[0][0] != "die" {
			t.Errorf("calls %v, want one die", got)
		}
	})
}

// flatten joins each call's fields with "|".
func flatten(calls [][]string) []string {
	out := make([]string, len(calls))
	for i, c := range calls {
		out[i] = strings.Join(c, "|")
	}
	return out
}

// TestDevstackShellcheck runs shellcheck over the plugin, its settings,
// the stand-ins and the CI scripts this issue added.
func TestDevstackShellcheck(t *testing.T) {
	sc := testenv.Tool(t, "shellcheck")
	files := []string{"devstack/plugin.sh", "devstack/settings", "e2e/testdata/devstack_standins.sh", "scripts/forky-chroot.sh", "scripts/lib/debian-mirror.sh"}
	cmd := exec.Command(sc, append([]string{"-x"}, files...)...) // -x: follow sourced files
	cmd.Dir = moduleRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("shellcheck %s: %v\n%s", strings.Join(files, " "), err, out)
	}
}

// checkNitroConfig loads the plugin's nitro.yaml with Nitro's own loader
// (unknown keys and invalid values are errors) and checks which auth it
// turns on: Keystone only (keystoneURL set, tempauth off) or tempauth
// only.
func checkNitroConfig(t *testing.T, path, keystoneURL string) {
	t.Helper()
	cfg, err := node.Load(path)
	if err != nil {
		t.Errorf("node.Load(nitro.yaml): %v", err)
		return
	}
	if keystoneURL != "" {
		if !cfg.Keystone.Enabled() || cfg.Keystone.AuthURL != keystoneURL || len(cfg.Swift.Accounts) != 0 ||
			cfg.Keystone.Username != "nitro" || cfg.Keystone.ProjectName != "service" {
			t.Errorf("loaded config: keystone %+v, %d tempauth accounts; want Keystone at %s as nitro/service, tempauth off",
				cfg.Keystone, len(cfg.Swift.Accounts), keystoneURL)
		}
		return
	}
	if cfg.Keystone.Enabled() || len(cfg.Swift.Accounts) != 1 {
		t.Errorf("loaded config: keystone on %v, %d tempauth accounts; want tempauth only", cfg.Keystone.Enabled(), len(cfg.Swift.Accounts))
	}
}
