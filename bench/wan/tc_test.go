package main

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestTCCommandsGolden(t *testing.T) {
	topo, err := ParseTopology(strings.NewReader("a,b,70.7,180.87\na,c,157.7,62.87\nb,c,30.9,201.76\n"))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, c := range TCCommands(topo, "0a1b", 1500) {
		b.WriteString("tc " + strings.Join(c, " ") + "\n")
	}
	const golden = "testdata/tc-3regions.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Fatalf("tc commands differ from %s (go test -run Golden -update to accept):\n%s", golden, b.String())
	}
}

func TestParseHTBStats(t *testing.T) {
	out := `class htb 1:11 root leaf 11: prio 0 rate 180870Kbit ceil 180870Kbit burst 1552b cburst 1552b 
 Sent 123456 bytes 789 pkt (dropped 3, overlimits 0 requeues 0) 
 backlog 0b 0p requeues 0
class htb 1:12 root leaf 12: prio 0 rate 62870Kbit ceil 62870Kbit burst 1573b cburst 1573b 
 Sent 42 bytes 1 pkt (dropped 0, overlimits 0 requeues 0) 
`
	got := parseHTBStats([]byte(out))
	if got[1] != (LinkCounters{Bytes: 123456, Packets: 789, Drops: 3}) || got[2] != (LinkCounters{Bytes: 42, Packets: 1}) {
		t.Fatalf("got %+v", got)
	}
}

func TestNSNames(t *testing.T) {
	for _, n := range []string{NSName("ffff", 0), NSName("0a1b", 63), NSName("0a1b", -1)} {
		if len(n) > 15 || !nsPattern.MatchString(n) {
			t.Errorf("namespace %q: len %d, matches %v", n, len(n), nsPattern.MatchString(n))
		}
	}
	for _, n := range []string{"nitro-0", "nitro-w0a1b", "nitro-wzzzz-1", "other-w0a1b-1"} {
		if nsPattern.MatchString(n) {
			t.Errorf("cleanup would remove %q", n)
		}
	}
}
