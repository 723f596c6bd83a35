package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/nitro-cloud/nitro/internal/version"
	"github.com/nitro-cloud/nitro/node/internal/fetch"
	"github.com/nitro-cloud/nitro/node/internal/namespace"
)

// Status is `nitro status` and the ops listener's GET /status: what this
// node is, what its store and namespace hold, and, for a node of a
// multi-region cluster, its peers and links. JSON keys are snake_case and
// carry their unit (_bytes, _seconds, _bytes_per_second); times are RFC
// 3339 and end in _at.
type Status struct {
	Node   string `json:"node"`
	Region string `json:"region"`
	// Version is the running binary's build (as /info's "nitro" key).
	Version version.Info `json:"version"`
	// SwiftListen is the Swift API's bound address.
	SwiftListen   string        `json:"swift_listen"`
	StartedAt     time.Time     `json:"started_at"`
	UptimeSeconds float64       `json:"uptime_seconds"`
	Store         StoreStatus   `json:"store"`
	Objects       ObjectsStatus `json:"objects"`
	// SinceStart counts the object service's work since the node started.
	SinceStart TrafficStatus `json:"since_start"`
	// LastGC is the last successful collection; nil: none since start.
	LastGC *GCStatus `json:"last_gc,omitempty"`
	// Cluster is nil for a single-region node.
	Cluster *ClusterStatus `json:"cluster,omitempty"`
	// Images is where the first objects live (GET /status?images=N, the
	// status page; statuspage.go); absent unless asked for.
	Images []ImageStatus `json:"images,omitempty"`
}

// StoreStatus is what the chunk store holds (chunkstore.Stats) and the
// size of the data dir.
type StoreStatus struct {
	Chunks int64 `json:"chunks"`
	// StoredBytes is the compressed size of the chunks.
	StoredBytes int64 `json:"stored_bytes"`
	Recipes     int64 `json:"recipes"`
	// DiskBytes is the size of the data dir's files (includes Badger's
	// garbage not yet collected).
	DiskBytes int64 `json:"disk_bytes"`
}

// ObjectsStatus is what the namespace holds: live accounts, containers,
// objects and the sum of the objects' plain sizes (the bytes clients
// stored; StoreStatus.StoredBytes over it is the dedup and compression
// ratio).
type ObjectsStatus struct {
	Accounts   int64 `json:"accounts"`
	Containers int64 `json:"containers"`
	Objects    int64 `json:"objects"`
	PlainBytes int64 `json:"plain_bytes"`
}

// TrafficStatus counts the object service's work since the node started.
type TrafficStatus struct {
	BytesIn          int64 `json:"bytes_in"`
	BytesOut         int64 `json:"bytes_out"`
	ObjectsPut       int64 `json:"objects_put"`
	ObjectsDeleted   int64 `json:"objects_deleted"`
	PutsAborted      int64 `json:"puts_aborted"`
	ChunkRefsWritten int64 `json:"chunk_refs_written"`
}

// GCStatus is a GCResult with its durations in seconds.
type GCStatus struct {
	StartedAt        time.Time `json:"started_at"`
	DurationSeconds  float64   `json:"duration_seconds"`
	GraceSeconds     float64   `json:"grace_seconds"`
	LiveRecipes      int       `json:"live_recipes"`
	RecipesRemoved   int       `json:"recipes_removed"`
	ChunksRemoved    int       `json:"chunks_removed"`
	StoredBytesFreed int64     `json:"stored_bytes_removed"`
	HoldingsExpired  int       `json:"holdings_expired"`
	TombstonesPurged int       `json:"tombstones_purged"`
}

