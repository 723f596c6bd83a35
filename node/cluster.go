package node

// This file wires the multi-region parts (membership, the peer protocol,
// replication and the planned fetch) into a node. A node whose
// cluster.peer_listen is empty is a single region and has no cluster.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore"
	"github.com/nitro-cloud/nitro/membership"
	"github.com/nitro-cloud/nitro/node/internal/fetch"
	"github.com/nitro-cloud/nitro/node/internal/lazy"
	"github.com/nitro-cloud/nitro/node/internal/namespace"
	"github.com/nitro-cloud/nitro/node/internal/objects"
	"github.com/nitro-cloud/nitro/node/internal/peer"
	"github.com/nitro-cloud/nitro/node/internal/replica"
	"github.com/nitro-cloud/nitro/node/internal/summary"
	"github.com/nitro-cloud/nitro/planner"
	"go.uber.org/zap"
)

// ClusterConfig configures the multi-region parts; all empty means a
// single-region node.
type ClusterConfig struct {
	// PeerListen is the region-to-region listener's TCP address; "" means
	// a single-region node (every other field must then be empty).
	PeerListen string `yaml:"peer_listen"`
	// PeerURL is the peer listener's URL other regions use; "" means
	// http://<the bound peer_listen address>.
	PeerURL string `yaml:"peer_url"`
	// GossipListen is memberlist's address (TCP and UDP); port 0 picks a
	// free one. "" means the peer_listen host, port 7946.
	GossipListen string `yaml:"gossip_listen"`
	// GossipAdvertise is the gossip address others dial; "" means
	// GossipListen's.
	GossipAdvertise string `yaml:"gossip_advertise"`
	// Peers are gossip addresses (host:port) of other nodes to join.
	Peers []string `yaml:"peers"`
	// Secret authenticates every peer request (HMAC) and keys the gossip
	// encryption; at least 16 bytes, the same in every region.
	Secret string `yaml:"secret"`
	// PushTimeout bounds the synchronous push of a write to the peers.
	PushTimeout time.Duration `yaml:"push_timeout"`
	// AntiEntropyInterval is the period of namespace anti-entropy.
	AntiEntropyInterval time.Duration `yaml:"anti_entropy_interval"`
	// ProbeInterval overrides memberlist's WAN probe interval (5 s); 0
	// keeps it. Short values are for tests.
	ProbeInterval time.Duration `yaml:"probe_interval"`
	// Strategy is the fetch planner's strategy (planner.ParseStrategy);
	// "" means optimal.
	Strategy string `yaml:"strategy"`
	// Links are the prior link estimates from each region to this one.
	Links map[string]LinkConfig `yaml:"links"`
	// DefaultBandwidthMbit is the prior for regions not in Links, Mbit/s.
	DefaultBandwidthMbit float64 `yaml:"default_bandwidth_mbit"`
	// SlowGrace and SlowFactor: a chunk stream slower than predicted /
	// SlowFactor after SlowGrace is re-planned (0: 2 s and 3).
	SlowGrace  time.Duration `yaml:"slow_grace"`
	SlowFactor float64       `yaml:"slow_factor"`
	// HedgeAfter is the least slack past a chunk's expected arrival after
	// which a stream counts as stalled and its chunks are asked of other
	// holders at once (fetch.Config.HedgeAfter; 0: 300 ms; < 0: off).
	HedgeAfter time.Duration `yaml:"hedge_after"`
	// HolderWait is how long a read waits for a holder of a chunk to
	// come back when membership reports all of them dead, or all their
	// streams failed (fetch.Config.HolderWait; 0: 5 s; < 0: no wait).
	// A read none of whose holders comes back gets 503 before its first
	// byte.
	HolderWait time.Duration `yaml:"holder_wait"`
	// Placement names regions to which every new object is copied in the
	// background right after its PUT (eager placement), unless its
	// container's X-Container-Meta-Nitro-Placement (comma-separated
	// regions; "none" for none) says otherwise.
	Placement []string `yaml:"placement"`
	// EmulateLinkMbit paces the chunk streams this node sends to each
	// region, in Mbit/s, to emulate WAN links in tests and demos; empty
	// means unpaced.
	EmulateLinkMbit map[string]float64 `yaml:"emulate_link_mbit"`
	// ReadaheadBytes is how far ahead of a sequential Range reader of an
	// object this region lacks the chunks are fetched (plain bytes); 0
	// means 4 MiB, -1 turns readahead off (node/internal/lazy: the window
	// starts at 256 KiB and doubles up to this as a scan goes on).
	ReadaheadBytes int64 `yaml:"readahead_bytes"`
	// BootProfileChunks bounds a boot profile (the chunks the first Range
	// reads of an object touched, replicated and prefetched first by a
	// region that starts reading it); 0 means 8192, -1 turns boot
	// profiles off.
	BootProfileChunks int `yaml:"boot_profile_chunks"`
	// BootProfileIdle: a boot profile being recorded is stored after this
	// long without a new chunk; 0 means 5s.
	BootProfileIdle time.Duration `yaml:"boot_profile_idle"`
	// TLSCertFile and TLSKeyFile are PEM files of this node's peer
	// certificate (chain) and key: set both to serve the peer listener
	// over TLS (peer_url then defaults to https://). The same certificate
	// is this node's client certificate towards peers that require one;
	// it then needs both the serverAuth and clientAuth extended key uses.
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
	// TLSCAFile is a PEM file of the CA(s) that sign the peers'
	// certificates; "" means the system roots.
	TLSCAFile string `yaml:"tls_ca_file"`
	// TLSClientAuth makes the peer listener require a client certificate
	// signed by TLSCAFile (mutual TLS).
	TLSClientAuth bool `yaml:"tls_client_auth"`
	// StreamsPerLink is how many connections one chunk stream from a
	// region is striped over (fetch.Config.StreamsPerLink): several TCP
	// windows ramp up in fewer round trips on a high bandwidth-delay link.
	// 0 or 1: one connection (off, the default); -1: automatic (2 or 4
	// where that saves at least 100 ms of slow start, else 1); at most
	// fetch.MaxStreamsPerLink.
	StreamsPerLink int `yaml:"streams_per_link"`
	// SummaryInterval is how often this node fetches each peer store's
	// chunk summary again (node/internal/summary: a Bloom filter of the
	// chunks it holds, ~1 % false positives), 0 means 30 s; negative
	// turns summaries off (none built, served or fetched). A read with no
	// cached have answers starts streams at once from every region whose
	// summary may hold its chunks, partial holders included, in parallel
	// with the have requests that correct the plan.
	SummaryInterval time.Duration `yaml:"summary_interval"`
}

