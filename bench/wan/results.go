package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// newResultsDir creates the results directory (dir, or
// results/<UTC timestamp>-<kind> when dir is "") and records the command
// line (command.txt) and the emulated topology (topology.csv) in it.
func newResultsDir(dir, kind string, topo *Topology) (string, error) {
	if dir == "" {
		dir = filepath.Join("results", time.Now().UTC().Format("20060102T150405Z")+"-"+kind)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	cmd := "go run ./bench/wan " + shellJoin(os.Args[1:]) + "\n"
	if err := os.WriteFile(filepath.Join(dir, "command.txt"), []byte(cmd), 0o644); err != nil {
		return "", err
	}
	f, err := os.Create(filepath.Join(dir, "topology.csv"))
	if err != nil {
		return "", err
	}
	if err := topo.WriteCSV(f); err != nil {
		f.Close()
		return "", err
	}
	return dir, f.Close()
}

func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`*?[]{}();&|<>!#~") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}

// ShapingTable renders probe results as a markdown table.
func ShapingTable(res []PairResult) string {
	var b strings.Builder
	b.WriteString("| from | to | target Mbit/s | measured Mbit/s | error | target RTT ms | measured RTT ms | error |\n")
	b.WriteString("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, r := range res {
		fmt.Fprintf(&b, "| %s | %s | %.1f | %.1f | %+.1f%% | %.1f | %.1f | %+.1f%% |\n",
			r.From, r.To, r.TargetMbit, r.Mbit, 100*r.BWErr(), r.TargetRTTms, r.RTTms, 100*r.RTTErr())
	}
	return b.String()
}
