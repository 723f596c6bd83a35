package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nitro-cloud/nitro/planner"
)

// Scenarios of issue #6:
//
//	a  image held by 3 random regions, read by a 4th (Nitro's setup), --runs draws
//	b  image held by 1 region, read by 3 regions at once
//	c  20 concurrent reads of one image in one region (WAN bytes of one read)
//	d  variant image read in a region that already holds its base image
//	e  (a) with one holder killed in the middle of the read
//
// Every node is a `nitro serve` of one cluster (cluster.peer_listen,
// gossip, secret, link priors from the topology, cluster.strategy per
// measured read). How holders get their parts of an image, the lower
// bound and the counters: see run.go and cluster.go. The reader of every
// measured read is a fresh node (new data dir) joining the running
// holders, so it lacks every chunk at the start.
// --cluster=false keeps the single-node smoke test of the orchestration.

type runFlags struct {
	topoFlags
	nitro      string
	images     string
	image      string
	format     string
	variant    string
	scenarios  string
	strategies string
	compress   string
	runs       int
	cluster    bool
	out        string
	keep       bool
	// fullReplicas gives every holder the whole image (as the Swift
	// baseline's ring does) instead of 100 % / 8/16 / 5/16.
	fullReplicas bool
}

func runScenarios(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var f runFlags
	f.register(fs)
	fs.StringVar(&f.nitro, "nitro", "", "nitro binary (default: go build the repository's)")
	fs.StringVar(&f.images, "images", envOr("NITRO_IMAGE_CACHE", "/var/cache/nitro-images"), "directory with manifest.tsv (scripts/vm-images.sh --out)")
	fs.StringVar(&f.image, "image", "bookworm-minbase", "image name of the manifest")
	fs.StringVar(&f.format, "format", "qcow2", "image format of the manifest")
	fs.StringVar(&f.variant, "variant", "bookworm-nginx", "variant of --image for scenario d")
	fs.StringVar(&f.scenarios, "scenarios", "a,b,c,d,e", "scenarios to run")
	fs.StringVar(&f.strategies, "strategies", "optimal,nitro,random,highest-bandwidth,origin-only,swift,copy-image", "plan strategies (planner.ParseStrategy names; origin-only gets the first holder) and baselines: swift (a Swift global cluster, proxy in the reader's region) and copy-image (one stream from the best holder); the baselines run in scenario (a) only")
	fs.StringVar(&f.compress, "compression", "both", "wire compression: on, off or both")
	fs.IntVar(&f.runs, "runs", 3, "random draws per scenario and strategy")
	fs.BoolVar(&f.cluster, "cluster", true, "run the scenarios on a multi-region cluster; --cluster=false only runs the single-node smoke test")
	fs.StringVar(&f.out, "out", "", "results directory (default results/<timestamp>-run)")
	fs.BoolVar(&f.keep, "keep", false, "keep the nodes' data directories")
	fs.BoolVar(&f.fullReplicas, "full-replicas", false, "every holder holds the whole image (Swift's holdings, for a like-for-like comparison with the swift baseline)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireRoot(); err != nil {
		return err
	}
	_, topo, err := f.load()
	if err != nil {
		return err
	}
	for _, s := range strings.Split(f.strategies, ",") {
		if s == "origin-only" || isSwiftStrategy(s) {
			continue // origin-only needs the origin region, given per run; the Swift baselines are not Nitro's
		}
		if _, err := planner.ParseStrategy(strategyFor(s, "x")); err != nil {
			return err
		}
	}
	img, err := findImage(f.images, f.image, f.format)
	if err != nil {
		return err
	}
	if f.nitro == "" {
		tmp, err := os.MkdirTemp("", "bench-wan-nitro-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		f.nitro = filepath.Join(tmp, "nitro")
		build := exec.CommandContext(ctx, "go", "build", "-o", f.nitro, ".")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("go build nitro: %w", err)
		}
	}
	var log io.Writer = io.Discard
	if f.verbose {
		log = os.Stderr
	}
	w, err := NewWAN(ctx, WANConfig{Topo: topo, Shaper: f.shaper, MTU: f.mtu, CongestionControl: f.cc, InitialWindow: f.iw, Sysctls: f.sysctls, Log: log})
	if err != nil {
		return err
	}
	defer w.Close()
	work, err := os.MkdirTemp("", "bench-wan-"+w.RunID()+"-")
	if err != nil {
		return err
	}
	if !f.keep {
		defer os.RemoveAll(work)
	}
	fmt.Fprintf(os.Stderr, "WAN %s up: regions %s, shaper %s; work dir %s\n", w.RunID(), strings.Join(topo.Regions, ","), w.Shaper(), work)

	if !f.cluster {
		return smoke(ctx, w, f, work, img)
	}
	variant := img
	if strings.Contains(f.scenarios, "d") {
		if variant, err = findImage(f.images, f.variant, f.format); err != nil {
			return err
		}
	}
	dir, err := newResultsDir(f.out, "run", topo)
	if err != nil {
		return err
	}
	header := runHeader(topo, f, w.Shaper(), img, variant)
	b := &bench{w: w, topo: topo, f: f, work: work, log: os.Stderr, results: dir}
	t0 := time.Now()
	res, err := b.clusterRun(ctx, dir, header, img, variant)
	if werr := WriteReport(dir, res, header+fmt.Sprintf("\nWall time %s; load average at the end: %s\n", time.Since(t0).Round(time.Second), loadAvg())); werr != nil && err == nil {
		err = werr
	}
	fmt.Fprintf(os.Stderr, "results in %s\n", dir)
	return err
}