func (c *ClusterConfig) tlsFiles() tlsFiles { return tlsFiles{c.TLSCertFile, c.TLSKeyFile} }

// scheme is the peer URL scheme this node serves.
func (c *ClusterConfig) scheme() string {
	if c.tlsFiles().enabled() {
		return "https://"
	}
	return "http://"
}

// LinkConfig is a prior estimate of one link.
type LinkConfig struct {
	BandwidthMbit float64 `yaml:"bandwidth_mbit"`
	RTTms         float64 `yaml:"rtt_ms"`
	CostPerGB     float64 `yaml:"cost_per_gb"`
}

// enabled reports whether the node is part of a multi-region cluster.
func (c *ClusterConfig) enabled() bool { return c.PeerListen != "" }

func (c *ClusterConfig) validate(add func(field, format string, args ...any)) {
	if !c.enabled() {
		if len(c.Peers) > 0 || c.Secret != "" || c.GossipListen != "" || c.tlsFiles().enabled() || c.TLSCAFile != "" || c.TLSClientAuth {
			add("cluster.peer_listen", "is required for a multi-region node (peers, secret, gossip_listen or tls_* are set)")
		}
		return
	}
	if len(c.Secret) < 16 {
		add("cluster.secret", "must have at least 16 bytes")
	}
	if _, _, err := net.SplitHostPort(c.PeerListen); err != nil {
		add("cluster.peer_listen", "%q: %v", c.PeerListen, err)
	}
	validateTLS(add, "cluster", c.tlsFiles())
	if c.TLSClientAuth && (c.TLSCAFile == "" || !c.tlsFiles().enabled()) {
		add("cluster.tls_client_auth", "%v", errClientAuthNeedsCA)
	}
	if c.PeerURL != "" && c.tlsFiles().enabled() && !strings.HasPrefix(c.PeerURL, "https://") {
		add("cluster.peer_url", "%q must be https:// when the peer listener serves TLS", c.PeerURL)
	}
	if c.GossipListen != "" {
		if _, _, err := net.SplitHostPort(c.GossipListen); err != nil {
			add("cluster.gossip_listen", "%q: %v", c.GossipListen, err)
		}
	}
	if c.Strategy != "" {
		if _, err := planner.ParseStrategy(c.Strategy); err != nil {
			add("cluster.strategy", "%v", err)
		}
	}
	if c.PushTimeout < 0 || c.AntiEntropyInterval < 0 || c.ProbeInterval < 0 || c.SlowGrace < 0 || c.BootProfileIdle < 0 {
		add("cluster", "durations must not be negative")
	}
	if c.StreamsPerLink < -1 || c.StreamsPerLink > fetch.MaxStreamsPerLink {
		add("cluster.streams_per_link", "%d: want -1 (automatic) or 0 to %d", c.StreamsPerLink, fetch.MaxStreamsPerLink)
	}
	for r, l := range c.Links {
		if l.BandwidthMbit < 0 || l.RTTms < 0 || l.CostPerGB < 0 {
			add("cluster.links."+r, "values must not be negative")
		}
	}
}

