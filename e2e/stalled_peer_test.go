package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/nitro-cloud/nitro/internal/testenv"
)

// hedgeCounters is the part of a node's /status the stall test reads.
type hedgeCounters struct {
	Cluster struct {
		Fetch struct {
			HedgedChunks int64 `json:"hedged_chunks"`
			WastedChunks int64 `json:"hedge_wasted_chunks"`
			WastedBytes  int64 `json:"hedge_wasted_bytes"`
			Skipped      int64 `json:"hedge_skipped_chunks"`
		} `json:"fetch"`
		ChunksReceived map[string]struct {
			Chunks int64 `json:"chunks"`
			Bytes  int64 `json:"bytes"`
		} `json:"chunks_received"`
		Transfers []frozenTransfer `json:"transfers"`
	} `json:"cluster"`
}

// TestStalledHolderResumes is a holder that stalls and comes back (a
// lost packet's retransmission timeout, a GC pause, a loaded host), with
// real processes: three `nitro serve` on loopback as in
// TestFrozenHolderRead (links into b paced at linkMbit each), an image
// stored at a and copied to c, read at b over both. When the client has a
// third of it, c is stopped (SIGSTOP) for stallFor, long enough for b to
// hedge two or three windows of c's chunks to a but not all of them, and
// then continued: c's stream goes on where it stopped, through the
// chunks a's stream now carries too. The read must be byte-exact, and
// the bytes b receives twice (received minus stored) stay within
// wasteBound: about one burst of c's paced link (1 MiB), what c may
// have written before the skip request reached it. Before skip requests
// the loser sent every hedged chunk it reached: 2.7-4.3 MB received
// twice in four runs (load 3.7-5), 0 with them (load 3.9-5.1).
func TestStalledHolderResumes(t *testing.T) {
	testenv.Short(t)
	const (
		linkMbit   = 48
		size       = 64 << 20
		stallAt    = size / 3
		stallFor   = time.Second
		wasteBound = 1 << 20
	)
	nodes, data, resp, t0 := pagedImageRead(t, linkMbit, size)
	c := nodes["c"]
	t.Cleanup(func() { _ = c.cmd.Process.Signal(syscall.SIGCONT) })
	got := make([]byte, 0, size)
	buf := make([]byte, 64<<10)
	stopped := false
	for {
		n, err := resp.Body.Read(buf)
		got = append(got, buf[:n]...)
		if !stopped && len(got) >= stallAt {
			stopped = true
			if err := c.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			time.AfterFunc(stallFor, func() { _ = c.cmd.Process.Signal(syscall.SIGCONT) })
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("GET at b: %v after %d bytes", err, len(got))
		}
	}
	total := time.Since(t0)
	if !bytes.Equal(got, data) {
		t.Fatalf("GET at b: %d bytes, differ from the image", len(got))
	}
	// c's stream ends after the client's read: let the counters settle.
	time.Sleep(2 * time.Second)
	var st hedgeCounters
	r, err := http.Get(nodes["b"].OpsURL + "/status")
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(r.Body).Decode(&st)
	r.Body.Close()
	if err != nil || len(st.Cluster.Transfers) == 0 {
		t.Fatalf("b's status: %v", err)
	}
	var received, stored int64
	for _, rc := range st.Cluster.ChunksReceived {
		received += rc.Bytes
	}
	for _, tr := range st.Cluster.Transfers {
		stored += tr.StoredBytes
	}
	f := st.Cluster.Fetch
	var load [3]float64
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Sscanf(string(b), "%f %f %f", &load[0], &load[1], &load[2])
	}
	t.Logf("STALLED_PEER size_mib=%d link_mbit=%d stall_s=%.1f total_s=%.2f hedges=%d hedged_chunks=%d received_bytes=%d stored_bytes=%d twice_bytes=%d wasted_chunks=%d wasted_bytes=%d skipped_chunks=%d load1=%.2f",
		size>>20, linkMbit, stallFor.Seconds(), total.Seconds(), st.Cluster.Transfers[0].Hedges, f.HedgedChunks,
		received, stored, received-stored, f.WastedChunks, f.WastedBytes, f.Skipped, load[0])
	if st.Cluster.Transfers[0].Hedges == 0 {
		t.Fatal("no hedge: c's stall was not noticed")
	}
	if received-stored > wasteBound {
		t.Fatalf("b received %d bytes twice (%d of %d hedged chunks), want at most %d", received-stored, f.WastedChunks, f.HedgedChunks, wasteBound)
	}
}

// pagedImageRead starts regions a, b and c (startPagedTrio: links into b
// paced at linkMbit), stores size random bytes as /images/disk.raw at a
// and c, and starts a GET of it at b (at most five minutes); it returns
// the nodes, the image, the 200 answer (its body closed when the test
// ends) and when the GET was sent.
func pagedImageRead(t *testing.T, linkMbit, size int) (map[string]*nitroNode, []byte, *http.Response, time.Time) {
	t.Helper()
	nodes := startPagedTrio(t, linkMbit)
	data := make([]byte, size)
	rand.Read(data)
	putAtAReadAtC(t, nodes, data)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	t.Cleanup(cancel)
	sb := mustLogin(t, nodes["b"].URL)
	req, _ := http.NewRequestWithContext(ctx, "GET", sb.storage+"/images/disk.raw", nil)
	req.Header.Set("X-Auth-Token", sb.token)
	t0 := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 {
		t.Fatalf("GET at b: %s", resp.Status)
	}
	return nodes, data, resp, t0
}