// ClusterStatus is the multi-region part of a Status: this node's peer
// URL and gossip address, the members by region with their state and RTT,
// the per-region link estimates the planner uses, the fetch and
// replication counters, and chunk traffic per peer region.
type ClusterStatus struct {
	PeerURL    string         `json:"peer_url"`
	GossipAddr string         `json:"gossip_addr"`
	Members    []MemberStatus `json:"members"`
	// Regions groups the nodes (this one included) by region: a region
	// serves as long as one of its nodes is alive.
	Regions     []RegionStatus    `json:"regions"`
	Links       []LinkStatus      `json:"links"`
	Fetch       FetchStatus       `json:"fetch"`
	Replication ReplicationStatus `json:"replication"`
	// ChunksSent and ChunksReceived are by peer region.
	ChunksSent     map[string]ChunkTraffic `json:"chunks_sent"`
	ChunksReceived map[string]ChunkTraffic `json:"chunks_received"`
	// Transfers are the recent fetch jobs, newest first (at most 16).
	Transfers []TransferStatus `json:"transfers"`
	// Placing are the eager-placement copies into this region under way;
	// PlacementsQueued the ones waiting.
	Placing          []PlacementStatus `json:"placing"`
	PlacementsQueued int               `json:"placements_queued"`
	// Summaries are the chunk summaries (cluster.summary_interval); nil
	// when off.
	Summaries *SummaryStatus `json:"summaries,omitempty"`
}

// TransferStatus is one fetch job: per-source bytes over time, the plan's
// prediction and lower bound against the elapsed time, re-plans (hedges:
// always 0 until the fetcher hedges).
type TransferStatus = fetch.Transfer

// PlacementStatus is an eager-placement copy under way.
type PlacementStatus struct {
	Object    string    `json:"object"`
	StartedAt time.Time `json:"started_at"`
}

// MemberStatus is one other node of the cluster, as gossip sees it.
type MemberStatus struct {
	Name    string `json:"name"`
	Region  string `json:"region"`
	PeerURL string `json:"peer_url"`
	// State is memberlist's: alive, suspect, dead or left.
	State string `json:"state"`
	// RTTSeconds is the measured round trip (0: not measured yet).
	RTTSeconds float64 `json:"rtt_seconds"`
}

// RegionStatus is one region of the cluster: its nodes as gossip sees
// them (this node included, in its own region) and how many are alive.
type RegionStatus struct {
	Region     string       `json:"region"`
	Self       bool         `json:"self"`
	Nodes      []NodeStatus `json:"nodes"`
	AliveNodes int          `json:"alive_nodes"`
}

// NodeStatus is one node of a RegionStatus.
type NodeStatus struct {
	Name  string `json:"name"`
	State string `json:"state"`
	// Local marks this node.
	Local bool `json:"local,omitempty"`
}

// regionsOf groups this node and the members by region, sorted by region
// then node name.
func regionsOf(region, node string, members []MemberStatus) []RegionStatus {
	by := map[string]*RegionStatus{region: {Region: region, Self: true,
		Nodes: []NodeStatus{{Name: node, State: "alive", Local: true}}, AliveNodes: 1}}
	for _, m := range members {
		if m.Name == node {
			continue
		}
		r := by[m.Region]
		if r == nil {
			r = &RegionStatus{Region: m.Region}
			by[m.Region] = r
		}
		r.Nodes = append(r.Nodes, NodeStatus{Name: m.Name, State: m.State})
		if m.State == "alive" {
			r.AliveNodes++
		}
	}
	out := make([]RegionStatus, 0, len(by))
	for _, r := range by {
		slices.SortFunc(r.Nodes, func(a, b NodeStatus) int { return strings.Compare(a.Name, b.Name) })
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b RegionStatus) int { return strings.Compare(a.Region, b.Region) })
	return out
}

// LinkStatus is the planner's estimate of the link from one region to
// this one.
type LinkStatus struct {
	Region string `json:"region"`
	// BandwidthBytesPerSecond is the throughput estimate (an EWMA of the
	// observed fetches, else the prior).
	BandwidthBytesPerSecond      float64   `json:"bandwidth_bytes_per_second"`
	PriorBandwidthBytesPerSecond float64   `json:"prior_bandwidth_bytes_per_second"`
	RTTSeconds                   float64   `json:"rtt_seconds"`
	PriorRTTSeconds              float64   `json:"prior_rtt_seconds"`
	Samples                      int       `json:"samples"`
	ReceivedBytes                int64     `json:"received_bytes"`
	UpdatedAt                    time.Time `json:"updated_at"`
}

