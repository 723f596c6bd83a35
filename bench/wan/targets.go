package main

import (
	"fmt"
	"strings"
)

// Issue #13's targets for fixed costs (must have 2), judged run by run:
//
//	(a) time ≤ targetRatioA × the run's own lower bound, for every reader;
//	(d) time ≤ lower bound + targetRTTsD × the RTT of the slowest link that
//	    carried chunks to the reader.
//
// Beside each verdict the table gives what separates load from design on a
// shared machine: the reader's local re-read of the same object (every
// chunk local: the cost of serving it at this load, which the WAN bound
// does not contain) and the reader's own plan (`nitro plan`: the makespan
// its model predicts, TCP start-up included).
const (
	targetRatioA = 1.10
	targetRTTsD  = 3
)

// Target returns the run's target time in seconds and whether the
// scenario has one (a and d, Nitro's strategies, no error).
func (r RunResult) Target() (float64, bool) {
	if r.Err != "" || !(r.LowerBound > 0) || isSwiftStrategy(r.Strategy) {
		return 0, false
	}
	switch r.Scenario {
	case "a":
		return targetRatioA * r.LowerBound, true
	case "d":
		return r.LowerBound + targetRTTsD*r.SlowestRTT, true
	}
	return 0, false
}

// TargetsTable renders one row per run that has a target: the time, the
// target, whether it was met, and the calibration columns. "" when no run
// has a target.
func TargetsTable(results []RunResult) string {
	var b strings.Builder
	met, n := 0, 0
	for _, r := range results {
		t, ok := r.Target()
		if !ok {
			continue
		}
		if n == 0 {
			b.WriteString("Targets: (a) ≤ 1.10 × the run's lower bound; (d) ≤ lower bound + 3 × RTT of the slowest link that carried chunks. " +
				"Local re-read: a second GET of the object by the reader right after, every chunk local (the serving cost at this load, outside the WAN bound). " +
				"Node model: the reader's `nitro plan` makespan before the read (TCP start-up included). Shaper late packets: delivered > 100 ms past due by the user-space shaper (it was not scheduled: the emulated links paused).\n\n")
			b.WriteString("| topology | scenario | draw | strategy | wire compression | reader | load avg | lower bound s | slowest RTT s | target s | seconds | met | time / bound | local re-read s | node model s | seconds − local re-read | hedges | duplicate chunks | shaper late / dropped packets |\n")
			b.WriteString("| --- | --- | ---: | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
		}
		n++
		verdict := "no"
		if r.Seconds <= t {
			verdict = "**yes**"
			met++
		}
		q, _ := r.Ratio()
		local, less := "–", "–"
		if r.LocalSeconds > 0 {
			local = fmt.Sprintf("%.2f", r.LocalSeconds)
			less = fmt.Sprintf("%.2f", r.Seconds-r.LocalSeconds)
		}
		model := "–"
		if r.NodeMakespan > 0 {
			model = fmt.Sprintf("%.2f", r.NodeMakespan)
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %s | %s | %s | %.1f | %.2f | %.3f | %.2f | %.2f | %s | %.2f | %s | %s | %s | %d | %d | %d / %d |\n",
			r.Topology, r.Scenario, r.Run, r.Strategy, onOff(r.Compression), r.Reader, r.LoadAvg, r.LowerBound, r.SlowestRTT,
			t, r.Seconds, verdict, q, local, model, less, r.Events["hedge"], r.DupChunks, r.ShaperLate, r.ShaperDrops)
	}
	if n == 0 {
		return ""
	}
	fmt.Fprintf(&b, "\nMet in %d of %d runs.\n", met, n)
	return b.String()
}
