package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nitro-cloud/nitro/internal/testenv"
)

const swiftTestTopo = "r0,r1,40,40\nr0,r2,60,80\nr0,r3,80,20\nr1,r2,30,30\nr1,r3,30,30\nr2,r3,30,30\n"

// TestReadAffinity checks that the proxy prefers the holders by link
// bandwidth from the reader, fastest first, whatever their ring order.
func TestReadAffinity(t *testing.T) {
	topo, err := ParseTopology(strings.NewReader(swiftTestTopo))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		holders []string
		want    string
		best    string
	}{
		// r0's links: r2 80 Mbit/s, r1 40, r3 20.
		{[]string{"r1", "r2", "r3"}, "r2=100, r1=200, r3=300", "r2"},
		{[]string{"r3", "r1", "r2"}, "r3=100, r2=200, r1=300", "r2"},
		{[]string{"r3", "r1"}, "r2=100, r1=200", "r1"},
	} {
		spec, err := NewSwiftClusterSpec(topo, "r0", tc.holders, "/x")
		if err != nil {
			t.Fatal(err)
		}
		if spec.ReadAffinity != tc.want || spec.Best().Region != tc.best {
			t.Errorf("holders %v: read_affinity %q best %s, want %q %s", tc.holders, spec.ReadAffinity, spec.Best().Region, tc.want, tc.best)
		}
	}
	if _, err := NewSwiftClusterSpec(topo, "r0", []string{"r0", "r1"}, "/x"); err == nil {
		t.Error("the reader as a holder was accepted")
	}
}

// TestSwiftConfigs checks the generated rings and configuration files:
// one device and ring region per holder, as many replicas as holders, the
// servers bound to their region's WAN address and the proxy's affinity.
func TestSwiftConfigs(t *testing.T) {
	topo, _ := ParseTopology(strings.NewReader(swiftTestTopo))
	spec, err := NewSwiftClusterSpec(topo, "r0", []string{"r1", "r2", "r3"}, "/s")
	if err != nil {
		t.Fatal(err)
	}
	rings := spec.Rings()
	if len(rings) != 3 {
		t.Fatalf("%d rings", len(rings))
	}
	for _, r := range rings {
		if r.Replicas != 3 || len(r.Devices) != 3 {
			t.Errorf("%s ring: %d replicas, %d devices; want 3, 3", r.Name, r.Replicas, len(r.Devices))
		}
		for i, d := range r.Devices {
			if d.Region != i+1 || d.IP != RegionAddr(i+1).String() || d.Device != "d1" {
				t.Errorf("%s ring device %d: %+v", r.Name, i, d)
			}
		}
	}
	cfgs, err := spec.ServerConfigs()
	if err != nil {
		t.Fatal(err)
	}
	if len(cfgs) != 10 {
		t.Errorf("%d config files, want 3×3 servers + 1 proxy", len(cfgs))
	}
	obj := string(cfgs["r2/object-server.conf"])
	for _, want := range []string{"bind_ip = 10.213.0.3\n", "bind_port = 6200\n", "devices = /s/r2/srv\n", "swift_dir = /s/etc\n", "use = egg:swift#object\n"} {
		if !strings.Contains(obj, want) {
			t.Errorf("object server config lacks %q:\n%s", want, obj)
		}
	}
	proxy := string(cfgs["r0/proxy-server.conf"])
	for _, want := range []string{"bind_ip = 10.213.0.1\n", "sorting_method = affinity\n", "read_affinity = r2=100, r1=200, r3=300\n", "user_bench_bench = bench .admin\n"} {
		if !strings.Contains(proxy, want) {
			t.Errorf("proxy config lacks %q:\n%s", want, proxy)
		}
	}
}