func mbit(x float64) float64 { return x * 1e6 / 8 } // Mbit/s → bytes/s

// cluster is a node's multi-region machinery.
type cluster struct {
	cfg    ClusterConfig
	region string
	node   string // this node's name (unique in the cluster)
	log    *zap.Logger
	ml     *membership.Membership
	client *peer.Client
	server *peer.Server
	fetch  *fetch.Fetcher
	lazy   *lazy.Reader
	rep    *replica.Replicator
	ns     *namespace.Namespace
	store  *chunkstore.Store
	ln     net.Listener
	srv    *http.Server
	url    string

	// summary is this node's chunk summary and summaries the peers'
	// (cluster.summary_interval); both nil when off.
	summary   *summary.Local
	summaries *summary.Replicas
	storeID   string // storeIdentity of this node's store ("": its own)

	// places bounds the background copies this node runs for eager
	// placement (placeWorkers at a time, placeQueue waiting).
	places chan string
	// pushes bounds the placement requests this node sends.
	pushes chan struct{}
	// placing is the copies placeLoop runs now: object → start.
	placingMu sync.Mutex
	placing   map[string]time.Time

	// life ends when the cluster stops; bg counts the holding writes the
	// fetcher started (onComplete), which stopBackground waits for.
	life     context.Context
	endLife  context.CancelFunc
	bgMu     sync.Mutex
	bgClosed bool
	bg       sync.WaitGroup

	// block, when set by tests, partitions this node from regions.
	blockMu sync.Mutex
	block   func(region string) bool
}

