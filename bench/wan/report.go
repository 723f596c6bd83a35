package main

import (
	"encoding/json"
	"fmt"
	"image/color"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

func onOff(z bool) string {
	if z {
		return "on"
	}
	return "off"
}

// fmtSpread renders a spread as "median (min–max)" with format f, or "–"
// when it is empty.
func fmtSpread(s Spread, f string) string {
	if s.N == 0 {
		return "–"
	}
	if s.N == 1 {
		return fmt.Sprintf(f, s.Median)
	}
	return fmt.Sprintf(f+" ("+f+"–"+f+")", s.Median, s.Min, s.Max)
}

// MarkdownReport renders the summaries as a markdown table: the median
// and range of the per-run ratios to each run's own lower bound, and
// beside them, never mixed in, the median and range of the seconds and
// of the bounds.
func MarkdownReport(sums []Summary) string {
	var b strings.Builder
	b.WriteString("| topology | scenario | strategy | wire compression | runs (failed) | time / own lower bound: median (min–max) | seconds: median (min–max) | lower bound s: median (min–max) | load avg (1 min) | WAN bytes / minimum | wire bytes / minimum | duplicate chunks | re-plans | slow-source events | planner ms |\n")
	b.WriteString("| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, s := range sums {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %d (%d) | %s | %s | %s | %s | %s | %s | %d | %d | %d | %.2f |\n",
			s.Topology, s.Scenario, s.Strategy, onOff(s.Compression), s.Runs, s.Failed,
			fmtSpread(s.Ratio, "%.2f"), fmtSpread(s.Seconds, "%.2f"), fmtSpread(s.LowerBound, "%.2f"),
			fmtSpread(s.Load, "%.1f"), fmtSpread(s.WANOverMin, "%.3f"), fmtSpread(s.WireOverMin, "%.3f"),
			s.DupChunks, s.Events["replan"], s.Events["slow_source"], 1000*s.PlannerMedian)
	}
	return b.String()
}

// RunsTable renders every run: its bound, seconds, ratio, load and
// events, in the order the runs were made (strategies interleave within
// a draw).
func RunsTable(results []RunResult) string {
	var b strings.Builder
	b.WriteString("| topology | scenario | draw | strategy | wire compression | reader | load avg | lower bound s | bound on | seconds | time / bound | duplicate chunks | events | logs | error |\n")
	b.WriteString("| --- | --- | ---: | --- | --- | --- | ---: | ---: | --- | ---: | ---: | ---: | --- | --- | --- |\n")
	for _, r := range results {
		q := "–"
		if v, ok := r.Ratio(); ok {
			q = fmt.Sprintf("%.2f", v)
		}
		var ev []string
		for _, k := range slices.Sorted(maps.Keys(r.Events)) {
			ev = append(ev, fmt.Sprintf("%s %d", k, r.Events[k]))
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %s | %s | %s | %.1f | %.2f | %s | %.2f | %s | %d | %s | %s | %s |\n",
			r.Topology, r.Scenario, r.Run, r.Strategy, onOff(r.Compression), r.Reader, r.LoadAvg, r.LowerBound, r.Bound,
			r.Seconds, q, r.DupChunks, strings.Join(ev, ", "), r.LogDir, strings.ReplaceAll(r.Err, "|", "/"))
	}
	return b.String()
}

// PairedTable compares, draw by draw and per topology, Nitro's strategy
// ours against each baseline in others that ran in the same draws:
// median and range of the relative change in seconds (negative: ours is
// faster).
func PairedTable(results []RunResult, ours string, others []string) string {
	var b strings.Builder
	b.WriteString("| topology | " + ours + " vs | pairs | change in seconds: median (min–max) |\n| --- | --- | ---: | ---: |\n")
	var topos []string
	for _, r := range results {
		if !slices.Contains(topos, r.Topology) {
			topos = append(topos, r.Topology)
		}
	}
	for _, t := range topos {
		var sub []RunResult
		for _, r := range results {
			if r.Topology == t {
				sub = append(sub, r)
			}
		}
		for _, o := range others {
			p := Paired(sub, ours, o)
			if len(p) == 0 || o == ours {
				continue
			}
			s := SpreadOf(p)
			fmt.Fprintf(&b, "| %s | %s | %d | %+.0f %% (%+.0f %% … %+.0f %%) |\n", t, o, s.N, 100*s.Median, 100*s.Min, 100*s.Max)
		}
	}
	return b.String()
}

// chartGroup is one column of the chart: the per-run ratios of one
// (topology, scenario, strategy, compression).
type chartGroup struct {
	label  string
	ratios []float64
}

func chartGroups(results []RunResult) []chartGroup {
	var out []chartGroup
	idx := map[string]int{}
	topos := map[string]bool{}
	for _, r := range results {
		topos[r.Topology] = true
	}
	for _, r := range results {
		q, ok := r.Ratio()
		if !ok {
			continue
		}
		z := ""
		if r.Compression {
			z = "+z"
		}
		l := fmt.Sprintf("(%s) %s%s", r.Scenario, r.Strategy, z)
		if len(topos) > 1 {
			l = strings.NewReplacer("topology-", "", "-full-replicas", " full").Replace(r.Topology) + " " + l
		}
		i, ok := idx[l]
		if !ok {
			i = len(out)
			idx[l] = i
			out = append(out, chartGroup{label: l})
		}
		out[i].ratios = append(out[i].ratios, q)
	}
	return out
}

// Chart draws the distribution of the per-run ratios to each run's own
// lower bound: one row per (topology, scenario, strategy, compression),
// every run a point, the median a bar across, the min–max range a line,
// and the bound a dashed line at 1. Rows are horizontal so that the
// labels stay readable.
func Chart(results []RunResult, title string) (*plot.Plot, error) {
	gs := chartGroups(results)
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(12)
	p.X.Label.Text = "time / the run's own lower bound (1 = at the bound)"
	p.X.Min = 0
	p.X.Max = 1.5
	// Top row first, as in the tables.
	names := make([]string, len(gs))
	for i, g := range gs {
		names[len(gs)-1-i] = g.label
		p.X.Max = max(p.X.Max, slices.Max(g.ratios)*1.1)
	}
	if len(names) == 0 {
		names = []string{"no completed run"}
	}
	p.NominalY(names...)
	p.Y.Min, p.Y.Max = -0.7, float64(len(names))-0.3
	p.Y.Tick.Label.Font.Size = vg.Points(9)
	p.Add(plotter.NewGrid())

	bound, err := plotter.NewLine(plotter.XYs{{X: 1, Y: p.Y.Min}, {X: 1, Y: p.Y.Max}})
	if err != nil {
		return nil, err
	}
	bound.Color = color.RGBA{200, 0, 0, 255}
	bound.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	bound.Width = vg.Points(1)
	p.Add(bound)
	p.Legend.Add("lower bound (1.0)", bound)

	var pts plotter.XYs
	for i, g := range gs {
		s := SpreadOf(g.ratios)
		y := float64(len(gs) - 1 - i)
		rng, err := plotter.NewLine(plotter.XYs{{X: s.Min, Y: y}, {X: s.Max, Y: y}})
		if err != nil {
			return nil, err
		}
		rng.Width = vg.Points(1)
		med, err := plotter.NewLine(plotter.XYs{{X: s.Median, Y: y - 0.3}, {X: s.Median, Y: y + 0.3}})
		if err != nil {
			return nil, err
		}
		med.Width = vg.Points(2.5)
		med.Color = color.RGBA{31, 119, 180, 255}
		p.Add(rng, med)
		if i == 0 {
			p.Legend.Add("min–max", rng)
			p.Legend.Add("median", med)
		}
		for j, q := range g.ratios {
			// Spread a row's runs a little so that equal ratios stay visible.
			off := 0.0
			if n := len(g.ratios); n > 1 {
				off = 0.3 * (float64(j)/float64(n-1) - 0.5)
			}
			pts = append(pts, plotter.XY{X: q, Y: y + off})
		}
	}
	if len(pts) > 0 {
		sc, err := plotter.NewScatter(pts)
		if err != nil {
			return nil, err
		}
		sc.GlyphStyle.Radius = vg.Points(2)
		sc.GlyphStyle.Shape = draw.CircleGlyph{}
		sc.GlyphStyle.Color = color.RGBA{90, 90, 90, 255}
		p.Add(sc)
		p.Legend.Add("one run", sc)
	}
	p.Legend.Top = true
	return p, nil
}

// WriteChart writes the ratio chart of results as an SVG file.
func WriteChart(path string, results []RunResult, title string) error {
	p, err := Chart(results, title)
	if err != nil {
		return err
	}
	h := vg.Length(max(3, 0.3*float64(len(chartGroups(results)))+1.5)) * vg.Inch
	return p.Save(8*vg.Inch, h, path)
}

// WriteReport writes results.json, report.md and chart.svg into dir.
func WriteReport(dir string, results []RunResult, header string) error {
	b, err := json.MarshalIndent(results, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), b, 0o644); err != nil {
		return err
	}
	var strategies []string
	for _, r := range results {
		if !slices.Contains(strategies, r.Strategy) {
			strategies = append(strategies, r.Strategy)
		}
	}
	md := header + "\n## Per strategy\n\n" + MarkdownReport(Summarize(results)) +
		"\n![time / lower bound per run](chart.svg)\n"
	if slices.Contains(strategies, "optimal") {
		md += "\n## Paired with `optimal`, draw by draw\n\n" + PairedTable(results, "optimal", strategies)
	}
	if t := TargetsTable(results); t != "" {
		md += "\n## Issue #13 targets, run by run\n\n" + t
	}
	md += "\n## Every run\n\n" + RunsTable(results)
	if err := os.WriteFile(filepath.Join(dir, "report.md"), []byte(md), 0o644); err != nil {
		return err
	}
	return WriteChart(filepath.Join(dir, "chart.svg"), results, "Provisioning time / each run's own lower bound")
}
