package main

import (
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// RunResult is one measured provisioning: one read (or one batch of
// concurrent reads) of one scenario with one strategy.
type RunResult struct {
	Scenario    string   `json:"scenario"` // "a" .. "e"
	Strategy    string   `json:"strategy"`
	Compression bool     `json:"compression"`
	Run         int      `json:"run"`
	Reader      string   `json:"reader"`
	Holders     []string `json:"holders"`
	// Seconds is the provisioning time: request sent to last byte
	// verified (the slowest reader when several read at once).
	Seconds float64 `json:"seconds"`
	// LowerBound is the fractional lower bound in seconds for the bytes
	// the reader lacked (planner.LowerBound over the topology's links).
	LowerBound float64 `json:"lower_bound_s"`
	// PlannerSeconds is the node's planning time, 0 if not reported.
	PlannerSeconds float64 `json:"planner_s"`
	// WANBytes is the payload bytes per directed link "from->to" during
	// the read, from the nodes' peer counters (or the emulator's wire
	// counters when the nodes report none).
	WANBytes map[string]int64 `json:"wan_bytes"`
	// MinBytes is the stored bytes of the chunks the reader lacked.
	MinBytes int64 `json:"min_bytes"`
	// WireBytes is the emulator's count of IP bytes per directed link
	// into the reader(s) during the read (payload + TCP/IP/HTTP framing,
	// gossip and acks included): the cross-check of WANBytes.
	WireBytes map[string]int64 `json:"wire_bytes,omitempty"`
	// StoredDelta is the growth of the readers' stored_bytes (GET /stats).
	StoredDelta int64 `json:"stored_delta"`
	// NeededChunks are the distinct chunks the reader(s) lacked (summed
	// over readers); ReceivedChunks the chunk transfers they counted.
	NeededChunks   int64 `json:"needed_chunks"`
	ReceivedChunks int64 `json:"received_chunks"`
	// DupChunks counts chunks received more than once.
	DupChunks int64 `json:"dup_chunks"`
	// NodeLowerBound and NodeMakespan are what the reader's own planner
	// predicted just before the read (`nitro plan`), from its link priors
	// and its estimate of chunk sizes.
	NodeLowerBound float64 `json:"node_lower_bound_s,omitempty"`
	NodeMakespan   float64 `json:"node_makespan_s,omitempty"`
	Note           string  `json:"note,omitempty"`
	Err            string  `json:"error,omitempty"`
}

// TotalWire returns the sum of WireBytes.
func (r RunResult) TotalWire() int64 {
	var s int64
	for _, b := range r.WireBytes {
		s += b
	}
	return s
}

// TotalWAN returns the sum of WANBytes.
func (r RunResult) TotalWAN() int64 {
	var s int64
	for _, b := range r.WANBytes {
		s += b
	}
	return s
}

// Summary aggregates the runs of one (scenario, strategy, compression).
type Summary struct {
	Scenario, Strategy string
	Compression        bool
	Runs, Failed       int
	Median, Min, Max   float64 // seconds
	RatioLB            float64 // mean of Seconds/LowerBound
	WANOverMin         float64 // mean of TotalWAN/MinBytes
	WireOverMin        float64 // mean of TotalWire/MinBytes
	DupChunks          int64
	PlannerMedian      float64
}

// Label names the strategy and compression setting.
func (s Summary) Label() string {
	if s.Compression {
		return s.Strategy + "+z"
	}
	return s.Strategy
}

// Summarize groups results by scenario, strategy and compression, in the
// order they first appear.
func Summarize(results []RunResult) []Summary {
	type key struct {
		sc, st string
		z      bool
	}
	var order []key
	groups := map[key][]RunResult{}
	for _, r := range results {
		k := key{r.Scenario, r.Strategy, r.Compression}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	var out []Summary
	for _, k := range order {
		s := Summary{Scenario: k.sc, Strategy: k.st, Compression: k.z}
		var secs, ratios, wan, wire, plan []float64
		for _, r := range groups[k] {
			s.Runs++
			if r.Err != "" {
				s.Failed++
				continue
			}
			secs = append(secs, r.Seconds)
			if r.LowerBound > 0 {
				ratios = append(ratios, r.Seconds/r.LowerBound)
			}
			if r.MinBytes > 0 {
				wan = append(wan, float64(r.TotalWAN())/float64(r.MinBytes))
				if len(r.WireBytes) > 0 {
					wire = append(wire, float64(r.TotalWire())/float64(r.MinBytes))
				}
			}
			plan = append(plan, r.PlannerSeconds)
			s.DupChunks += r.DupChunks
		}
		if len(secs) > 0 {
			s.Median, s.Min, s.Max = median(secs), slices.Min(secs), slices.Max(secs)
			s.RatioLB, s.WANOverMin, s.PlannerMedian = mean(ratios), mean(wan), median(plan)
			s.WireOverMin = mean(wire)
		}
		out = append(out, s)
	}
	return out
}

func median(x []float64) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	y := slices.Clone(x)
	slices.Sort(y)
	if n := len(y); n%2 == 1 {
		return y[n/2]
	} else {
		return (y[n/2-1] + y[n/2]) / 2
	}
}

func mean(x []float64) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	var s float64
	for _, v := range x {
		s += v
	}
	return s / float64(len(x))
}