// newCluster builds the cluster of a node; nil (and no error) for a
// single-region node. It binds the peer and gossip listeners. onTransfer
// gets every finished fetch job (fetch.Config.OnTransfer).
func newCluster(cfg Config, store *chunkstore.Store, ns *namespace.Namespace, log *zap.Logger, onTransfer func(fetch.Transfer)) (_ *cluster, err error) {
	cc := cfg.Cluster
	if !cc.enabled() {
		return nil, nil
	}
	c := &cluster{cfg: cc, region: cfg.Region, node: cfg.Node, log: log.Named("cluster"), ns: ns, store: store,
		places: make(chan string, placeQueue), pushes: make(chan struct{}, placeQueue), placing: map[string]time.Time{}}
	c.life, c.endLife = context.WithCancel(context.Background())
	c.storeID = storeIdentity(cfg)
	defer func() {
		if err != nil {
			c.close()
		}
	}()
	var srvTLS *tls.Config
	if cc.tlsFiles().enabled() {
		ca := ""
		if cc.TLSClientAuth {
			ca = cc.TLSCAFile
		}
		if srvTLS, err = serverTLS("cluster", cc.tlsFiles(), ca); err != nil {
			return nil, err
		}
	}
	cliTLS, err := peerClientTLS(&cc)
	if err != nil {
		return nil, err
	}
	c.ln, err = net.Listen("tcp", cc.PeerListen)
	if err != nil {
		return nil, fmt.Errorf("node: cluster.peer_listen: %w", err)
	}
	c.url = cc.PeerURL
	if c.url == "" {
		c.url = cc.scheme() + c.ln.Addr().String()
	}
	if srvTLS != nil {
		c.ln = tls.NewListener(c.ln, srvTLS)
	}
	secret := []byte(cc.Secret)
	c.client, err = peer.NewClient(peer.ClientConfig{Secret: secret, Region: cfg.Region, Node: cfg.Node, TLS: cliTLS})
	if err != nil {
		return nil, err
	}
	strategy, _ := planner.ParseStrategy(cc.Strategy) // validated; "" is Optimal
	if cc.Strategy == "" {
		strategy = planner.Strategy{}
	}
	priors := map[string]fetch.Link{}
	for r, l := range cc.Links {
		priors[r] = fetch.Link{Bandwidth: mbit(l.BandwidthMbit), RTT: time.Duration(l.RTTms * float64(time.Millisecond)),
			CostPerByte: l.CostPerGB / 1e9}
	}
	var sumOf func(fetch.Peer) fetch.Summary
	if cc.SummaryInterval >= 0 {
		c.summary = summary.NewLocal(nil)
		store.OnStored(c.summary.Add)
		c.summaries = summary.NewReplicas(c.fetchSummary, cc.SummaryInterval, nil, log)
		sumOf = c.peerSummary
	}
	c.fetch, err = fetch.New(fetch.Config{Region: cfg.Region, Node: cfg.Node, Priors: priors, DefaultBandwidth: mbit(cc.DefaultBandwidthMbit),
		Strategy: strategy, Grace: cc.SlowGrace, SlowFactor: cc.SlowFactor, HedgeAfter: cc.HedgeAfter, HolderWait: cc.HolderWait, OnComplete: c.onComplete, OnTransfer: onTransfer,
		Holders: ns.Holders, SharedStore: cfg.Store.Backend == BackendSwift, StreamsPerLink: cc.StreamsPerLink, Summary: sumOf},
		store, c.fetchPeers, c.client, log)
	if err != nil {
		return nil, err
	}
	c.rep, err = replica.New(replica.Config{Region: cfg.Region, Timeout: cc.PushTimeout, Interval: cc.AntiEntropyInterval,
		ReclaimAge: cfg.GC.ReclaimAge}, ns, store, c.replicaPeers, c.client, log)
	if err != nil {
		return nil, err
	}
	c.lazy = lazy.New(lazy.Config{ReadaheadBytes: cc.ReadaheadBytes, ProfileChunks: cc.BootProfileChunks,
		ProfileIdle: cc.BootProfileIdle, Replicate: c.rep.Replicate}, c.fetch, ns, log)
	var served peer.SummarySource // nil interface when off
	if c.summary != nil {
		served = c.summary
	}
	c.server, err = peer.NewServer(peer.ServerConfig{Secret: secret, Region: cfg.Region, RateLimit: c.rateLimit, Block: c.blocked,
		Obtain: c.fetch, Summary: served},
		store, c.rep, c, log)
	if err != nil {
		return nil, err
	}
	c.srv = &http.Server{Handler: c.server, ReadHeaderTimeout: 10 * time.Second, ErrorLog: zap.NewStdLog(log.Named("peer-http")),
		ConnContext: peer.ConnContext} // TCP_NOTSENT_LOWAT: skips reach unwritten chunks

	gl := cc.GossipListen
	if gl == "" {
		host, _, _ := net.SplitHostPort(cc.PeerListen)
		gl = net.JoinHostPort(host, "7946")
	}
	ghost, gport, err := splitPort(gl)
	if err != nil {
		return nil, fmt.Errorf("node: cluster.gossip_listen: %w", err)
	}
	mc := membership.Config{NodeName: cfg.Node, Region: cfg.Region, PeerURL: c.url, BindAddr: ghost, BindPort: gport,
		Join: cc.Peers, Secret: secret, ProbeInterval: cc.ProbeInterval, Store: storeIdentity(cfg)}
	if cc.ProbeInterval > 0 && cc.ProbeInterval < time.Second {
		// Test timings: everything faster than the WAN preset.
		mc.ProbeTimeout = cc.ProbeInterval * 4 / 5
		mc.GossipInterval = cc.ProbeInterval / 2
		mc.PushPullInterval = 5 * cc.ProbeInterval
		mc.SuspicionMult = 2
		mc.RejoinInterval = 2 * cc.ProbeInterval
	}
	if cc.GossipAdvertise != "" {
		if mc.AdvertiseAddr, mc.AdvertisePort, err = splitPort(cc.GossipAdvertise); err != nil {
			return nil, fmt.Errorf("node: cluster.gossip_advertise: %w", err)
		}
	}
	c.ml, err = membership.New(mc, log)
	if err != nil {
		return nil, err
	}
	c.ml.OnEvent(func(ev membership.Event) {
		if ev.Type == membership.EventJoin && !ev.Member.Local {
			c.rep.Trigger() // catch up with a region that (re)appeared
			c.warm(ev.Member.Region, ev.Member.PeerURL)
		}
	})
	for _, m := range c.ml.Peers() { // joined before OnEvent
		c.warm(m.Region, m.PeerURL)
	}
	c.log.Info("cluster ready", zap.String("peer_url", c.url), zap.String("gossip", c.ml.Addr()))
	return c, nil
}

