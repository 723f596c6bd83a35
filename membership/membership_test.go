package membership

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

var testSecret = []byte("0123456789abcdef-cluster-secret")

func fastConfig(name, region string, join []string, secret []byte) Config {
	return Config{
		NodeName: name, Region: region, PeerURL: "http://127.0.0.1:1/" + name,
		BindAddr: "127.0.0.1", Join: join, Secret: secret,
		ProbeInterval: 100 * time.Millisecond, ProbeTimeout: 80 * time.Millisecond,
		GossipInterval: 50 * time.Millisecond, PushPullInterval: 500 * time.Millisecond,
		SuspicionMult: 2, RejoinInterval: 200 * time.Millisecond,
	}
}

type node struct {
	m      *Membership
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	events []Event
}

func start(t *testing.T, cfg Config) *node {
	t.Helper()
	m, err := New(cfg, zap.NewNop()) // not zaptest: memberlist logs after Shutdown returns
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &node{m: m, cancel: cancel, done: make(chan struct{})}
	m.OnEvent(func(ev Event) {
		n.mu.Lock()
		n.events = append(n.events, ev)
		n.mu.Unlock()
	})
	go func() { defer close(n.done); m.Run(ctx) }()
	t.Cleanup(n.stop)
	return n
}

func (n *node) stop() {
	n.cancel()
	<-n.done
}

func eventually(t *testing.T, d time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func livePeers(n *node) map[string]Member {
	out := map[string]Member{}
	for _, p := range n.m.Peers() {
		out[p.Name] = p
	}
	return out
}

func TestThreeNodesJoinMetaRTTLeave(t *testing.T) {
	a := start(t, fastConfig("a", "region-a", nil, testSecret))
	b := start(t, fastConfig("b", "region-b", []string{a.m.Addr()}, testSecret))
	c := start(t, fastConfig("c", "region-c", []string{b.m.Addr()}, testSecret))

	for _, n := range []*node{a, b, c} {
		eventually(t, 5*time.Second, n.m.Local().Name+" sees 2 peers", func() bool { return len(livePeers(n)) == 2 })
	}
	pa := livePeers(a)
	if got := pa["c"]; got.Region != "region-c" || got.PeerURL != "http://127.0.0.1:1/c" {
		t.Fatalf("a's view of c: %+v", got)
	}
	eventually(t, 5*time.Second, "RTT measured", func() bool {
		for _, p := range a.m.Peers() {
			if p.RTT <= 0 {
				return false
			}
		}
		return true
	})

	// Metadata update reaches the others.
	if err := c.m.UpdatePeerURL("http://127.0.0.1:2/c", time.Second); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "meta update", func() bool { return livePeers(a)["c"].PeerURL == "http://127.0.0.1:2/c" })
	eventually(t, 5*time.Second, "update event", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		for _, ev := range a.events {
			if ev.Type == EventUpdate && ev.Member.Name == "c" {
				return true
			}
		}
		return false
	})

	// Graceful leave.
	c.stop()
	eventually(t, 5*time.Second, "c left", func() bool {
		for _, p := range a.m.Members() {
			if p.Name == "c" {
				return p.State == StateDead
			}
		}
		return false
	})
	if _, ok := livePeers(b)["c"]; ok {
		eventually(t, 5*time.Second, "b sees c gone", func() bool { _, ok := livePeers(b)["c"]; return !ok })
	}
}

func TestKilledNodeDetectedDead(t *testing.T) {
	a := start(t, fastConfig("a", "ra", nil, testSecret))
	b := start(t, fastConfig("b", "rb", []string{a.m.Addr()}, testSecret))
	eventually(t, 5*time.Second, "join", func() bool { return len(livePeers(a)) == 1 })
	b.m.Kill()
	eventually(t, 10*time.Second, "b dead", func() bool { return len(livePeers(a)) == 0 })
}