// runHeader is the report's preamble: what was run, where and when.
func runHeader(topo *Topology, f runFlags, shaper string, img, variant imageEntry) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# WAN provisioning benchmark\n\n")
	fmt.Fprintf(&b, "- command: `go run ./bench/wan %s`\n", shellJoin(os.Args[1:]))
	fmt.Fprintf(&b, "- date: %s; load average at start: %s\n", time.Now().UTC().Format(time.RFC3339), loadAvg())
	fmt.Fprintf(&b, "- regions: %s (topology %s, bandwidth scale %g, shaper %s)\n", strings.Join(topo.Regions, ", "), f.file, f.scale, shaper)
	fmt.Fprintf(&b, "- image: %s.%s (%d bytes); variant for (d): %s (%d bytes)\n", img.name, img.format, img.bytes, variant.name, variant.bytes)
	if f.fullReplicas {
		b.WriteString("- holdings: --full-replicas, every holder holds the whole image (as in the Swift baseline)\n")
	}
	fmt.Fprintf(&b, "- draws for (a): %d (seed %d); (c), (d), (e) on draw 0; wire compression off = store.compression_level -1 on every node\n", f.runs, f.seed)
	b.WriteString("- every ratio is a run's seconds over that run's own lower bound; medians and ranges are of those ratios, seconds are summarized apart (never rescaled across draws); strategies rotate their order from draw to draw; load average = 1-minute /proc/loadavg at each run's start; each run's reader log (and the draw's holder and Swift logs) are kept under logs/, their re-plan and slow-source events counted in the tables\n")
	b.WriteString("- swift: a Swift global cluster (Debian's Swift; proxy + memcached in the reader's region, account/container/object servers in each holder's region, rings with one region per holder and one replica per region, sorting_method = affinity, read_affinity by link bandwidth from the reader); copy-image: one HTTP stream of the whole raw image from the object server of the holder with the fastest link, into a file in the reader's region (Glance's copy-image). Both store and send the image raw; their lower bound is the raw image with a full replica at every holder\n")
	b.WriteString("- time / lower bound: planner.LowerBound on the exact holdings (stored chunk sizes, holder sets) with the topology's bandwidth and RTT; WAN bytes: stored chunk bytes the reader(s) received (node peer counters); wire bytes: IP bytes into the reader(s) counted by the shaper; minimum: stored bytes of the chunks the reader(s) lacked; planner ms: the reader node's own planner.Solve time for the read (nitro status cluster.fetch.plan_seconds_total; re-plans included), else planner.Solve on the same input timed by the harness\n")
	return b.String()
}

// loadAvg1 returns the 1-minute load average (/proc/loadavg), 0 if
// unknown.
func loadAvg1() float64 {
	f := strings.Fields(loadAvg())
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	fs := strings.Fields(string(b))
	if len(fs) < 3 {
		return "?"
	}
	return strings.Join(fs[:3], " ")
}

