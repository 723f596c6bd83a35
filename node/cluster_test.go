package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/nitro-cloud/nitro/chunkstore"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"github.com/nitro-cloud/nitro/node/internal/peer"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

const clusterSecret = "three-region-test-secret-0123456789"

// linkMbit is the emulated speed of every link into region b: a sends
// twice as fast as c.
var linkMbit = map[string]map[string]float64{ // sender → receiver → Mbit/s
	"a": {"b": 64, "c": 400},
	"b": {"a": 400, "c": 400},
	"c": {"b": 32, "a": 400},
}

func regionConfig(t *testing.T, region string, join []string) Config {
	cfg := testConfig(t)
	cfg.Region, cfg.Node = region, region+"-node"
	cfg.Store.MinSize, cfg.Store.AvgSize, cfg.Store.MaxSize = 16<<10, 32<<10, 128<<10
	cfg.Cluster = ClusterConfig{
		PeerListen: "127.0.0.1:0", GossipListen: "127.0.0.1:0", Peers: join, Secret: clusterSecret,
		PushTimeout: 2 * time.Second, AntiEntropyInterval: 300 * time.Millisecond, ProbeInterval: 100 * time.Millisecond,
		// SlowGrace: a stream is judged after 2 s (the default), not
		// sooner: the reads here take about half a second, and on a loaded
		// machine a stream stalled by CPU starvation for 0.5 s was judged
		// slow and re-planned, which skewed the share that
		// SpreadOverTwoRegionsInProportion asserts. No test relies on the
		// slow-source re-plan firing (HolderKilledMidRead is a failure).
		SlowGrace: 2 * time.Second, EmulateLinkMbit: linkMbit[region], Links: map[string]LinkConfig{},
		SummaryInterval: 300 * time.Millisecond,
	}
	for from, to := range linkMbit {
		if from != region {
			cfg.Cluster.Links[from] = LinkConfig{BandwidthMbit: to[region]}
		}
	}
	return cfg
}

type tcluster struct {
	t     *testing.T
	nodes map[string]*running
}

func startCluster(t *testing.T) *tcluster {
	tc := &tcluster{t: t, nodes: map[string]*running{}}
	a := startNode(t, regionConfig(t, "a", nil))
	tc.nodes["a"] = a
	for _, r := range []string{"b", "c"} {
		tc.nodes[r] = startNode(t, regionConfig(t, r, []string{a.cluster.ml.Addr()}))
	}
	tc.waitPeers(2)
	return tc
}

func (tc *tcluster) waitPeers(n int) {
	tc.t.Helper()
	waitFor(tc.t, 10*time.Second, "membership", func() bool {
		for _, r := range tc.nodes {
			if r.cancel != nil && len(r.cluster.ml.Peers()) != n {
				return false
			}
		}
		return true
	})
}

