package node

// Prometheus metrics of a node (GET /metrics on the ops listener), with
// prometheus/client_golang on a registry of the node's own (no global
// state: two nodes in one process, as in the tests, keep theirs apart).
// The names are listed in METRICS.md.
//
// Nothing here walks the chunk keys at scrape time: the store's counts are
// incremental (chunkstore.Store.Stats), the namespace's totals are the
// per-account stats records (one read per account), the disk usage is a
// stat of the data dir's few files, and the cluster's numbers are in
// memory.

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore"
	"github.com/nitro-cloud/nitro/internal/version"
	"github.com/nitro-cloud/nitro/node/internal/fetch"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are a node's collectors.
type metrics struct {
	reg *prometheus.Registry

	requests *prometheus.CounterVec   // method, code class
	latency  *prometheus.HistogramVec // method, code class

	gcRuns     *prometheus.CounterVec // result
	gcDuration prometheus.Histogram
	gcChunks   prometheus.Counter
	gcBytes    prometheus.Counter
	// Region GC (store.backend: swift; regiongc.go).
	regionGCRuns    *prometheus.CounterVec // result
	regionGCObjects *prometheus.CounterVec // kind, action
	regionGCBytes   *prometheus.CounterVec // action

	fetchDuration *prometheus.HistogramVec // outcome
	fetchRatio    prometheus.Histogram

	lastGC atomic.Int64 // Unix seconds of the last successful GC's start

	// all is every collector registered on reg (for names).
	all []prometheus.Collector
}

// scrapeTimeout bounds the namespace reads of one scrape.
const scrapeTimeout = 10 * time.Second

