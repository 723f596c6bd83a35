package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"github.com/nitro-cloud/nitro/planner"
)

// How the harness gives a draw's holders different parts of an image
// (Nitro's setup spreads an image's chunks over the holders): the first
// holder uploads the image (it holds every chunk, the origin); the second
// reads --segments/2 random segments of 1/--segments of the image with
// Range GETs, the third 5/16 of them (range reads fetch and keep exactly
// the chunks they cover). Which chunk is where is computed from the
// recipe and checked against each holder's chunk count.
const (
	segments   = 16
	segsHolder = 8 // second holder
	segsThird  = 5 // third holder
)

// strategyFor returns the cluster.strategy value of strategy name for a
// cluster whose origin (the first holder) is origin.
func strategyFor(name, origin string) string {
	name, _ = splitStreams(name)
	if name == "origin-only" {
		return "origin-only:" + origin
	}
	return name
}

// splitStreams splits a strategy name of the form "NAME@K" into NAME and
// K, the reader's cluster.streams_per_link (0: the node's default; -1:
// the automatic choice), so that a draw can run the same strategy with
// and without striped streams side by side (e.g. --strategies
// optimal@1,optimal@4,optimal@-1).
func splitStreams(name string) (string, int) {
	base, k, ok := strings.Cut(name, "@")
	if !ok {
		return name, 0
	}
	n, err := strconv.Atoi(k)
	if err != nil || (n < 1 && n != -1) {
		return name, 0 // ParseStrategy rejects it
	}
	return base, n
}

// measurement prepares one RunResult and measures one read.
type measurement struct {
	scenario, strategy string
	level              int
	run                int
	readers            []*member
	holders            []string
	object             string
	img                imageEntry
	concurrent         int
	in                 []planner.Input // one per reader
	killAfter          time.Duration
	kill               func()
}

func (b *bench) measure(ctx context.Context, m measurement) RunResult {
	res := RunResult{Topology: b.topoName(), Scenario: m.scenario, Strategy: m.strategy, Compression: m.level >= 0, Run: m.run, Holders: m.holders,
		LoadAvg: loadAvg1(), Bound: "stored chunks the reader lacked, on their holders"}
	var rs []string
	for _, r := range m.readers {
		rs = append(rs, r.Region.Name)
	}
	res.Reader = strings.Join(rs, ",")
	st, err := planner.ParseStrategy(strategyFor(m.strategy, m.holders[0]))
	if err != nil {
		res.Err = err.Error()
		return res
	}
	for _, in := range m.in {
		lb, err := planner.LowerBound(in)
		if err != nil {
			res.Err = "lower bound: " + err.Error()
			return res
		}
		res.LowerBound = max(res.LowerBound, lb)
		pt, err := PlannerTime(in, st, 5)
		if err != nil {
			res.Err = "planner: " + err.Error()
			return res
		}
		res.PlannerSeconds = max(res.PlannerSeconds, pt.Seconds())
		for _, c := range in.Chunks {
			res.MinBytes += c.Size
		}
		res.NeededChunks += int64(len(in.Chunks))
	}
	if len(m.readers) == 1 {
		var p nodePlan
		if err := b.cli(ctx, m.readers[0], &p, "plan", "AUTH_bench/images/"+m.object); err == nil {
			res.NodeLowerBound, res.NodeMakespan = p.LowerBound, p.Makespan
		} else {
			fmt.Fprintf(b.log, "  nitro plan: %v\n", err)
		}
	}
	before, err := b.snapshot(ctx, m.readers)
	if err != nil {
		res.Err = err.Error()
		return res
	}
	rctx, cancel := context.WithTimeout(ctx, time.Duration(20*res.LowerBound*float64(time.Second))+2*time.Minute)
	defer cancel()
	secs, err := reads(rctx, m.readers, m.object, m.img, max(1, m.concurrent), m.killAfter, m.kill)
	res.Seconds = secs
	if err != nil {
		res.Err = err.Error()
	}
	time.Sleep(300 * time.Millisecond) // let the last counters settle
	after, err := b.snapshot(ctx, m.readers)
	if err != nil {
		res.Err = strings.TrimSpace(res.Err + "; " + err.Error())
		return res
	}
	b.fill(&res, before, after, m.readers)
	res.SlowestRTT = b.slowestRTT(res.WANBytes)
	// The node's own planning time when it reports one (the Solve calls
	// of the read's plans and re-plans, slowest reader); else the
	// harness's timing above.
	var node int64
	for k, v := range after.planNanos {
		node = max(node, v-before.planNanos[k])
	}
	if node > 0 {
		res.PlannerSeconds = float64(node) / 1e9
	}
	return res
}