// MarkdownReport renders the summaries as a markdown table.
func MarkdownReport(sums []Summary) string {
	var b strings.Builder
	b.WriteString("| scenario | strategy | wire compression | runs (failed) | median s | min–max s | time / lower bound | WAN bytes / minimum | wire bytes / minimum | duplicate chunks | planner ms |\n")
	b.WriteString("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, s := range sums {
		z := "off"
		if s.Compression {
			z = "on"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %d (%d) | %.2f | %.2f–%.2f | %.3f | %.3f | %.3f | %d | %.2f |\n",
			s.Scenario, s.Strategy, z, s.Runs, s.Failed, s.Median, s.Min, s.Max, s.RatioLB, s.WANOverMin, s.WireOverMin, s.DupChunks, 1000*s.PlannerMedian)
	}
	return b.String()
}

// palette colours the strategies of a chart.
var palette = []color.RGBA{
	{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}, {214, 39, 40, 255},
	{148, 103, 189, 255}, {140, 86, 75, 255}, {227, 119, 194, 255}, {127, 127, 127, 255},
	{188, 189, 34, 255}, {23, 190, 207, 255}, {0, 0, 128, 255}, {128, 128, 0, 255},
}

// ChartPNG draws a grouped bar chart: one group per scenario, one bar per
// strategy (and compression), bar height the median provisioning time
// divided by the median lower bound ("time / lower bound"), whiskers the
// min-max spread, a dashed line at 1.0 (the bound).
func ChartPNG(sums []Summary) *image.RGBA {
	var scen, labels []string
	for _, s := range sums {
		if !slices.Contains(scen, s.Scenario) {
			scen = append(scen, s.Scenario)
		}
		if !slices.Contains(labels, s.Label()) {
			labels = append(labels, s.Label())
		}
	}
	const k = 2 // font scale
	barW, gap, left, top, plotH := 16, 24, 70, 40, 360
	groupW := len(labels)*barW + gap
	legendW := 0
	for _, l := range labels {
		legendW = max(legendW, textWidth(l, k)+30)
	}
	const title = "TIME / LOWER BOUND (MEDIAN, MIN-MAX) PER SCENARIO"
	W := max(left+max(1, len(scen))*groupW+30+legendW, textWidth(title, k)+20)
	H := top + plotH + 60
	img := image.NewRGBA(image.Rect(0, 0, W, H))
	fillRect(img, 0, 0, W, H, color.White)
	black := color.RGBA{0, 0, 0, 255}
	grey := color.RGBA{200, 200, 200, 255}

	// y scale: time / lower bound, from 0 to the largest whisker.
	ymax := 1.5
	for _, s := range sums {
		if s.Median > 0 && s.RatioLB > 0 {
			ymax = max(ymax, s.RatioLB*s.Max/s.Median)
		}
	}
	ymax = math.Ceil(ymax*2) / 2
	y := func(v float64) int { return top + plotH - int(v/ymax*float64(plotH)) }
	for v := 0.0; v <= ymax+1e-9; v += 0.5 {
		fillRect(img, left, y(v), W-left-legendW-20, 1, grey)
		lbl := fmt.Sprintf("%.1f", v)
		drawText(img, left-8-textWidth(lbl, k), y(v)-5, k, lbl, black)
	}
	for x := left; x < W-legendW-20; x += 8 {
		fillRect(img, x, y(1), 4, 2, black)
	}
	drawText(img, 10, 10, k, title, black)
	fillRect(img, left, top, 1, plotH, black)
	fillRect(img, left, top+plotH, W-left-legendW-20, 1, black)

	for gi, sc := range scen {
		x0 := left + 10 + gi*groupW
		drawText(img, x0+(len(labels)*barW-textWidth("("+sc+")", k))/2, top+plotH+10, k, "("+sc+")", black)
		for _, s := range sums {
			if s.Scenario != sc || s.Median == 0 || !(s.RatioLB > 0) {
				continue
			}
			li := slices.Index(labels, s.Label())
			x := x0 + li*barW
			c := palette[li%len(palette)]
			fillRect(img, x, y(s.RatioLB), barW-2, y(0)-y(s.RatioLB), c)
			lo, hi := s.RatioLB*s.Min/s.Median, s.RatioLB*s.Max/s.Median
			fillRect(img, x+barW/2-1, y(hi), 2, y(lo)-y(hi)+1, black)
			fillRect(img, x+2, y(hi), barW-6, 1, black)
			fillRect(img, x+2, y(lo), barW-6, 1, black)
		}
	}
	lx := W - legendW
	for li, l := range labels {
		ly := top + li*20
		fillRect(img, lx, ly, 12, 12, palette[li%len(palette)])
		drawText(img, lx+18, ly+1, k, l, black)
	}
	return img
}

// WriteReport writes results.json, report.md and chart.png into dir.
func WriteReport(dir string, results []RunResult, header string) error {
	b, err := json.MarshalIndent(results, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), b, 0o644); err != nil {
		return err
	}
	sums := Summarize(results)
	md := header + "\n" + MarkdownReport(sums) + "\n![chart](chart.png)\n"
	if err := os.WriteFile(filepath.Join(dir, "report.md"), []byte(md), 0o644); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "chart.png"))
	if err != nil {
		return err
	}
	if err := png.Encode(f, ChartPNG(sums)); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
