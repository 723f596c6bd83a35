package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// TCCommands returns the tc invocations (arguments after "tc") that shape
// the WAN of the tc shaper: on the WAN veth of every region i, an HTB root
// with one class per destination j (rate = ceil = the link's bandwidth)
// selected by a u32 filter on j's address, each with a netem child that
// delays by RTT/2, so that a round trip i -> j -> i takes the link's RTT
// and each direction gets the link's bandwidth. Unclassified traffic
// (none is expected) passes unshaped. mtu sizes the netem queue so that it
// holds twice the bandwidth-delay product.
func TCCommands(t *Topology, runID string, mtu int) [][]string {
	var cmds [][]string
	for i, a := range t.Regions {
		ns := NSName(runID, i)
		dev := []string{"-n", ns}
		cmds = append(cmds, append(dev, "qdisc", "add", "dev", wanIfName, "root", "handle", "1:", "htb", "default", "0", "r2q", "1000"))
		for j, b := range t.Regions {
			if i == j {
				continue
			}
			l, _ := t.Link(a, b)
			class := fmt.Sprintf("1:%x", 0x10+j)
			handle := fmt.Sprintf("%x:", 0x10+j)
			rate := strconv.FormatInt(int64(math.Round(l.Mbit*1e6)), 10) + "bit"
			half := l.RTT / 2
			bdp := l.BytesPerSec() * half.Seconds() // bytes in flight on this direction
			limit := max(1000, int(math.Ceil(2*bdp/float64(mtu))))
			cmds = append(cmds,
				append(dev, "class", "add", "dev", wanIfName, "parent", "1:", "classid", class, "htb", "rate", rate, "ceil", rate),
				append(dev, "qdisc", "add", "dev", wanIfName, "parent", class, "handle", handle, "netem", "delay", fmtDelay(half), "limit", strconv.Itoa(limit)),
				append(dev, "filter", "add", "dev", wanIfName, "parent", "1:", "protocol", "ip", "prio", "1", "u32", "match", "ip", "dst", RegionAddr(j).String()+"/32", "flowid", class),
			)
		}
	}
	return cmds
}

// fmtDelay formats d in microseconds, the unit tc parses exactly.
func fmtDelay(d time.Duration) string {
	return strconv.FormatInt(d.Microseconds(), 10) + "us"
}

// tcStats reads the HTB class counters of every region's WAN interface.
func (w *WAN) tcStats(ctx context.Context) (map[[2]int]LinkCounters, error) {
	out := make(map[[2]int]LinkCounters)
	for _, r := range w.Regions {
		b, err := exec.CommandContext(ctx, tcPath(), "-s", "-n", r.NS, "class", "show", "dev", wanIfName).Output()
		if err != nil {
			return nil, fmt.Errorf("tc class show in %s: %w", r.NS, err)
		}
		for to, c := range parseHTBStats(b) {
			if to != r.Index && to >= 0 && to < len(w.Regions) {
				out[[2]int{r.Index, to}] = c
			}
		}
	}
	return out, nil
}

// parseHTBStats parses `tc -s class show` output into counters keyed by
// destination region index (class minor - 0x10).
func parseHTBStats(b []byte) map[int]LinkCounters {
	out := make(map[int]LinkCounters)
	sc := bufio.NewScanner(bytes.NewReader(b))
	cur := -1
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) >= 3 && f[0] == "class" && f[1] == "htb":
			cur = -1
			if _, minor, ok := strings.Cut(f[2], ":"); ok {
				if v, err := strconv.ParseInt(minor, 16, 32); err == nil && v >= 0x10 {
					cur = int(v - 0x10)
				}
			}
		case len(f) >= 7 && f[0] == "Sent" && cur >= 0:
			// Sent 123 bytes 4 pkt (dropped 0, overlimits 0 requeues 0)
			var c LinkCounters
			c.Bytes, _ = strconv.ParseInt(f[1], 10, 64)
			c.Packets, _ = strconv.ParseInt(f[3], 10, 64)
			c.Drops, _ = strconv.ParseInt(strings.TrimSuffix(f[6], ","), 10, 64)
			out[cur] = c
		}
	}
	return out
}