func (b *bench) record(res RunResult, all *[]RunResult, dir, header string) {
	*all = append(*all, res)
	status := "ok"
	if res.Err != "" {
		status = "ERROR " + res.Err
	}
	if res.Topology == "" {
		res.Topology = b.topoName()
	}
	(*all)[len(*all)-1] = res
	fmt.Fprintf(os.Stderr, "  (%s) %-17s z=%-5v run %d reader %s holders %s: %.2f s, LB %.2f s (%.2fx), load %.1f, payload %d / min %d (wire %d), dup %d, events %v, planner %.2f ms, node plan %.2f/%.2f s, node fetch %.2f s, local re-read %.2f s, slowest RTT %.3f s, shaper late/dropped packets %d/%d: %s\n",
		res.Scenario, res.Strategy, res.Compression, res.Run, res.Reader, strings.Join(res.Holders, ","), res.Seconds, res.LowerBound,
		res.Seconds/res.LowerBound, res.LoadAvg, res.TotalWAN(), res.MinBytes, res.TotalWire(), res.DupChunks, res.Events, 1000*res.PlannerSeconds,
		res.NodeMakespan, res.NodeLowerBound, res.NodeFetchSeconds, res.LocalSeconds, res.SlowestRTT, res.ShaperLate, res.ShaperDrops, status)
	if err := WriteReport(dir, *all, header); err != nil {
		fmt.Fprintf(os.Stderr, "write report: %v\n", err)
	}
}

