package main

import (
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReport checks the report writer on hand-made inputs (not
// measurements).
func TestReport(t *testing.T) {
	in := []RunResult{
		{Scenario: "a", Strategy: "optimal", Run: 0, Seconds: 10, LowerBound: 9.5, WANBytes: map[string]int64{"x->r": 100}, MinBytes: 100},
		{Scenario: "a", Strategy: "optimal", Run: 1, Seconds: 12, LowerBound: 11, WANBytes: map[string]int64{"x->r": 100}, MinBytes: 100},
		{Scenario: "a", Strategy: "random", Run: 0, Seconds: 20, LowerBound: 9.5, WANBytes: map[string]int64{"x->r": 150}, MinBytes: 100, DupChunks: 2},
		{Scenario: "a", Strategy: "random", Compression: true, Run: 0, Err: "boom"},
		{Scenario: "c", Strategy: "optimal", Run: 0, Seconds: 5, LowerBound: 5},
	}
	sums := Summarize(in)
	if len(sums) != 4 {
		t.Fatalf("%d summaries, want 4", len(sums))
	}
	s := sums[0]
	if s.Runs != 2 || s.Median != 11 || s.Min != 10 || s.Max != 12 || s.WANOverMin != 1 {
		t.Fatalf("optimal summary %+v", s)
	}
	if sums[1].DupChunks != 2 || sums[1].WANOverMin != 1.5 || sums[2].Failed != 1 {
		t.Fatalf("summaries %+v", sums)
	}
	md := MarkdownReport(sums)
	if !strings.Contains(md, "| a | optimal | off | 2 (0) | 11.00 | 10.00–12.00 |") {
		t.Fatalf("markdown:\n%s", md)
	}
	dir := t.TempDir()
	if d := os.Getenv("NITRO_WAN_CHART_DIR"); d != "" {
		dir = d // to look at the chart
	}
	if err := WriteReport(dir, in, "# test"); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, "chart.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil || img.Bounds().Dx() < 100 {
		t.Fatalf("chart: %v %v", err, img)
	}
}
