// Package archtest holds the import rules that keep Nitro's layers apart
// (house style: restic's depguard rules), checked with `go list` so they
// hold without a linter installed.
package archtest

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/nitro-cloud/nitro"

type pkg struct {
	ImportPath string
	Imports    []string
	Standard   bool
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", module+"/...")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(out)
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("go list: %v", err)
	}
	return pkgs
}

// rule: importers of a dependency must be under one of the allowed paths.
type rule struct {
	dep     string   // import path prefix
	allowed []string // package path prefixes (module-relative) that may import it
}

func TestImportRules(t *testing.T) {
	rules := []rule{
		{"github.com/dgraph-io/badger", []string{"chunkstore"}},
		{"github.com/restic/chunker", []string{"chunkstore"}},
		{"github.com/klauspost/compress", []string{"chunkstore"}},
		{"github.com/hashicorp/memberlist", []string{"membership"}},
		{"github.com/labstack/echo", []string{"glance-shim"}},
		// The Keystone client and its cache stay in keystone, wired by node.
		{"github.com/gophercloud/gophercloud", []string{"keystone", "chunkstore/swiftstore", "node/internal/regiongc"}},
		// The Swift backend of chunkstore is wired by node only.
		{module + "/chunkstore/swiftstore", []string{"node", "chunkstore/swiftstore", "e2e", "bench"}},
		{"github.com/hashicorp/golang-lru", []string{"keystone"}},
		{module + "/keystone", []string{"node", "keystone"}},
		{module + "/node", []string{"node", ""}}, // nothing but main imports node
		// Charts are a benchmark concern only.
		{"gonum.org/v1/plot", []string{"bench/wan"}},
		// Chunk summaries' Bloom filters stay in their package.
		{"github.com/bits-and-blooms", []string{"node/internal/summary"}},
	}
	for _, p := range listPackages(t) {
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		for _, imp := range p.Imports {
			for _, r := range rules {
				if imp != r.dep && !strings.HasPrefix(imp, r.dep+"/") {
					continue
				}
				ok := false
				for _, a := range r.allowed {
					if rel == a || (a != "" && strings.HasPrefix(rel, a+"/")) {
						ok = true
					}
				}
				if !ok {
					t.Errorf("%s imports %s; only %v may", p.ImportPath, imp, r.allowed)
				}
			}
		}
	}
}

// TestStdlibOnly checks the packages that must stay pure: the planner and
// the recipe leaf package import the standard library and each other only.
func TestStdlibOnly(t *testing.T) {
	pure := map[string]bool{module + "/planner": true, module + "/chunkstore/recipe": true}
	std := map[string]bool{}
	pkgs := listPackages(t)
	cmd := exec.Command("go", "list", "std")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range strings.Fields(string(out)) {
		std[s] = true
	}
	for _, p := range pkgs {
		if !pure[p.ImportPath] {
			continue
		}
		for _, imp := range p.Imports {
			if !std[imp] && !pure[imp] {
				t.Errorf("%s imports non-stdlib %s", p.ImportPath, imp)
			}
		}
	}
}
