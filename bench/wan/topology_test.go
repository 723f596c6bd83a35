package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestParseTopology(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		regions []string
		wantErr string
	}{
		{"three", "# c\nregion_a,region_b,rtt_ms,bandwidth_mbit_s\na,b,10,100\na,c,20.5,50\nb,c,30,25.5\n", []string{"a", "b", "c"}, ""},
		{"spaces and blank lines", "\n a , b , 10 , 100 \n\n", []string{"a", "b"}, ""},
		{"missing pair", "a,b,10,100\na,c,20,50\n", nil, "no link between b and c"},
		{"duplicate pair", "a,b,10,100\nb,a,10,100\n", nil, "given twice"},
		{"self link", "a,a,10,100\n", nil, "bad region pair"},
		{"three fields", "a,b,10\n", nil, "3 fields"},
		{"zero rtt", "a,b,0,100\n", nil, "bad rtt_ms"},
		{"negative bandwidth", "a,b,10,-1\n", nil, "bad bandwidth"},
		{"nan bandwidth", "a,b,10,NaN\n", nil, "bad bandwidth"},
		{"empty", "# nothing\n", nil, "0 regions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topo, err := ParseTopology(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(topo.Regions, ",") != strings.Join(tt.regions, ",") {
				t.Fatalf("regions %v, want %v", topo.Regions, tt.regions)
			}
		})
	}
}

func TestAWS11(t *testing.T) {
	topo, err := LoadTopology("testdata/topology-aws11.csv")
	if err != nil {
		t.Fatal(err)
	}
	if len(topo.Regions) != 11 || len(topo.Links()) != 55 {
		t.Fatalf("%d regions, %d links; want 11, 55", len(topo.Regions), len(topo.Links()))
	}
	l, ok := topo.Link("us-west-1", "us-east-1")
	if !ok || l.RTT != 70700*time.Microsecond || l.Mbit != 180.87 {
		t.Fatalf("us-east-1/us-west-1 = %+v", l)
	}
	if got := l.BytesPerSec(); got != 180.87e6/8 {
		t.Fatalf("BytesPerSec = %v", got)
	}

	sub, err := topo.Subset([]string{"eu-west-1", "us-east-1", "sa-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(sub.Links()) != 3 {
		t.Fatalf("subset links %d", len(sub.Links()))
	}
	if _, err := topo.Subset([]string{"eu-west-1", "mars-1"}); err == nil {
		t.Fatal("unknown region accepted")
	}
	if _, err := topo.Subset([]string{"eu-west-1", "eu-west-1"}); err == nil {
		t.Fatal("duplicate region accepted")
	}

	a, _ := topo.Sample(5, 42)
	b, _ := topo.Sample(5, 42)
	c, _ := topo.Sample(5, 43)
	if strings.Join(a.Regions, ",") != strings.Join(b.Regions, ",") {
		t.Fatal("Sample not deterministic")
	}
	if len(a.Regions) != 5 || len(c.Regions) != 5 {
		t.Fatal("Sample size")
	}
	if _, err := topo.Sample(12, 1); err == nil {
		t.Fatal("Sample(12) of 11 accepted")
	}

	half := sub.Scale(0.5)
	l1, _ := sub.Link("eu-west-1", "us-east-1")
	l2, _ := half.Link("eu-west-1", "us-east-1")
	if l2.Mbit != l1.Mbit/2 || l2.RTT != l1.RTT {
		t.Fatalf("Scale: %+v -> %+v", l1, l2)
	}

	// WriteCSV round-trips.
	var buf bytes.Buffer
	if err := sub.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	back, err := ParseTopology(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range sub.Links() {
		m, ok := back.Link(l.A, l.B)
		if !ok || m.RTT != l.RTT || m.Mbit != l.Mbit {
			t.Fatalf("round trip %+v -> %+v", l, m)
		}
	}
}

// TestFog10 checks the fog/edge topology's shape: every edge site has a
// fast, short link to its own regional DC and slow, long ones across.
func TestFog10(t *testing.T) {
	topo, err := LoadTopology("testdata/topology-fog10.csv")
	if err != nil {
		t.Fatal(err)
	}
	if len(topo.Regions) != 10 || len(topo.Links()) != 45 {
		t.Fatalf("%d regions, %d links; want 10, 45", len(topo.Regions), len(topo.Links()))
	}
	for _, tc := range []struct {
		a, b     string
		minMbit  float64
		maxMbit  float64
		maxRTTms float64
		minRTTms float64
		what     string
	}{
		{"edge-north1", "dc-north", 200, 200, 5, 3, "edge to its own DC"},
		{"edge-north1", "edge-north2", 100, 100, 8, 6, "edges of one region"},
		{"edge-north1", "dc-south", 20, 20, 58, 42, "edge to another DC"},
		{"edge-north1", "edge-east2", 10, 10, 86, 62, "edges across regions"},
		{"core", "dc-east", 400, 400, 28, 20, "core to a DC"},
	} {
		l, ok := topo.Link(tc.a, tc.b)
		rtt := float64(l.RTT) / float64(time.Millisecond)
		if !ok || l.Mbit < tc.minMbit || l.Mbit > tc.maxMbit || rtt < tc.minRTTms || rtt > tc.maxRTTms {
			t.Errorf("%s (%s-%s) = %+v", tc.what, tc.a, tc.b, l)
		}
	}
}
