// Command wan is Nitro's WAN benchmark harness (issue #6): it emulates a
// geo-distributed WAN on one machine, one network namespace per region,
// every pair of regions shaped to the bandwidth and RTT of a topology
// file, and provisions real VM images across it with every plan strategy.
//
//	go run ./bench/wan verify  [topology flags] [--duration 3s]
//	    build the WAN, measure every link with the probe, print the table
//	go run ./bench/wan run     [topology flags] [scenario flags]
//	    run scenarios (a)-(e) against `nitro serve` nodes (see scenario.go)
//	go run ./bench/wan cleanup
//	    remove the namespaces (and processes) any earlier run left behind
//
// It needs root and iproute2; everything it creates lives in network
// namespaces named nitro-wXXXX-N and is removed on exit, on error and on
// SIGINT/SIGTERM. No packet leaves those namespaces.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// childEnv marks a re-executed child (probe-server, probe-client), so that
// the test binary's TestMain dispatches like main.
const childEnv = "NITRO_BENCH_WAN_CHILD"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := dispatch(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench/wan: %v\n", err)
		os.Exit(1)
	}
}

func dispatch(ctx context.Context, args []string) error {
	if len(args) == 0 {
		usage()
		return errors.New("no subcommand")
	}
	switch args[0] {
	case "verify":
		return runVerify(ctx, args[1:])
	case "run":
		return runScenarios(ctx, args[1:])
	case "cleanup":
		return Cleanup(ctx, os.Stderr)
	case "report":
		return mergeReports(args[1:])
	case "probe-server":
		return probeServer(args[1:])
	case "probe-client":
		return probeClient(args[1:])
	case "help", "-h", "--help":
		usage()
		return nil
	}
	usage()
	return fmt.Errorf("unknown subcommand %q", args[0])
}

func usage() {
	fmt.Fprint(os.Stderr, `usage: go run ./bench/wan SUBCOMMAND [flags]

subcommands:
  verify    build the emulated WAN, measure every link, print the table
  run       run the provisioning scenarios against nitro nodes
  cleanup   remove namespaces and processes left by earlier runs
  report    merge the results.json of several runs into one report:
            report --out DIR RESULTS_DIR...
  (probe-server, probe-client: internal, run inside the namespaces)
`)
}

// topoFlags are the flags that choose the emulated WAN.
type topoFlags struct {
	file    string
	regions string
	num     int
	seed    uint64
	scale   float64
	shaper  string
	mtu     int
	cc      string
	iw      int
	sysctls sysctlFlags
	verbose bool
}

func (f *topoFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.file, "topology", "bench/wan/testdata/topology-aws11.csv", "topology CSV (region_a,region_b,rtt_ms,bandwidth_mbit_s)")
	fs.StringVar(&f.regions, "regions", "", "comma-separated regions to emulate (overrides --num-regions)")
	fs.IntVar(&f.num, "num-regions", 4, "number of regions drawn at random from the topology")
	fs.Uint64Var(&f.seed, "seed", 1, "seed of the region draw (and of the scenarios' random draws)")
	fs.Float64Var(&f.scale, "scale", 1.0, "multiply every bandwidth by this factor (RTTs kept)")
	fs.StringVar(&f.shaper, "shaper", "", "link emulation: tun (user-space forwarder) or tc (HTB+netem); default tc if netem exists, else tun")
	fs.IntVar(&f.mtu, "mtu", 0, "MTU of the WAN interfaces (default 16000 for tun, 1500 for tc)")
	fs.StringVar(&f.cc, "cc", "", "TCP congestion control inside the regions, e.g. reno or bbr (default: the kernel's; non-init namespaces may only pick tcp_allowed_congestion_control)")
	fs.IntVar(&f.iw, "initcwnd", 0, "initial congestion and receive window in segments of the routes between regions (ip route initcwnd/initrwnd; 0: the kernel's 10), as an operator tuning a WAN may set")
	fs.Var(&f.sysctls, "sysctl", "key=value set in every region namespace (repeatable), e.g. 'net.ipv4.tcp_rmem=4096 4194304 33554432'")
	fs.BoolVar(&f.verbose, "v", false, "log every command")
}

// sysctlFlags collects repeated --sysctl values.
type sysctlFlags []string

func (s *sysctlFlags) String() string { return strings.Join(*s, ",") }

// Set appends one key=value.
func (s *sysctlFlags) Set(v string) error {
	if !strings.Contains(v, "=") {
		return fmt.Errorf("--sysctl %q: want key=value", v)
	}
	*s = append(*s, v)
	return nil
}

// load returns the full topology and the chosen, scaled subset.
func (f *topoFlags) load() (full, sub *Topology, err error) {
	full, err = LoadTopology(f.file)
	if err != nil {
		return nil, nil, err
	}
	if f.regions != "" {
		sub, err = full.Subset(strings.Split(f.regions, ","))
	} else {
		sub, err = full.Sample(f.num, f.seed)
	}
	if err != nil {
		return nil, nil, err
	}
	if !(f.scale > 0) {
		return nil, nil, fmt.Errorf("--scale %v must be > 0", f.scale)
	}
	return full, sub.Scale(f.scale), nil
}

func requireRoot() error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (network namespaces, TUN devices, tc)")
	}
	return nil
}
