package node

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestGrafanaDashboardMetricsExist parses deploy/grafana-nitro.json and
// checks that every metric name in its panels' queries is one the node's
// registry reports, and that every nitro_ metric is on the dashboard or
// listed in METRICS.md.
func TestGrafanaDashboardMetricsExist(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "deploy", "grafana-nitro.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("grafana-nitro.json: %v", err)
	}
	r := startNode(t, testConfig(t))
	known := r.metrics.names()
	if len(known) < 50 || !known["go_goroutines"] || !known["process_resident_memory_bytes"] || !known["nitro_fetch_replans_total"] {
		t.Fatalf("registry names look wrong: %v", known)
	}
	// Identifiers of PromQL that are metric names: not followed by "(" (a
	// function), not inside {…} or by (…) label lists, not a keyword.
	ident := regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	labelLists := regexp.MustCompile(`\{[^}]*\}|\b(?:by|without)\s*\([^)]*\)|"[^"]*"|\[[^\]]*\]`)
	keywords := map[string]bool{"sum": true, "rate": true, "increase": true, "histogram_quantile": true, "time": true,
		"by": true, "without": true, "le": true, "max": true, "min": true, "avg": true}
	used := map[string]bool{}
	exprs := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			exprs++
			e := labelLists.ReplaceAllString(tg.Expr, " ")
			for _, loc := range ident.FindAllStringIndex(e, -1) {
				name := e[loc[0]:loc[1]]
				if keywords[name] || strings.HasPrefix(strings.TrimSpace(e[loc[1]:]), "(") {
					continue
				}
				base := name
				for _, suf := range []string{"_bucket", "_sum", "_count"} {
					if b, ok := strings.CutSuffix(name, suf); ok && known[b] {
						base = b
					}
				}
				if !known[base] {
					t.Errorf("panel %q: %s is not a metric of the node (expr %s)", p.Title, name, tg.Expr)
				}
				used[base] = true
			}
		}
	}
	if exprs < 20 {
		t.Fatalf("only %d queries on the dashboard", exprs)
	}
	doc, err := os.ReadFile("METRICS.md")
	if err != nil {
		t.Fatal(err)
	}
	for name := range known {
		if strings.HasPrefix(name, "nitro_") && !strings.Contains(string(doc), "`"+name+"`") {
			t.Errorf("%s is not listed in METRICS.md", name)
		}
	}
	var unused []string
	for name := range known {
		if strings.HasPrefix(name, "nitro_") && !used[name] {
			unused = append(unused, name)
		}
	}
	slices.Sort(unused)
	t.Logf("%d queries over %d metrics; nitro_ metrics not on the dashboard: %v", exprs, len(used), unused)
}
