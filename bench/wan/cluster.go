package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

// bench is one `run`: the WAN, the nitro binary and the nodes it starts.
type bench struct {
	w      *WAN
	topo   *Topology
	f      runFlags
	work   string
	secret string
	gen    int // node incarnations, for unique node names and dirs
	log    io.Writer
	// results is the results directory (logs are kept under it).
	results string
	// streams is the cluster.streams_per_link of the next node start
	// (0: the node's default); see startStreams.
	streams int
}

// topoName is the topology's name in the results: the CSV's base name.
func (b *bench) topoName() string {
	n := strings.TrimSuffix(filepath.Base(b.f.file), ".csv")
	if b.f.fullReplicas {
		n += "-full-replicas" // other holdings: kept apart in merged reports
	}
	return n
}

// member is a running node and how to restart it.
type member struct {
	*Node
	p NodeParams
}

func (b *bench) regionIndex(name string) int { return slices.Index(b.topo.Regions, name) }

// start starts a cluster node in region with a fresh data dir (or
// dataDir, to restart a node on its data), joined to join (gossip
// addresses of running nodes).
func (b *bench) start(ctx context.Context, region string, level int, strategy string, join []string, dataDir string) (*member, error) {
	i := b.regionIndex(region)
	if i < 0 {
		return nil, fmt.Errorf("region %s not emulated", region)
	}
	b.gen++
	dir := filepath.Join(b.work, fmt.Sprintf("%s-%d", region, b.gen))
	if dataDir == "" {
		dataDir = filepath.Join(dir, "data")
	}
	p := NodeParams{Region: region, Node: fmt.Sprintf("%s-%d", region, b.gen), Index: i, Addr: RegionAddr(i).String(),
		DataDir: dataDir, SwiftPort: swiftPort, OpsPort: opsPort, PeerPort: peerPort, Join: join,
		Secret: b.secret, Strategy: strategy, CompressionLevel: level, Cluster: true, StreamsPerLink: b.streams}
	for _, o := range b.topo.Regions {
		if o == region {
			continue
		}
		l, _ := b.topo.Link(o, region)
		p.LinkPriors = append(p.LinkPriors, LinkPrior{Region: o, Mbit: l.Mbit, RTTms: float64(l.RTT) / 1e6})
	}
	n, err := b.w.StartNode(ctx, b.f.nitro, dir, p)
	if err != nil {
		return nil, err
	}
	return &member{Node: n, p: p}, nil
}

// startStreams starts a reader in region for strategy strat (see
// splitStreams: "NAME@K" sets cluster.streams_per_link K), origin being
// the draw's first holder.
func (b *bench) startStreams(ctx context.Context, region string, level int, strat, origin string, join []string) (*member, error) {
	_, k := splitStreams(strat)
	b.streams = k
	defer func() { b.streams = 0 }()
	return b.start(ctx, region, level, strategyFor(strat, origin), join, "")
}

// gossip returns the gossip address of region's node.
func (b *bench) gossip(region string) string {
	return fmt.Sprintf("%s:%d", RegionAddr(b.regionIndex(region)), gossipPort)
}

func (b *bench) gossipOf(regions []string) []string {
	var out []string
	for _, r := range regions {
		out = append(out, b.gossip(r))
	}
	return out
}

// stop stops m and, unless --keep, removes its directory (not a data dir
// it was given).
func (b *bench) stop(m *member) {
	if m == nil {
		return
	}
	m.Stop()
	if !b.f.keep && strings.HasPrefix(m.p.DataDir, m.Dir) {
		os.RemoveAll(m.Dir)
	}
}

// nodeStatus is the part of `nitro status --json` the harness reads
// (node.Status: the cluster section's members, fetch counters and chunk
// traffic by peer region).
type nodeStatus struct {
	Cluster struct {
		Members []struct {
			Name   string `json:"name"`
			Region string `json:"region"`
			State  string `json:"state"`
		} `json:"members"`
		Fetch     nodeFetch `json:"fetch"`
		Summaries *struct {
			Local struct {
				Generation uint64 `json:"generation"`
			} `json:"local"`
			Peers []struct {
				Key        string `json:"key"`
				Generation uint64 `json:"generation"`
				Error      string `json:"error"`
			} `json:"peers"`
		} `json:"summaries"`
		Received map[string]struct {
			Chunks int64 `json:"chunks"`
			Bytes  int64 `json:"bytes"`
		} `json:"chunks_received"`
		// Transfers are the reader's recent fetch jobs (node.TransferStatus).
		Transfers []struct {
			ID             int64   `json:"id"`
			ElapsedSeconds float64 `json:"elapsed_seconds"`
			FinishedAt     string  `json:"finished_at"`
			Sources        []struct {
				Region string `json:"region"`
				Bytes  int64  `json:"bytes"`
				Points []struct {
					Seconds float64 `json:"s"`
				} `json:"points"`
			} `json:"sources"`
		} `json:"transfers"`
	} `json:"cluster"`
}

