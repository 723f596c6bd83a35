package main

import (
	"encoding/xml"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSpreadOf checks median and range on hand-made samples.
func TestSpreadOf(t *testing.T) {
	for _, tc := range []struct {
		name          string
		in            []float64
		med, min, max float64
	}{
		{"one", []float64{2}, 2, 2, 2},
		{"odd", []float64{3, 1, 2}, 2, 1, 3},
		{"even", []float64{4, 1, 3, 2}, 2.5, 1, 4},
		{"ties", []float64{1.2, 1.2, 5}, 1.2, 1.2, 5},
	} {
		s := SpreadOf(tc.in)
		if s.N != len(tc.in) || s.Median != tc.med || s.Min != tc.min || s.Max != tc.max {
			t.Errorf("%s: SpreadOf(%v) = %+v, want median %v range %v–%v", tc.name, tc.in, s, tc.med, tc.min, tc.max)
		}
	}
	if s := SpreadOf(nil); s.N != 0 || !math.IsNaN(s.Median) {
		t.Errorf("SpreadOf(nil) = %+v", s)
	}
}

// TestRatio checks that a run's ratio is its seconds over its own bound
// and that failed or unbounded runs have none.
func TestRatio(t *testing.T) {
	for _, tc := range []struct {
		r    RunResult
		want float64
		ok   bool
	}{
		{RunResult{Seconds: 6, LowerBound: 4}, 1.5, true},
		{RunResult{Seconds: 4, LowerBound: 4}, 1, true},
		{RunResult{Seconds: 6, LowerBound: 0}, 0, false},
		{RunResult{Seconds: 6, LowerBound: 4, Err: "boom"}, 0, false},
		{RunResult{Seconds: 0, LowerBound: 4}, 0, false},
	} {
		got, ok := tc.r.Ratio()
		if ok != tc.ok || got != tc.want {
			t.Errorf("Ratio(%+v) = %v %v, want %v %v", tc.r, got, ok, tc.want, tc.ok)
		}
	}
}

// TestSummarizeRatiosPerRun is the case the old report got wrong: two
// draws with different bounds. The ratios are taken per run (10/5 = 2.0
// and 12/12 = 1.0), so their range never falls below 1 when every run is
// at or above its own bound; the old report rescaled the seconds' range
// by the mean ratio (1.5 × 10/11 = 1.36 … 1.5 × 12/11 = 1.64) and drew
// whiskers that did not belong to any run.
func TestSummarizeRatiosPerRun(t *testing.T) {
	in := []RunResult{
		{Topology: "t", Scenario: "a", Strategy: "optimal", Run: 0, Seconds: 10, LowerBound: 5, LoadAvg: 3, MinBytes: 100, WANBytes: map[string]int64{"x->r": 100}, Events: map[string]int{"replan": 1}},
		{Topology: "t", Scenario: "a", Strategy: "optimal", Run: 1, Seconds: 12, LowerBound: 12, LoadAvg: 5, MinBytes: 100, WANBytes: map[string]int64{"x->r": 110}, Events: map[string]int{"replan": 2, "slow_source": 1}},
		{Topology: "t", Scenario: "a", Strategy: "random", Run: 0, Seconds: 20, LowerBound: 5, MinBytes: 100, WANBytes: map[string]int64{"x->r": 150}, DupChunks: 2},
		{Topology: "t", Scenario: "a", Strategy: "random", Run: 1, Err: "boom"},
		{Topology: "u", Scenario: "a", Strategy: "optimal", Run: 0, Seconds: 3, LowerBound: 2},
	}
	sums := Summarize(in)
	if len(sums) != 3 {
		t.Fatalf("%d summaries, want 3 (topologies kept apart)", len(sums))
	}
	s := sums[0]
	if s.Runs != 2 || s.Ratio != (Spread{N: 2, Median: 1.5, Min: 1, Max: 2}) {
		t.Errorf("ratio spread %+v, want median 1.5 range 1–2", s.Ratio)
	}
	if s.Seconds != (Spread{N: 2, Median: 11, Min: 10, Max: 12}) || s.LowerBound != (Spread{N: 2, Median: 8.5, Min: 5, Max: 12}) {
		t.Errorf("seconds %+v bounds %+v", s.Seconds, s.LowerBound)
	}
	if s.Load != (Spread{N: 2, Median: 4, Min: 3, Max: 5}) || s.WANOverMin.Median != 1.05 {
		t.Errorf("load %+v WAN/min %+v", s.Load, s.WANOverMin)
	}
	if s.Events["replan"] != 3 || s.Events["slow_source"] != 1 {
		t.Errorf("events %v", s.Events)
	}
	for _, s := range sums {
		if s.Ratio.N > 0 && s.Ratio.Min < 1 {
			t.Errorf("%s/%s: whisker at %.3f below the bound though every run is at or above its own", s.Topology, s.Strategy, s.Ratio.Min)
		}
	}
	if r := sums[1]; r.Failed != 1 || r.DupChunks != 2 || r.Ratio.N != 1 || r.Ratio.Median != 4 {
		t.Errorf("random summary %+v", r)
	}
	if p := Paired(in, "optimal", "random"); len(p) != 1 || p[0] != -0.5 {
		t.Errorf("Paired = %v, want [-0.5] (draw 1 of random failed)", p)
	}
	md := MarkdownReport(sums)
	if !strings.Contains(md, "| t | a | optimal | off | 2 (0) | 1.50 (1.00–2.00) | 11.00 (10.00–12.00) | 8.50 (5.00–12.00) | 4.0 (3.0–5.0) |") {
		t.Errorf("markdown:\n%s", md)
	}
	if !strings.Contains(RunsTable(in), "| t | a | 1 | optimal | off |  | 5.0 | 12.00 |  | 12.00 | 1.00 | 0 | replan 2, slow_source 1 |") {
		t.Errorf("runs table:\n%s", RunsTable(in))
	}
	if pt := PairedTable(in, "optimal", []string{"optimal", "random"}); !strings.Contains(pt, "| t | random | 1 | -50 % (-50 % … -50 %) |") {
		t.Errorf("paired table:\n%s", pt)
	}
}

// TestWriteReport writes the report files and checks that the chart is a
// vector SVG with the groups' labels in it.
func TestWriteReport(t *testing.T) {
	in := []RunResult{
		{Scenario: "a", Strategy: "optimal", Run: 0, Seconds: 10, LowerBound: 9.5},
		{Scenario: "a", Strategy: "optimal", Run: 1, Seconds: 12, LowerBound: 11},
		{Scenario: "a", Strategy: "swift", Run: 0, Seconds: 30, LowerBound: 9},
		{Scenario: "a", Strategy: "random", Compression: true, Run: 0, Err: "boom"},
	}
	dir := t.TempDir()
	if d := os.Getenv("NITRO_WAN_CHART_DIR"); d != "" {
		dir = d // to look at the chart
	}
	if err := WriteReport(dir, in, "# test"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "chart.svg"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ XMLName xml.Name }
	if err := xml.Unmarshal(b, &doc); err != nil || doc.XMLName.Local != "svg" {
		t.Fatalf("chart.svg is not SVG: %v %v", err, doc.XMLName)
	}
	for _, want := range []string{"(a) optimal", "(a) swift", "lower bound"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("chart.svg lacks %q", want)
		}
	}
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil || !strings.Contains(string(md), "|  | swift | 1 | -67 %") {
		t.Errorf("report.md (%v):\n%s", err, md)
	}
}