// newMetrics builds n's registry. It must run after n.store, n.ns and
// n.svc exist; the cluster collector reads n.cluster at scrape time.
func newMetrics(n *Node) *metrics {
	reg := prometheus.NewRegistry()
	m := &metrics{reg: reg}
	f := promauto{m}
	m.requests = f.counterVec("nitro_http_requests_total",
		"Swift API requests by method and status class (2xx, 3xx, 4xx, 5xx).", "method", "code")
	m.latency = f.histogramVec("nitro_http_request_duration_seconds",
		"Swift API request durations (to the end of the response body) by method and status class.",
		[]float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}, "method", "code")
	m.gcRuns = f.counterVec("nitro_gc_runs_total", "Garbage collections by result (ok, error).", "result")
	m.gcDuration = f.histogram("nitro_gc_duration_seconds", "Durations of the garbage collections.",
		prometheus.ExponentialBuckets(0.01, 4, 10))
	m.gcChunks = f.counter("nitro_gc_chunks_removed_total", "Chunks removed by garbage collection.")
	m.gcBytes = f.counter("nitro_gc_stored_bytes_removed_total", "Stored bytes of the chunks removed by garbage collection.")
	m.regionGCRuns = f.counterVec("nitro_region_gc_runs_total",
		"Region GC attempts of this node (store.backend: swift) by result (ok, lease_held, error).", "result")
	m.regionGCObjects = f.counterVec("nitro_region_gc_objects_total",
		"Objects of the region's cluster this node's region GC moved or deleted, by kind (chunk, recipe) and action (fossilized, resurrected, deleted).", "kind", "action")
	m.regionGCBytes = f.counterVec("nitro_region_gc_stored_bytes_total",
		"Stored bytes of the chunks this node's region GC moved to fossils or deleted, by action (fossilized, deleted).", "action")
	m.fetchDuration = f.histogramVec("nitro_fetch_duration_seconds",
		"Durations of the fetch jobs (planned reads of chunks from peer regions) by outcome (ok, failed).",
		prometheus.ExponentialBuckets(0.01, 2, 16), "outcome")
	m.fetchRatio = f.histogram("nitro_fetch_duration_over_prediction_ratio",
		"Each successful fetch job's duration over its first plan's predicted makespan (1: as predicted).",
		[]float64{0.25, 0.5, 0.75, 0.9, 1, 1.1, 1.25, 1.5, 2, 3, 5, 10})

	f.register(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	v := version.Get()
	f.gaugeFunc("nitro_build_info", "Always 1; the labels are the running build.",
		prometheus.Labels{"version": v.Version, "revision": v.Revision}, func() float64 { return 1 })

	svc := n.svc.Metrics()
	counters := []struct {
		name, help string
		fn         func() int64
	}{
		{"nitro_object_bytes_in_total", "Object body bytes stored by committed PUTs.", svc.BytesIn.Load},
		{"nitro_object_bytes_out_total", "Object bytes returned by GETs.", svc.BytesOut.Load},
		{"nitro_objects_put_total", "Object PUTs committed.", svc.ObjectsPut.Load},
		{"nitro_objects_deleted_total", "Object DELETEs committed.", svc.Deletes.Load},
		{"nitro_object_puts_aborted_total", "Object PUTs that committed nothing (body error, ETag mismatch).", svc.PutsAborted.Load},
		{"nitro_chunk_refs_written_total", "Chunk references of committed PUTs (new and deduplicated chunks).", svc.ChunkRefs.Load},
		{"nitro_replication_errors_total", "Synchronous replications of a write that failed.", svc.ReplErrors.Load},
	}
	for _, c := range counters {
		f.counterFunc(c.name, c.help, func() float64 { return float64(c.fn()) })
	}
	store := func(pick func(s storeCounts) int64) func() float64 {
		return func() float64 {
			st, _ := n.store.Stats(context.Background()) // in-memory counts; no error without a ctx error
			return float64(pick(storeCounts{st.Chunks, st.StoredBytes, st.Recipes}))
		}
	}
	f.gaugeFunc("nitro_store_chunks", "Chunks in the store.", nil, store(func(s storeCounts) int64 { return s.chunks }))
	f.gaugeFunc("nitro_store_stored_bytes", "Stored (compressed) bytes of the chunks in the store.", nil,
		store(func(s storeCounts) int64 { return s.stored }))
	f.gaugeFunc("nitro_store_recipes", "Recipes in the store.", nil, store(func(s storeCounts) int64 { return s.recipes }))
	f.gaugeFunc("nitro_store_disk_bytes", "Disk space used by the data directory's files (allocated blocks, as du counts them).", nil,
		func() float64 { return float64(n.store.DiskUsage()) })
	f.gaugeFunc("nitro_gc_last_success_timestamp_seconds", "Unix time of the start of the last successful GC (0: none since start).", nil,
		func() float64 { return float64(m.lastGC.Load()) })
	f.register(&namespaceCollector{n: n}, &clusterCollector{n: n})
	return m
}

type storeCounts struct{ chunks, stored, recipes int64 }

// promauto registers collectors on the node's registry and remembers
// them (the library's promauto package registers too, but not the list).
type promauto struct{ m *metrics }

func (p promauto) register(cs ...prometheus.Collector) {
	p.m.reg.MustRegister(cs...)
	p.m.all = append(p.m.all, cs...)
}

func (p promauto) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	p.register(c)
	return c
}

func (p promauto) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	p.register(c)
	return c
}

func (p promauto) histogram(name, help string, buckets []float64) prometheus.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets})
	p.register(h)
	return h
}

func (p promauto) histogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	p.register(h)
	return h
}

func (p promauto) counterFunc(name, help string, fn func() float64) {
	p.register(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, fn))
}

func (p promauto) gaugeFunc(name, help string, labels prometheus.Labels, fn func() float64) {
	p.register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels}, fn))
}

// names returns the name of every metric family the registry can
// report, whether or not it has a series yet (a label set seen, a
// cluster), histograms without their _bucket, _sum and _count suffixes.
func (m *metrics) names() map[string]bool {
	ch := make(chan *prometheus.Desc)
	go func() {
		for _, c := range m.all {
			c.Describe(ch)
		}
		close(ch)
	}()
	out := map[string]bool{}
	for d := range ch {
		if s := fqName.FindStringSubmatch(d.String()); s != nil {
			out[s[1]] = true
		}
	}
	return out
}

