package main

import (
	"strings"
	"testing"
)

func TestTargets(t *testing.T) {
	for _, tc := range []struct {
		name   string
		r      RunResult
		want   float64
		has    bool
		verdct string
	}{
		{"a met", RunResult{Scenario: "a", Strategy: "optimal", LowerBound: 4, Seconds: 4.3}, 4.4, true, "**yes**"},
		{"a missed", RunResult{Scenario: "a", Strategy: "optimal", LowerBound: 4, Seconds: 4.5}, 4.4, true, "| no |"},
		{"d: bound + 3 slowest RTT", RunResult{Scenario: "d", Strategy: "optimal", LowerBound: 0.5, SlowestRTT: 0.2, Seconds: 1.0}, 1.1, true, "**yes**"},
		{"swift baseline has none", RunResult{Scenario: "a", Strategy: "swift", LowerBound: 4, Seconds: 4}, 0, false, ""},
		{"failed run has none", RunResult{Scenario: "a", Strategy: "optimal", LowerBound: 4, Seconds: 4, Err: "x"}, 0, false, ""},
		{"scenario c has none", RunResult{Scenario: "c", Strategy: "optimal", LowerBound: 4, Seconds: 4}, 0, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.r.Target()
			if ok != tc.has || (ok && (got < tc.want-1e-9 || got > tc.want+1e-9)) {
				t.Fatalf("Target() = %v, %v; want %v, %v", got, ok, tc.want, tc.has)
			}
			tab := TargetsTable([]RunResult{tc.r})
			if !tc.has {
				if tab != "" {
					t.Fatalf("table for a run without target:\n%s", tab)
				}
				return
			}
			if !strings.Contains(tab, tc.verdct) {
				t.Errorf("table lacks %q:\n%s", tc.verdct, tab)
			}
		})
	}
}

func TestSplitStreams(t *testing.T) {
	for _, tc := range []struct {
		in, name string
		k        int
		strategy string // strategyFor with origin "o"
	}{
		{"optimal", "optimal", 0, "optimal"},
		{"optimal@1", "optimal", 1, "optimal"},
		{"optimal@4", "optimal", 4, "optimal"},
		{"origin-only@1", "origin-only", 1, "origin-only:o"},
		{"optimal@-1", "optimal", -1, "optimal"},
		{"optimal@-2", "optimal@-2", 0, "optimal@-2"},
		{"optimal@x", "optimal@x", 0, "optimal@x"},
	} {
		name, k := splitStreams(tc.in)
		if name != tc.name || k != tc.k {
			t.Errorf("splitStreams(%q) = %q, %d; want %q, %d", tc.in, name, k, tc.name, tc.k)
		}
		if got := strategyFor(tc.in, "o"); got != tc.strategy {
			t.Errorf("strategyFor(%q) = %q, want %q", tc.in, got, tc.strategy)
		}
	}
	cfg, err := NodeConfig(NodeParams{Region: "r", Cluster: true, StreamsPerLink: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(cfg), "streams_per_link: 1") {
		t.Errorf("config lacks streams_per_link:\n%s", cfg)
	}
}
