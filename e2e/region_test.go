package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore"
	"github.com/nitro-cloud/nitro/internal/swifttest"
	"github.com/nitro-cloud/nitro/internal/testenv"
)

// TestRegionOfNodesOnSwift is issue 12's acceptance test with real parts
// (must-have 5). Two regions joined by gossip with one cluster secret:
//
//   - region s: two Nitro nodes, s-a and s-b, with store.backend: swift on
//     one real Swift (Debian's packages, internal/swifttest), behind a real
//     HAProxy (Debian's) that health-checks /healthcheck; its glance-api
//     (tempauth v1, swift store) reaches Nitro only through HAProxy;
//   - region b: one Nitro node, b-1, on Badger, with its own glance-api
//     pointed at it, sharing region s's Glance database (as
//     TestGlanceMultiRegion: locations are swift+config://ref1/..., resolved
//     in each region's glance-swift.conf).
//
// The steps:
//
//  1. Upload through HAProxy, s-a SIGKILLed in the middle: Glance's store
//     does not retry an upload (swiftclient cannot rewind the request body
//     it streams: put_object raises "no ability to reset contents"), so
//     the upload fails, the image is back in queued, and the test uploads
//     again as an operator would (after s-a is restarted on its data dir).
//     The image is active with checksum = the file's MD5, and reads back
//     byte-exact.
//  2. Download through HAProxy, s-a SIGKILLed in the middle (the client
//     pauses reading at half): swiftclient (Glance's Swift client, 5
//     retries by default) resumes the GET with Range: bytes=N- and
//     If-Match through HAProxy, which now sends it to s-b; the client gets
//     the whole image byte-exact, and s-b sent about the second half.
//  3. s-b is SIGKILLed, its data dir wiped, and started again: it rebuilds
//     its namespace from its peers and serves the image byte-exact from
//     the region's Swift, without fetching anything over the WAN.
//  4. Glance b reads the image: the WAN bytes into region b (b-1's
//     nitro_peer_received_bytes_total, by region) equal the stored size of
//     every chunk of the image (b had none), and equal what region s's
//     nodes sent; a second read crosses nothing.
//  5. Glance b creates a variant image (most chunks shared); both nodes of
//     region s serve it at once (one download from each): the WAN bytes
//     into region s, summed over s-a and s-b, equal the stored size of the
//     variant's chunks the region's Swift lacked (those not in image 1),
//     once, not once per node.
//
// The expected sizes come from referenceChunks (the test's own chunk store
// with the nodes' settings). Setup (Swift, three nodes, two glance-api) is
// about half of its run time; 8 minutes at a load average of 20 on two
// cores, where one glance-api start alone takes 20-30 s.
func TestRegionOfNodesOnSwift(t *testing.T) {
	testenv.Short(t)
	img1 := testenv.ImageNamed(t, "bookworm-minbase", "qcow2")
	img2 := testenv.ImageNamed(t, "bookworm-minbase-extra", "qcow2")
	testenv.Tool(t, "glance-api")
	testenv.Tool(t, "openstack")
	testenv.Tool(t, "haproxy")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	t0 := time.Now()
	since := func() float64 { return time.Since(t0).Seconds() }
	var summary []string
	report := func(t *testing.T, format string, args ...any) {
		line := fmt.Sprintf(format, args...)
		summary = append(summary, line)
		t.Log(line)
	}
	defer func() { t.Logf("summary (total %.1fs):\n%s", since(), strings.Join(summary, "\n")) }()

	// The expected chunk sizes are computed while everything starts.
	type refResult struct {
		sizes []chunkSizes
		err   error
	}
	refc := make(chan refResult, 1)
	refDir := t.TempDir()
	go func() {
		sizes, err := referenceChunksWith(ctx, chunkstore.Config{Dir: refDir, NoSync: true,
			MinSize: regionMinChunk, AvgSize: regionAvgChunk, MaxSize: regionMaxChunk}, img1.Path, img2.Path)
		refc <- refResult{sizes, err}
	}()
	var ref []chunkSizes
	reference := func(t *testing.T) []chunkSizes {
		if ref == nil {
			r := <-refc
			if r.err != nil {
				t.Fatalf("reference chunk store: %v", r.err)
			}
			ref = r.sizes
		}
		return ref
	}
	// So are the images' digests.
	var d1, d2 digest
	var digestErr error
	digested := make(chan struct{})
	go func() {
		defer close(digested)
		for _, x := range []struct {
			d    *digest
			path string
		}{{&d1, img1.Path}, {&d2, img2.Path}} {
			f, err := os.Open(x.path)
			if err == nil {
				*x.d, err = digestReader(f)
				f.Close()
			}
			if err != nil {
				digestErr = err
				return
			}
		}
	}()

	sw := swifttest.Start(t)
	t.Logf("swift up at %s (%.1fs)", sw.URL, since())
	t.Cleanup(func() {
		if t.Failed() {
			p := filepath.Join(sw.Dir, "log", "proxy.log")
			b, _ := os.ReadFile(p)
			var bad []string
			for _, l := range strings.Split(string(b), "\n") {
				if strings.Contains(l, " 401 ") || strings.Contains(l, " 50") || strings.Contains(l, "ERROR") {
					bad = append(bad, l)
				}
			}
			if len(bad) > 20 {
				bad = bad[len(bad)-20:]
			}
			t.Logf("swift proxy log (%s): last 401, 5xx and ERROR lines:\n%s", p, lines(bad))
		}
	})
	sa := newRegionProc(t, "s-a", regionNodeConfig("s", "s-a", swiftBackendStore(sw.AuthURL())))
	sa.start()
	sb := newRegionProc(t, "s-b", regionNodeConfig("s", "s-b", swiftBackendStore(sw.AuthURL()), sa.gossip))
	sb.start()
	b1 := newRegionProc(t, "b-1", regionNodeConfig("b", "b-1", nil, sa.gossip))
	b1.start()
	all := []*crashProc{sa, sb, b1}
	// waitMembers waits until each of nodes sees want-1 other live
	// members. A restarted node that joins nobody (s-a, the seed) is
	// found again when the others re-join their configured peers
	// (membership's rejoin, every 30 s), hence the bound of 90 s.
	waitMembers := func(t *testing.T, want int, nodes ...*crashProc) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for _, n := range nodes {
			for n.aliveOthers(t) != want-1 {
				if time.Now().After(deadline) {
					t.Fatalf("a node sees %d other live members after 90 s, want %d", n.aliveOthers(t), want-1)
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
	}
	waitMembers(t, 3, all...)
	t.Logf("three nodes up and joined (%.1fs)", since())

	lb := startHAProxy(t, haproxyBackend{"s-a", sa.hostPort()}, haproxyBackend{"s-b", sb.hostPort()})
	lb.waitServer(t, "s-a", "UP", 30*time.Second)
	lb.waitServer(t, "s-b", "UP", 30*time.Second)
	// large_object_size 1024 "MB" keeps the known-size uploads of these
	// ~140 MB images on the single-PUT path.
	gs := startGlance(t, lb.URL+"/auth/v1.0", glanceOptions{LargeObjectSize: 1024})
	gb := startGlance(t, b1.url+"/auth/v1.0", glanceOptions{LargeObjectSize: 1024,
		DBConnection: "sqlite:///" + filepath.Join(gs.Dir, "glance.sqlite")})
	t.Logf("haproxy and two glance-api up (%.1fs)", since())
	<-digested
	if digestErr != nil {
		t.Fatal(digestErr)
	}

	var id1 string
	ok := t.Run("1_upload_node_killed", func(t *testing.T) {
		id1 = gs.createRecord(t, "e2e-region-minbase")
		f, err := os.Open(img1.Path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		// The client pauses at half the image; Glance has forwarded
		// nearly all of that to s-a (it streams in 64 KiB pieces) when
		// s-a is killed a second later.
		pr := &pauseReader{r: f, at: d1.Size / 2, pause: func() {
			time.Sleep(time.Second)
			sa.kill()
		}}
		code, msg, err := gs.uploadFile(id1, pr, d1.Size)
		// HAProxy's termination state of Glance's PUT: "SD" or "SH", the
		// server aborted (died) in the middle of the request. HAProxy logs
		// it when the request's stream ends, which may be after Glance
		// answered: wait for the line.
		put := "PUT /v1/AUTH_test/glance/" + id1
		putLog, aborted := lb.waitLogLine(put, func(l string) bool {
			return strings.Contains(l, "nitro/s-a") && (strings.Contains(l, " SD") || strings.Contains(l, " SH"))
		}, 20*time.Second)
		report(t, "1. upload of image 1 (%d B) through haproxy, s-a SIGKILLed when the client had sent half: Glance answered %d %v %.120s; haproxy: %s",
			d1.Size, code, err, strings.TrimSpace(msg), lines(putLog))
		if code == 204 {
			t.Fatalf("the upload succeeded although the node that received it was killed in the middle")
		}
		if !aborted {
			// Glance's failure already proves the kill hit the upload
			// (a PUT sent to s-b would have succeeded). With chunk packs
			// haproxy has not logged the stream within the wait (2 of 2
			// runs; a guess: s-a keeps up with the body, so its socket
			// closes with a FIN, not a RST, and haproxy waits on Glance).
			t.Logf("haproxy has not logged the aborted PUT to s-a yet (20 s after Glance answered): %s", lines(putLog))
		}
		im := gs.image(t, id1)
		status := str(im, "status")
		sa.start()
		lb.waitServer(t, "s-a", "UP", 30*time.Second)
		if status != "queued" {
			// Glance marked it killed (or left it saving): an operator
			// creates the image again.
			t.Logf("image %s is %s after the failed upload; creating it again", id1, status)
			id1 = gs.createRecord(t, "e2e-region-minbase-2")
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		code, msg, err = gs.uploadFile(id1, f, d1.Size)
		if err != nil || code != 204 {
			t.Fatalf("upload again (as an operator would): %d %v %s", code, err, msg)
		}
		im = gs.waitActive(t, id1, time.Minute)
		if c := str(im, "checksum"); c != d1.MD5 {
			t.Errorf("Glance checksum %q, want the file's MD5 %s", c, d1.MD5)
		}
		got, err := gs.downloadVia(id1, nil)
		if err != nil || got != d1 {
			t.Fatalf("read back through haproxy: %+v %v, want %+v", got, err, d1)
		}
		report(t, "1. image was %s after the failed upload; the test's second upload (no Glance retry for uploads) took %.1fs: active, checksum %s = file MD5, read back byte-exact",
			status, time.Since(start).Seconds(), str(im, "checksum"))
	})
	if !ok {
		t.FailNow()
	}

	ok = t.Run("2_download_node_killed", func(t *testing.T) {
		lb.waitServer(t, "s-a", "UP", 30*time.Second)
		before := lb.servers(t)
		start := time.Now()
		got, err := gs.downloadVia(id1, func(r io.Reader) io.Reader {
			return &pauseReader{r: r, at: d1.Size / 2, pause: sa.kill}
		})
		after := lb.servers(t)
		served := after["s-a"].BytesOut - before["s-a"].BytesOut
		report(t, "2. download of image 1 through haproxy, s-a SIGKILLed when the client had read half (%d B): got %d B in %.1fs (%v); s-a sent %d B, s-b %d B; haproxy: %s",
			d1.Size/2, got.Size, time.Since(start).Seconds(), err, served, after["s-b"].BytesOut-before["s-b"].BytesOut,
			lines(lb.logLines("GET /v1/AUTH_test/glance/"+id1)))
		if served <= 0 || served >= d1.Size {
			t.Errorf("s-a had sent %d B of the %d B image when it was killed; want the kill in the middle", served, d1.Size)
		}
		if err != nil || got != d1 {
			t.Fatalf("download across the kill: %+v %v, want %+v", got, err, d1)
		}
		// swiftclient (Glance's Swift client) resumes with Range:
		// bytes=N- and If-Match: the ETag; s-b then sends about the
		// second half only (a full re-read would be the whole image).
		if rest := after["s-b"].BytesOut - before["s-b"].BytesOut; rest < d1.Size/4 || rest > 3*d1.Size/4 {
			t.Errorf("s-b sent %d B of the %d B image; want about the half s-a did not send (a resumed Range GET)", rest, d1.Size)
		}
		sa.start()
		lb.waitServer(t, "s-a", "UP", 30*time.Second)
		// The region whole again before the next step kills s-b (the
		// node whose peers list names s-a).
		rejoin := time.Now()
		waitMembers(t, 3, all...)
		t.Logf("s-a restarted and rejoined in %.1fs", time.Since(rejoin).Seconds())
	})
	if !ok {
		t.FailNow()
	}

	ok = t.Run("3_wipe_rejoin", func(t *testing.T) {
		sb.kill()
		sb.wipe()
		sentBefore := wanBytes(t, "nitro_peer_sent_bytes_total", "b", b1)
		start := time.Now()
		sb.start()
		waitMembers(t, 3, sb)
		c, err := sb.login()
		if err != nil {
			t.Fatal(err)
		}
		obj := "/glance/" + id1
		deadline := time.Now().Add(90 * time.Second)
		for {
			code, _, _, _ := c.do("HEAD", obj, nil, nil)
			if code == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("wiped s-b answers HEAD of image 1 with %d after 90 s", code)
			}
			time.Sleep(250 * time.Millisecond)
		}
		rejoined := time.Since(start)
		code, _, got, msg, err := c.hashed("GET", obj, nil)
		if err != nil || code != 200 || got != d1 {
			t.Fatalf("GET image 1 at the wiped s-b: %d %+v %v %s; want 200 %+v", code, got, err, msg, d1)
		}
		wan := wanBytes(t, "nitro_peer_received_bytes_total", "s", sb)
		sent := wanBytes(t, "nitro_peer_sent_bytes_total", "b", b1) - sentBefore
		report(t, "3. s-b wiped and restarted: namespace back in %.1fs, image 1 read at s-b byte-exact; WAN bytes into s-b %d, sent by b-1 %d (want 0: the region's Swift holds it)",
			rejoined.Seconds(), wan, sent)
		if wan != 0 || sent != 0 {
			t.Errorf("the wiped node fetched %d B over the WAN (b-1 sent %d); want 0", wan, sent)
		}
	})
	if !ok {
		t.FailNow()
	}

	ok = t.Run("4_read_in_badger_region", func(t *testing.T) {
		ref := reference(t)
		n, want := ref[0].minus(nil)
		for i, wantWAN := range []int64{want, 0} {
			recv0 := wanBytes(t, "nitro_peer_received_bytes_total", "b", b1)
			sent0 := wanBytes(t, "nitro_peer_sent_bytes_total", "s", sa, sb)
			c0 := fetchCounters(t, b1)
			start := time.Now()
			got, err := gb.downloadVia(id1, nil)
			if err != nil || got != d1 {
				t.Fatalf("download %d of image 1 at b: %+v %v, want %+v", i+1, got, err, d1)
			}
			recv := wanBytes(t, "nitro_peer_received_bytes_total", "b", b1) - recv0
			sent := wanBytes(t, "nitro_peer_sent_bytes_total", "s", sa, sb) - sent0
			report(t, "4. download %d of image 1 at region b (Glance b -> b-1) in %.1fs, byte-exact: WAN bytes into b %d, sent by s-a+s-b %d; want %d (stored size of the %d chunks b lacked); b-1's fetcher: %s",
				i+1, time.Since(start).Seconds(), recv, sent, wantWAN, n, fetchCounters(t, b1).minus(c0))
			if recv != wantWAN || sent != wantWAN {
				t.Errorf("download %d: %d B received at b, %d B sent by region s; want %d", i+1, recv, sent, wantWAN)
			}
		}
	})
	if !ok {
		t.FailNow()
	}

	t.Run("5_concurrent_reads_in_two_node_region", func(t *testing.T) {
		out := gb.openstack(t, ctx, "image", "create", "--disk-format", "qcow2", "--container-format", "bare",
			"--file", img2.Path, "-f", "json", "e2e-region-minbase-extra")
		var created map[string]any
		if err := json.Unmarshal([]byte(out), &created); err != nil {
			t.Fatalf("openstack image create output: %v\n%s", err, out)
		}
		id2 := str(created, "id")
		if c := str(gb.waitActive(t, id2, time.Minute), "checksum"); c != d2.MD5 {
			t.Errorf("Glance checksum %q, want the file's MD5 %s", c, d2.MD5)
		}
		ref := reference(t)
		n, want := ref[1].minus(ref[0])
		recv0 := wanBytes(t, "nitro_peer_received_bytes_total", "s", sa, sb)
		sent0 := wanBytes(t, "nitro_peer_sent_bytes_total", "b", b1)
		c0 := fetchCounters(t, sa, sb)
		start := time.Now()
		var wg sync.WaitGroup
		res := make([]string, 2)
		for i, node := range []*crashProc{sa, sb} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := node.login()
				if err != nil {
					res[i] = err.Error()
					return
				}
				code, _, got, msg, err := c.hashed("GET", "/glance/"+id2, nil)
				if err != nil || code != 200 || got != d2 {
					res[i] = fmt.Sprintf("%d %+v %v %.100s", code, got, err, msg)
				}
			}()
		}
		wg.Wait()
		for i, r := range res {
			if r != "" {
				t.Errorf("download of image 2 at s-%c: %s; want 200 %+v", 'a'+i, r, d2)
			}
		}
		recv := wanBytes(t, "nitro_peer_received_bytes_total", "s", sa, sb) - recv0
		sent := wanBytes(t, "nitro_peer_sent_bytes_total", "b", b1) - sent0
		report(t, "5. image 2 (%d B) created at b; read at s-a and s-b at once in %.1fs: WAN bytes into s (s-a+s-b) %d, sent by b-1 %d; want %d once (stored size of the %d of its %d chunks region s lacked); s-a+s-b fetchers: %s",
			d2.Size, time.Since(start).Seconds(), recv, sent, want, n, len(ref[1]), fetchCounters(t, sa, sb).minus(c0))
		if recv != want || sent != want {
			t.Errorf("concurrent reads in region s: %d B received, %d B sent by b; want %d (each missing chunk once)", recv, sent, want)
		}
	})
}
