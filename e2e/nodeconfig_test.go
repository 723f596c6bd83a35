package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
)

// nodeConfig is the config of one e2e `nitro serve` (schema:
// node/default.yaml, node/CONFIG.md); template renders it as the config
// template startNitro takes. The zero value (plus a Comment) is
// singleNodeConfig.
type nodeConfig struct {
	Comment    string   // first line, after "# "
	Region     string   // "" is "e2e"
	Node       string   // node name; "" leaves the key out
	DataDir    string   // "" is startNitro's {{.DataDir}}
	Swift      []string // further keys of swift:, e.g. "client_timeout: 2s"
	Store      []string // further keys of store: before touch_after, e.g. "min_size: 16384"
	TouchAfter string   // store.touch_after; "" is 500ms
	Grace      string   // gc.grace (gc.interval is always 0s); "" is 1s
	Shutdown   string   // shutdown_timeout; "" leaves it out
	LogLevel   string   // "" is info
	Cluster    *clusterConfig
	Extra      string // appended as is (top-level sections)
}

// clusterConfig is the cluster: section on loopback (peer and gossip
// listeners on {{port "peer"}} and {{port "gossip"}}).
type clusterConfig struct {
	Peers       string // gossip addresses to join, inside a YAML flow list
	Secret      string
	AntiEntropy string // anti_entropy_interval
	Extra       string // further keys, each line indented by two spaces
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// template renders c as a startNitro config template.
func (c nodeConfig) template() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\nregion: %s\n", c.Comment, orDefault(c.Region, "e2e"))
	if c.Node != "" {
		fmt.Fprintf(&b, "node: %s\n", c.Node)
	}
	fmt.Fprintf(&b, "data_dir: %s\nswift:\n  listen: {{.Listen}}\n", orDefault(c.DataDir, "{{.DataDir}}"))
	for _, l := range c.Swift {
		fmt.Fprintf(&b, "  %s\n", l)
	}
	b.WriteString("ops_listen: {{.OpsListen}}\nstore:\n")
	for _, l := range c.Store {
		fmt.Fprintf(&b, "  %s\n", l)
	}
	fmt.Fprintf(&b, "  touch_after: %s\ngc:\n  interval: 0s\n  grace: %s\n", orDefault(c.TouchAfter, "500ms"), orDefault(c.Grace, "1s"))
	if c.Shutdown != "" {
		fmt.Fprintf(&b, "shutdown_timeout: %s\n", c.Shutdown)
	}
	fmt.Fprintf(&b, "log:\n  level: %s\n", orDefault(c.LogLevel, "info"))
	if cl := c.Cluster; cl != nil {
		fmt.Fprintf(&b, "cluster:\n  peer_listen: 127.0.0.1:{{port \"peer\"}}\n  gossip_listen: 127.0.0.1:{{port \"gossip\"}}\n"+
			"  peers: [%s]\n  secret: %s\n  anti_entropy_interval: %s\n%s", cl.Peers, cl.Secret, cl.AntiEntropy, cl.Extra)
	}
	b.WriteString(c.Extra)
	return b.String()
}

// writeNodeConfig renders cfgTemplate (text/template over nitroConfigData,
// plus {{port "name"}} for further free ports, kept in ports) for a node
// working in dir and writes it to dir/nitro.yaml. It returns the data the
// template saw, the config text and its path.
func writeNodeConfig(t testing.TB, dir, cfgTemplate string, ports map[string]int) (data nitroConfigData, cfg, path string) {
	t.Helper()
	port := func(name string) int {
		if p, ok := ports[name]; ok {
			return p
		}
		p := freePort(t)
		ports[name] = p
		return p
	}
	data = nitroConfigData{
		Dir:       dir,
		DataDir:   filepath.Join(dir, "data"),
		Listen:    fmt.Sprintf("127.0.0.1:%d", port("listen")),
		OpsListen: fmt.Sprintf("127.0.0.1:%d", port("ops")),
	}
	tmpl, err := template.New("nitro.yaml").Funcs(template.FuncMap{"port": port}).Parse(cfgTemplate)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := tmpl.Execute(&b, data); err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(dir, "nitro.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return data, b.String(), path
}
