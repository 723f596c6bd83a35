package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Namespace naming. Every namespace the harness makes is called
// nitro-w<4 hex>-<region index> (or -h for the hub), at most 15 bytes, and
// only such names are ever removed by cleanup.
const nsPrefix = "nitro-w"

var nsPattern = regexp.MustCompile(`^nitro-w[0-9a-f]{4}-(h|[0-9]{1,2})$`)

// Addressing: region i has 10.213.0.(i+1)/24 on its WAN interface. The
// addresses exist only inside the harness's namespaces; nothing outside
// them is ever routed to or targeted.
const (
	wanNet    = "10.213.0.0/24"
	wanIfName = "wan0"
)

// Shaper names how links are emulated.
const (
	// ShaperTun: each region has a TUN device whose other end is this
	// process, which forwards every packet through a per-pair
	// rate-limited, delayed pipe (see emulator.go). Needs only CONFIG_TUN.
	ShaperTun = "tun"
	// ShaperTC: a bridge in a hub namespace, a veth pair per region and,
	// on each region's veth egress, an HTB class per destination with a
	// netem child (see tc.go). Needs sch_htb, sch_netem and cls_u32.
	ShaperTC = "tc"
)

// WANConfig describes the emulated WAN to build.
type WANConfig struct {
	// RunID names this run's namespaces: 4 lowercase hex digits; "" means
	// random.
	RunID string
	Topo  *Topology
	// Shaper is ShaperTun, ShaperTC or "" (auto: tc when netem is
	// available, else tun).
	Shaper string
	// MTU of the WAN interfaces in bytes; 0 means 16000 for tun (fewer,
	// larger packets through the user-space forwarder) and 1500 for tc.
	MTU int
	// CongestionControl is the TCP congestion control set in every
	// region namespace (net.ipv4.tcp_congestion_control, a per-namespace
	// sysctl); "" keeps the kernel's default.
	CongestionControl string
	// InitialWindow, if > 0, is the initial congestion and receive window
	// in segments of the routes between regions (ip route's initcwnd and
	// initrwnd; Linux's default is 10): what an operator tuning a WAN for
	// bulk transfers may set, to measure what TCP start-up costs a read.
	InitialWindow int
	// Sysctls are set in every region namespace ("key=value", e.g.
	// "net.ipv4.tcp_rmem=4096 4194304 33554432": a larger initial receive
	// buffer), after CongestionControl.
	Sysctls []string
	// Log receives the commands run and progress lines; nil discards.
	Log io.Writer
}

// Region is one emulated region.
type Region struct {
	Index int
	Name  string     // topology name, e.g. "eu-west-1"
	NS    string     // network namespace
	Addr  netip.Addr // WAN address, inside NS only
}

// WAN is a running emulated WAN. Close removes everything it made.
type WAN struct {
	cfg     WANConfig
	Regions []Region
	hub     string // tc shaper only
	emu     *emulator
	made    []string // namespaces created, for Close
	closed  bool
}

// RegionAddr returns the WAN address of region index i.
func RegionAddr(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 213, 0, byte(i + 1)}) }

// wanPrefix is the subnet of the regions' WAN addresses.
var wanPrefix = netip.MustParsePrefix("10.213.0.0/24")

// NewRunID returns a fresh random run id.
func NewRunID() string {
	var b [2]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b[:])
}

// NSName returns the namespace of region i (or the hub for i < 0).
func NSName(runID string, i int) string {
	if i < 0 {
		return nsPrefix + runID + "-h"
	}
	return nsPrefix + runID + "-" + strconv.Itoa(i)
}