// fqName finds the name in a Desc's String (the client has no accessor).
var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

// handler serves the registry in the Prometheus exposition formats.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, MaxRequestsInFlight: 4})
}

// wrap counts and times every request h serves. The duration runs to the
// end of the handler (for a GET, the end of the body); a handler that
// panics without writing counts as 499 (the client went away: net/http
// aborts the response).
func (m *metrics) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			meth := r.Method
			if !slices.Contains(knownMethods, meth) {
				meth = "OTHER"
			}
			code := sw.code
			if code == 0 {
				code = http.StatusOK
			}
			if p := recover(); p != nil {
				if code == http.StatusOK && !sw.wrote {
					code = 499
				}
				m.request(meth, code, time.Since(start))
				panic(p)
			}
			m.request(meth, code, time.Since(start))
		}()
		h.ServeHTTP(sw, r)
	})
}

// request records one Swift API request.
func (m *metrics) request(method string, code int, d time.Duration) {
	class := strconv.Itoa(code/100) + "xx"
	if code < 100 || code > 599 {
		class = "other"
	}
	m.requests.WithLabelValues(method, class).Inc()
	m.latency.WithLabelValues(method, class).Observe(d.Seconds())
}

// gc records one garbage collection; one refused for its grace
// (chunkstore.ErrGrace: a bad request) did not run and is not counted.
func (m *metrics) gc(res GCResult, err error) {
	if errors.Is(err, chunkstore.ErrGrace) {
		return
	}
	d := res.Duration
	if d == 0 {
		d = time.Since(res.Start)
	}
	m.gcDuration.Observe(d.Seconds())
	if err != nil {
		m.gcRuns.WithLabelValues("error").Inc()
	} else {
		m.gcRuns.WithLabelValues("ok").Inc()
		m.lastGC.Store(res.Start.Unix())
	}
	m.gcChunks.Add(float64(res.ChunksRemoved))
	m.gcBytes.Add(float64(res.BytesRemoved))
	switch r := res.Region; {
	case r != nil:
		m.regionGCRuns.WithLabelValues("ok").Inc()
		for _, c := range []struct {
			kind, action string
			n            int
		}{
			{"chunk", "fossilized", r.ChunksFossilized}, {"chunk", "resurrected", r.ChunksResurrected}, {"chunk", "deleted", r.ChunkFossilsDeleted},
			{"recipe", "fossilized", r.RecipesFossilized}, {"recipe", "resurrected", r.RecipesResurrected}, {"recipe", "deleted", r.RecipeFossilsDeleted},
		} {
			m.regionGCObjects.WithLabelValues(c.kind, c.action).Add(float64(c.n))
		}
		m.regionGCBytes.WithLabelValues("fossilized").Add(float64(r.ChunkBytesFossilized))
		m.regionGCBytes.WithLabelValues("deleted").Add(float64(r.ChunkBytesDeleted))
	case res.RegionLeaseHeldBy != "":
		m.regionGCRuns.WithLabelValues("lease_held").Inc()
	case errors.Is(err, errRegionGC):
		m.regionGCRuns.WithLabelValues("error").Inc()
	}
}

// transfer records a finished fetch job (fetch.Config.OnTransfer).
func (m *metrics) transfer(t fetch.Transfer) {
	outcome := "ok"
	if t.FailedChunks > 0 {
		outcome = "failed"
	}
	m.fetchDuration.WithLabelValues(outcome).Observe(t.ElapsedSeconds)
	if outcome == "ok" && t.PredictedSeconds > 0 {
		m.fetchRatio.Observe(t.ElapsedSeconds / t.PredictedSeconds)
	}
}

