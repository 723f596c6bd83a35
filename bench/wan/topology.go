package main

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Link is one symmetric region-to-region link of a topology.
type Link struct {
	A, B string
	// RTT is the round-trip time.
	RTT time.Duration
	// Mbit is the bandwidth in Mbit/s (10^6 bit/s), each direction.
	Mbit float64
}

// BytesPerSec returns the link's bandwidth in bytes/s.
func (l Link) BytesPerSec() float64 { return l.Mbit * 1e6 / 8 }

// Topology is a set of regions and the links between them. Every pair of
// distinct regions has exactly one link (ParseTopology checks it for the
// regions a subset keeps).
type Topology struct {
	Regions []string // in order of first appearance
	links   map[[2]string]Link
}

// ParseTopology reads the CSV format of testdata/topology-aws11.csv:
// lines region_a,region_b,rtt_ms,bandwidth_mbit_s; '#' starts a comment
// line; an optional header line starts with "region_a". Links are
// symmetric; a pair given twice, a self link, a non-positive RTT or
// bandwidth, or a missing pair is an error.
func ParseTopology(r io.Reader) (*Topology, error) {
	t := &Topology{links: make(map[[2]string]Link)}
	seen := make(map[string]bool)
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		f := strings.Split(s, ",")
		for i := range f {
			f[i] = strings.TrimSpace(f[i])
		}
		if f[0] == "region_a" {
			continue
		}
		if len(f) != 4 {
			return nil, fmt.Errorf("topology line %d: %d fields, want 4 (region_a,region_b,rtt_ms,bandwidth_mbit_s)", line, len(f))
		}
		a, b := f[0], f[1]
		if a == "" || b == "" || a == b {
			return nil, fmt.Errorf("topology line %d: bad region pair %q,%q", line, a, b)
		}
		rtt, err := strconv.ParseFloat(f[2], 64)
		if err != nil || !(rtt > 0) || rtt > 1e6 {
			return nil, fmt.Errorf("topology line %d: bad rtt_ms %q", line, f[2])
		}
		bw, err := strconv.ParseFloat(f[3], 64)
		if err != nil || !(bw > 0) || bw > 1e6 {
			return nil, fmt.Errorf("topology line %d: bad bandwidth_mbit_s %q", line, f[3])
		}
		k := pairKey(a, b)
		if _, dup := t.links[k]; dup {
			return nil, fmt.Errorf("topology line %d: pair %s,%s given twice", line, a, b)
		}
		t.links[k] = Link{A: a, B: b, RTT: time.Duration(rtt * float64(time.Millisecond)), Mbit: bw}
		for _, r := range []string{a, b} {
			if !seen[r] {
				seen[r] = true
				t.Regions = append(t.Regions, r)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(t.Regions) < 2 {
		return nil, fmt.Errorf("topology: %d regions, want at least 2", len(t.Regions))
	}
	if err := t.complete(); err != nil {
		return nil, err
	}
	return t, nil
}

// LoadTopology parses the topology file at path.
func LoadTopology(path string) (*Topology, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	t, err := ParseTopology(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

func pairKey(a, b string) [2]string {
	if a > b {
		a, b = b, a
	}
	return [2]string{a, b}
}

func (t *Topology) complete() error {
	for i, a := range t.Regions {
		for _, b := range t.Regions[i+1:] {
			if _, ok := t.links[pairKey(a, b)]; !ok {
				return fmt.Errorf("topology: no link between %s and %s", a, b)
			}
		}
	}
	return nil
}

// Link returns the link between regions a and b.
func (t *Topology) Link(a, b string) (Link, bool) {
	l, ok := t.links[pairKey(a, b)]
	return l, ok
}

// Subset returns the topology restricted to regions, in the given order.
func (t *Topology) Subset(regions []string) (*Topology, error) {
	if len(regions) < 2 {
		return nil, fmt.Errorf("topology: subset of %d regions, want at least 2", len(regions))
	}
	s := &Topology{links: make(map[[2]string]Link)}
	for i, a := range regions {
		if !slices.Contains(t.Regions, a) {
			return nil, fmt.Errorf("topology: unknown region %q (have %s)", a, strings.Join(t.Regions, ","))
		}
		if slices.Contains(regions[:i], a) {
			return nil, fmt.Errorf("topology: region %q chosen twice", a)
		}
		for _, b := range regions[:i] {
			k := pairKey(a, b)
			s.links[k] = t.links[k]
		}
	}
	s.Regions = slices.Clone(regions)
	return s, nil
}

// Sample returns a subset of n regions drawn uniformly at random from the
// seed (PCG), in the topology's order.
func (t *Topology) Sample(n int, seed uint64) (*Topology, error) {
	if n < 2 || n > len(t.Regions) {
		return nil, fmt.Errorf("topology: cannot choose %d of %d regions", n, len(t.Regions))
	}
	rng := rand.New(rand.NewPCG(seed, 0x6e6974726f))
	idx := rng.Perm(len(t.Regions))[:n]
	slices.Sort(idx)
	regions := make([]string, n)
	for i, j := range idx {
		regions[i] = t.Regions[j]
	}
	return t.Subset(regions)
}

// Scale returns a copy with every bandwidth multiplied by f (> 0); RTTs
// are kept. A scale below 1 slows every transfer by 1/f and keeps the
// ratios between strategies, for machines whose CPU cannot forward the
// full rates.
func (t *Topology) Scale(f float64) *Topology {
	s := &Topology{Regions: slices.Clone(t.Regions), links: make(map[[2]string]Link, len(t.links))}
	for k, l := range t.links {
		l.Mbit *= f
		s.links[k] = l
	}
	return s
}

// Links returns every link, in the order of the regions.
func (t *Topology) Links() []Link {
	var out []Link
	for i, a := range t.Regions {
		for _, b := range t.Regions[i+1:] {
			out = append(out, t.links[pairKey(a, b)])
		}
	}
	return out
}

// WriteCSV writes t in the format ParseTopology reads.
func (t *Topology) WriteCSV(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, "region_a,region_b,rtt_ms,bandwidth_mbit_s")
	for i, a := range t.Regions {
		for _, b := range t.Regions[i+1:] {
			l := t.links[pairKey(a, b)]
			fmt.Fprintf(bw, "%s,%s,%s,%s\n", a, b, fmtFloat(float64(l.RTT)/float64(time.Millisecond)), fmtFloat(l.Mbit))
		}
	}
	return bw.Flush()
}

func fmtFloat(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }
