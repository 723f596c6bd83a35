package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nitro-cloud/nitro/node"
)

// runStatus asks the running node that the config describes, over its ops
// listener (ops_listen, host-local and unauthenticated by design; GET
// /status), for its status and prints it: this node and its build, the
// store and the objects, and for a multi-region node the peers by region
// with their state and RTT and the link estimates the planner uses.
func runStatus(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	opsURL := opsFlags(fs)
	asJSON := fs.Bool("json", false, "print the status as JSON (snake_case keys, units in the names)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	base, err := opsURL()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	st, err := node.QueryStatus(ctx, base)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(st)
	}
	printStatus(os.Stdout, st)
	return nil
}

// opsFlags defines --config and --addr on fs for a command that asks the
// running node over its ops listener; the function it returns, called
// once fs is parsed, is that listener's base URL (opsBase).
func opsFlags(fs *flag.FlagSet) func() (string, error) {
	config := fs.String("config", "", "YAML configuration `file` of the node to ask (its ops_listen)")
	addr := fs.String("addr", "", "the node's ops listener `host:port` (default: ops_listen of the config)")
	return func() (string, error) { return opsBase(*config, *addr) }
}

// opsBase is the ops listener's base URL: from addr when given, else from
// the config's ops_listen.
func opsBase(config, addr string) (string, error) {
	cfg := node.Default()
	if config != "" {
		var err error
		if cfg, err = node.Load(config); err != nil {
			return "", err
		}
	}
	if addr != "" {
		cfg.OpsListen = addr
	}
	return node.OpsURL(cfg)
}

func printStatus(w io.Writer, st *node.Status) {
	fmt.Fprintf(w, "node %s  region %s  swift %s  up %s\n", st.Node, st.Region, st.SwiftListen,
		(time.Duration(st.UptimeSeconds) * time.Second).String())
	fmt.Fprintf(w, "version %s\n\n", st.Version)
	s, o := st.Store, st.Objects
	fmt.Fprintf(w, "objects: %d in %d containers of %d accounts, %s\n", o.Objects, o.Containers, o.Accounts, bytesStr(o.PlainBytes))
	ratio := "-"
	if s.StoredBytes > 0 {
		ratio = fmt.Sprintf("%.2f×", float64(o.PlainBytes)/float64(s.StoredBytes))
	}
	fmt.Fprintf(w, "store:   %d chunks, %s stored (plain/stored %s), %d recipes, %s on disk\n",
		s.Chunks, bytesStr(s.StoredBytes), ratio, s.Recipes, bytesStr(s.DiskBytes))
	t := st.SinceStart
	fmt.Fprintf(w, "since start: %d PUTs (%s in), %s out, %d DELETEs, %d PUTs aborted\n",
		t.ObjectsPut, bytesStr(t.BytesIn), bytesStr(t.BytesOut), t.ObjectsDeleted, t.PutsAborted)
	if g := st.LastGC; g != nil {
		fmt.Fprintf(w, "last GC: %s, %.1f s, %d chunks (%s) and %d recipes removed\n",
			g.StartedAt.Format(time.RFC3339), g.DurationSeconds, g.ChunksRemoved, bytesStr(g.StoredBytesFreed), g.RecipesRemoved)
	} else {
		fmt.Fprintln(w, "last GC: none since start")
	}
	if st.Cluster == nil {
		fmt.Fprintln(w, "cluster: none (single region)")
		return
	}
	printCluster(w, st.Cluster)
}

func printCluster(w io.Writer, c *node.ClusterStatus) {
	fmt.Fprintf(w, "\ncluster: peer %s  gossip %s\n\n", c.PeerURL, c.GossipAddr)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REGION\tNODE\tSTATE\tRTT\tPEER URL")
	for _, m := range c.Members {
		rtt := "-"
		if m.RTTSeconds > 0 {
			rtt = time.Duration(m.RTTSeconds * float64(time.Second)).Round(10 * time.Microsecond).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.Region, m.Name, m.State, rtt, m.PeerURL)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REGION\tALIVE\tNODES")
	for _, r := range c.Regions {
		var nodes []string
		for _, n := range r.Nodes {
			s := n.Name + " (" + n.State
			if n.Local {
				s += ", this node"
			}
			nodes = append(nodes, s+")")
		}
		fmt.Fprintf(tw, "%s\t%d/%d\t%s\n", r.Region, r.AliveNodes, len(r.Nodes), strings.Join(nodes, ", "))
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LINK FROM\tESTIMATE\tPRIOR\tSAMPLES\tRECEIVED\tSENT TO IT")
	regions := map[string]bool{}
	for _, l := range c.Links {
		regions[l.Region] = true
	}
	for r := range c.ChunksSent {
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
		for _, l := range c.Links {
			if l.Region == r {
				est, prior, samples = mbps(l.BandwidthBytesPerSecond), mbps(l.PriorBandwidthBytesPerSecond), l.Samples
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", r, est, prior, samples,
			bytesStr(c.ChunksReceived[r].Bytes), bytesStr(c.ChunksSent[r].Bytes))
	}
	tw.Flush()
	f, rp := c.Fetch, c.Replication
	fmt.Fprintf(w, "\nfetch: %d fetches, %d chunks (%s), %d shared, %d re-plans (%d failed, %d slow sources), %d without holder, %d corrupt from peers, %d duplicate chunks\n",
		f.Fetches, f.Chunks, bytesStr(f.StoredBytes), f.SharedChunks, f.Replans, f.SourceFailures, f.SlowSources, f.NoHolderChunks, f.CorruptFromPeers, f.DuplicateChunks)
	if f.DelegatedChunks+f.ObtainedForSiblings > 0 {
		fmt.Fprintf(w, "owners: %d chunks asked of their owner in this region (%d received, %d fetched here after all), %d obtained for other nodes\n",
			f.DelegatedChunks, f.DelegatedReceived, f.DelegateFallbacks, f.ObtainedForSiblings)
	}
	fmt.Fprintf(w, "planner: %d plans, %.3f ms in total, last %.3f ms\n",
		f.Plans, f.PlanSecondsTotal*1e3, f.LastPlanSeconds*1e3)
	fmt.Fprintf(w, "replication: %d pushed, %d push failures, %d received (%d applied), %d anti-entropy rounds (%d incomplete), %d pulled\n",
		rp.PushedRecords, rp.PushFailures, rp.ReceivedRecords, rp.AppliedRecords, rp.Rounds, rp.RoundFailures, rp.PulledRecords)
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