func splitPort(hp string) (string, int, error) {
	h, p, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, err
	}
	var port int
	if _, err := fmt.Sscanf(p, "%d", &port); err != nil {
		return "", 0, fmt.Errorf("port %q", p)
	}
	return h, port, nil
}

// regionUnsynced returns why this node's namespace may lack records its
// region's other nodes acknowledged ("" if it has them all): a node of
// the region that membership knows is not alive, or an anti-entropy
// round, run now with every live peer, failed. A nil cluster (one node,
// no peers) is synced.
func (c *cluster) regionUnsynced(ctx context.Context) string {
	if c == nil {
		return ""
	}
	for _, m := range c.ml.Members() {
		if m.Region == c.region && !m.State.Live() {
			return fmt.Sprintf("node %s of region %s is %s", m.Name, m.Region, m.State)
		}
	}
	if err := c.rep.Round(ctx); err != nil {
		return fmt.Sprintf("anti-entropy round: %v", err)
	}
	return ""
}

func (c *cluster) fetchPeers() []fetch.Peer {
	var out []fetch.Peer
	for _, m := range c.ml.Peers() {
		out = append(out, fetch.Peer{Region: m.Region, Node: m.Name, URL: m.PeerURL, RTT: m.RTT, Store: m.Store})
	}
	return out
}

func (c *cluster) replicaPeers() []replica.Peer {
	var out []replica.Peer
	for _, m := range c.ml.Peers() {
		out = append(out, replica.Peer{Region: m.Region, Name: m.Name, URL: m.PeerURL})
	}
	return out
}

func (c *cluster) rateLimit(to string) float64 { return mbit(c.cfg.EmulateLinkMbit[to]) }

func (c *cluster) blocked(from string) bool {
	c.blockMu.Lock()
	defer c.blockMu.Unlock()
	return c.block != nil && c.block(from)
}

// replicator and remoteReader return the object service's hooks; nil
// interfaces for a single-region node.
func (c *cluster) replicator() objects.Replicator {
	if c == nil {
		return nil
	}
	return placingReplicator{c}
}