// FetchStatus counts the fetches of chunks from peers (fetch.Stats).
type FetchStatus struct {
	Fetches          int64 `json:"fetches"`
	Chunks           int64 `json:"chunks"`
	StoredBytes      int64 `json:"stored_bytes"`
	SharedChunks     int64 `json:"shared_chunks"`
	Replans          int64 `json:"replans"`
	SourceFailures   int64 `json:"source_failures"`
	SlowSources      int64 `json:"slow_sources"`
	NoHolderChunks   int64 `json:"no_holder_chunks"`
	CorruptFromPeers int64 `json:"corrupt_chunks_from_peers"`
	CorruptLocal     int64 `json:"corrupt_local_chunks"`
	Healed           int64 `json:"healed_chunks"`
	DuplicateChunks  int64 `json:"duplicate_chunks"`
	Plans            int64 `json:"plans"`
	// PlanSecondsTotal is the time spent planning; LastPlanSeconds the
	// latest plan's.
	PlanSecondsTotal float64 `json:"plan_seconds_total"`
	LastPlanSeconds  float64 `json:"last_plan_seconds"`
	// SpeculativeStarts counts fetches that started streaming from the
	// regions whose holdings cover the whole object before the have
	// answers (fetch.Stats.SpecStarts); SpeculativeChunks the chunks
	// asked for that way; SpeculativeStreams the source nodes asked (one
	// per region the speculative plan used).
	SpeculativeStarts  int64 `json:"speculative_starts"`
	SpeculativeChunks  int64 `json:"speculative_chunks"`
	SpeculativeStreams int64 `json:"speculative_streams"`
	// DelegatedChunks counts missing chunks this node asked of their
	// owner among its region's nodes; DelegatedReceived those the owner
	// delivered; DelegateFallbacks those this node then fetched itself;
	// ObtainedForSiblings the chunks this node obtained as their owner
	// for another node of its region (fetch.Stats).
	DelegatedChunks     int64 `json:"delegated_chunks"`
	DelegatedReceived   int64 `json:"delegated_received_chunks"`
	DelegateFallbacks   int64 `json:"delegate_fallback_chunks"`
	ObtainedForSiblings int64 `json:"obtained_for_siblings_chunks"`
	// HolderWaitChunks counts chunks that found no live holder and
	// waited for one to come back (cluster.holder_wait); RevivedSources
	// the failed only-holders asked again; LateSources the nodes added to
	// a running fetch when they came back; HedgedChunks the chunks hedges
	// moved to other holders (fetch.Stats).
	HolderWaitChunks int64 `json:"holder_wait_chunks"`
	RevivedSources   int64 `json:"revived_sources"`
	LateSources      int64 `json:"late_sources"`
	HedgedChunks     int64 `json:"hedged_chunks"`
	// HaveRequests counts the have requests sent, by the asked node's
	// region (one per read for a region whose nodes share a store, else
	// one per node); HaveFallbacks those sent to another node of such a
	// region after the node asked first failed (fetch.Stats).
	HaveRequests  map[string]int64 `json:"have_requests,omitempty"`
	HaveFallbacks int64            `json:"have_fallbacks"`
	// HedgeWastedChunks and HedgeWastedBytes count the losing copies of
	// hedged chunks that crossed all the same and were dropped (stored
	// bytes); HedgeSkippedChunks those the other holder left out of its
	// stream at this node's request (fetch.Stats).
	HedgeWastedChunks  int64 `json:"hedge_wasted_chunks"`
	HedgeWastedBytes   int64 `json:"hedge_wasted_bytes"`
	HedgeSkippedChunks int64 `json:"hedge_skipped_chunks"`
}

// ReplicationStatus counts the namespace replication (replica.Stats).
type ReplicationStatus struct {
	PushedRecords        int64     `json:"pushed_records"`
	PushFailures         int64     `json:"push_failures"`
	ReceivedRecords      int64     `json:"received_records"`
	AppliedRecords       int64     `json:"applied_records"`
	Rounds               int64     `json:"anti_entropy_rounds"`
	RoundFailures        int64     `json:"anti_entropy_round_failures"`
	PulledRecords        int64     `json:"pulled_records"`
	IgnoredOldTombstones int64     `json:"ignored_old_tombstones"`
	LastRoundAt          time.Time `json:"last_round_at"`
	LastConvergedAt      time.Time `json:"last_converged_at"`
}