// clusterRun runs the selected scenarios for every compression setting
// and strategy, writing the report into dir after every measurement.
func (b *bench) clusterRun(ctx context.Context, dir, header string, base, variant imageEntry) ([]RunResult, error) {
	var all []RunResult
	sc := map[string]bool{}
	for _, s := range strings.Split(b.f.scenarios, ",") {
		sc[strings.TrimSpace(s)] = true
	}
	strategies := strings.Split(b.f.strategies, ",")
	var levels []int
	switch b.f.compress {
	case "on":
		levels = []int{0}
	case "off":
		levels = []int{-1}
	default:
		levels = []int{0, -1}
	}
	key := make([]byte, 16)
	rand.Read(key)
	b.secret = hex.EncodeToString(key)

	for _, level := range levels {
		fmt.Fprintf(os.Stderr, "compression level %d: analyzing images\n", level)
		lb, err := AnalyzeImage(ctx, base.name, base.path, level)
		if err != nil {
			return all, err
		}
		var lv *Layout
		if sc["d"] {
			if lv, err = AnalyzeImage(ctx, variant.name, variant.path, level); err != nil {
				return all, err
			}
		}
		fmt.Fprintf(os.Stderr, "  %s: %d refs, %d distinct chunks, %d stored bytes\n", base.name, len(lb.Refs), len(lb.Stored), lb.StoredBytes(lb.All()))
		for run := 0; run < b.f.runs; run++ {
			if !(sc["a"] || (run == 0 && (sc["c"] || sc["d"] || sc["e"]))) {
				break
			}
			reader, holders, err := DrawHolders(b.topo, 3, b.f.seed, run)
			if err != nil {
				return all, err
			}
			withVariant := run == 0 && sc["d"]
			h, err := b.setupHolders(ctx, level, holders, base, variant, lb, lv, withVariant, run)
			if err != nil {
				b.stopAll(h)
				return all, fmt.Errorf("setup run %d: %w", run, err)
			}
			needs := lb.Needs(nil, h.sets)
			in, err := PlanInput(b.topo, reader, holders, needs)
			if err != nil {
				b.stopAll(h)
				return all, err
			}
			one := func(scen, strat string, prep func(r *member) error, object string, img imageEntry, in planner.Input, conc int, kill bool) {
				r, err := b.startStreams(ctx, reader, level, strat, holders[0], b.gossipOf(holders))
				if err == nil {
					err = b.waitReady(ctx, r, holders, object)
				}
				if err == nil {
					b.waitSummaries(ctx, r, h.holders)
				}
				if err == nil && prep != nil {
					err = prep(r)
				}
				if err != nil {
					b.record(RunResult{Scenario: scen, Strategy: strat, Compression: level >= 0, Run: run, Reader: reader, Holders: holders, Err: err.Error()}, &all, dir, header)
					b.stop(r)
					return
				}
				m := measurement{scenario: scen, strategy: strat, level: level, run: run, readers: []*member{r}, holders: holders,
					object: object, img: img, concurrent: conc, in: []planner.Input{in}}
				var victim *member
				if kill {
					victim = h.holders[1]
					lbs, _ := planner.LowerBound(in)
					m.killAfter = time.Duration(max(1, 0.4*lbs) * float64(time.Second))
					m.kill = func() { fmt.Fprintf(os.Stderr, "  (e) SIGKILL %s\n", victim.Region.Name); victim.Kill() }
				}
				res := b.measure(ctx, m)
				if kill {
					res.Note = "killed " + victim.Region.Name + fmt.Sprintf(" after %.1f s", m.killAfter.Seconds())
				} else if res.Err == "" && (scen == "a" || scen == "d") {
					res.LocalSeconds = localReread(ctx, r, object, img)
				}
				res.LogDir = b.runLogDir(scen, strat, level, run)
				res.Events = keepLog(filepath.Join(r.Dir, "nitro.log"), 0, dir, filepath.Join(res.LogDir, "reader-"+reader+".log"))
				b.record(res, &all, dir, header)
				b.stop(r)
				if kill {
					// Restart the victim on its data for the next strategy.
					nm, err := b.start(ctx, victim.Region.Name, level, "", b.gossipOf([]string{holders[0]}), victim.p.DataDir)
					if err != nil {
						fmt.Fprintf(os.Stderr, "  restart %s: %v\n", victim.Region.Name, err)
						return
					}
					h.holders[1] = nm
				}
			}
			var sw *SwiftCluster
			if sc["a"] && slices.ContainsFunc(strategies, isSwiftStrategy) {
				if sw, err = b.startSwift(ctx, level, run, reader, holders, base); err != nil {
					b.stopAll(h)
					return all, fmt.Errorf("swift baseline, draw %d: %w", run, err)
				}
			}
			// Interleave: every draw runs every strategy, starting one
			// further along the list each draw, so no strategy always
			// runs first (or last) in a draw.
			for _, strat := range rotate(strategies, run) {
				if isSwiftStrategy(strat) {
					if sc["a"] {
						b.record(b.measureSwift(ctx, sw, strat, level, run, reader, holders, base), &all, dir, header)
					}
					continue
				}
				if sc["a"] {
					one("a", strat, nil, base.name, base, in, 1, false)
				}
				if run != 0 {
					continue
				}
				if sc["c"] {
					one("c", strat, nil, base.name, base, in, 20, false)
				}
				if sc["d"] {
					vneeds := lv.Needs(lb.All(), h.sets)
					vin, err := PlanInput(b.topo, reader, holders, vneeds)
					if err != nil {
						return all, err
					}
					prep := func(r *member) error { return r.Put(ctx, "images", "local-base", base.path) }
					one("d", strat, prep, variant.name, variant, vin, 1, false)
				}
				if sc["e"] {
					one("e", strat, nil, base.name, base, in, 1, true)
				}
			}
			if sw != nil {
				logs := sw.LogFiles()
				sw.Stop()
				for _, f := range logs {
					rel, _ := filepath.Rel(sw.Spec.Dir, f)
					keepLog(f, 0, dir, filepath.Join(b.drawLogDir(level, run), "swift", rel))
				}
			}
			for _, m := range h.holders {
				keepLog(filepath.Join(m.Dir, "nitro.log"), 0, dir, filepath.Join(b.drawLogDir(level, run), "holder-"+m.Region.Name+".log"))
			}
			b.stopAll(h)
		}
		if sc["b"] {
			if err := b.scenarioB(ctx, level, base, lb, strategies, &all, dir, header); err != nil {
				return all, err
			}
		}
	}
	return all, nil
}

