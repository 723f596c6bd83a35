package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/nitro-cloud/nitro/node"
)

// runStatus asks the running node that the config describes, over its
// authenticated peer listener, for its view of the cluster and prints it:
// this node, the peers by region with their state and RTT, and the link
// estimates the planner uses.
func runStatus(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	config := fs.String("config", "", "YAML configuration `file` of the node to ask")
	asJSON := fs.Bool("json", false, "print the raw status as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, log, err := offlineConfig(*config)
	if err != nil {
		return err
	}
	defer log.Sync() //nolint:errcheck // stderr
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := node.QueryStatus(ctx, cfg)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(st)
	}
	printStatus(os.Stdout, st)
	return nil
}

func printStatus(w io.Writer, st *node.Status) {
	fmt.Fprintf(w, "node %s  region %s  peer %s  gossip %s\n\n", st.Node, st.Region, st.PeerURL, st.Gossip)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REGION\tNODE\tSTATE\tRTT\tPEER URL")
	for _, m := range st.Members {
		rtt := "-"
		if m.RTT > 0 {
			rtt = m.RTT.Round(10 * time.Microsecond).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.Region, m.Name, m.State, rtt, m.PeerURL)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LINK FROM\tESTIMATE\tPRIOR\tSAMPLES\tRECEIVED\tSENT TO IT")
	regions := map[string]bool{}
	for _, l := range st.Links {
		regions[l.Region] = true
	}
	for r := range st.Sent {
		regions[r] = true
	}
	names := make([]string, 0, len(regions))
	for r := range regions {
		names = append(names, r)
	}
	sort.Strings(names)
	for _, r := range names {
		var est, prior string
		var samples int
		for _, l := range st.Links {
			if l.Region == r {
				est, prior, samples = mbps(l.Bandwidth), mbps(l.Prior), l.Samples
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", r, est, prior, samples,
			bytesStr(st.Received[r].Bytes), bytesStr(st.Sent[r].Bytes))
	}
	tw.Flush()
	f, rp := st.Fetch, st.Replication
	fmt.Fprintf(w, "\nfetch: %d fetches, %d chunks (%s), %d shared, %d re-plans (%d failed, %d slow sources), %d without holder, %d corrupt from peers, %d duplicate chunks\n",
		f.Fetches, f.Chunks, bytesStr(f.StoredBytes), f.Shared, f.Replans, f.SourceFails, f.SlowSources, f.NoHolder, f.CorruptFetch, f.DuplicateChunks)
	fmt.Fprintf(w, "planner: %d plans, %.3f ms in total, last %.3f ms\n",
		f.Plans, float64(f.PlanNanos)/1e6, float64(f.LastPlanNanos)/1e6)
	fmt.Fprintf(w, "replication: %d pushed, %d push failures, %d received (%d applied), %d anti-entropy rounds (%d incomplete), %d pulled\n",
		rp.Pushed, rp.PushFailures, rp.Received, rp.Applied, rp.Rounds, rp.RoundFailures, rp.Pulled)
}

func mbps(bps float64) string {
	if bps == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f Mbit/s", bps*8/1e6)
}

func bytesStr(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