// ChunkTraffic counts chunks and their stored bytes sent to or received
// from one region.
type ChunkTraffic struct {
	Chunks int64 `json:"chunks"`
	Bytes  int64 `json:"bytes"`
}

// Status returns the node's Status. Cost: as Stats (in-memory counts and
// a stat of the data dir's files) and a read of the account records and
// of each account's stats.
func (n *Node) Status(ctx context.Context) (*Status, error) {
	st, err := n.Stats(ctx)
	if err != nil {
		return nil, err
	}
	out := &Status{
		Node: n.cfg.Node, Region: n.cfg.Region, Version: version.Get(),
		SwiftListen: n.SwiftAddr(), StartedAt: n.started,
		UptimeSeconds: time.Since(n.started).Seconds(),
		Store:         StoreStatus{Chunks: st.Chunks, StoredBytes: st.StoredBytes, Recipes: st.Recipes, DiskBytes: st.DiskBytes},
		SinceStart: TrafficStatus{BytesIn: st.BytesIn, BytesOut: st.BytesOut, ObjectsPut: st.ObjectsPut,
			ObjectsDeleted: st.Deletes, PutsAborted: st.PutsAborted, ChunkRefsWritten: st.ChunkRefs},
	}
	if g := st.LastGC; !g.Start.IsZero() {
		out.LastGC = &GCStatus{StartedAt: g.Start, DurationSeconds: g.Duration.Seconds(), GraceSeconds: g.Grace.Seconds(),
			LiveRecipes: g.LiveRecipes, RecipesRemoved: g.RecipesRemoved, ChunksRemoved: g.ChunksRemoved,
			StoredBytesFreed: g.BytesRemoved, HoldingsExpired: g.HoldingsExpired, TombstonesPurged: g.TombstonesPurged}
	}
	if out.Objects, err = n.objectsStatus(ctx); err != nil {
		return nil, err
	}
	if n.cluster != nil {
		out.Cluster = n.cluster.status()
	}
	return out, nil
}

// objectsStatus sums the live accounts' stats.
func (n *Node) objectsStatus(ctx context.Context) (ObjectsStatus, error) {
	var accounts []string
	err := n.ns.Scan(ctx, namespace.KindAccount, namespace.Key{}, func(r *namespace.Record) (bool, error) {
		if r.Live() {
			accounts = append(accounts, r.Account)
		}
		return true, nil
	})
	if err != nil {
		return ObjectsStatus{}, fmt.Errorf("status: accounts: %w", err)
	}
	o := ObjectsStatus{Accounts: int64(len(accounts))}
	for _, a := range accounts {
		c, s, err := n.ns.AccountStats(ctx, a)
		if err != nil {
			return ObjectsStatus{}, fmt.Errorf("status: account %s: %w", a, err)
		}
		o.Containers += c
		o.Objects += s.Objects
		o.PlainBytes += s.Bytes
	}
	return o, nil
}