func (b *bench) stopAll(h *holdings) {
	if h == nil {
		return
	}
	for _, m := range h.holders {
		b.stop(m)
	}
}

// setupHolders starts the holders and gives them their parts of the image
// (and of the variant).
func (b *bench) setupHolders(ctx context.Context, level int, holders []string, base, variant imageEntry, lb, lv *Layout, withVariant bool, run int) (*holdings, error) {
	h := &holdings{}
	for i, r := range holders {
		m, err := b.start(ctx, r, level, "", b.gossipOf(holders[:i]), "")
		if err != nil {
			return h, err
		}
		h.holders = append(h.holders, m)
		h.sets = append(h.sets, map[recipe.ChunkID]bool{})
	}
	imgs := []imageEntry{base}
	lays := []*Layout{lb}
	if withVariant {
		imgs, lays = append(imgs, variant), append(lays, lv)
	}
	t0 := time.Now()
	for k, img := range imgs {
		if err := h.holders[0].Put(ctx, "images", img.name, img.path); err != nil {
			return h, err
		}
		union(h.sets[0], lays[k].All())
	}
	fmt.Fprintf(os.Stderr, "run %d: holders %s; uploaded at %s in %.1f s\n", run, strings.Join(holders, ","), holders[0], time.Since(t0).Seconds())
	rng := mrand.New(mrand.NewPCG(b.f.seed^0x9e3779b97f4a7c15, uint64(run)))
	type part struct {
		img    imageEntry
		ranges []ByteRange
	}
	plan := make([][]part, len(holders))
	for i := 1; i < len(holders); i++ {
		k := segsHolder
		if i == 2 {
			k = segsThird
		}
		if b.f.fullReplicas {
			k = segments // every holder reads the whole image: Swift's holdings
		}
		for j, img := range imgs {
			rs := RandomSegments(lays[j].Size, segments, k, rng)
			plan[i] = append(plan[i], part{img, rs})
			union(h.sets[i], lays[j].Covered(rs))
		}
	}
	names := make([]string, len(imgs))
	for j, img := range imgs {
		names[j] = img.name
	}
	errc := make(chan error, len(holders))
	t0 = time.Now()
	for i := 1; i < len(holders); i++ {
		go func() {
			m := h.holders[i]
			if err := b.waitReady(ctx, m, holders[:i], names...); err != nil {
				errc <- err
				return
			}
			for _, p := range plan[i] {
				for _, r := range p.ranges {
					if err := m.GetRange(ctx, "images", p.img.name, r); err != nil {
						errc <- fmt.Errorf("%s: %w", m.Region.Name, err)
						return
					}
				}
			}
			errc <- nil
		}()
	}
	for i := 1; i < len(holders); i++ {
		if err := <-errc; err != nil {
			return h, err
		}
	}
	if err := b.checkHoldings(ctx, h); err != nil {
		return h, err
	}
	for i, m := range h.holders {
		fmt.Fprintf(os.Stderr, "  holder %s: %d chunks (%.0f%% of %s)\n", m.Region.Name, len(h.sets[i]),
			100*float64(len(h.sets[i]))/float64(len(h.sets[0])), strings.Join(names, "+"))
	}
	fmt.Fprintf(os.Stderr, "  range reads done in %.1f s\n", time.Since(t0).Seconds())
	return h, nil
}

