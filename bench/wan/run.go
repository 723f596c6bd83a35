package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"slices"
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
	if name == "origin-only" {
		return "origin-only:" + origin
	}
	return name
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
	res := RunResult{Scenario: m.scenario, Strategy: m.strategy, Compression: m.level >= 0, Run: m.run, Holders: m.holders}
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
	fmt.Fprintf(os.Stderr, "  (%s) %-17s z=%-5v run %d reader %s holders %s: %.2f s, LB %.2f s (%.2fx), payload %d / min %d (wire %d), dup %d, planner %.2f ms, node plan %.2f/%.2f s: %s\n",
		res.Scenario, res.Strategy, res.Compression, res.Run, res.Reader, strings.Join(res.Holders, ","), res.Seconds, res.LowerBound,
		res.Seconds/res.LowerBound, res.TotalWAN(), res.MinBytes, res.TotalWire(), res.DupChunks, 1000*res.PlannerSeconds,
		res.NodeMakespan, res.NodeLowerBound, status)
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
				r, err := b.start(ctx, reader, level, strategyFor(strat, holders[0]), b.gossipOf(holders), "")
				if err == nil {
					err = b.waitReady(ctx, r, holders, object)
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
				}
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
			for _, strat := range strategies {
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