func (c *cluster) status() *ClusterStatus {
	st := &ClusterStatus{PeerURL: c.url, GossipAddr: c.ml.Addr(),
		Members: []MemberStatus{}, Links: []LinkStatus{},
		ChunksSent: map[string]ChunkTraffic{}, ChunksReceived: map[string]ChunkTraffic{}}
	for _, m := range c.ml.Members() {
		st.Members = append(st.Members, MemberStatus{Name: m.Name, Region: m.Region, PeerURL: m.PeerURL,
			State: m.State.String(), RTTSeconds: m.RTT.Seconds()})
	}
	st.Regions = regionsOf(c.region, c.node, st.Members)
	st.Summaries = c.summaryStatus()
	for _, l := range c.fetch.Links() {
		st.Links = append(st.Links, LinkStatus{Region: l.Region, BandwidthBytesPerSecond: l.Bandwidth,
			PriorBandwidthBytesPerSecond: l.Prior, RTTSeconds: l.RTT.Seconds(), PriorRTTSeconds: l.PriorRTT.Seconds(), Samples: l.Samples,
			ReceivedBytes: l.BytesIn, UpdatedAt: l.LastUpdated})
	}
	f := c.fetch.Stats()
	st.Fetch = FetchStatus{Fetches: f.Fetches, Chunks: f.Chunks, StoredBytes: f.StoredBytes, SharedChunks: f.Shared,
		Replans: f.Replans, SourceFailures: f.SourceFails, SlowSources: f.SlowSources, NoHolderChunks: f.NoHolder,
		CorruptFromPeers: f.CorruptFetch, CorruptLocal: f.CorruptLocal, Healed: f.Healed,
		DuplicateChunks: f.DuplicateChunks, Plans: f.Plans,
		PlanSecondsTotal: time.Duration(f.PlanNanos).Seconds(), LastPlanSeconds: time.Duration(f.LastPlanNanos).Seconds()}
	st.Fetch.SpeculativeStarts, st.Fetch.SpeculativeChunks = f.SpecStarts, f.SpecChunks
	st.Fetch.SpeculativeStreams = f.SpecStreams
	st.Fetch.DelegatedChunks, st.Fetch.DelegatedReceived = f.Delegated, f.DelegatedGot
	st.Fetch.DelegateFallbacks, st.Fetch.ObtainedForSiblings = f.DelegateFallbacks, f.ObtainServed
	st.Fetch.HolderWaitChunks, st.Fetch.RevivedSources = f.HolderWaits, f.Revived
	st.Fetch.LateSources, st.Fetch.HedgedChunks = f.LateSources, f.HedgedChunks
	st.Fetch.HaveRequests, st.Fetch.HaveFallbacks = f.HaveByRegion, f.HaveFallbacks
	st.Fetch.HedgeWastedChunks, st.Fetch.HedgeWastedBytes, st.Fetch.HedgeSkippedChunks = f.HedgeWasted, f.HedgeWastedBytes, f.HedgeSkipped
	r := c.rep.Stats()
	st.Replication = ReplicationStatus{PushedRecords: r.Pushed, PushFailures: r.PushFailures,
		ReceivedRecords: r.Received, AppliedRecords: r.Applied, Rounds: r.Rounds, RoundFailures: r.RoundFailures,
		PulledRecords: r.Pulled, IgnoredOldTombstones: r.IgnoredOldTombstones,
		LastRoundAt: r.LastRound, LastConvergedAt: r.LastConverg}
	for region, lc := range c.server.SentStats() {
		st.ChunksSent[region] = ChunkTraffic{Chunks: lc.Chunks, Bytes: lc.Bytes}
	}
	for region, lc := range c.client.ReceivedStats() {
		st.ChunksReceived[region] = ChunkTraffic{Chunks: lc.Chunks, Bytes: lc.Bytes}
	}
	st.Transfers = c.fetch.Transfers()
	st.Placing = []PlacementStatus{}
	c.placingMu.Lock()
	for o, t := range c.placing {
		st.Placing = append(st.Placing, PlacementStatus{Object: o, StartedAt: t})
	}
	c.placingMu.Unlock()
	slices.SortFunc(st.Placing, func(a, b PlacementStatus) int { return a.StartedAt.Compare(b.StartedAt) })
	st.PlacementsQueued = len(c.places)
	return st
}

// OpsURL is the base URL ("http://127.0.0.1:8081") at which the operator
// commands reach the ops listener of the node that cfg describes: an
// unspecified host (":8081", "0.0.0.0:8081") is reached over loopback.
// It fails when ops_listen is off.
func OpsURL(cfg Config) (string, error) {
	if cfg.OpsListen == "" {
		return "", errors.New("ops_listen is off in this configuration: set it (e.g. 127.0.0.1:8081), or give the node's ops address (--addr)")
	}
	host, port, err := net.SplitHostPort(cfg.OpsListen)
	if err != nil {
		return "", fmt.Errorf("ops_listen: %w", err)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port), nil
}

// QueryStatus asks the node whose ops listener is at base (OpsURL) for its
// Status (GET /status): `nitro status`.
func QueryStatus(ctx context.Context, base string) (*Status, error) {
	var st Status
	if err := opsGet(ctx, base+"/status", &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// opsGet GETs url from an ops listener and decodes its JSON answer into v;
// a non-200 answer is an error with the answer's first line.
func opsGet(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("asking the node (is it running, with this ops_listen?): %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}
