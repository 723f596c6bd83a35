package node

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// gossipProxy relays a node's gossip (memberlist's UDP packets and TCP
// streams, same port) from the address it advertises to the one it binds,
// and can drop everything on the way in: the node's gossip then goes
// unanswered, as when it is starved of CPU, and the others suspect it and
// declare it dead while its peer listener serves on. memberlist answers
// to the source address written in a message, not to the packet's, so
// what the node sends needs no relay.
type gossipProxy struct {
	target string
	udp    *net.UDPConn
	up     *net.UDPConn
	ln     net.Listener
	paused atomic.Bool
	mu     sync.Mutex
	conns  map[net.Conn]bool
	wg     sync.WaitGroup
}

// freeGossipPort returns a port free for both TCP and UDP on 127.0.0.1,
// with its listeners (the caller closes them, or keeps them).
func freeGossipPort(t *testing.T) (net.Listener, *net.UDPConn) {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		if err == nil {
			return l, u
		}
		l.Close()
	}
	t.Fatal("no port free for both TCP and UDP")
	return nil, nil
}

// startGossipProxy listens on a free port and relays to target (the
// node's gossip bind address).
func startGossipProxy(t *testing.T, target string) *gossipProxy {
	t.Helper()
	ln, udp := freeGossipPort(t)
	up, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	dst, err := net.ResolveUDPAddr("udp", target)
	if err != nil {
		t.Fatal(err)
	}
	p := &gossipProxy{target: target, udp: udp, up: up, ln: ln, conns: map[net.Conn]bool{}}
	p.wg.Go(func() {
		buf := make([]byte, 64<<10)
		for {
			n, _, err := udp.ReadFromUDP(buf)
			if err != nil {
				return
			}
			if !p.paused.Load() {
				up.WriteToUDP(buf[:n], dst)
			}
		}
	})
	p.wg.Go(func() { // replies to the relay's own address are not expected: drop them
		buf := make([]byte, 64<<10)
		for {
			if _, _, err := up.ReadFromUDP(buf); err != nil {
				return
			}
		}
	})
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if p.paused.Load() {
				c.Close()
				continue
			}
			p.wg.Go(func() { p.relay(c) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		udp.Close()
		up.Close()
		p.closeConns()
		p.wg.Wait()
	})
	return p
}

func (p *gossipProxy) relay(c net.Conn) {
	d, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[d] = true, true
	p.mu.Unlock()
	var wg sync.WaitGroup
	wg.Go(func() { io.Copy(d, c); d.Close() })
	wg.Go(func() { io.Copy(c, d); c.Close() })
	wg.Wait()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, d)
	p.mu.Unlock()
}

func (p *gossipProxy) closeConns() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}

// pause drops the node's incoming gossip (true) or relays it again.
func (p *gossipProxy) pause(on bool) {
	p.paused.Store(on)
	if on {
		p.closeConns()
	}
}

func (p *gossipProxy) addr() string { return p.ln.Addr().String() }

// TestReadsDuringMembershipFlap (issue 13): the only holder's gossip goes
// unanswered for a while (as on a starved, loaded machine), so b's
// memberlist declares it dead, while its peer listener serves on; then it
// is answered again and the holder refutes. A Range read and a whole GET
// at b that start while b sees the holder dead wait for it to come back
// and complete byte-exact (206 and 200). Before, the read's fetch took
// one snapshot of the live peers, found no holder, and the 206/200 was
// cut short (the flap node/lazy_test.go's startLazyCluster avoids with
// slow probes).
func TestReadsDuringMembershipFlap(t *testing.T) {
	tc := &tcluster{t: t, nodes: map[string]*running{}}
	// a binds its gossip on a port of its own and advertises the proxy's.
	bl, bu := freeGossipPort(t)
	bind := bl.Addr().String()
	bl.Close()
	bu.Close()
	proxy := startGossipProxy(t, bind)
	acfg := regionConfig(t, "a", nil)
	acfg.Cluster.GossipListen, acfg.Cluster.GossipAdvertise = bind, proxy.addr()
	a := startNode(t, acfg)
	tc.nodes["a"] = a
	if a.cluster.ml.Addr() != proxy.addr() {
		t.Fatalf("a advertises %s, want the proxy's %s", a.cluster.ml.Addr(), proxy.addr())
	}
	for _, r := range []string{"b", "c"} {
		cfg := regionConfig(t, r, []string{proxy.addr()})
		cfg.Cluster.HolderWait = 2 * time.Minute // generous: how long the flap lasts is up to memberlist
		tc.nodes[r] = startNode(t, cfg)
	}
	data := randomBytes(t, 4<<20)
	tc.client("a").must(201, "PUT", "/images", nil, nil)
	tc.putAtA("/images/flap", data)
	cb := tc.client("b")

	for i, off := range []int{1 << 20, -1} {
		proxy.pause(true)
		tc.seesDead("b", "a")
		errc := make(chan error, 1)
		go func() {
			if off < 0 {
				errc <- wholeCheck(cb, "/images/flap", data)
				return
			}
			errc <- rangeCheck(cb, "/images/flap", data, off, 1<<20)
		}()
		time.Sleep(1500 * time.Millisecond)
		proxy.pause(false)
		if err := <-errc; err != nil {
			t.Fatalf("read %d during the flap: %v", i, err)
		}
		tc.waitPeers(2)
	}
	st := tc.nodes["b"].cluster.fetch.Stats()
	t.Logf("b's fetch stats: %+v", st)
	if st.HolderWaits == 0 || st.NoHolder != 0 {
		t.Fatalf("no read waited for the holder, or chunks failed: %+v", st)
	}
}

// wholeCheck GETs path with c and checks for 200 and the bytes want.
func wholeCheck(c *swiftClient, path string, want []byte) error {
	req, err := http.NewRequest("GET", c.storageURL+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("X-Auth-Token", c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	switch {
	case err != nil:
		return fmt.Errorf("GET %s: %s, body cut after %d bytes: %w", path, resp.Status, len(b), err)
	case resp.StatusCode != 200:
		return fmt.Errorf("GET %s: %s (want 200): %.200s", path, resp.Status, b)
	case !bytes.Equal(b, want):
		return fmt.Errorf("GET %s: the bytes differ", path)
	}
	return nil
}