// NewWAN builds the WAN of cfg. On error everything already made is
// removed again. The caller must Close the WAN.
func NewWAN(ctx context.Context, cfg WANConfig) (_ *WAN, err error) {
	if cfg.Topo == nil || len(cfg.Topo.Regions) < 2 {
		return nil, errors.New("wan: topology with at least 2 regions required")
	}
	if len(cfg.Topo.Regions) > 64 {
		return nil, errors.New("wan: at most 64 regions")
	}
	if cfg.RunID == "" {
		cfg.RunID = NewRunID()
	}
	if !nsPattern.MatchString(NSName(cfg.RunID, 0)) {
		return nil, fmt.Errorf("wan: run id %q is not 4 lowercase hex digits", cfg.RunID)
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	if cfg.Shaper == "" {
		cfg.Shaper = ShaperTun
		if NetemAvailable(ctx) {
			cfg.Shaper = ShaperTC
		}
	}
	if cfg.MTU == 0 {
		cfg.MTU = 1500
		if cfg.Shaper == ShaperTun {
			cfg.MTU = 16000
		}
	}
	if cfg.MTU < 576 || cfg.MTU > 65000 {
		return nil, fmt.Errorf("wan: MTU %d out of range", cfg.MTU)
	}
	w := &WAN{cfg: cfg}
	defer func() {
		if err != nil {
			w.Close()
		}
	}()
	for i, name := range cfg.Topo.Regions {
		r := Region{Index: i, Name: name, NS: NSName(cfg.RunID, i), Addr: RegionAddr(i)}
		if err := w.addNS(ctx, r.NS); err != nil {
			return nil, err
		}
		if err := w.ip(ctx, "-n", r.NS, "link", "set", "lo", "up"); err != nil {
			return nil, err
		}
		if cc := cfg.CongestionControl; cc != "" {
			if err := w.ip(ctx, "netns", "exec", r.NS, toolPath("sysctl"), "-q", "-w", "net.ipv4.tcp_congestion_control="+cc); err != nil {
				return nil, err
			}
		}
		for _, kv := range cfg.Sysctls {
			if err := w.ip(ctx, "netns", "exec", r.NS, toolPath("sysctl"), "-q", "-w", kv); err != nil {
				return nil, err
			}
		}
		w.Regions = append(w.Regions, r)
	}
	switch cfg.Shaper {
	case ShaperTun:
		err = w.buildTun(ctx)
	case ShaperTC:
		err = w.buildTC(ctx)
	default:
		err = fmt.Errorf("wan: unknown shaper %q (want %s or %s)", cfg.Shaper, ShaperTun, ShaperTC)
	}
	if err != nil {
		return nil, err
	}
	if iw := cfg.InitialWindow; iw > 0 {
		for _, r := range w.Regions {
			// The subnet route the address added, with the windows.
			if err := w.ip(ctx, "-n", r.NS, "route", "replace", wanPrefix.String(), "dev", wanIfName, "proto", "kernel",
				"scope", "link", "src", r.Addr.String(), "initcwnd", strconv.Itoa(iw), "initrwnd", strconv.Itoa(iw)); err != nil {
				return nil, err
			}
		}
	}
	fmt.Fprintf(cfg.Log, "wan %s: %d regions, shaper %s, MTU %d, initial window %d segments\n", cfg.RunID, len(w.Regions), cfg.Shaper, cfg.MTU, max(cfg.InitialWindow, 10))
	return w, nil
}

// Shaper returns the shaper in use.
func (w *WAN) Shaper() string { return w.cfg.Shaper }

// RunID returns the run id.
func (w *WAN) RunID() string { return w.cfg.RunID }

func (w *WAN) addNS(ctx context.Context, ns string) error {
	if err := w.ip(ctx, "netns", "add", ns); err != nil {
		return err
	}
	w.made = append(w.made, ns)
	return nil
}

func (w *WAN) buildTC(ctx context.Context) error {
	w.hub = NSName(w.cfg.RunID, -1)
	if err := w.addNS(ctx, w.hub); err != nil {
		return err
	}
	steps := [][]string{
		{"-n", w.hub, "link", "set", "lo", "up"},
		{"-n", w.hub, "link", "add", "br0", "type", "bridge"},
		{"-n", w.hub, "link", "set", "br0", "up"},
	}
	for _, r := range w.Regions {
		port := "r" + strconv.Itoa(r.Index)
		steps = append(steps,
			[]string{"-n", w.hub, "link", "add", port, "mtu", strconv.Itoa(w.cfg.MTU), "type", "veth", "peer", "name", wanIfName, "netns", r.NS},
			[]string{"-n", w.hub, "link", "set", port, "master", "br0", "up"},
			[]string{"-n", r.NS, "link", "set", wanIfName, "mtu", strconv.Itoa(w.cfg.MTU), "up"},
			[]string{"-n", r.NS, "addr", "add", r.Addr.String() + "/24", "dev", wanIfName},
		)
	}
	for _, s := range steps {
		if err := w.ip(ctx, s...); err != nil {
			return err
		}
	}
	for _, c := range TCCommands(w.cfg.Topo, w.cfg.RunID, w.cfg.MTU) {
		if err := w.run(ctx, "tc", c...); err != nil {
			return err
		}
	}
	return nil
}

func (w *WAN) buildTun(ctx context.Context) error {
	devs := make([]*os.File, len(w.Regions))
	for _, r := range w.Regions {
		f, err := openTunIn(r.NS, wanIfName)
		if err != nil {
			for _, d := range devs {
				if d != nil {
					d.Close()
				}
			}
			return fmt.Errorf("wan: tun in %s: %w", r.NS, err)
		}
		devs[r.Index] = f
	}
	w.emu = newEmulator(w.cfg.Topo, devs, w.cfg.MTU)
	for _, r := range w.Regions {
		for _, s := range [][]string{
			{"-n", r.NS, "link", "set", wanIfName, "mtu", strconv.Itoa(w.cfg.MTU), "up"},
			{"-n", r.NS, "addr", "add", r.Addr.String() + "/24", "dev", wanIfName},
		} {
			if err := w.ip(ctx, s...); err != nil {
				return err
			}
		}
	}
	w.emu.start()
	return nil
}

// LinkStats returns the bytes and packets that crossed each directed link
// (from, to) since the WAN was built, including IP headers, and the
// packets the link dropped. Only the tun shaper counts; tc returns the
// HTB class counters.
func (w *WAN) LinkStats(ctx context.Context) (map[[2]int]LinkCounters, error) {
	if w.emu != nil {
		return w.emu.stats(), nil
	}
	return w.tcStats(ctx)
}

// LinkCounters are the counters of one directed link. Late (tun shaper
// only) counts packets the forwarder delivered more than 100 ms late
// because it was not scheduled.
type LinkCounters struct {
	Bytes, Packets, Drops, Late int64
}

// Command returns a command that runs name args inside region i's
// namespace (via ip netns exec).
func (w *WAN) Command(ctx context.Context, i int, name string, args ...string) *exec.Cmd {
	a := append([]string{"netns", "exec", w.Regions[i].NS, name}, args...)
	return exec.CommandContext(ctx, ipPath(), a...)
}

// Close tears the WAN down: kills whatever still runs in its namespaces,
// stops the forwarder and deletes the namespaces (which deletes their
// interfaces). It is idempotent.
func (w *WAN) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	if w.emu != nil {
		w.emu.close()
	}
	var errs []error
	for i := len(w.made) - 1; i >= 0; i-- {
		if err := removeNS(w.made[i], w.cfg.Log); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// removeNS kills the processes inside ns and deletes it.
func removeNS(ns string, log io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for attempt := 0; attempt < 20; attempt++ {
		out, _ := exec.CommandContext(ctx, ipPath(), "netns", "pids", ns).Output()
		pids := strings.Fields(string(out))
		if len(pids) == 0 {
			break
		}
		sig := syscall.SIGTERM
		if attempt >= 10 {
			sig = syscall.SIGKILL
		}
		for _, p := range pids {
			if pid, err := strconv.Atoi(p); err == nil && pid > 1 && pid != os.Getpid() {
				syscall.Kill(pid, sig)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	out, err := exec.CommandContext(ctx, ipPath(), "netns", "del", ns).CombinedOutput()
	if err != nil && !bytes.Contains(out, []byte("No such file")) {
		return fmt.Errorf("ip netns del %s: %v: %s", ns, err, bytes.TrimSpace(out))
	}
	fmt.Fprintf(log, "removed namespace %s\n", ns)
	return nil
}

// Leftovers lists the namespaces of any run of this harness that still
// exist.
func Leftovers(ctx context.Context) ([]string, error) {
	out, err := exec.CommandContext(ctx, ipPath(), "netns", "list").Output()
	if err != nil {
		return nil, fmt.Errorf("ip netns list: %w", err)
	}
	var ns []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && nsPattern.MatchString(f[0]) {
			ns = append(ns, f[0])
		}
	}
	return ns, nil
}

// Cleanup removes the namespaces of every run of this harness (matching
// nitro-wXXXX-N or nitro-wXXXX-h), killing what runs inside them. Runs of
// other programs are never touched.
func Cleanup(ctx context.Context, log io.Writer) error {
	ns, err := Leftovers(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range ns {
		if err := removeNS(n, log); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (w *WAN) ip(ctx context.Context, args ...string) error {
	return w.run(ctx, ipPath(), args...)
}

func (w *WAN) run(ctx context.Context, name string, args ...string) error {
	if name == "tc" {
		name = tcPath()
	}
	fmt.Fprintf(w.cfg.Log, "+ %s %s\n", name, strings.Join(args, " "))
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

func toolPath(name string) string {
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/sbin", "/bin"} {
		p := dir + "/" + name
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	return name
}

func ipPath() string { return toolPath("ip") }
func tcPath() string { return toolPath("tc") }

// NetemAvailable reports whether the kernel offers sch_netem, by adding
// one to the loopback of a scratch namespace.
func NetemAvailable(ctx context.Context) bool {
	ns := nsPrefix + "ffff-h"
	if exec.CommandContext(ctx, ipPath(), "netns", "add", ns).Run() != nil {
		return false
	}
	defer exec.Command(ipPath(), "netns", "del", ns).Run()
	return exec.CommandContext(ctx, tcPath(), "-n", ns, "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms").Run() == nil
}
