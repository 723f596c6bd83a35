package main

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/nitro-cloud/nitro/internal/testenv"
)

// TestWANProbe builds a 3-region WAN, measures one link with the probe and
// tears it down, leaving no namespace behind. It needs root, ip and
// /dev/net/tun (tc only for the tc shaper).
func TestWANProbe(t *testing.T) {
	testenv.Short(t)
	testenv.Root(t)
	testenv.Tool(t, "ip")
	testenv.Tool(t, "tc")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()

	// Modest rates keep the probe's few MB quick and the CPU idle enough
	// for the forwarder on a 2-core CI machine.
	topo, err := ParseTopology(strings.NewReader("r0,r1,40,40\nr0,r2,80,20\nr1,r2,60,30\n"))
	if err != nil {
		t.Fatal(err)
	}
	runID := NewRunID()
	var log strings.Builder
	w, err := NewWAN(ctx, WANConfig{RunID: runID, Topo: topo, Log: &log})
	if err != nil {
		t.Fatalf("NewWAN: %v\n%s", err, log.String())
	}
	closed := false
	defer func() {
		if !closed {
			w.Close()
		}
	}()
	t.Logf("shaper %s", w.Shaper())

	res, err := w.Probe(ctx, 0, 1, 3*time.Second, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("r0 -> r1: %.1f Mbit/s (target 40), RTT %.1f ms (target 40), %d bytes", res.Mbit, res.RTTms, res.Bytes)
	if e := res.BWErr(); math.Abs(e) > 0.15 {
		t.Errorf("throughput %.1f Mbit/s is %+.0f%% off the target 40", res.Mbit, 100*e)
	}
	if res.RTTms < 40 || res.RTTms > 40*1.25+5 {
		t.Errorf("RTT %.1f ms, want about 40", res.RTTms)
	}
	st, err := w.LinkStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c := st[[2]int{0, 1}]; c.Bytes < res.Bytes {
		t.Errorf("link r0 -> r1 counted %d bytes, the probe received %d", c.Bytes, res.Bytes)
	}
	if c := st[[2]int{0, 2}]; c.Bytes != 0 {
		t.Errorf("idle link r0 -> r2 carried %d bytes", c.Bytes)
	}

	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	closed = true
	left, err := Leftovers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range left {
		if strings.Contains(ns, runID) {
			t.Errorf("namespace %s left behind", ns)
		}
	}
}
