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
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nitro-cloud/nitro/internal/testenv"
)

// pagedRegionConfig is clusterNodeConfig with paced links into region b
// (cluster.emulate_link_mbit, the sender paces) and priors at b that match
// them, so that a read at b is a planned read over two slow links.
var pagedRegionConfig = clusterNodeConfig + `  emulate_link_mbit: {b: %[3]d}
  links: {a: {bandwidth_mbit: %[3]d, rtt_ms: 1}, c: {bandwidth_mbit: %[3]d, rtt_ms: 1}}
`

// TestStatusPageInChromium starts a three-region cluster of real `nitro
// serve` processes, stores an image at a, copies it to c, and reads it at
// b over two paced links; while the planned read runs, headless Chromium
// (Debian's chromium) loads b's status page: the test checks the DOM
// (three live regions, the links into b, where the image lives, a running
// transfer with both sources) and keeps a screenshot in the artifact dir.
//
// The DOM must be dumped while the read runs. On a loaded 2-core CI
// machine (load 7-13) three Chromium instances started at once took longer
// than the whole ~12 s read (24 Mbit/s links), and the page showed it
// finished. So the links are slower (~38 s for the read), the DOM is dumped
// by one Chromium alone, before the two screenshots (which need no running
// transfer) start, and the test checks b's /status right after the dump,
// so that a dump that came too late says so instead of looking like a page
// that renders a running transfer wrongly.
func TestStatusPageInChromium(t *testing.T) {
	testenv.Short(t)
	chromium := testenv.Tool(t, "chromium")
	const mbit = 8        // per link into b: two links, ~2 MB/s together
	const size = 72 << 20 // ~38 s at b at full speed
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	nodes := startPagedTrio(t, mbit)
	data := make([]byte, size)
	rand.Read(data)
	// c copies it from a (unpaced), so b has two sources.
	putAtAReadAtC(t, nodes, data)

	// The planned read at b, in the background.
	sb := mustLogin(t, nodes["b"].URL)
	readDone := make(chan error, 1)
	go func() { // plain HTTP: t.Fatal must not run on this goroutine
		req, _ := http.NewRequestWithContext(ctx, "GET", sb.storage+"/images/disk.raw", nil)
		req.Header.Set("X-Auth-Token", sb.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			readDone <- err
			return
		}
		defer resp.Body.Close()
		got, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 || !bytes.Equal(got, data) {
			readDone <- fmt.Errorf("GET at b: %s, %d bytes (of %d), %v", resp.Status, len(got), size, err)
			return
		}
		readDone <- nil
	}()
	// running reports whether b's status shows the transfer running.
	running := func() (bool, error) {
		var st struct {
			Cluster struct {
				Transfers []struct {
					FinishedAt string `json:"finished_at"`
				} `json:"transfers"`
			} `json:"cluster"`
		}
		resp, err := http.Get(nodes["b"].OpsURL + "/status")
		if err != nil {
			return false, err
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			return false, err
		}
		return len(st.Cluster.Transfers) > 0 && st.Cluster.Transfers[0].FinishedAt == "", nil
	}
	// Wait until b's status shows the transfer running.
	waitRunning := time.Now().Add(60 * time.Second)
	for {
		ok, err := running()
		if ok {
			break
		}
		if time.Now().After(waitRunning) {
			t.Fatalf("no running transfer at b: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	readStart := time.Now()
	// Let the curves grow a little before the picture.
	time.Sleep(2 * time.Second)

	art := artifactDir(t)
	page := nodes["b"].OpsURL + "/"
	browse := func(args ...string) (string, error) {
		cctx, ccancel := context.WithTimeout(ctx, 90*time.Second)
		defer ccancel()
		base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync",
			"--user-data-dir=" + t.TempDir()}
		cmd := exec.CommandContext(cctx, chromium, append(append(base, args...), page)...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("chromium %v: %w\n%s", args, err, stderr.String())
		}
		return string(out), nil
	}
	shot := filepath.Join(art, "status-page.png")
	type result struct {
		out string
		err error
	}
	// The DOM first, alone: it must show the running transfer.
	dumpStart := time.Now()
	var dom result
	dom.out, dom.err = browse("--dump-dom")
	stillRunning, stErr := running()
	t.Logf("DOM dumped in %.1fs, %.1fs into the read; b's transfer still running after the dump: %v (%v)",
		time.Since(dumpStart).Seconds(), time.Since(readStart).Seconds(), stillRunning, stErr)
	shotc, fullc := make(chan result, 1), make(chan result, 1)
	go func() {
		out, err := browse("--screenshot="+shot, "--window-size=1400,1000", "--hide-scrollbars")
		shotc <- result{out, err}
	}()
	full := filepath.Join(art, "status-page-full.png") // the whole page, below the fold too
	go func() {
		out, err := browse("--screenshot="+full, "--window-size=1400,1500", "--hide-scrollbars")
		fullc <- result{out, err}
	}()
	if dom.err != nil {
		t.Fatal(dom.err)
	}
	if err := os.WriteFile(filepath.Join(art, "status-page.html"), []byte(dom.out), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`class="region" data-region="a" data-state="alive"`,
		`class="region" data-region="b" data-state="alive"`,
		`class="region" data-region="c" data-state="alive"`,
		`class="link" data-from="a" data-to="b"`,
		`class="link" data-from="c" data-to="b"`,
		`class="image" data-object="AUTH_test/images/disk.raw"`,
		`class="share" data-region="a" data-share="1.000"`,
		`class="share" data-region="c" data-share="1.000"`,
		`class="transfer" data-id="1" data-state="running"`,
		`class="series" data-region="a"`,
		`class="series" data-region="c"`,
		`class="predicted"`,
	} {
		if !strings.Contains(dom.out, want) {
			t.Errorf("the page as Chromium built it lacks %s", want)
			if strings.Contains(want, "running") && !stillRunning {
				t.Errorf("(b's transfer had finished when the dump returned: Chromium took longer than the read)")
			}
		}
	}
	if s := <-shotc; s.err != nil {
		t.Fatal(s.err)
	}
	if s := <-fullc; s.err != nil {
		t.Fatal(s.err)
	}
	for _, p := range []string{shot, full} {
		if fi, err := os.Stat(p); err != nil || fi.Size() < 10<<10 {
			t.Fatalf("screenshot %s: %v (%v)", p, fi, err)
		}
	}
	t.Logf("screenshots: %s, %s", shot, full)
	select {
	case err := <-readDone:
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("the read at b ended %.1fs after its transfer was seen running", time.Since(readStart).Seconds())
	case <-ctx.Done():
		t.Fatal("the read at b did not finish")
	}
}

// startPagedTrio starts regions a, b and c (pagedRegionConfig: links
// into b paced at mbit Mbit/s) and waits until each sees two live peers.
func startPagedTrio(t *testing.T, mbit int) map[string]*nitroNode {
	t.Helper()
	start := func(region string, join ...string) *nitroNode {
		return startNitro(t, fmt.Sprintf(pagedRegionConfig, region, strings.Join(join, ", "), mbit))
	}
	nodes := map[string]*nitroNode{"a": start("a")}
	nodes["b"] = start("b", nodes["a"].gossipAddr())
	nodes["c"] = start("c", nodes["a"].gossipAddr())
	deadline := time.Now().Add(60 * time.Second)
	for _, r := range []string{"a", "b", "c"} {
		for nodes[r].status(t).alivePeers() != 2 {
			if time.Now().After(deadline) {
				t.Fatalf("region %s does not see two live peers", r)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return nodes
}

// putAtAReadAtC stores data as /images/disk.raw at region a and reads it
// byte-exact at c, so that a and c both hold it.
func putAtAReadAtC(t *testing.T, nodes map[string]*nitroNode, data []byte) {
	t.Helper()
	sa := mustLogin(t, nodes["a"].URL)
	if code, err := sa.put("/images", nil, false); err != nil || code != 201 {
		t.Fatalf("PUT container: %d %v", code, err)
	}
	if code, err := sa.put("/images/disk.raw", data, false); err != nil || code != 201 {
		t.Fatalf("PUT image: %d %v", code, err)
	}
	if got, code := mustLogin(t, nodes["c"].URL).get(t, "/images/disk.raw"); code != 200 || !bytes.Equal(got, data) {
		t.Fatalf("GET at c: %d, %d bytes", code, len(got))
	}
}
