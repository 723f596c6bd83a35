package membership

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
	"go.uber.org/zap"
)

// State is a member's liveness as memberlist sees it.
type State int

// States. memberlist's events say only "joined or updated" (alive) and
// "left or failed" (dead); a suspect member stays alive until declared dead.
const (
	StateAlive State = iota
	StateDead
)

func (s State) String() string {
	if s == StateAlive {
		return "alive"
	}
	return "dead"
}

// Live reports whether a member in state s can be asked for anything.
func (s State) Live() bool { return s == StateAlive }

// Member is one node of the cluster as this node knows it.
type Member struct {
	Name    string // node name
	Region  string
	PeerURL string // base URL of its peer listener
	Addr    string // gossip host:port
	State   State
	// RTT is the EWMA of direct probe round trips; 0 means not measured
	// yet (always 0 for the local node).
	RTT   time.Duration
	Local bool      // this node
	Since time.Time // when the last event about it arrived
	// Store is the member's Config.Store: "" for a chunk store of its
	// own; members of one region with the same non-empty Store share
	// one chunk store (the region's object cluster).
	Store string
}

// EventType says what happened to a member.
type EventType int

// Event types.
const (
	EventJoin EventType = iota
	EventLeave
	EventUpdate
)

func (t EventType) String() string {
	return [...]string{"join", "leave", "update"}[t]
}

// Event is a change of one member, with the member as it was right after.
type Event struct {
	Type   EventType
	Member Member
}

// Handler receives events on the membership's event goroutine, in order.
// It may block briefly (it delays later events, never memberlist); it must
// not call Close.
type Handler func(Event)

// Stats counts what the membership dropped or did.
type Stats struct {
	EventsDropped uint64
}

// Membership is this node's view of the cluster. Safe for concurrent use.
type Membership struct {
	cfg  Config
	log  *zap.Logger
	ml   *memberlist.Memberlist
	d    *delegate
	addr string

	mu       sync.Mutex
	handlers []Handler

	closeOnce sync.Once
	closeErr  error
}

// New validates cfg, starts the gossip listener and returns the
// Membership. It does not contact anyone: Run joins. Close stops it.
func New(cfg Config, log *zap.Logger) (*Membership, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	log = log.Named("membership")
	if cfg.EventBuffer <= 0 {
		cfg.EventBuffer = 1024
	}
	if cfg.RejoinInterval == 0 {
		cfg.RejoinInterval = 30 * time.Second
	}
	d := &delegate{
		meta:    metaJSON(cfg.NodeName, cfg.Region, cfg.PeerURL, cfg.Store),
		members: make(map[string]*memberInfo),
		queue:   newEventQueue(cfg.EventBuffer),
		self:    cfg.NodeName,
		peerURL: cfg.PeerURL,
	}
	mc := memberlist.DefaultWANConfig()
	mc.Name = cfg.NodeName
	mc.BindAddr = cfg.BindAddr
	if mc.BindAddr == "" {
		mc.BindAddr = "0.0.0.0"
	}
	mc.BindPort = cfg.BindPort
	mc.AdvertiseAddr = cfg.AdvertiseAddr
	mc.AdvertisePort = cfg.AdvertisePort
	if mc.AdvertisePort == 0 {
		mc.AdvertisePort = cfg.BindPort
	}
	mc.SecretKey = GossipKey(cfg.Secret)
	mc.GossipVerifyIncoming, mc.GossipVerifyOutgoing = true, true
	mc.Delegate, mc.Events, mc.Ping = d, d, d
	mc.Logger = newStdLogger(log.Named("memberlist"))
	mc.DeadNodeReclaimTime = 30 * time.Second
	if cfg.ProbeInterval > 0 {
		mc.ProbeInterval = cfg.ProbeInterval
	}
	if cfg.ProbeTimeout > 0 {
		mc.ProbeTimeout = cfg.ProbeTimeout
	}
	if cfg.GossipInterval > 0 {
		mc.GossipInterval = cfg.GossipInterval
	}
	if cfg.PushPullInterval > 0 {
		mc.PushPullInterval = cfg.PushPullInterval
	}
	if cfg.SuspicionMult > 0 {
		mc.SuspicionMult = cfg.SuspicionMult
	}
	mc.ProbeTimeout = fitProbeTimeout(mc.ProbeInterval, mc.ProbeTimeout)
	if mc.BindPort == 0 {
		// memberlist needs the same port for TCP and UDP; find one free
		// for both.
		p, err := freePort(mc.BindAddr)
		if err != nil {
			return nil, fmt.Errorf("membership: pick a port: %w", err)
		}
		mc.BindPort = p
		if cfg.AdvertisePort == 0 {
			mc.AdvertisePort = p
		}
	}
	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("membership: start memberlist: %w", err)
	}
	ln := ml.LocalNode()
	m := &Membership{cfg: cfg, log: log, ml: ml, d: d, addr: ln.Address()}
	log.Info("gossip listening", zap.String("addr", m.addr), zap.String("region", cfg.Region),
		zap.String("node", cfg.NodeName))
	return m, nil
}