// nodeFetch is node.FetchStatus, the reader's fetch counters.
type nodeFetch struct {
	Replans          int64   `json:"replans"`
	SourceFailures   int64   `json:"source_failures"`
	SlowSources      int64   `json:"slow_sources"`
	DuplicateChunks  int64   `json:"duplicate_chunks"`
	Plans            int64   `json:"plans"`
	PlanSecondsTotal float64 `json:"plan_seconds_total"`
}

func (s *nodeStatus) alive(region string) bool {
	for _, m := range s.Cluster.Members {
		if m.Region == region && m.State == "alive" {
			return true
		}
	}
	return false
}

// received sums the chunks and bytes received, per region and in total.
func (s *nodeStatus) received() (chunks int64, bytes map[string]int64) {
	bytes = map[string]int64{}
	for r, c := range s.Cluster.Received {
		chunks += c.Chunks
		bytes[r] += c.Bytes
	}
	return chunks, bytes
}

// cli runs `nitro <cmd> --config <node's config> --json args...` inside
// the node's namespace (the operator commands talk to the node's peer
// listener) and decodes its output into out.
func (b *bench) cli(ctx context.Context, m *member, out any, cmd string, args ...string) error {
	a := append([]string{cmd, "--config", filepath.Join(m.Dir, "nitro.yaml"), "--json"}, args...)
	c := b.w.Command(ctx, m.Region.Index, b.f.nitro, a...)
	var stderr strings.Builder
	c.Stderr = &stderr
	o, err := c.Output()
	if err != nil {
		return fmt.Errorf("nitro %s at %s: %w: %s", cmd, m.Region.Name, err, strings.TrimSpace(stderr.String()))
	}
	return json.Unmarshal(o, out)
}

func (b *bench) status(ctx context.Context, m *member) (*nodeStatus, error) {
	var s nodeStatus
	return &s, b.cli(ctx, m, &s, "status")
}

// nodePlan is the part of `nitro plan --json` the harness records.
type nodePlan struct {
	Missing    int     `json:"missing_chunks"`
	Makespan   float64 `json:"makespan_s"`
	LowerBound float64 `json:"lower_bound_s"`
	Sources    []struct {
		Region string `json:"region"`
		Holds  int    `json:"holds"`
		Chunks int    `json:"chunks"`
	} `json:"sources"`
}

// readyTimeout bounds waitReady. A member that memberlist declared dead
// (a loaded machine, a missed probe) comes back when the node re-joins its
// configured peers, every 30 s (membership.Config.RejoinInterval), so the
// bound spans several re-joins.
const readyTimeout = 3 * time.Minute

// waitReady waits until m sees every region of regions alive and every
// object (in container "images") in its namespace, at most readyTimeout;
// the error says what was missing and m's view of the cluster.
// summaryWait bounds waitSummaries.
const summaryWait = 20 * time.Second