// TestBuildRings builds the rings with Debian's Swift and checks that
// every partition has one replica in each ring region.
func TestBuildRings(t *testing.T) {
	testenv.Tool(t, "swift-ring-builder")
	topo, _ := ParseTopology(strings.NewReader(swiftTestTopo))
	spec, err := NewSwiftClusterSpec(topo, "r0", []string{"r1", "r2", "r3"}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	placed, err := spec.BuildRings(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, ring := range []string{"account", "container", "object"} {
		sets := placed[ring]
		if len(sets) != 1 || len(sets[0]) != 3 || sets[0][0] != 1 || sets[0][1] != 2 || sets[0][2] != 3 {
			t.Errorf("%s ring: replica regions per partition %v, want only [1 2 3]", ring, sets)
		}
		if _, err := os.Stat(filepath.Join(spec.Dir, "etc", ring+".ring.gz")); err != nil {
			t.Error(err)
		}
	}
}

// TestSwiftGlobalCluster starts a real Swift global cluster on a 4-region
// emulated WAN (proxy in r0, servers in r1..r3), uploads 4 MiB through
// the proxy, and reads it back through the proxy (from r2, the fastest
// holder) and with copy-image straight from r2's object server, checking
// the bytes and that the read crossed only the r2 -> r0 link. It is the
// reduced-size run of the Swift baseline (the full one is
// scripts/bench-wan.sh run --strategies ...,swift,copy-image).
func TestSwiftGlobalCluster(t *testing.T) {
	testenv.Short(t)
	testenv.Root(t)
	testenv.Tool(t, "ip")
	testenv.Tool(t, "swift-proxy-server")
	testenv.Tool(t, "memcached")
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	topo, _ := ParseTopology(strings.NewReader(swiftTestTopo))
	var log strings.Builder
	w, err := NewWAN(ctx, WANConfig{Topo: topo, Shaper: ShaperTun, Log: &log})
	if err != nil {
		t.Fatalf("NewWAN: %v\n%s", err, log.String())
	}
	defer w.Close()
	dir := t.TempDir()
	defer func() {
		if t.Failed() {
			for _, f := range []string{"r1/log/object.log", "r1/log/account.log", "r0/log/proxy.log"} {
				t.Logf("%s:\n%s", f, tail(filepath.Join(dir, f), 1500))
			}
		}
	}()
	spec, err := NewSwiftClusterSpec(topo, "r0", []string{"r1", "r2", "r3"}, dir)
	if err != nil {
		t.Fatal(err)
	}
	c, err := StartSwift(ctx, w, spec)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	data := make([]byte, 4<<20)
	rand.Read(data)
	src := filepath.Join(dir, "img")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	want := hex.EncodeToString(sum[:])
	if err := c.Put(ctx, "images", "img", src); err != nil {
		t.Fatal(err)
	}
	before, _ := w.LinkStats(ctx)
	n, got, el, err := c.Get(ctx, "images", "img")
	if err != nil || n != int64(len(data)) || got != want {
		t.Fatalf("proxy GET: %d bytes sha256 %s, %v; want %d %s", n, got, err, len(data), want)
	}
	after, _ := w.LinkStats(ctx)
	into := func(from int) int64 { return after[[2]int{from, 0}].Bytes - before[[2]int{from, 0}].Bytes }
	t.Logf("proxy GET %.2f s; bytes into r0 from r1 %d, r2 %d, r3 %d", el.Seconds(), into(1), into(2), into(3))
	// The shaper's counters may trail the last packets by a little when
	// read right after the GET: "most of the object from r2" is the check.
	if into(2) < int64(len(data))*9/10 || into(1) > int64(len(data))/4 || into(3) > int64(len(data))/4 {
		t.Errorf("the proxy did not read from r2 (read_affinity %s): r1 %d, r2 %d, r3 %d bytes", spec.ReadAffinity, into(1), into(2), into(3))
	}
	n, got, el, err = c.CopyImage(ctx, spec.Best(), "images", "img", filepath.Join(dir, "copy"))
	if err != nil || n != int64(len(data)) || got != want {
		t.Fatalf("copy-image: %d bytes sha256 %s, %v", n, got, err)
	}
	t.Logf("copy-image from %s %.2f s", spec.Best().Region, el.Seconds())
}
