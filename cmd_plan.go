package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/nitro-cloud/nitro/node"
)

// runPlan asks the running node that the config describes how it would
// read ACCOUNT/CONTAINER/OBJECT now: which chunks are local, which region
// would send what, and the predicted time against the lower bound. Nothing
// is fetched.
func runPlan(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("plan", flag.ContinueOnError)
	config := fs.String("config", "", "YAML configuration `file` of the node to ask")
	asJSON := fs.Bool("json", false, "print the raw plan (with every ref's source) as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("usage: nitro plan [--config FILE] ACCOUNT/CONTAINER/OBJECT")
	}
	cfg, log, err := offlineConfig(*config)
	if err != nil {
		return err
	}
	defer log.Sync() //nolint:errcheck // stderr
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	rep, err := node.QueryPlan(ctx, cfg, fs.Arg(0))
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(rep)
	}
	printPlan(os.Stdout, fs.Arg(0), rep)
	return nil
}

func printPlan(w io.Writer, object string, rep *node.PlanReport) {
	fmt.Fprintf(w, "%s read at region %s (strategy %s)\n", object, rep.Region, rep.Strategy)
	fmt.Fprintf(w, "  %d distinct chunks: %d local (%s of refs), %d missing (%s plain)\n",
		rep.Chunks, rep.Local, bytesStr(rep.LocalBytes), rep.Missing, bytesStr(rep.MissingPlain))
	if len(rep.NoHolder) > 0 {
		fmt.Fprintf(w, "  %d chunks are held by no live region, e.g. %s: the read would fail\n", len(rep.NoHolder), rep.NoHolder[0])
	}
	if rep.Missing == 0 {
		fmt.Fprintln(w, "  everything is local: nothing crosses the WAN")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  SOURCE\tHOLDS\tSENDS\tBYTES\tLINK\tRTT\tFINISH")
	for _, s := range rep.Sources {
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%s\t%s\t%v\t%.3fs\n", s.Region, s.Holds, s.Chunks, bytesStr(s.Bytes),
			mbps(s.Bandwidth), s.RTT.Round(time.Microsecond), s.Finish)
	}
	tw.Flush()
	ratio := 0.0
	if rep.LowerBound > 0 {
		ratio = rep.Makespan / rep.LowerBound
	}
	fmt.Fprintf(w, "  predicted %.3fs, lower bound %.3fs (%.3f×)\n", rep.Makespan, rep.LowerBound, ratio)
}
