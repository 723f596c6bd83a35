package membership

import (
	"fmt"
	"testing"
	"time"
)

// TestSeedRestartRejoined: the seed (a node that joins nobody) is killed
// and comes back on the same address; the nodes that joined it must see
// it alive again (their rejoin loop), and it them.
func TestSeedRestartRejoined(t *testing.T) {
	a := start(t, fastConfig("a", "ra", nil, testSecret))
	var port int
	fmt.Sscanf(a.m.Addr()[len("127.0.0.1:"):], "%d", &port)
	b := start(t, fastConfig("b", "rb", []string{a.m.Addr()}, testSecret))
	c := start(t, fastConfig("c", "rc", []string{a.m.Addr()}, testSecret))
	eventually(t, 5*time.Second, "join", func() bool { return len(livePeers(a)) == 2 && len(livePeers(b)) == 2 })
	a.m.Kill()
	a.stop()
	eventually(t, 10*time.Second, "a dead", func() bool { return len(livePeers(b)) == 1 && len(livePeers(c)) == 1 })
	cfg := fastConfig("a", "ra", nil, testSecret)
	cfg.BindPort = port
	a2 := start(t, cfg)
	eventually(t, 20*time.Second, "a back at b, c and itself", func() bool {
		return len(livePeers(b)) == 2 && len(livePeers(c)) == 2 && len(livePeers(a2)) == 2
	})
}
