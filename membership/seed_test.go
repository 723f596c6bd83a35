package membership

import (
	"fmt"
	"testing"
	"time"
)

// TestSeedRestartRejoined: the seed (a node that joins nobody) is killed
// and comes back on its address while the others still hold it suspect
// (a long suspicion timeout, as memberlist's WAN preset has: up to ~90 s
// on three nodes) and before their next periodic push-pull (WAN: 60 s);
// the nodes that joined it must bring it back at once (their rejoin loop
// push-pulls with every configured address), or the restarted seed knows
// nobody for minutes.
func TestSeedRestartRejoined(t *testing.T) {
	slow := func(name string, join []string) Config {
		cfg := fastConfig(name, "r"+name, join, testSecret)
		cfg.SuspicionMult = 200            // suspect for minutes
		cfg.PushPullInterval = time.Minute // as the WAN preset: no periodic sync in the test's time
		return cfg
	}
	a := start(t, slow("a", nil))
	var port int
	fmt.Sscanf(a.m.Addr()[len("127.0.0.1:"):], "%d", &port)
	b := start(t, slow("b", []string{a.m.Addr()}))
	c := start(t, slow("c", []string{a.m.Addr()}))
	eventually(t, 5*time.Second, "join", func() bool { return len(livePeers(a)) == 2 && len(livePeers(b)) == 2 })
	a.m.Kill()
	a.stop()
	time.Sleep(time.Second) // b and c probe a and suspect it
	cfg := slow("a", nil)
	cfg.BindPort = port
	a2 := start(t, cfg)
	eventually(t, 10*time.Second, "the restarted seed sees b and c", func() bool {
		return len(livePeers(a2)) == 2 && len(livePeers(b)) == 2 && len(livePeers(c)) == 2
	})
}