func waitFor(t *testing.T, d time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func (tc *tcluster) client(region string) *swiftClient {
	return login(tc.t, tc.nodes[region].base(), "test:tester", "testing")
}

// sentTo sums the stored chunk bytes every peer server counted as sent to
// region.
func (tc *tcluster) sentTo(region string) int64 {
	var n int64
	for _, r := range tc.nodes {
		n += r.cluster.server.SentStats()[region].Bytes
	}
	return n
}

func (tc *tcluster) sentFromTo(from, to string) int64 {
	return tc.nodes[from].cluster.server.SentStats()[to].Bytes
}

// recipeOf returns the recipe of an object as region holds it.
func (tc *tcluster) recipeOf(region, container, object string) *recipe.Recipe {
	tc.t.Helper()
	_, rc := tc.nodes[region].recipeOf(tc.t, container, object)
	return rc
}

// lacked returns the stored size (as holder stores them) of the distinct
// chunks of rc that region lacks.
func (tc *tcluster) lacked(region, holder string, rc *recipe.Recipe) (chunks int, bytes int64) {
	ctx := tc.t.Context()
	ids := rc.Unique()
	has, err := tc.nodes[region].store.Has(ctx, ids)
	if err != nil {
		tc.t.Fatal(err)
	}
	for i, h := range has {
		if !h {
			st, err := tc.nodes[holder].store.GetStored(ctx, ids[i])
			if err != nil {
				tc.t.Fatal(err)
			}
			chunks++
			bytes += int64(len(st.Data))
		}
	}
	return chunks, bytes
}

func (tc *tcluster) get(region, path string) ([]byte, time.Duration) {
	tc.t.Helper()
	start := time.Now()
	_, b := tc.client(region).must(200, "GET", path, nil, nil)
	return b, time.Since(start)
}

func TestThreeRegions(t *testing.T) {
	tc := startCluster(t)
	ctx := t.Context()
	ca := tc.client("a")
	ca.must(201, "PUT", "/images", nil, nil)
	base := randomBytes(t, 3<<20)
	copy(base[1<<20:], bytes.Repeat([]byte("compressible zeros of a VM image "), 20000)) // ~650 KiB
	ca.must(201, "PUT", "/images/base", nil, bytes.NewReader(base))
	if got := tc.regions("a", "/images/base"); got != "a" {
		t.Fatalf("X-Nitro-Regions at a after the PUT: %q, want a", got)
	}

	t.Run("PutAtAReadAtB", func(t *testing.T) {
		rc := tc.recipeOf("b", "images", "base") // the push brought record and recipe
		n, want := tc.lacked("b", "a", rc)
		before := tc.sentTo("b")
		got, el := tc.get("b", "/images/base")
		if !bytes.Equal(got, base) {
			t.Fatal("bytes differ")
		}
		crossed := tc.sentTo("b") - before
		recv := tc.nodes["b"].cluster.client.ReceivedStats()["a"].Bytes
		t.Logf("read at b: %d bytes in %v; %d chunks lacked, %d stored bytes crossed (want %d; plain %d)",
			len(got), el, n, crossed, want, len(base))
		if crossed != want || recv != want {
			t.Fatalf("crossed %d (received %d), want %d", crossed, recv, want)
		}
		// b wrote its holding once the read completed and pushed it.
		tc.waitRegions("/images/base", "a,b", "a", "b", "c")
	})

	t.Run("SecondReadAtBIsLocal", func(t *testing.T) {
		before := tc.sentTo("b")
		got, el := tc.get("b", "/images/base")
		if !bytes.Equal(got, base) || tc.sentTo("b") != before {
			t.Fatalf("second read crossed %d bytes", tc.sentTo("b")-before)
		}
		t.Logf("second read at b: %v, 0 bytes crossed", el)
	})

	t.Run("VariantAtCReadAtB", func(t *testing.T) {
		variant := bytes.Clone(base)
		copy(variant[2<<20:], randomBytes(t, 64<<10))
		tc.client("c").must(201, "PUT", "/images/variant", nil, bytes.NewReader(variant))
		rc := tc.recipeOf("b", "images", "variant")
		n, want := tc.lacked("b", "c", rc)
		before := tc.sentTo("b")
		got, el := tc.get("b", "/images/variant")
		if !bytes.Equal(got, variant) {
			t.Fatal("bytes differ")
		}
		crossed := tc.sentTo("b") - before
		t.Logf("variant read at b: %d of %d chunks lacked, %d stored bytes crossed (want %d), %v",
			n, len(rc.Unique()), crossed, want, el)
		if crossed != want || n == 0 || n > len(rc.Unique())/4 {
			t.Fatalf("crossed %d, want %d", crossed, want)
		}
	})

	t.Run("SpreadOverTwoRegionsInProportion", func(t *testing.T) {
		data := randomBytes(t, 6<<20) // incompressible: wire size = plain size
		ca.must(201, "PUT", "/images/spread", nil, bytes.NewReader(data))
		if got, _ := tc.get("c", "/images/spread"); !bytes.Equal(got, data) { // c now holds it too
			t.Fatal("read at c")
		}
		// The plan splits by b's link estimates, which start at the
		// configured 64 and 32 Mbit/s and follow measured throughput: on
		// loaded CI cores a stream is CPU-bound and the earlier reads may
		// have moved them (a's share was 0.52 once). So the share is checked
		// against the estimates the plan started from (2/3 on an idle
		// machine), and only when no re-plan or hedge moved chunks during
		// the read.
		fb := tc.nodes["b"].cluster.fetch
		est := map[string]float64{}
		for _, l := range fb.Links() {
			est[l.Region] = l.Bandwidth
		}
		expect := est["a"] / (est["a"] + est["c"])
		st0 := fb.Stats()
		a0, c0 := tc.sentFromTo("a", "b"), tc.sentFromTo("c", "b")
		got, el := tc.get("b", "/images/spread")
		if !bytes.Equal(got, data) {
			t.Fatal("bytes differ")
		}
		st1 := fb.Stats()
		fa, fc := tc.sentFromTo("a", "b")-a0, tc.sentFromTo("c", "b")-c0
		share := float64(fa) / float64(fa+fc)
		bound := time.Duration(float64(fa+fc) / mbit(64+32) * float64(time.Second))
		t.Logf("read at b from a (64 Mbit/s) and c (32 Mbit/s): a sent %d, c sent %d, a's share %.3f (estimates say %.3f; links 0.667); %v (fluid bound %v); fetch stats at b %+v",
			fa, fc, share, expect, el, bound, st1)
		if st1.Replans != st0.Replans || st1.Hedges != st0.Hedges {
			t.Logf("re-planned or hedged during the read: the share is not the plan's")
			return
		}
		if fa == 0 || fc == 0 || math.Abs(share-expect) > 0.12 {
			t.Fatalf("a's share %.3f, want about %.3f (b's link estimates)", share, expect)
		}
	})

	t.Run("EagerPlacement", func(t *testing.T) {
		ca.must(201, "PUT", "/placed", map[string]string{"X-Container-Meta-Nitro-Placement": "c"}, nil)
		data := randomBytes(t, 2<<20)
		ca.must(201, "PUT", "/placed/img", nil, bytes.NewReader(data))
		rc := tc.recipeOf("c", "placed", "img")
		start := time.Now()
		waitFor(t, 10*time.Second, "placement at c", func() bool { n, _ := tc.lacked("c", "a", rc); return n == 0 })
		t.Logf("placed at c %v after the PUT returned", time.Since(start))
		if n, _ := tc.lacked("b", "a", rc); n != len(rc.Unique()) {
			t.Fatalf("b got %d chunks of an object placed only at c", len(rc.Unique())-n)
		}
		before := tc.sentTo("c")
		if got, _ := tc.get("c", "/placed/img"); !bytes.Equal(got, data) || tc.sentTo("c") != before {
			t.Fatal("read at c after placement was not local")
		}
		tc.waitRegions("/placed/img", "a,c", "a", "b", "c")
	})

	t.Run("PartitionAndHeal", func(t *testing.T) {
		cut := func(on bool) {
			for r, n := range tc.nodes {
				n.cluster.blockMu.Lock()
				n.cluster.block = nil
				if on {
					n.cluster.block = func(from string) bool { return (r == "c") != (from == "c") }
				}
				n.cluster.blockMu.Unlock()
			}
		}
		cut(true)
		ca.must(201, "PUT", "/images/during-a", nil, strings.NewReader("written at a during the partition"))
		tc.client("c").must(201, "PUT", "/images/during-c", nil, strings.NewReader("written at c during the partition"))
		tc.client("b").must(204, "DELETE", "/images/variant", nil, nil)
		time.Sleep(700 * time.Millisecond) // anti-entropy rounds fail meanwhile
		if r, _ := tc.client("c").do("HEAD", "/images/during-a", nil, nil); r.StatusCode != 404 {
			t.Fatalf("c saw a's write across the partition: %d", r.StatusCode)
		}
		healed := time.Now()
		cut(false)
		waitFor(t, 10*time.Second, "namespaces converge", func() bool {
			d := map[peer.Digest]bool{}
			for _, n := range tc.nodes {
				dg, err := n.cluster.rep.Digest(ctx)
				if err != nil {
					t.Fatal(err)
				}
				d[*dg] = true
			}
			return len(d) == 1
		})
		t.Logf("converged %v after the partition healed", time.Since(healed))
		for r := range tc.nodes {
			c := tc.client(r)
			c.must(200, "GET", "/images/during-a", nil, nil)
			c.must(200, "GET", "/images/during-c", nil, nil)
			c.must(404, "GET", "/images/variant", nil, nil)
		}
	})

	t.Run("UnauthenticatedPeerRequestRefused", func(t *testing.T) {
		for _, path := range []string{"/peer/v1/have", "/peer/v1/chunks", "/peer/v1/records", "/peer/v1/status"} {
			resp, err := http.Post(tc.nodes["a"].cluster.url+path, "application/octet-stream", strings.NewReader(""))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("%s: %d", path, resp.StatusCode)
			}
		}
	})

	t.Run("StatusAndPlan", func(t *testing.T) {
		cfg := tc.nodes["b"].cfg
		cfg.Cluster.PeerURL = tc.nodes["b"].cluster.url
		st, err := QueryStatus(ctx, "http://"+tc.nodes["b"].OpsAddr())
		if err != nil || st.Cluster == nil || len(st.Cluster.Members) != 2 || st.Region != "b" {
			t.Fatalf("status: %+v %v", st, err)
		}
		ca.must(201, "PUT", "/images/planned", nil, bytes.NewReader(randomBytes(t, 1<<20)))
		rep, err := QueryPlan(ctx, cfg, "AUTH_test/images/planned")
		if err != nil || rep.Missing == 0 || rep.Makespan < rep.LowerBound*(1-1e-9) { // float rounding: equal up to ulps
			t.Fatalf("plan: %+v %v", rep, err)
		}
	})

	t.Run("HolderKilledMidRead", func(t *testing.T) {
		data := randomBytes(t, 6<<20)
		ca.must(201, "PUT", "/images/kill", nil, bytes.NewReader(data))
		if got, _ := tc.get("c", "/images/kill"); !bytes.Equal(got, data) {
			t.Fatal("read at c")
		}
		go func() {
			time.Sleep(400 * time.Millisecond)
			tc.nodes["a"].cluster.kill()
		}()
		a0 := tc.sentFromTo("a", "b")
		got, el := tc.get("b", "/images/kill")
		if !bytes.Equal(got, data) {
			t.Fatal("bytes differ")
		}
		st := tc.nodes["b"].cluster.fetch.Stats()
		t.Logf("a killed mid-read: a sent %d before dying; read completed in %v; fetch stats %+v",
			tc.sentFromTo("a", "b")-a0, el, st)
		if st.SourceFails == 0 {
			t.Fatal("no source failure observed")
		}
	})
}