// scenarioB: the image in one region, read by three at once.
func (b *bench) scenarioB(ctx context.Context, level int, base imageEntry, lb *Layout, strategies []string, all *[]RunResult, dir, header string) error {
	if len(b.topo.Regions) < 4 {
		return fmt.Errorf("scenario b needs 4 regions")
	}
	rng := mrand.New(mrand.NewPCG(b.f.seed, 0xb))
	p := rng.Perm(len(b.topo.Regions))
	origin := b.topo.Regions[p[0]]
	var readers []string
	for _, i := range p[1:4] {
		readers = append(readers, b.topo.Regions[i])
	}
	o, err := b.start(ctx, origin, level, "", nil, "")
	if err != nil {
		return err
	}
	defer b.stop(o)
	if err := o.Put(ctx, "images", base.name, base.path); err != nil {
		return err
	}
	holds := []map[recipe.ChunkID]bool{lb.All()}
	needs := lb.Needs(nil, holds)
	var ins []planner.Input
	for _, r := range readers {
		in, err := PlanInput(b.topo, r, []string{origin}, needs)
		if err != nil {
			return err
		}
		ins = append(ins, in)
	}
	for _, strat := range strategies {
		var rs []*member
		var err error
		for _, r := range readers {
			var m *member
			m, err = b.start(ctx, r, level, strategyFor(strat, origin), []string{b.gossip(origin)}, "")
			if err != nil {
				break
			}
			rs = append(rs, m)
			if err = b.waitReady(ctx, m, []string{origin}, base.name); err != nil {
				break
			}
		}
		if err != nil {
			b.record(RunResult{Scenario: "b", Strategy: strat, Compression: level >= 0, Reader: strings.Join(readers, ","), Holders: []string{origin}, Err: err.Error()}, all, dir, header)
		} else {
			res := b.measure(ctx, measurement{scenario: "b", strategy: strat, level: level, readers: rs, holders: []string{origin},
				object: base.name, img: base, concurrent: 1, in: ins})
			b.record(res, all, dir, header)
		}
		for _, m := range slices.Backward(rs) {
			b.stop(m)
		}
	}
	return nil
}

// rotate returns strategies starting at index k (mod len).
func rotate(strategies []string, k int) []string {
	if len(strategies) == 0 {
		return nil
	}
	k %= len(strategies)
	return append(slices.Clone(strategies[k:]), strategies[:k]...)
}

// runLogDir is where a run's logs are kept, relative to the results
// directory.
func (b *bench) runLogDir(scen, strat string, level, run int) string {
	return filepath.Join("logs", fmt.Sprintf("%s-z%s-draw%d", b.topoName(), onOff(level >= 0), run), fmt.Sprintf("%s-%s", scen, strat))
}

// drawLogDir is where the logs of a draw's long-lived processes (the
// holders, the Swift cluster) are kept.
func (b *bench) drawLogDir(level, run int) string {
	return filepath.Join("logs", fmt.Sprintf("%s-z%s-draw%d", b.topoName(), onOff(level >= 0), run))
}

// startSwift starts the Swift global cluster of a draw (proxy in the
// reader's region, servers in the holders') and uploads the raw image
// through it, one replica per holder region. The upload is not measured.
func (b *bench) startSwift(ctx context.Context, level, run int, reader string, holders []string, img imageEntry) (*SwiftCluster, error) {
	spec, err := NewSwiftClusterSpec(b.topo, reader, holders, filepath.Join(b.work, fmt.Sprintf("swift-z%d-draw%d", level, run)))
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	sw, err := StartSwift(ctx, b.w, spec)
	if err != nil {
		// Keep what the servers said.
		logs, _ := filepath.Glob(filepath.Join(spec.Dir, "*", "log", "*.log"))
		for _, f := range logs {
			rel, _ := filepath.Rel(spec.Dir, f)
			keepLog(f, 0, b.results, filepath.Join(b.drawLogDir(level, run), "swift", rel))
		}
		return nil, err
	}
	up := time.Since(t0)
	t0 = time.Now()
	if err := sw.Put(ctx, "images", img.name, img.path); err != nil {
		sw.Stop()
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "  swift: proxy in %s, replicas in %s, read_affinity %q; up in %.1f s, image uploaded in %.1f s\n",
		reader, strings.Join(holders, ","), spec.ReadAffinity, up.Seconds(), time.Since(t0).Seconds())
	return sw, nil
}

