package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"time"
)

// runVerify builds the WAN, measures every directed link with the probe
// and prints (and, with --out, writes) the shaping table.
func runVerify(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	var tf topoFlags
	tf.register(fs)
	dur := fs.Duration("duration", 10*time.Second, "bulk transfer time per link (long-RTT links need >= 10s to leave slow start and settle)")
	oneWay := fs.Bool("one-direction", false, "measure each pair in one direction only")
	tol := fs.Float64("tolerance", 0.15, "largest acceptable relative throughput error")
	out := fs.String("out", "", "results directory (default results/<timestamp>-verify); \"-\" writes nothing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireRoot(); err != nil {
		return err
	}
	_, topo, err := tf.load()
	if err != nil {
		return err
	}
	var log io.Writer = io.Discard
	if tf.verbose {
		log = os.Stderr
	}
	w, err := NewWAN(ctx, WANConfig{Topo: topo, Shaper: tf.shaper, MTU: tf.mtu, CongestionControl: tf.cc, InitialWindow: tf.iw, Sysctls: tf.sysctls, Log: log})
	if err != nil {
		return err
	}
	defer w.Close()
	fmt.Fprintf(os.Stderr, "WAN %s up: %d regions, shaper %s\n", w.RunID(), len(w.Regions), w.Shaper())
	var res []PairResult
	for i := range w.Regions {
		for j := range w.Regions {
			if i == j || (*oneWay && j < i) {
				continue
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			r, err := w.Probe(ctx, i, j, *dur, 0)
			if err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "%s -> %s: %.1f Mbit/s (target %.1f), RTT %.1f ms (target %.1f)\n",
				r.From, r.To, r.Mbit, r.TargetMbit, r.RTTms, r.TargetRTTms)
			res = append(res, r)
		}
	}
	if st, err := w.LinkStats(ctx); err == nil {
		for i := range w.Regions {
			for j := range w.Regions {
				if c, ok := st[[2]int{i, j}]; ok && c.Packets > 0 {
					fmt.Fprintf(os.Stderr, "link %s -> %s: %d bytes, %d packets, %d dropped\n", w.Regions[i].Name, w.Regions[j].Name, c.Bytes, c.Packets, c.Drops)
				}
			}
		}
	}
	table := ShapingTable(res)
	fmt.Print(table)
	worst := 0.0
	for _, r := range res {
		worst = max(worst, math.Abs(r.BWErr()))
	}
	if *out != "-" {
		dir, err := newResultsDir(*out, "verify", topo)
		if err != nil {
			return err
		}
		if err := os.WriteFile(dir+"/shaping.md", []byte(table), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "wrote %s\n", dir)
	}
	if worst > *tol {
		return fmt.Errorf("worst throughput error %.1f%% exceeds %.0f%%", 100*worst, 100**tol)
	}
	return nil
}