// TestCorruptChunkOnDisk corrupts a chunk in a holder's Badger database:
// the holder detects it when it reads it, does not serve it, and the reader
// gets the chunk from the other holder.
func TestCorruptChunkOnDisk(t *testing.T) {
	tc := startCluster(t)
	ca := tc.client("a")
	ca.must(201, "PUT", "/images", nil, nil)
	data := randomBytes(t, 2<<20)
	ca.must(201, "PUT", "/images/img", nil, bytes.NewReader(data))
	if got, _ := tc.get("c", "/images/img"); !bytes.Equal(got, data) {
		t.Fatal("read at c")
	}
	rc := tc.recipeOf("a", "images", "img")
	victim := rc.Refs[len(rc.Refs)/2].ID

	// Stop a, flip a byte of the victim's value in its Badger, restart it
	// on the same addresses.
	a := tc.nodes["a"]
	cfg := restartConfig(a)
	a.stop(t)
	corruptChunk(t, cfg.DataDir, victim)
	tc.nodes["a"] = startNode(t, cfg)
	tc.waitPeers(2)

	// b prefers a (64 vs 32 Mbit/s) for at least part of the chunks; every
	// chunk must arrive verified.
	got, _ := tc.get("b", "/images/img")
	if !bytes.Equal(got, data) {
		t.Fatal("bytes differ")
	}
	b := tc.nodes["b"]
	if _, err := b.store.Get(t.Context(), victim); err != nil {
		t.Fatalf("victim not stored verified at b: %v", err)
	}
	t.Logf("fetch stats at b: %+v; a sent %d, c sent %d", b.cluster.fetch.Stats(),
		tc.sentFromTo("a", "b"), tc.sentFromTo("c", "b"))
	// The corrupt copy is never served: a serves nothing for it.
	cl, _ := peer.NewClient(peer.ClientConfig{Secret: []byte(clusterSecret), Region: "x"})
	err := cl.FetchChunks(t.Context(), tc.nodes["a"].cluster.url, "a", []recipe.ChunkID{victim},
		func(id recipe.ChunkID, st chunkstore.Stored, err error) error { return err })
	if !errors.Is(err, peer.ErrNotHeld) {
		t.Fatalf("a served its corrupt chunk: %v", err)
	}
}

