package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
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

// RunResult is one measured provisioning: one read (or one batch of
// concurrent reads) of one scenario with one strategy.
type RunResult struct {
	// Topology names the topology CSV the regions were drawn from (its
	// base name without .csv), so that results of several topologies can
	// be merged into one report.
	Topology    string   `json:"topology,omitempty"`
	Scenario    string   `json:"scenario"` // "a" .. "e"
	Strategy    string   `json:"strategy"`
	Compression bool     `json:"compression"`
	Run         int      `json:"run"` // the draw (reader and holders)
	Reader      string   `json:"reader"`
	Holders     []string `json:"holders"`
	// Seconds is the provisioning time: request sent to last byte
	// verified (the slowest reader when several read at once).
	Seconds float64 `json:"seconds"`
	// LowerBound is this run's own lower bound in seconds
	// (planner.LowerBound over the topology's links): for Nitro's
	// strategies the stored bytes of the chunks the reader lacked on their
	// holder sets; for the Swift baselines the raw image on every holder
	// (see Bound).
	LowerBound float64 `json:"lower_bound_s"`
	// Bound says what LowerBound was computed on.
	Bound string `json:"bound,omitempty"`
	// LoadAvg is the 1-minute load average of the machine when the run
	// started (/proc/loadavg).
	LoadAvg float64 `json:"load_avg"`
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
	// NodeFetchSeconds is how long the reader's longest fetch job of the
	// read took, from its start to its last chunk stored (nitro status'
	// transfers): beside Seconds (the whole GET) and LocalSeconds it says
	// whether the GET overlapped the fetch with the local serving.
	NodeFetchSeconds float64 `json:"node_fetch_s,omitempty"`
	// NodeFetchSources is, for that job, when each source region
	// delivered its last chunk, in seconds after the job's start (100 ms
	// resolution): which link was the fetch's tail.
	NodeFetchSources map[string]float64 `json:"node_fetch_sources,omitempty"`
	// Events counts the reader's log events of the run by kind
	// ("replan", "slow_source", "source_failed", "duplicate", "hedge",
	// "warn"); LogDir is where its logs are kept, relative to the results
	// directory.
	Events map[string]int `json:"events,omitempty"`
	// NodeFetch is the change of the reader's own fetch counters over the
	// run (nitro status: replans, slow_sources, source_failures,
	// duplicate_chunks).
	NodeFetch map[string]int64 `json:"node_fetch,omitempty"`
	LogDir    string           `json:"log_dir,omitempty"`
	// LocalSeconds is a second GET of the same object by the same reader
	// right after the run, every chunk local by then: what serving the
	// object costs the reader on this machine at this load, no WAN
	// involved (scenarios a and d; 0 when not measured). See targets.go.
	LocalSeconds float64 `json:"local_reread_s,omitempty"`
	// SlowestRTT is the largest RTT, in seconds, of the links that carried
	// chunk payload to the reader in the run (the (d) target's "slowest
	// link it uses").
	SlowestRTT float64 `json:"slowest_rtt_s,omitempty"`
	// ShaperLate and ShaperDrops are the packets into the reader(s)
	// that the tun shaper delivered more than 100 ms late (the forwarder
	// not scheduled: the emulated link paused) and that it dropped
	// (drop-tail), during the run.
	ShaperLate  int64  `json:"shaper_late_packets,omitempty"`
	ShaperDrops int64  `json:"shaper_drops,omitempty"`
	Note        string `json:"note,omitempty"`
	Err         string `json:"error,omitempty"`
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

// Ratio returns Seconds / LowerBound, the run's time against its own
// bound, and false when the run failed or has no bound. Ratios are the
// only quantity the report aggregates across draws: seconds of draws
// with different bounds are never rescaled into each other.
func (r RunResult) Ratio() (float64, bool) {
	if r.Err != "" || !(r.LowerBound > 0) || !(r.Seconds > 0) {
		return 0, false
	}
	return r.Seconds / r.LowerBound, true
}

// Spread is the median and range of a sample.
type Spread struct {
	N                int
	Median, Min, Max float64
}

// SpreadOf returns the median, minimum and maximum of x (NaNs when x is
// empty). The median of an even count is the mean of the middle two.
func SpreadOf(x []float64) Spread {
	if len(x) == 0 {
		return Spread{Median: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	}
	y := slices.Clone(x)
	slices.Sort(y)
	s := Spread{N: len(y), Min: y[0], Max: y[len(y)-1]}
	if n := len(y); n%2 == 1 {
		s.Median = y[n/2]
	} else {
		s.Median = (y[n/2-1] + y[n/2]) / 2
	}
	return s
}

// Summary aggregates the runs of one (topology, scenario, strategy,
// compression): the spread of the per-run ratios to each run's own bound,
// and, separately, the spread of the seconds.
type Summary struct {
	Topology, Scenario, Strategy string
	Compression                  bool
	Runs, Failed                 int
	Ratio                        Spread // Seconds / LowerBound, per run
	Seconds                      Spread
	LowerBound                   Spread // the runs' own bounds, s
	Load                         Spread // 1-minute load average at each run's start
	WANOverMin                   Spread // TotalWAN / MinBytes
	WireOverMin                  Spread // TotalWire / MinBytes
	DupChunks                    int64
	Events                       map[string]int // summed over the runs
	PlannerMedian                float64        // seconds
}

// Label names the strategy and compression setting.
func (s Summary) Label() string {
	if s.Compression {
		return s.Strategy + "+z"
	}
	return s.Strategy
}

// Summarize groups results by topology, scenario, strategy and
// compression, in the order they first appear.
func Summarize(results []RunResult) []Summary {
	type key struct {
		topo, sc, st string
		z            bool
	}
	var order []key
	groups := map[key][]RunResult{}
	for _, r := range results {
		k := key{r.Topology, r.Scenario, r.Strategy, r.Compression}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	var out []Summary
	for _, k := range order {
		s := Summary{Topology: k.topo, Scenario: k.sc, Strategy: k.st, Compression: k.z, Events: map[string]int{}}
		var secs, ratios, bounds, load, wan, wire, plan []float64
		for _, r := range groups[k] {
			s.Runs++
			if r.Err != "" {
				s.Failed++
				continue
			}
			secs = append(secs, r.Seconds)
			load = append(load, r.LoadAvg)
			if q, ok := r.Ratio(); ok {
				ratios = append(ratios, q)
				bounds = append(bounds, r.LowerBound)
			}
			if r.MinBytes > 0 {
				wan = append(wan, float64(r.TotalWAN())/float64(r.MinBytes))
				if len(r.WireBytes) > 0 {
					wire = append(wire, float64(r.TotalWire())/float64(r.MinBytes))
				}
			}
			plan = append(plan, r.PlannerSeconds)
			s.DupChunks += r.DupChunks
			for e, n := range r.Events {
				s.Events[e] += n
			}
			// The reader's own counters, where it reports more than its
			// log shows (the log may miss events it does not log).
			for e, k := range map[string]string{"replan": "replans", "slow_source": "slow_sources"} {
				if n := int(r.NodeFetch[k]); n > r.Events[e] {
					s.Events[e] += n - r.Events[e]
				}
			}
		}
		s.Ratio, s.Seconds, s.LowerBound, s.Load = SpreadOf(ratios), SpreadOf(secs), SpreadOf(bounds), SpreadOf(load)
		s.WANOverMin, s.WireOverMin = SpreadOf(wan), SpreadOf(wire)
		s.PlannerMedian = SpreadOf(plan).Median
		out = append(out, s)
	}
	return out
}

// Paired compares strategy a with strategy b run by run: for every draw
// (topology, scenario, compression, run) where both completed, the
// relative change of a's seconds against b's (−0.77 = a took 77 % less
// time). Pairs are in the order of a's runs.
func Paired(results []RunResult, a, b string) []float64 {
	type key struct {
		topo, sc string
		z        bool
		run      int
	}
	bs := map[key]float64{}
	for _, r := range results {
		if r.Strategy == b && r.Err == "" && r.Seconds > 0 {
			bs[key{r.Topology, r.Scenario, r.Compression, r.Run}] = r.Seconds
		}
	}
	var out []float64
	for _, r := range results {
		if r.Strategy != a || r.Err != "" || !(r.Seconds > 0) {
			continue
		}
		if v, ok := bs[key{r.Topology, r.Scenario, r.Compression, r.Run}]; ok {
			out = append(out, r.Seconds/v-1)
		}
	}
	return out
}

// mergeReports is the report subcommand: it reads the results.json of
// each results directory given and writes one report (report.md,
// chart.svg, results.json) of all their runs into --out, the headers of
// the runs' own reports quoted at the top. Runs keep their topology, so
// the tables and the chart keep topologies apart.
func mergeReports(args []string) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	out := fs.String("out", "", "directory to write the merged report into")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() == 0 {
		return errors.New("usage: report --out DIR RESULTS_DIR...")
	}
	var all []RunResult
	var header strings.Builder
	header.WriteString("# WAN provisioning benchmark: merged report\n\n")
	for _, d := range fs.Args() {
		b, err := os.ReadFile(filepath.Join(d, "results.json"))
		if err != nil {
			return err
		}
		var rs []RunResult
		if err := json.Unmarshal(b, &rs); err != nil {
			return fmt.Errorf("%s: %w", d, err)
		}
		all = append(all, rs...)
		md, _ := os.ReadFile(filepath.Join(d, "report.md"))
		fmt.Fprintf(&header, "## From %s\n\n", filepath.Base(d))
		for _, l := range strings.Split(string(md), "\n") {
			if strings.HasPrefix(l, "- ") || strings.HasPrefix(l, "Wall time") {
				header.WriteString(l + "\n")
			}
			if strings.HasPrefix(l, "## ") {
				break
			}
		}
		header.WriteString("\n")
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	return WriteReport(*out, all, header.String())
}