// waitSummaries waits until reader m holds each holder's current chunk
// summary (cluster.summary_interval; the generation the holder reports),
// so that a read measures the steady state of long-running nodes, where
// summaries are at most one interval old, not a reader that has just
// joined and fetched none. Summaries off, or not there within
// summaryWait: it says so and returns (the read then pays the have round
// trip, as without summaries).
func (b *bench) waitSummaries(ctx context.Context, m *member, holders []*member) {
	want := map[string]uint64{}
	for _, h := range holders {
		st, err := b.status(ctx, h)
		if err != nil || st.Cluster.Summaries == nil {
			return
		}
		want[h.Region.Name+"/"] = st.Cluster.Summaries.Local.Generation
	}
	deadline := time.Now().Add(summaryWait)
	for {
		missing := ""
		st, err := b.status(ctx, m)
		if err != nil || st.Cluster.Summaries == nil {
			return
		}
		for prefix, gen := range want {
			ok := false
			for _, p := range st.Cluster.Summaries.Peers {
				if strings.HasPrefix(p.Key, prefix) && p.Error == "" && p.Generation >= gen {
					ok = true
				}
			}
			if !ok {
				missing = strings.TrimSuffix(prefix, "/")
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(b.log, "  %s: no current summary of %s after %s; reading without\n", m.Region.Name, missing, summaryWait)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(300 * time.Millisecond):
		}
	}
}

func (b *bench) waitReady(ctx context.Context, m *member, regions []string, objects ...string) error {
	t0 := time.Now()
	deadline := t0.Add(readyTimeout)
	var last, members string
	report := t0.Add(30 * time.Second)
	for {
		ok := true
		st, err := b.status(ctx, m)
		if err != nil {
			ok, last = false, err.Error()
		} else {
			members = st.members()
			for _, r := range regions {
				if !st.alive(r) {
					ok, last = false, "region "+r+" not alive"
				}
			}
		}
		for _, o := range objects {
			if !ok {
				break
			}
			if code, err := m.Head(ctx, "images", o); err != nil || code != http.StatusOK {
				ok, last = false, fmt.Sprintf("HEAD %s: %d %v", o, code, err)
			}
		}
		if ok {
			if d := time.Since(t0); d > 10*time.Second {
				fmt.Fprintf(b.log, "  %s ready after %.1f s\n", m.Region.Name, d.Seconds())
			}
			return nil
		}
		now := time.Now()
		if now.After(deadline) {
			return fmt.Errorf("%s not ready in %s: %s (members: %s)", m.Region.Name, readyTimeout, last, members)
		}
		if now.After(report) {
			fmt.Fprintf(b.log, "  %s not ready after %.0f s: %s (members: %s)\n", m.Region.Name, now.Sub(t0).Seconds(), last, members)
			report = now.Add(30 * time.Second)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// members lists the node's view of the cluster: "name(region) state, ...".
func (s *nodeStatus) members() string {
	var out []string
	for _, m := range s.Cluster.Members {
		out = append(out, fmt.Sprintf("%s(%s) %s", m.Name, m.Region, m.State))
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}

// Head returns the status of HEAD container/object.
func (n *Node) Head(ctx context.Context, container, object string) (int, error) {
	resp, err := n.do(ctx, "HEAD", "/"+container+"/"+object, nil, 0)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// GetRange reads bytes [r.Off, r.Off+r.Len) of container/object and
// discards them.
func (n *Node) GetRange(ctx context.Context, container, object string, r ByteRange) error {
	if err := n.auth(ctx); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, "GET", n.storage+"/"+container+"/"+object, nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-Auth-Token", n.token)
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", r.Off, r.Off+r.Len-1))
	resp, err := n.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	got, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusPartialContent || got != r.Len {
		return fmt.Errorf("GET %s range %d+%d: %s, %d bytes", object, r.Off, r.Len, resp.Status, got)
	}
	return nil
}

// counters is a snapshot of everything a measured read is judged by.
type counters struct {
	chunks   int64            // chunks received by the readers
	payload  map[string]int64 // stored chunk bytes received, "from->to"
	wire     map[[2]int]LinkCounters
	storedAt map[string]int64 // readers' stored_bytes
	// planNanos is the readers' reported planner.Solve time (nitro status
	// cluster.fetch.plan_seconds_total), per reader.
	planNanos map[string]int64
	// fetch is the readers' fetch counters, summed.
	fetch nodeFetch
	// jobs is the readers' fetch jobs by "reader/id": their elapsed
	// seconds (-1 while running); sourceDone, by the same key, when each
	// source region delivered its last chunk (seconds after the job's
	// start, at the status's 100 ms resolution).
	jobs       map[string]float64
	sourceDone map[string]map[string]float64
}

func (b *bench) snapshot(ctx context.Context, readers []*member) (*counters, error) {
	c := &counters{payload: map[string]int64{}, storedAt: map[string]int64{}, planNanos: map[string]int64{}, jobs: map[string]float64{}, sourceDone: map[string]map[string]float64{}}
	for _, r := range readers {
		st, err := b.status(ctx, r)
		if err != nil {
			return nil, err
		}
		c.planNanos[r.Region.Name] = int64(st.Cluster.Fetch.PlanSecondsTotal * 1e9)
		f := st.Cluster.Fetch
		c.fetch.Replans += f.Replans
		c.fetch.SourceFailures += f.SourceFailures
		c.fetch.SlowSources += f.SlowSources
		c.fetch.DuplicateChunks += f.DuplicateChunks
		for _, t := range st.Cluster.Transfers {
			el := t.ElapsedSeconds
			if t.FinishedAt == "" {
				el = -1
			}
			key := fmt.Sprintf("%s/%d", r.Region.Name, t.ID)
			c.jobs[key] = el
			for _, src := range t.Sources {
				if n := len(src.Points); n > 0 && src.Bytes > 0 {
					if c.sourceDone[key] == nil {
						c.sourceDone[key] = map[string]float64{}
					}
					c.sourceDone[key][src.Region] = max(c.sourceDone[key][src.Region], src.Points[n-1].Seconds)
				}
			}
		}
		n, by := st.received()
		c.chunks += n
		for from, v := range by {
			c.payload[from+"->"+r.Region.Name] += v
		}
		s, err := r.Stats(ctx)
		if err != nil {
			return nil, err
		}
		if v, ok := s["stored_bytes"].(float64); ok {
			c.storedAt[r.Region.Name] = int64(v)
		}
	}
	var err error
	c.wire, err = b.w.LinkStats(ctx)
	return c, err
}

// fill sets res's byte fields from the counters before and after a read
// into readers.
func (b *bench) fill(res *RunResult, before, after *counters, readers []*member) {
	res.WANBytes = map[string]int64{}
	for k, v := range after.payload {
		if d := v - before.payload[k]; d != 0 {
			res.WANBytes[k] = d
		}
	}
	res.WireBytes = map[string]int64{}
	for _, r := range readers {
		to := r.Region.Index
		for k, v := range after.wire {
			if k[1] != to {
				continue
			}
			if d := v.Bytes - before.wire[k].Bytes; d > 0 {
				res.WireBytes[b.topo.Regions[k[0]]+"->"+r.Region.Name] += d
			}
			res.ShaperLate += v.Late - before.wire[k].Late
			res.ShaperDrops += v.Drops - before.wire[k].Drops
		}
		res.StoredDelta += after.storedAt[r.Region.Name] - before.storedAt[r.Region.Name]
	}
	res.ReceivedChunks = after.chunks - before.chunks
	res.DupChunks = Duplicates(res.ReceivedChunks, res.NeededChunks)
	// The reader's own counters of the read (nitro status), beside the
	// events counted in its log.
	res.NodeFetch = map[string]int64{
		"replans":          after.fetch.Replans - before.fetch.Replans,
		"slow_sources":     after.fetch.SlowSources - before.fetch.SlowSources,
		"source_failures":  after.fetch.SourceFailures - before.fetch.SourceFailures,
		"duplicate_chunks": after.fetch.DuplicateChunks - before.fetch.DuplicateChunks,
	}
	// The longest fetch job the read started (not in the snapshot before
	// it), finished by now.
	for k, el := range after.jobs {
		if _, old := before.jobs[k]; !old && el > res.NodeFetchSeconds {
			res.NodeFetchSeconds = el
			res.NodeFetchSources = after.sourceDone[k]
		}
	}
}

// reads runs n concurrent GETs of object at each reader, verifying size
// and SHA-256, and returns the time to the last byte of the slowest. kill,
// if set, runs after killAfter (scenario e).
func reads(ctx context.Context, readers []*member, object string, img imageEntry, n int, killAfter time.Duration, kill func()) (float64, error) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	var slowest time.Duration
	for _, r := range readers {
		for range n {
			wg.Go(func() {
				size, sum, el, err := r.Get(ctx, "images", object)
				if err == nil && (size != img.bytes || sum != img.sha256) {
					err = fmt.Errorf("%s: read %d bytes sha256 %s, want %d %s", r.Region.Name, size, sum, img.bytes, img.sha256)
				}
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", r.Region.Name, err))
				}
				slowest = max(slowest, el)
			})
		}
	}
	if kill != nil {
		select {
		case <-time.After(killAfter):
			kill()
		case <-ctx.Done():
		}
	}
	wg.Wait()
	return slowest.Seconds(), errors.Join(errs...)
}

// holdings is what each holder of a cluster stores.
type holdings struct {
	holders []*member
	sets    []map[recipe.ChunkID]bool
	ranges  []string // description of each holder's part
}

func union(dst, src map[recipe.ChunkID]bool) {
	for id := range src {
		dst[id] = true
	}
}

// checkHoldings compares each holder's stored chunk count with what the
// harness expects it to hold; a mismatch means the lower bound would be
// computed on wrong holder sets.
func (b *bench) checkHoldings(ctx context.Context, h *holdings) error {
	for i, m := range h.holders {
		s, err := m.Stats(ctx)
		if err != nil {
			return err
		}
		got, _ := s["chunks"].(float64)
		if int(got) != len(h.sets[i]) {
			return fmt.Errorf("holder %s stores %d chunks, expected %d", m.Region.Name, int(got), len(h.sets[i]))
		}
	}
	return nil
}