// freePort returns a port free for both TCP and UDP on host.
func freePort(host string) (int, error) {
	for range 20 {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", net.JoinHostPort(host, strconv.Itoa(port)))
		l.Close()
		if err == nil {
			u.Close()
			return port, nil
		}
	}
	return 0, errors.New("no port free for both TCP and UDP")
}

// Addr returns this node's gossip address (host:port), for others' Join.
func (m *Membership) Addr() string { return m.addr }

// Local returns this node as a Member.
func (m *Membership) Local() Member {
	m.d.mu.Lock()
	url := m.d.peerURL
	m.d.mu.Unlock()
	return Member{Name: m.cfg.NodeName, Region: m.cfg.Region, PeerURL: url, Store: m.cfg.Store,
		Addr: m.addr, State: StateAlive, Local: true}
}

// OnEvent registers h for every later event. Call it before Run.
func (m *Membership) OnEvent(h Handler) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.handlers = append(m.handlers, h)
}

// Members returns every node this node has heard of except itself, alive
// or not, sorted by region then name. The caller owns the slice.
func (m *Membership) Members() []Member {
	m.d.mu.Lock()
	out := make([]Member, 0, len(m.d.members))
	for _, mi := range m.d.members {
		if !mi.Local {
			out = append(out, mi.Member)
		}
	}
	m.d.mu.Unlock()
	slices.SortFunc(out, func(a, b Member) int {
		if a.Region != b.Region {
			if a.Region < b.Region {
				return -1
			}
			return 1
		}
		if a.Name < b.Name {
			return -1
		} else if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return out
}

// Peers returns the live members other than this node.
func (m *Membership) Peers() []Member {
	all := m.Members()
	out := all[:0]
	for _, p := range all {
		if p.State.Live() {
			out = append(out, p)
		}
	}
	return out
}

// Stats returns counters.
func (m *Membership) Stats() Stats { return Stats{EventsDropped: m.d.queue.droppedCount()} }

// Join contacts the given gossip addresses (host:port) and returns how many
// answered. Run calls it with Config.Join.
func (m *Membership) Join(addrs []string) (int, error) {
	if len(addrs) == 0 {
		return 0, nil
	}
	n, err := m.ml.Join(addrs)
	if err != nil && n == 0 {
		return 0, fmt.Errorf("membership: join %v: %w", addrs, err)
	}
	return n, nil
}

// UpdatePeerURL changes this node's advertised peer URL and gossips it
// (waiting at most timeout for the broadcast).
func (m *Membership) UpdatePeerURL(url string, timeout time.Duration) error {
	b := metaJSON(m.cfg.NodeName, m.cfg.Region, url, m.cfg.Store)
	if len(b) > maxMeta {
		return fmt.Errorf("%w: node metadata exceeds %d bytes", ErrConfig, maxMeta)
	}
	m.d.mu.Lock()
	m.d.meta = b
	m.d.peerURL = url
	m.d.mu.Unlock()
	return m.ml.UpdateNode(timeout)
}

// Run joins Config.Join (retrying with backoff until one answers), then
// delivers events to the handlers and re-joins missing configured members
// every RejoinInterval, until ctx is done; then it leaves the cluster
// gracefully and closes. It returns nil on cancellation.
func (m *Membership) Run(ctx context.Context) error {
	defer m.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		m.joinLoop(ctx)
	}()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			m.dispatch()
			return nil
		case <-m.d.queue.signal:
			m.dispatch()
		}
	}
}

