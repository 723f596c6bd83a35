package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"time"
)

// The probe measures one directed link: RTT by TCP ping-pong, then
// throughput by a bulk transfer client -> server measured at the receiver
// over the steady-state part (after the first third, which covers slow
// start). Both ends are this binary re-executed inside the namespaces as
// the probe-server and probe-client subcommands.

// ProbeResult is what probe-client prints (one JSON line).
type ProbeResult struct {
	RTTms    float64 `json:"rtt_ms"`     // median of the pings
	MinRTTms float64 `json:"min_rtt_ms"` // fastest ping: the path's delay without scheduling noise
	Mbit     float64 `json:"mbit_s"`     // steady-state receive rate, Mbit/s
	Bytes    int64   `json:"bytes"`      // bulk bytes received
	Duration float64 `json:"duration_s"` // bulk transfer time at the receiver
}

// probeServer accepts one connection on addr, echoes pings and measures a
// bulk transfer. It prints "ready" once listening.
func probeServer(args []string) error {
	fs := flag.NewFlagSet("probe-server", flag.ContinueOnError)
	addr := fs.String("listen", "", "host:port to listen on")
	timeout := fs.Duration("timeout", 60*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	fmt.Println("ready")
	deadline := time.Now().Add(*timeout)
	ln.(*net.TCPListener).SetDeadline(deadline)
	c, err := ln.Accept()
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(deadline)
	r := bufio.NewReader(c)
	for {
		op, err := r.ReadByte()
		if err != nil {
			return err
		}
		switch op {
		case 'p':
			if _, err := c.Write([]byte{'p'}); err != nil {
				return err
			}
		case 'b':
			res, err := receiveBulk(r)
			if err != nil {
				return err
			}
			return json.NewEncoder(c).Encode(res)
		default:
			return fmt.Errorf("probe-server: unknown op %q", op)
		}
	}
}

type sample struct {
	t time.Time
	n int64
}

func receiveBulk(r io.Reader) (ProbeResult, error) {
	buf := make([]byte, 256<<10)
	var samples []sample
	var total int64
	for {
		n, err := r.Read(buf)
		if n > 0 {
			total += int64(n)
			samples = append(samples, sample{time.Now(), total})
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return ProbeResult{}, err
		}
	}
	return steadyRate(samples), nil
}

// steadyRate returns the receive rate over the samples after the first
// third of the transfer time.
func steadyRate(s []sample) ProbeResult {
	if len(s) < 2 {
		return ProbeResult{}
	}
	first, last := s[0], s[len(s)-1]
	dur := last.t.Sub(first.t)
	cut := first.t.Add(dur / 3)
	i, _ := slices.BinarySearchFunc(s, cut, func(x sample, t time.Time) int { return x.t.Compare(t) })
	if i >= len(s)-1 {
		i = 0
	}
	a := s[i]
	res := ProbeResult{Bytes: last.n, Duration: dur.Seconds()}
	if d := last.t.Sub(a.t).Seconds(); d > 0 {
		res.Mbit = float64(last.n-a.n) * 8 / d / 1e6
	}
	return res
}

// probeClient connects to addr, pings, sends bulk data for the given
// duration and prints the ProbeResult as JSON.
func probeClient(args []string) error {
	fs := flag.NewFlagSet("probe-client", flag.ContinueOnError)
	addr := fs.String("connect", "", "host:port of the probe server")
	pings := fs.Int("pings", 5, "number of pings")
	dur := fs.Duration("duration", 3*time.Second, "bulk transfer duration")
	maxBytes := fs.Int64("max-bytes", 0, "stop the bulk transfer after this many bytes (0: no limit)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := net.DialTimeout("tcp", *addr, 10*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(*dur + 60*time.Second))
	var rtts []float64
	one := make([]byte, 1)
	for range *pings {
		t0 := time.Now()
		if _, err := c.Write([]byte{'p'}); err != nil {
			return err
		}
		if _, err := io.ReadFull(c, one); err != nil {
			return err
		}
		rtts = append(rtts, float64(time.Since(t0))/float64(time.Millisecond))
	}
	slices.Sort(rtts)
	if _, err := c.Write([]byte{'b'}); err != nil {
		return err
	}
	buf := make([]byte, 256<<10)
	end := time.Now().Add(*dur)
	var sent int64
	for time.Now().Before(end) && (*maxBytes == 0 || sent < *maxBytes) {
		n, err := c.Write(buf)
		sent += int64(n)
		if err != nil {
			return err
		}
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return err
	}
	var res ProbeResult
	if err := json.NewDecoder(c).Decode(&res); err != nil {
		return fmt.Errorf("probe result: %w", err)
	}
	if len(rtts) > 0 {
		res.RTTms = rtts[len(rtts)/2]
		res.MinRTTms = rtts[0]
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// PairResult is one measured directed link beside its target.
type PairResult struct {
	From, To    string
	TargetRTTms float64
	TargetMbit  float64
	ProbeResult
}

// RTTErr and BWErr return the relative errors of the measurement.
func (p PairResult) RTTErr() float64 { return p.RTTms/p.TargetRTTms - 1 }
func (p PairResult) BWErr() float64  { return p.Mbit/p.TargetMbit - 1 }

// Probe measures the link from region i to region j of w (data flows
// i -> j) by running probe-server in j and probe-client in i.
func (w *WAN) Probe(ctx context.Context, i, j int, dur time.Duration, maxBytes int64) (PairResult, error) {
	exe, err := os.Executable()
	if err != nil {
		return PairResult{}, err
	}
	addr := net.JoinHostPort(w.Regions[j].Addr.String(), "5201")
	sctx, cancel := context.WithTimeout(ctx, dur+90*time.Second)
	defer cancel()
	srv := w.Command(sctx, j, exe, "probe-server", "-listen", addr, "-timeout", (dur + 60*time.Second).String())
	srv.Env = append(os.Environ(), childEnv+"=1")
	out, err := srv.StdoutPipe()
	if err != nil {
		return PairResult{}, err
	}
	var serr strings.Builder
	srv.Stderr = &serr
	if err := srv.Start(); err != nil {
		return PairResult{}, err
	}
	defer srv.Wait()
	defer srv.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		return PairResult{}, fmt.Errorf("probe-server in %s: %q %v %s", w.Regions[j].NS, line, err, serr.String())
	}
	cli := w.Command(sctx, i, exe, "probe-client", "-connect", addr, "-duration", dur.String(), "-max-bytes", fmt.Sprint(maxBytes))
	cli.Env = append(os.Environ(), childEnv+"=1")
	var cerr strings.Builder
	cli.Stderr = &cerr
	b, err := cli.Output()
	if err != nil {
		return PairResult{}, fmt.Errorf("probe-client in %s: %v: %s", w.Regions[i].NS, err, cerr.String())
	}
	var res ProbeResult
	if err := json.Unmarshal(b, &res); err != nil {
		return PairResult{}, fmt.Errorf("probe-client output %q: %w", b, err)
	}
	l, _ := w.cfg.Topo.Link(w.Regions[i].Name, w.Regions[j].Name)
	return PairResult{
		From: w.Regions[i].Name, To: w.Regions[j].Name,
		TargetRTTms: float64(l.RTT) / float64(time.Millisecond), TargetMbit: l.Mbit,
		ProbeResult: res,
	}, nil
}
