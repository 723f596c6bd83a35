package main

import (
	"math"
	"strings"
	"testing"
)

func TestLowerBoundFor(t *testing.T) {
	topo, err := ParseTopology(strings.NewReader("r,a,100,80\nr,b,100,40\na,b,10,100\n"))
	if err != nil {
		t.Fatal(err)
	}
	// 120 MB from a (10 MB/s) and b (5 MB/s), both 0.1 s RTT: 8 s + RTT.
	got, err := LowerBoundFor(topo, "r", []string{"a", "b"}, 120e6)
	if err != nil {
		t.Fatal(err)
	}
	if want := 8.1; math.Abs(got-want) > 1e-9 {
		t.Fatalf("lower bound %v, want %v", got, want)
	}
}

func TestDrawHolders(t *testing.T) {
	topo, err := LoadTopology("testdata/topology-aws11.csv")
	if err != nil {
		t.Fatal(err)
	}
	sub, _ := topo.Sample(4, 1)
	r1, h1, err := DrawHolders(sub, 3, 7, 0)
	if err != nil {
		t.Fatal(err)
	}
	r2, h2, _ := DrawHolders(sub, 3, 7, 0)
	if r1 != r2 || strings.Join(h1, ",") != strings.Join(h2, ",") {
		t.Fatal("not deterministic")
	}
	seen := map[string]bool{r1: true}
	for _, h := range h1 {
		if seen[h] {
			t.Fatalf("reader %s holders %v not distinct", r1, h1)
		}
		seen[h] = true
	}
	if _, _, err := DrawHolders(sub, 4, 7, 0); err == nil {
		t.Fatal("5 of 4 regions accepted")
	}
}

func TestNodeConfig(t *testing.T) {
	p := NodeParams{Region: "eu-west-1", Index: 2, Addr: "10.213.0.3", DataDir: "/tmp/x", SwiftPort: swiftPort, OpsPort: opsPort, PeerPort: peerPort}
	b, err := NodeConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{"region: eu-west-1\n", "listen: 10.213.0.3:8080\n", "ops_listen: 10.213.0.3:9090\n", "data_dir: /tmp/x\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("config lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "cluster:") {
		t.Errorf("cluster section without Cluster:\n%s", s)
	}
	p.Cluster, p.Join, p.Secret = true, []string{"10.213.0.1:7946", "10.213.0.2:7946"}, "0123456789abcdef"
	p.Strategy, p.CompressionLevel, p.Node = "origin-only:us-east-1", -1, "eu-west-1-7"
	p.LinkPriors = []LinkPrior{{Region: "us-east-1", Mbit: 149.5, RTTms: 82.1}}
	b, _ = NodeConfig(p)
	s = string(b)
	for _, want := range []string{"node: eu-west-1-7\n", "peer_listen: 10.213.0.3:7947\n", "gossip_listen: 10.213.0.3:7946\n",
		"peers: [10.213.0.1:7946, 10.213.0.2:7946]\n", "strategy: origin-only:us-east-1\n", "compression_level: -1\n",
		"us-east-1: {bandwidth_mbit: 149.500, rtt_ms: 82.100}\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("cluster config lacks %q:\n%s", want, s)
		}
	}
}