func (c *cluster) remoteReader() objects.RemoteReader {
	if c == nil {
		return nil
	}
	return c.lazy
}

// run serves the peer listener, gossips and runs anti-entropy until ctx is
// done.
func (c *cluster) run(ctx context.Context, shutdownTimeout time.Duration) error {
	var wg sync.WaitGroup
	errc := make(chan error, 1)
	wg.Go(func() {
		if err := c.srv.Serve(c.ln); !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("node: peer server: %w", err)
		}
	})
	wg.Go(func() { c.ml.Run(ctx) })
	wg.Go(func() { c.rep.Run(ctx) })
	if c.summary != nil {
		wg.Go(func() { c.summaryLoop(ctx) })
		wg.Go(func() { c.summaries.Run(ctx, c.summaryTargets) })
	}
	for range placeWorkers {
		wg.Go(func() { c.placeLoop(ctx) })
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if serr := c.srv.Shutdown(sctx); serr != nil {
		c.srv.Close()
	}
	wg.Wait()
	c.stopBackground()
	return err
}

// kill stops the peer listener and gossip at once, as a crash would (tests).
func (c *cluster) kill() {
	c.srv.Close()
	c.ml.Kill()
}

func (c *cluster) close() {
	c.stopBackground()
	if c.ln != nil {
		c.ln.Close()
	}
	if c.ml != nil {
		c.ml.Close()
	}
}

// Status implements peer.Operator: the cluster part of `nitro status`
// (ClusterStatus, status.go).
func (c *cluster) Status(ctx context.Context) (any, error) { return c.status(), nil }

// PlanReport is `nitro plan`: how this region would read an object now.
type PlanReport = fetch.Report

// Plan implements peer.Operator: object is "account/container/object".
func (c *cluster) Plan(ctx context.Context, object string) (any, error) {
	parts := strings.SplitN(object, "/", 3)
	if len(parts) != 3 {
		return nil, fmt.Errorf("object %q: want ACCOUNT/CONTAINER/OBJECT", object)
	}
	rec, err := c.ns.GetLive(ctx, namespace.ObjectKey(parts[0], parts[1], parts[2]))
	if errors.Is(err, namespace.ErrNotFound) {
		return nil, fmt.Errorf("%w: object %s", peer.ErrNotFound, object)
	}
	if errors.Is(err, namespace.ErrInvalidName) {
		return nil, fmt.Errorf("%w: %w", peer.ErrInvalid, err)
	}
	if err != nil {
		return nil, err
	}
	if rec.Recipe.IsZero() {
		return nil, fmt.Errorf("%w: object %q has no content of its own (a manifest?)", peer.ErrInvalid, object)
	}
	rc, err := c.store.Recipe(ctx, rec.Recipe)
	if err != nil {
		return nil, err
	}
	return c.fetch.Explain(ctx, rc, 0, len(rc.Refs))
}

// peerClient is the client the operator commands use to ask a running node
// over its peer listener.
func peerClient(cfg Config) (*peer.Client, string, error) {
	if !cfg.Cluster.enabled() {
		return nil, "", errors.New("this node has no cluster configured (cluster.peer_listen)")
	}
	url := cfg.Cluster.PeerURL
	if url == "" {
		url = cfg.Cluster.scheme() + cfg.Cluster.PeerListen
	}
	cliTLS, err := peerClientTLS(&cfg.Cluster)
	if err != nil {
		return nil, "", err
	}
	cl, err := peer.NewClient(peer.ClientConfig{Secret: []byte(cfg.Cluster.Secret), Region: cfg.Region, Node: "nitro-cli", TLS: cliTLS})
	return cl, url, err
}

// QueryPlan asks the node that cfg describes for the plan by which it would
// read object "account/container/object" now (`nitro plan`).
func QueryPlan(ctx context.Context, cfg Config, object string) (*PlanReport, error) {
	cl, url, err := peerClient(cfg)
	if err != nil {
		return nil, err
	}
	var rep PlanReport
	if err := cl.Plan(ctx, url, object, &rep); err != nil {
		return nil, err
	}
	return &rep, nil
}