// namespaceCollector reports what the namespace holds: one read of the
// account records and of each account's stats per scrape.
type namespaceCollector struct{ n *Node }

var (
	descAccounts   = prometheus.NewDesc("nitro_namespace_accounts", "Live accounts.", nil, nil)
	descContainers = prometheus.NewDesc("nitro_namespace_containers", "Live containers.", nil, nil)
	descObjects    = prometheus.NewDesc("nitro_namespace_objects", "Live objects.", nil, nil)
	descLogical    = prometheus.NewDesc("nitro_namespace_logical_bytes", "Sum of the live objects' sizes (the bytes clients stored).", nil, nil)
	descRatio      = prometheus.NewDesc("nitro_store_dedup_ratio",
		"Logical bytes over stored bytes: the saving of deduplication and compression together (0: empty store).", nil, nil)
)

func (c *namespaceCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descAccounts, descContainers, descObjects, descLogical, descRatio} {
		ch <- d
	}
}

func (c *namespaceCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	o, err := c.n.objectsStatus(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descObjects, err)
		return
	}
	st, _ := c.n.store.Stats(ctx)
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	gauge(descAccounts, float64(o.Accounts))
	gauge(descContainers, float64(o.Containers))
	gauge(descObjects, float64(o.Objects))
	gauge(descLogical, float64(o.PlainBytes))
	gauge(descRatio, dedupRatio(o.PlainBytes, st.StoredBytes))
}

// dedupRatio is logical over stored bytes, 0 when nothing is stored.
func dedupRatio(logical, stored int64) float64 {
	if stored <= 0 {
		return 0
	}
	return float64(logical) / float64(stored)
}

// clusterCollector reports the multi-region machinery; nothing for a
// single-region node.
type clusterCollector struct{ n *Node }

func clusterDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	descMembers        = clusterDesc("nitro_cluster_members", "Cluster members (this node included) by state (alive, suspect, dead, left).", "state")
	descPeerSent       = clusterDesc("nitro_peer_sent_bytes_total", "Stored bytes of chunks sent to peers, by peer region.", "region")
	descPeerReceived   = clusterDesc("nitro_peer_received_bytes_total", "Stored bytes of chunks received from peers, by peer region.", "region")
	descPeerSentC      = clusterDesc("nitro_peer_sent_chunks_total", "Chunks sent to peers, by peer region.", "region")
	descPeerReceivedC  = clusterDesc("nitro_peer_received_chunks_total", "Chunks received from peers, by peer region.", "region")
	descLinkBW         = clusterDesc("nitro_link_bandwidth_bytes_per_second", "The planner's bandwidth estimate of the link from a region to this one.", "region")
	descLinkPrior      = clusterDesc("nitro_link_prior_bandwidth_bytes_per_second", "The configured prior bandwidth of the link from a region.", "region")
	descLinkRTT        = clusterDesc("nitro_link_rtt_seconds", "Round-trip time to a region (measured, else the prior).", "region")
	descLinkPriorRTT   = clusterDesc("nitro_link_prior_rtt_seconds", "The configured prior round-trip time to a region (0: none).", "region")
	descFetches        = clusterDesc("nitro_fetch_jobs_total", "Fetch jobs started (reads of missing chunks from peers).")
	descFetchChunks    = clusterDesc("nitro_fetch_chunks_total", "Chunks fetched from peers and stored.")
	descFetchBytes     = clusterDesc("nitro_fetch_stored_bytes_total", "Stored bytes of the chunks fetched from peers.")
	descPlans          = clusterDesc("nitro_fetch_plans_total", "Fetch plans made (first plans and re-plans).")
	descReplans        = clusterDesc("nitro_fetch_replans_total", "Re-plans after a failed or slow source.")
	descHedges         = clusterDesc("nitro_fetch_hedges_total", "Hedged chunk requests: chunks of stalled streams asked of another holder.")
	descDelegated      = clusterDesc("nitro_fetch_delegated_chunks_total", "Missing chunks asked of their owner among this region's nodes, by outcome (asked, received, fallback: fetched here after all).", "outcome")
	descObtained       = clusterDesc("nitro_fetch_obtained_for_siblings_chunks_total", "Chunks this node obtained, as their owner, for another node of its region.")
	descRegionAlive    = clusterDesc("nitro_cluster_region_alive_nodes", "Alive nodes of each region (this node included in its own).", "region")
	descSourceFails    = clusterDesc("nitro_fetch_source_failures_total", "Chunk streams from a source that failed.")
	descSlowSources    = clusterDesc("nitro_fetch_slow_sources_total", "Chunk streams cancelled for falling behind the plan.")
	descNoHolder       = clusterDesc("nitro_fetch_no_holder_chunks_total", "Chunks no live region held.")
	descCorrupt        = clusterDesc("nitro_fetch_corrupt_chunks_total", "Chunks that failed verification, by where (peer, local).", "where")
	descPlanSeconds    = clusterDesc("nitro_fetch_planner_seconds_total", "Time spent in the planner.")
	descReplPushed     = clusterDesc("nitro_replication_pushed_records_total", "Namespace records pushed to peers.")
	descReplPushFail   = clusterDesc("nitro_replication_push_failures_total", "Pushes of namespace records that failed.")
	descReplApplied    = clusterDesc("nitro_replication_applied_records_total", "Namespace records received from peers and applied.")
	descReplRounds     = clusterDesc("nitro_replication_anti_entropy_rounds_total", "Anti-entropy rounds run.")
	descReplRoundFails = clusterDesc("nitro_replication_anti_entropy_failures_total", "Anti-entropy rounds that failed.")
	descHaveRequests   = clusterDesc("nitro_fetch_have_requests_total", "Have requests sent, by the asked node's region (one per read for a region whose nodes share a store).", "region")
	descHaveFallbacks  = clusterDesc("nitro_fetch_have_fallbacks_total", "Have requests sent to another node of a region sharing a store after the node asked first failed.")
	descHedgeWasted    = clusterDesc("nitro_fetch_hedge_wasted_bytes_total", "Stored bytes of hedged chunks received twice: losing copies that crossed all the same and were dropped.")
	descHedgeSkipped   = clusterDesc("nitro_fetch_hedge_skipped_total", "Losing copies of hedged chunks that the other holder left out of its stream at this node's request.")
	descSummaryBytes   = clusterDesc("nitro_summary_bytes", "Encoded size of a chunk summary: this node's (store \"local\") and each peer store's held here.", "store")
	descSummaryAge     = clusterDesc("nitro_summary_age_seconds", "Time since this node's chunk summary was rebuilt (store \"local\") or a peer store's was last fetched; -1: never.", "store")
	descSummaryFetches = clusterDesc("nitro_summary_updates_total", "Changed peer chunk summaries received, by peer store and kind: \"whole\" (the whole filter) or \"delta\" (the chunk IDs added since).", "store", "kind")
	descReplLag        = clusterDesc("nitro_replication_lag_seconds",
		"Time since this node last found its namespace converged with every live peer (anti-entropy); -1: never since start.")
)

var clusterDescs = []*prometheus.Desc{descMembers, descPeerSent, descPeerReceived, descPeerSentC, descPeerReceivedC,
	descLinkBW, descLinkPrior, descLinkRTT, descLinkPriorRTT, descFetches, descFetchChunks, descFetchBytes, descPlans, descReplans,
	descHedges, descDelegated, descObtained, descRegionAlive, descSourceFails, descSlowSources, descNoHolder, descCorrupt, descPlanSeconds, descReplPushed,
	descReplPushFail, descReplApplied, descReplRounds, descReplRoundFails, descReplLag, descHaveRequests, descHaveFallbacks,
	descHedgeWasted, descHedgeSkipped, descSummaryBytes, descSummaryAge, descSummaryFetches}

func (c *clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range clusterDescs {
		ch <- d
	}
}