// smoke starts one independent node per region, uploads the image in
// region 0 and reads it back there, verifying its SHA-256. It checks the
// harness's orchestration; it measures nothing across the WAN.
func smoke(ctx context.Context, w *WAN, f runFlags, work string, img imageEntry) error {
	var nodes []*Node
	defer func() {
		for _, n := range nodes {
			n.Stop()
		}
	}()
	for _, r := range w.Regions {
		p := NodeParams{Region: r.Name, Index: r.Index, Addr: r.Addr.String(), DataDir: filepath.Join(work, r.Name, "data"),
			SwiftPort: swiftPort, OpsPort: opsPort, PeerPort: peerPort}
		n, err := w.StartNode(ctx, f.nitro, filepath.Join(work, r.Name), p)
		if err != nil {
			return err
		}
		nodes = append(nodes, n)
	}
	fmt.Fprintf(os.Stderr, "%d nodes healthy\n", len(nodes))
	t0 := time.Now()
	if err := nodes[0].Put(ctx, "images", img.name, img.path); err != nil {
		return err
	}
	put := time.Since(t0)
	size, sum, el, err := nodes[0].Get(ctx, "images", img.name)
	if err != nil {
		return err
	}
	if size != img.bytes || sum != img.sha256 {
		return fmt.Errorf("read back %d bytes sha256 %s, want %d %s", size, sum, img.bytes, img.sha256)
	}
	st, err := nodes[0].Stats(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "smoke: %s (%d bytes) PUT %.2fs, local GET %.2fs, sha256 ok; node stats: chunks %v stored_bytes %v\n",
		img.name, size, put.Seconds(), el.Seconds(), st["chunks"], st["stored_bytes"])
	fmt.Fprintln(os.Stderr, "NOT DONE: scenarios (a)-(e) need the multi-region node (run --cluster once it lands); no scenario numbers were produced")
	return nil
}

// LowerBoundFor returns the fractional lower bound in seconds for reader
// to fetch bytes that every one of holders stores, over the topology's
// links (planner.LowerBound with the links' bandwidths and RTTs).
func LowerBoundFor(t *Topology, reader string, holders []string, bytes int64) (float64, error) {
	in := planner.Input{}
	var all planner.RegionSet
	for i, h := range holders {
		l, ok := t.Link(reader, h)
		if !ok {
			return 0, fmt.Errorf("no link %s-%s", reader, h)
		}
		in.Sources = append(in.Sources, planner.Source{Region: h, Bandwidth: l.BytesPerSec(), RTT: l.RTT})
		all |= planner.Regions(i)
	}
	in.Chunks = []planner.Chunk{{Index: 0, Size: bytes, Holders: all}}
	return planner.LowerBound(in)
}

// DrawHolders draws, for run number run, k distinct holder regions and a
// distinct reader from t, deterministically from seed.
func DrawHolders(t *Topology, k int, seed uint64, run int) (reader string, holders []string, err error) {
	if k+1 > len(t.Regions) {
		return "", nil, fmt.Errorf("need %d regions, have %d", k+1, len(t.Regions))
	}
	rng := rand.New(rand.NewPCG(seed, uint64(run)))
	p := rng.Perm(len(t.Regions))
	for _, i := range p[:k] {
		holders = append(holders, t.Regions[i])
	}
	return t.Regions[p[k]], holders, nil
}

type imageEntry struct {
	name, format, path string
	bytes              int64
	sha256             string
}

func findImage(dir, name, format string) (imageEntry, error) {
	f, err := os.Open(filepath.Join(dir, "manifest.tsv"))
	if err != nil {
		return imageEntry{}, fmt.Errorf("%w (build the images with scripts/vm-images.sh --set full --out %s)", err, dir)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Split(sc.Text(), "\t")
		if len(fs) >= 5 && fs[0] == name && fs[1] == format {
			n, _ := strconv.ParseInt(fs[3], 10, 64)
			return imageEntry{name: fs[0], format: fs[1], path: fs[2], bytes: n, sha256: fs[4]}, nil
		}
	}
	// scripts/vm-images.sh rewrites the manifest line by line while it
	// re-verifies its cache; fall back to the cached image and its
	// .sha256 file.
	path := filepath.Join(dir, "images", name+"."+format)
	sum, serr := os.ReadFile(path + ".sha256")
	st, err := os.Stat(path)
	if serr == nil && err == nil && len(strings.Fields(string(sum))) > 0 {
		return imageEntry{name: name, format: format, path: path, bytes: st.Size(), sha256: strings.Fields(string(sum))[0]}, nil
	}
	return imageEntry{}, fmt.Errorf("image %s.%s not in %s/manifest.tsv", name, format, dir)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