func (m *Membership) dispatch() {
	evs := m.d.queue.drain()
	if len(evs) == 0 {
		return
	}
	m.mu.Lock()
	hs := slices.Clone(m.handlers)
	m.mu.Unlock()
	for _, ev := range evs {
		if !ev.Member.Local {
			m.log.Info("member "+ev.Type.String(), zap.String("node", ev.Member.Name),
				zap.String("region", ev.Member.Region), zap.Stringer("state", ev.Member.State))
		}
		for _, h := range hs {
			h(ev)
		}
	}
}

// joinLoop joins the configured addresses: first until one answers
// (backoff 100 ms doubling to 5 s), then all of them every RejoinInterval
// (a push-pull with each).
func (m *Membership) joinLoop(ctx context.Context) {
	if len(m.cfg.Join) == 0 {
		return
	}
	backoff := 100 * time.Millisecond
	for {
		if _, err := m.Join(m.cfg.Join); err == nil {
			break
		} else {
			m.log.Warn("join failed; retrying", zap.Error(err), zap.Duration("in", backoff))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
	if m.cfg.RejoinInterval < 0 {
		return
	}
	t := time.NewTicker(m.cfg.RejoinInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// Every configured address, alive or not: a peer restarted on its
		// address with no peers of its own (a seed) knows nobody, and
		// while the others still hold it suspect (memberlist sends no
		// event for suspect: Peers lists it alive) nothing reaches it
		// until they declare it dead, up to a WAN suspicion timeout
		// (~90 s). A push-pull tells it its members and its suspicion,
		// which it refutes. One TCP exchange per configured peer per
		// RejoinInterval.
		alive := map[string]bool{}
		for _, p := range m.Peers() { // not ml.Members: its nodes race with updates
			alive[p.Addr] = true
		}
		var addrs, missing []string
		for _, a := range m.cfg.Join {
			if a == m.addr {
				continue
			}
			addrs = append(addrs, a)
			if !alive[a] {
				missing = append(missing, a)
			}
		}
		if len(addrs) > 0 {
			if n, err := m.Join(addrs); n > 0 && len(missing) > 0 {
				m.log.Info("re-joined", zap.Strings("addrs", missing), zap.Int("answered", n))
			} else if err != nil {
				m.log.Debug("re-join failed", zap.Error(err))
			}
		}
	}
}

// Leave tells the cluster this node is leaving, waiting at most timeout.
func (m *Membership) Leave(timeout time.Duration) error { return m.ml.Leave(timeout) }

// Close leaves the cluster (1 s at most) and stops gossip; idempotent.
func (m *Membership) Close() error {
	m.closeOnce.Do(func() {
		if err := m.ml.Leave(time.Second); err != nil {
			m.log.Debug("leave", zap.Error(err))
		}
		m.closeErr = m.ml.Shutdown()
	})
	return m.closeErr
}

// Kill stops gossip without leaving, as a crash would (for tests of
// failure detection); later Close is a no-op.
func (m *Membership) Kill() {
	m.closeOnce.Do(func() { m.closeErr = m.ml.Shutdown() })
}