func TestWrongSecretCannotJoin(t *testing.T) {
	a := start(t, fastConfig("a", "ra", nil, testSecret))
	cfg := fastConfig("evil", "rx", nil, []byte("another-secret-of-some-length"))
	m, err := New(cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Kill()
	if n, err := m.Join([]string{a.m.Addr()}); err == nil || n != 0 {
		t.Fatalf("join with wrong secret: n=%d err=%v", n, err)
	}
	time.Sleep(300 * time.Millisecond)
	if len(a.m.Peers()) != 0 {
		t.Fatalf("a accepted a member with the wrong key: %+v", a.m.Peers())
	}
}

func TestRejoinAfterPeerRestart(t *testing.T) {
	a := start(t, fastConfig("a", "ra", nil, testSecret))
	port := 0
	{
		b := start(t, fastConfig("b", "rb", []string{a.m.Addr()}, testSecret))
		eventually(t, 5*time.Second, "join", func() bool { return len(livePeers(a)) == 1 })
		fmt.Sscanf(b.m.Addr()[len("127.0.0.1:"):], "%d", &port)
		b.m.Kill()
		b.stop()
		eventually(t, 10*time.Second, "b dead", func() bool { return len(livePeers(a)) == 0 })
	}
	// b comes back on the same address; a was configured with no joins, so
	// it is b's join loop that brings them together.
	cfg := fastConfig("b", "rb", []string{a.m.Addr()}, testSecret)
	cfg.BindPort = port
	start(t, cfg)
	eventually(t, 10*time.Second, "b back", func() bool { return len(livePeers(a)) == 1 })
}

func TestConfigValidation(t *testing.T) {
	good := fastConfig("a", "ra", nil, testSecret)
	for name, mut := range map[string]func(*Config){
		"no name":     func(c *Config) { c.NodeName = "" },
		"no region":   func(c *Config) { c.Region = "" },
		"no peer url": func(c *Config) { c.PeerURL = "" },
		"short key":   func(c *Config) { c.Secret = []byte("short") },
		"huge meta":   func(c *Config) { c.PeerURL = string(make([]byte, 600)) },
	} {
		c := good
		mut(&c)
		if _, err := New(c, nil); err == nil {
			t.Errorf("%s: want error", name)
		}
	}
}

func TestParseLevel(t *testing.T) {
	for _, tc := range []struct {
		in   string
		lvl  zapcore.Level
		want string
	}{
		{"[DEBUG] memberlist: Stream connection", zapcore.DebugLevel, "Stream connection"},
		{"[WARN] memberlist: Was able to connect", zapcore.WarnLevel, "Was able to connect"},
		{"[ERR] memberlist: Failed", zapcore.ErrorLevel, "Failed"},
		{"[INFO] memberlist: Marking", zapcore.InfoLevel, "Marking"},
		{"plain line", zapcore.InfoLevel, "plain line"},
	} {
		lvl, msg := parseLevel(tc.in)
		if lvl != tc.lvl || msg != tc.want {
			t.Errorf("parseLevel(%q) = %v %q", tc.in, lvl, msg)
		}
	}
	core, logs := observer.New(zap.DebugLevel)
	l := newStdLogger(zap.New(core))
	l.Print("[WARN] memberlist: hello")
	if logs.Len() != 1 || logs.All()[0].Level != zap.WarnLevel || logs.All()[0].Message != "hello" {
		t.Fatalf("bridged: %+v", logs.All())
	}
}

func TestEventQueueDropsOldest(t *testing.T) {
	q := newEventQueue(2)
	for i := range 3 {
		q.push(Event{Member: Member{Name: fmt.Sprint(i)}})
	}
	evs := q.drain()
	if len(evs) != 2 || evs[0].Member.Name != "1" || q.droppedCount() != 1 {
		t.Fatalf("got %+v dropped %d", evs, q.droppedCount())
	}
}

// TestSeveralNodesPerRegion: two nodes of one region and one of another
// see each other as distinct members, each with its region, and the death
// of one node of a region leaves its sibling alive.
func TestSeveralNodesPerRegion(t *testing.T) {
	a1 := start(t, fastConfig("r1-a", "r1", nil, testSecret))
	a2 := start(t, fastConfig("r1-b", "r1", []string{a1.m.Addr()}, testSecret))
	b := start(t, fastConfig("r2-a", "r2", []string{a1.m.Addr()}, testSecret))
	for _, n := range []*node{a1, a2, b} {
		eventually(t, 5*time.Second, n.m.Local().Name+" sees 2 peers", func() bool { return len(livePeers(n)) == 2 })
	}
	pb := livePeers(b)
	if pb["r1-a"].Region != "r1" || pb["r1-b"].Region != "r1" || pb["r1-a"].PeerURL == pb["r1-b"].PeerURL {
		t.Fatalf("b's view of r1: %+v", pb)
	}
	a2.m.Kill()
	eventually(t, 10*time.Second, "r1-b dead, r1-a alive", func() bool {
		p := livePeers(b)
		_, dead := p["r1-b"]
		return !dead && p["r1-a"].Region == "r1"
	})
}