func (c *clusterCollector) Collect(ch chan<- prometheus.Metric) {
	if c.n.cluster == nil {
		return
	}
	st := c.n.cluster.status()
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	states := map[string]int{"alive": 0, "suspect": 0, "dead": 0, "left": 0}
	for _, m := range st.Members {
		states[m.State]++
	}
	for _, s := range slices.Sorted(maps.Keys(states)) {
		gauge(descMembers, float64(states[s]), s)
	}
	for r, t := range st.ChunksSent {
		counter(descPeerSent, float64(t.Bytes), r)
		counter(descPeerSentC, float64(t.Chunks), r)
	}
	for r, t := range st.ChunksReceived {
		counter(descPeerReceived, float64(t.Bytes), r)
		counter(descPeerReceivedC, float64(t.Chunks), r)
	}
	for _, l := range st.Links {
		gauge(descLinkBW, l.BandwidthBytesPerSecond, l.Region)
		gauge(descLinkPrior, l.PriorBandwidthBytesPerSecond, l.Region)
		gauge(descLinkRTT, l.RTTSeconds, l.Region)
		gauge(descLinkPriorRTT, l.PriorRTTSeconds, l.Region)
	}
	f := st.Fetch
	counter(descFetches, float64(f.Fetches))
	counter(descFetchChunks, float64(f.Chunks))
	counter(descFetchBytes, float64(f.StoredBytes))
	counter(descPlans, float64(f.Plans))
	counter(descReplans, float64(f.Replans))
	counter(descHedges, float64(f.HedgedChunks))
	counter(descHedgeWasted, float64(f.HedgeWastedBytes))
	counter(descHedgeSkipped, float64(f.HedgeSkippedChunks))
	counter(descDelegated, float64(f.DelegatedChunks), "asked")
	counter(descDelegated, float64(f.DelegatedReceived), "received")
	counter(descDelegated, float64(f.DelegateFallbacks), "fallback")
	counter(descObtained, float64(f.ObtainedForSiblings))
	for _, rs := range st.Regions {
		gauge(descRegionAlive, float64(rs.AliveNodes), rs.Region)
	}
	counter(descSourceFails, float64(f.SourceFailures))
	counter(descSlowSources, float64(f.SlowSources))
	counter(descNoHolder, float64(f.NoHolderChunks))
	counter(descCorrupt, float64(f.CorruptFromPeers), "peer")
	counter(descCorrupt, float64(f.CorruptLocal), "local")
	counter(descPlanSeconds, f.PlanSecondsTotal)
	for r, n := range f.HaveRequests {
		counter(descHaveRequests, float64(n), r)
	}
	counter(descHaveFallbacks, float64(f.HaveFallbacks))
	r := st.Replication
	counter(descReplPushed, float64(r.PushedRecords))
	counter(descReplPushFail, float64(r.PushFailures))
	counter(descReplApplied, float64(r.AppliedRecords))
	counter(descReplRounds, float64(r.Rounds))
	counter(descReplRoundFails, float64(r.RoundFailures))
	lag := -1.0
	if !r.LastConvergedAt.IsZero() {
		lag = time.Since(r.LastConvergedAt).Seconds()
	}
	gauge(descReplLag, lag)
	if sm := st.Summaries; sm != nil {
		age := func(t time.Time) float64 {
			if t.IsZero() {
				return -1
			}
			return time.Since(t).Seconds()
		}
		gauge(descSummaryBytes, float64(sm.Local.Bytes), "local")
		gauge(descSummaryAge, age(sm.Local.Built), "local")
		for _, p := range sm.Peers {
			gauge(descSummaryBytes, float64(p.Bytes), p.Key)
			gauge(descSummaryAge, age(p.Fetched), p.Key)
			counter(descSummaryFetches, float64(p.Wholes), p.Key, "whole")
			counter(descSummaryFetches, float64(p.Deltas), p.Key, "delta")
		}
	}
}