// regions returns the X-Nitro-Regions of a HEAD at region.
func (tc *tcluster) regions(region, path string) string {
	tc.t.Helper()
	r, _ := tc.client(region).must(200, "HEAD", path, nil, nil)
	return r.Header.Get("X-Nitro-Regions")
}

// waitRegions waits until a HEAD of path at each of at says want.
func (tc *tcluster) waitRegions(path, want string, at ...string) {
	tc.t.Helper()
	for _, r := range at {
		waitFor(tc.t, 10*time.Second, fmt.Sprintf("X-Nitro-Regions %q at %s", want, r), func() bool {
			return tc.regions(r, path) == want
		})
	}
}

// corruptChunk flips a byte of chunk id's stored value in the Badger of a
// stopped node's data dir.
func corruptChunk(t *testing.T, dataDir string, id recipe.ChunkID) {
	t.Helper()
	db, err := badger.Open(badger.DefaultOptions(filepath.Clean(dataDir)).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	key := append([]byte{'c'}, id[:]...)
	err = db.Update(func(txn *badger.Txn) error {
		item, err := txn.Get(key)
		if err != nil {
			return err
		}
		val, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		val[len(val)/2] ^= 0x55
		return txn.Set(key, val)
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
}

// restartConfig returns the config that restarts r on the same addresses.
func restartConfig(r *running) Config {
	cfg := r.cfg
	cfg.Swift.Listen, cfg.OpsListen = r.SwiftAddr(), r.OpsAddr()
	cfg.Cluster.PeerListen = strings.TrimPrefix(r.cluster.url, "http://")
	cfg.Cluster.GossipListen = r.cluster.ml.Addr()
	return cfg
}

// TestSelfHealCorruptChunk corrupts a chunk in the reading region's own
// Badger: the read detects it, drops it, fetches it again from a region
// that holds it, and returns the object byte-exact; the corrupt bytes are
// never served. A single-region node fails the read with the corrupt-chunk
// error instead.
func TestSelfHealCorruptChunk(t *testing.T) {
	tc := startCluster(t)
	ca := tc.client("a")
	ca.must(201, "PUT", "/images", nil, nil)
	data := randomBytes(t, 2<<20)
	ca.must(201, "PUT", "/images/img", nil, bytes.NewReader(data))
	if got, _ := tc.get("b", "/images/img"); !bytes.Equal(got, data) { // b holds it all now
		t.Fatal("first read at b")
	}
	rc := tc.recipeOf("b", "images", "img")
	victim := rc.Refs[len(rc.Refs)/2].ID

	b := tc.nodes["b"]
	cfg := restartConfig(b)
	b.stop(t)
	corruptChunk(t, cfg.DataDir, victim)
	core, logs := observer.New(zap.WarnLevel)
	n, err := New(cfg, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b = &running{Node: n, cancel: cancel, done: make(chan error, 1)}
	go func() { b.done <- n.Run(ctx) }()
	t.Cleanup(func() { b.stop(t) })
	tc.nodes["b"] = b
	tc.waitPeers(2)
	if _, err := b.store.Get(t.Context(), victim); !errors.As(err, new(*chunkstore.CorruptChunkError)) {
		t.Fatalf("victim not corrupt at b: %v", err)
	}

	before := tc.sentTo("b")
	got, _ := tc.get("b", "/images/img")
	if !bytes.Equal(got, data) {
		t.Fatal("bytes differ")
	}
	st := b.cluster.fetch.Stats()
	plain, err := b.store.Get(t.Context(), victim)
	if err != nil || recipe.Sum(plain) != victim {
		t.Fatalf("victim not stored verified at b after the read: %v", err)
	}
	crossed := tc.sentTo("b") - before
	t.Logf("healed read at b: fetch stats %+v; %d stored bytes crossed", st, crossed)
	if st.CorruptLocal != 1 || st.Healed != 1 || st.Chunks != 1 {
		t.Fatalf("want the victim dropped and fetched again once: %+v", st)
	}
	if crossed <= 0 || crossed > int64(recipe.MaxChunkSize) {
		t.Fatalf("%d bytes crossed for one chunk", crossed)
	}
	drops := logs.FilterMessageSnippet("dropped it").FilterField(zap.String("chunk", victim.String())).All()
	if len(drops) != 1 {
		t.Fatalf("want one warning naming the dropped chunk, got %v", logs.All())
	}
	// The next read is local.
	before = tc.sentTo("b")
	if got, _ := tc.get("b", "/images/img"); !bytes.Equal(got, data) || tc.sentTo("b") != before {
		t.Fatal("read after the heal was not local")
	}

	t.Run("SingleRegion", func(t *testing.T) {
		cfg := testConfig(t)
		r := startNode(t, cfg)
		c := login(t, r.base(), "test:tester", "testing")
		c.must(201, "PUT", "/images", nil, nil)
		data := randomBytes(t, 1<<20)
		c.must(201, "PUT", "/images/img", nil, bytes.NewReader(data))
		if resp, _ := c.must(200, "HEAD", "/images/img", nil, nil); resp.Header.Get("X-Nitro-Regions") != cfg.Region {
			got := resp.Header.Get("X-Nitro-Regions")
			t.Fatalf("X-Nitro-Regions on a single-region node: %q, want %q", got, cfg.Region)
		}
		_, rcp := r.recipeOf(t, "images", "img")
		victim := rcp.Refs[len(rcp.Refs)/2].ID
		rcfg := cfg
		rcfg.Swift.Listen, rcfg.OpsListen = r.SwiftAddr(), r.OpsAddr()
		r.stop(t)
		corruptChunk(t, cfg.DataDir, victim)
		r = startNode(t, rcfg)
		c = login(t, r.base(), "test:tester", "testing")
		req, err := http.NewRequest("GET", c.storageURL+"/images/img", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Auth-Token", c.token)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			body, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil {
				t.Fatalf("GET of an object with a corrupt chunk succeeded: %s, %d bytes", resp.Status, len(body))
			}
			if len(body) >= len(data) {
				t.Fatalf("served %d bytes of a corrupt object before aborting", len(body))
			}
		}
		if _, err := r.store.Get(t.Context(), victim); !errors.As(err, new(*chunkstore.CorruptChunkError)) {
			t.Fatalf("single region: victim %v, want still corrupt (fsck --repair drops it)", err)
		}
	})
}

func TestSingleRegionHasNoCluster(t *testing.T) {
	r := startNode(t, testConfig(t))
	if r.cluster != nil {
		t.Fatal("cluster without peer_listen")
	}
	_ = context.Background
	_ = fmt.Sprint
	_ = zap.NewNop
}