// measureSwift measures one read of the image by a Swift baseline: through
// the reader's proxy (swift) or as one stream from the best holder's
// object server (copy-image). The run's own lower bound is the raw image
// with a full replica at every holder (what Swift stores).
func (b *bench) measureSwift(ctx context.Context, sw *SwiftCluster, strat string, level, run int, reader string, holders []string, img imageEntry) RunResult {
	res := RunResult{Topology: b.topoName(), Scenario: "a", Strategy: strat, Compression: level >= 0, Run: run, Reader: reader, Holders: holders,
		LoadAvg: loadAvg1(), MinBytes: img.bytes, Bound: "raw image, a full replica at every holder"}
	if sw == nil {
		res.Err = "no swift cluster"
		return res
	}
	lb, err := LowerBoundFor(b.topo, reader, holders, img.bytes)
	if err != nil {
		res.Err = err.Error()
		return res
	}
	res.LowerBound = lb
	proxyLog := filepath.Join(sw.Spec.Dir, reader, "log", "proxy.log")
	off := fileSize(proxyLog)
	before, err := b.w.LinkStats(ctx)
	if err != nil {
		res.Err = err.Error()
		return res
	}
	rctx, cancel := context.WithTimeout(ctx, time.Duration(20*lb*float64(time.Second))+2*time.Minute)
	defer cancel()
	var size int64
	var sum string
	var el time.Duration
	if strat == swiftStrategy {
		size, sum, el, err = sw.Get(rctx, "images", img.name)
	} else {
		best := sw.Spec.Best()
		res.Note = "one stream from " + best.Region
		dst := filepath.Join(b.work, "copy-image")
		size, sum, el, err = sw.CopyImage(rctx, best, "images", img.name, dst)
		os.Remove(dst)
	}
	res.Seconds = el.Seconds()
	if err == nil && (size != img.bytes || sum != img.sha256) {
		err = fmt.Errorf("read %d bytes sha256 %s, want %d %s", size, sum, img.bytes, img.sha256)
	}
	if err != nil {
		res.Err = err.Error()
	}
	time.Sleep(300 * time.Millisecond)
	after, err := b.w.LinkStats(ctx)
	if err == nil {
		ri := b.regionIndex(reader)
		res.WireBytes = map[string]int64{}
		for k, v := range after {
			if k[1] != ri {
				continue
			}
			if d := v.Bytes - before[k].Bytes; d > 0 {
				res.WireBytes[b.topo.Regions[k[0]]+"->"+reader] = d
			}
		}
		res.WANBytes = res.WireBytes // Swift has no payload counters of its own
	}
	res.LogDir = b.runLogDir("a", strat, level, run)
	res.Events = keepLog(proxyLog, off, b.results, filepath.Join(res.LogDir, "proxy-"+reader+".log"))
	return res
}

// slowestRTT returns the largest RTT in seconds of the links "from->to"
// that carried payload in wan.
func (b *bench) slowestRTT(wan map[string]int64) float64 {
	var rtt float64
	for k, v := range wan {
		from, to, ok := strings.Cut(k, "->")
		if !ok || v <= 0 {
			continue
		}
		if l, ok := b.topo.Link(from, to); ok {
			rtt = max(rtt, l.RTT.Seconds())
		}
	}
	return rtt
}

// localReread times a second GET of object by reader r, every chunk local
// by now (see RunResult.LocalSeconds); 0 if it fails.
func localReread(ctx context.Context, r *member, object string, img imageEntry) float64 {
	secs, err := reads(ctx, []*member{r}, object, img, 1, 0, nil)
	if err != nil {
		fmt.Fprintf(os.Stderr, "  local re-read at %s: %v\n", r.Region.Name, err)
		return 0
	}
	return secs
}
