package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"github.com/nitro-cloud/nitro/internal/testenv"
	"go.uber.org/zap"
)

// clusterNodeConfig is a region of an e2e cluster: singleNodeConfig plus a
// cluster section on loopback. The two %s are the region name and the
// gossip addresses to join (a YAML flow list). Gossip keeps memberlist's
// WAN timings (a 5 s probe interval): a faster failure detector could
// declare a peer dead while two loaded cores hash an image.
var clusterNodeConfig = nodeConfig{
	Comment: "e2e multi-region node", Region: "%[1]s", Node: "%[1]s-node",
	Cluster: &clusterConfig{Peers: "%[2]s", Secret: "e2e-multi-region-secret-0123456789", AntiEntropy: "5s"},
}.template()

// startRegion starts the node of one region that joins the gossip
// addresses in join.
func startRegion(t *testing.T, region string, join ...string) *nitroNode {
	t.Helper()
	return startNitro(t, fmt.Sprintf(clusterNodeConfig, region, strings.Join(join, ", ")))
}

func (n *nitroNode) gossipAddr() string { return fmt.Sprintf("127.0.0.1:%d", n.Ports["gossip"]) }

// linkCounters are node.ChunkTraffic as `nitro status --json` prints them:
// stored (compressed, as on the wire) chunk bytes, without framing.
type linkCounters struct {
	Chunks int64 `json:"chunks"`
	Bytes  int64 `json:"bytes"`
}

// clusterStatus is the part of `nitro status --json` (node.Status) the
// test reads.
type clusterStatus struct {
	Region  string `json:"region"`
	Cluster struct {
		Members []struct {
			Region string `json:"region"`
			State  string `json:"state"`
		} `json:"members"`
		Sent     map[string]linkCounters `json:"chunks_sent"`
		Received map[string]linkCounters `json:"chunks_received"`
	} `json:"cluster"`
}

// status runs `nitro status --json` against the node (over its ops
// listener, as an operator would).
func (n *nitroNode) status(t testing.TB) clusterStatus {
	t.Helper()
	out, err := exec.Command(nitroBinary(t), "status", "--json", "--config", filepath.Join(n.Dir, "nitro.yaml")).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("nitro status: %v\n%s", err, stderr)
	}
	var st clusterStatus
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("nitro status: %v\n%s", err, out)
	}
	return st
}

// alivePeers counts the other regions the node sees alive.
func (st clusterStatus) alivePeers() int {
	n := 0
	for _, m := range st.Cluster.Members {
		if m.State == "alive" && m.Region != st.Region {
			n++
		}
	}
	return n
}

// planReport is the part of `nitro plan --json` (fetch.Report) the test
// logs.
type planReport struct {
	Chunks       int   `json:"chunks"`
	Missing      int   `json:"missing_chunks"`
	MissingPlain int64 `json:"missing_plain_bytes"`
	Sources      []struct {
		Region string `json:"region"`
		Holds  int    `json:"holds"`
		Chunks int    `json:"chunks"`
		Bytes  int64  `json:"bytes"`
	} `json:"sources"`
}

// plan runs `nitro plan --json` at the node for object
// (ACCOUNT/CONTAINER/OBJECT): how it would read it now; nothing is fetched.
func (n *nitroNode) plan(t testing.TB, object string) planReport {
	t.Helper()
	out, err := exec.Command(nitroBinary(t), "plan", "--json", "--config", filepath.Join(n.Dir, "nitro.yaml"), object).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("nitro plan %s: %v\n%s", object, err, stderr)
	}
	var rep planReport
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("nitro plan: %v\n%s", err, out)
	}
	return rep
}

func (p planReport) String() string {
	var src []string
	for _, s := range p.Sources {
		src = append(src, fmt.Sprintf("%s holds %d, sends %d (~%d B stored)", s.Region, s.Holds, s.Chunks, s.Bytes))
	}
	return fmt.Sprintf("%d distinct chunks, %d missing (%d B plain); %s", p.Chunks, p.Missing, p.MissingPlain, strings.Join(src, "; "))
}

// nodeStats is a node's /stats: distinct chunks and their stored bytes.
type nodeStats struct{ Chunks, Stored int64 }

func (n *nitroNode) nodeStats(t testing.TB) nodeStats {
	t.Helper()
	b, raw := n.storedBytes(t)
	return nodeStats{jsonInt(t, raw, "chunks"), b}
}

// chunkSizes maps each distinct chunk of a stream to its stored size:
// the compressed (or raw) data without the codec byte, which is what the
// peers count as chunk bytes sent and received.
type chunkSizes map[recipe.ChunkID]int64

// minus returns the chunks of c that are not in d, and their stored bytes.
func (c chunkSizes) minus(d chunkSizes) (chunks int, bytes int64) {
	for id, n := range c {
		if _, ok := d[id]; !ok {
			chunks++
			bytes += n
		}
	}
	return chunks, bytes
}

// referenceChunks writes each file into a scratch chunk store in dir with
// the settings the nodes use (clusterNodeConfig sets no store sizes or
// level: chunkstore's defaults) and returns each file's distinct chunks
// with their stored sizes. It is the test's own, node-independent
// computation of what a region lacks: the nodes' /stats stored_bytes is
// Badger's approximate value size (codec byte included, a few bytes off
// per chunk in the value log), too coarse for an exact comparison.
func referenceChunks(ctx context.Context, dir string, paths ...string) ([]chunkSizes, error) {
	return referenceChunksWith(ctx, chunkstore.Config{Dir: dir, NoSync: true}, paths...)
}

// referenceChunksWith is referenceChunks with the chunk store's config
// (e.g. the nodes' chunk sizes).
func referenceChunksWith(ctx context.Context, cfg chunkstore.Config, paths ...string) ([]chunkSizes, error) {
	st, err := chunkstore.Open(cfg, zap.NewNop())
	if err != nil {
		return nil, err
	}
	defer st.Close()
	var out []chunkSizes
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		rc, _, err := st.Write(ctx, f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		m := chunkSizes{}
		for _, id := range rc.Unique() {
			s, err := st.GetStored(ctx, id)
			if err != nil {
				return nil, err
			}
			m[id] = int64(len(s.Data))
		}
		out = append(out, m)
	}
	return out, nil
}

// TestGlanceMultiRegion is the multi-region acceptance test of issue #5:
// three regions a, b and c, each a `nitro serve` on loopback joined by
// gossip with one cluster secret, each with its own glance-api (its own
// glance-api.conf and glance-swift.conf whose ref1 points at the local
// node, through a recording proxy) and all three sharing region a's Glance
// database, as multi-region deployments with a shared Glance database do.
// That works because Glance stores locations as
// swift+config://ref1/glance/<id> and resolves ref1 in each region's own
// glance-swift.conf (docs/openstack-here.md gotcha 18).
//
//  1. Glance a creates an image from a real VM disk image (single PUT to
//     node a); Glance b downloads it byte-exact. What crossed between
//     regions equals the stored size of the chunks b lacked: all of the
//     image's distinct chunks (b was empty).
//  2. A second download at b crosses nothing.
//  3. Glance c creates a variant image (bookworm-minbase-extra, which
//     shares most blocks with image 1); Glance b downloads it byte-exact,
//     and what crosses equals the stored size of the variant's chunks that
//     b lacked: those not among image 1's (b holds exactly image 1's
//     chunks after step 1, asserted by chunk count).
//
// "Crossed" is the sum over every node of `nitro status --json`'s
// chunk_bytes_sent to region b; it must also equal b's
// chunk_bytes_received. These peer counters count stored chunk bytes (the
// compressed data as on the wire, without the codec byte and without any
// framing), so the comparisons are exact. The expected bytes come from
// the test's own scratch chunk store (referenceChunks), which cuts and
// compresses both image files as the nodes do and gives every chunk's
// stored size; the node's own counts (chunks in /stats, missing chunks in
// `nitro plan`) are checked against it too.
func TestGlanceMultiRegion(t *testing.T) {
	testenv.Short(t)
	img1 := testenv.ImageNamed(t, "bookworm-minbase", "qcow2")
	img2 := testenv.ImageNamed(t, "bookworm-minbase-extra", "qcow2")
	testenv.Tool(t, "glance-api")
	testenv.Tool(t, "openstack")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	t0 := time.Now()
	since := func() float64 { return time.Since(t0).Seconds() }

	// The expected sizes are computed while the regions start.
	type refResult struct {
		sizes []chunkSizes
		took  time.Duration
		err   error
	}
	refc := make(chan refResult, 1)
	refDir := t.TempDir()
	go func() {
		start := time.Now()
		sizes, err := referenceChunks(ctx, refDir, img1.Path, img2.Path)
		refc <- refResult{sizes, time.Since(start), err}
	}()
	var ref []chunkSizes
	reference := func() []chunkSizes {
		if ref == nil {
			r := <-refc
			if r.err != nil {
				t.Fatalf("reference chunk store: %v", r.err)
			}
			ref = r.sizes
			t.Logf("reference chunk store: image 1 has %d distinct chunks, image 2 %d (%.1fs)", len(ref[0]), len(ref[1]), r.took.Seconds())
		}
		return ref
	}

	// The nodes: b and c join a's gossip address.
	nodes := map[string]*nitroNode{}
	nodes["a"] = startRegion(t, "a")
	nodes["b"] = startRegion(t, "b", nodes["a"].gossipAddr())
	nodes["c"] = startRegion(t, "c", nodes["a"].gossipAddr())
	regions := []string{"a", "b", "c"}
	deadline := time.Now().Add(30 * time.Second)
	for _, r := range regions {
		for {
			st := nodes[r].status(t)
			if st.alivePeers() == 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("region %s sees %d live peers after 30 s, want 2: %+v", r, st.alivePeers(), st.Cluster.Members)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	t.Logf("three regions up and joined (%.1fs)", since())

	// One Glance per region, each through a recorder to its own node. The
	// large_object_size of 1024 "MB" keeps the known-size uploads of these
	// ~140 MB images on the single-PUT path.
	recs := map[string]*recorder{}
	glances := map[string]*glanceAPI{}
	for _, r := range regions {
		recs[r] = newRecorder(t, nodes[r].URL)
		opts := glanceOptions{LargeObjectSize: 1024}
		if r != "a" {
			opts.DBConnection = "sqlite:///" + filepath.Join(glances["a"].Dir, "glance.sqlite")
		}
		glances[r] = startGlance(t, recs[r].URL+"/auth/v1.0", opts)
	}
	t.Logf("three glance-api up, sharing region a's database (%.1fs)", since())

	ids := &idNames{}
	art := artifactDir(t)
	defer func() {
		for _, r := range regions {
			p := filepath.Join(art, "trace-"+r+".txt")
			tr := writeTrace(t, p, recs[r].All(), ids)
			t.Logf("trace of what Glance %s sent to node %s (%d requests; full: %s):\n%s", r, r, len(tr), p, summarize(tr))
		}
	}()

	d1 := digestFile(t, img1.Path)
	d2 := digestFile(t, img2.Path)
	t.Logf("image 1 %s: %d B (%s)", img1.Path, d1.Size, mib(d1.Size))
	t.Logf("image 2 %s: %d B (%s)", img2.Path, d2.Size, mib(d2.Size))

	// crossing is what crosses into region b while f runs: the chunk
	// bytes each region sent to b, their sum, the chunk bytes b received,
	// and the growth of b's store (chunk count and /stats stored_bytes).
	type crossing struct {
		from       map[string]int64
		sent, recv int64
		grew       nodeStats
		took       time.Duration
	}
	snapshot := func() (map[string]int64, int64, nodeStats) {
		sent := map[string]int64{}
		for _, r := range regions {
			sent[r] = nodes[r].status(t).Cluster.Sent["b"].Bytes
		}
		var recv int64
		for _, lc := range nodes["b"].status(t).Cluster.Received {
			recv += lc.Bytes
		}
		return sent, recv, nodes["b"].nodeStats(t)
	}
	measure := func(f func()) crossing {
		s0, r0, b0 := snapshot()
		start := time.Now()
		f()
		took := time.Since(start)
		s1, r1, b1 := snapshot()
		c := crossing{from: map[string]int64{}, recv: r1 - r0, took: took,
			grew: nodeStats{b1.Chunks - b0.Chunks, b1.Stored - b0.Stored}}
		for r := range s1 {
			c.from[r] = s1[r] - s0[r]
			c.sent += c.from[r]
		}
		return c
	}
	create := func(g *glanceAPI, path, name string) string {
		out := g.openstack(t, ctx, "image", "create", "--disk-format", "qcow2", "--container-format", "bare",
			"--file", path, "-f", "json", name)
		var created map[string]any
		if err := json.Unmarshal([]byte(out), &created); err != nil {
			t.Fatalf("openstack image create output: %v\n%s", err, out)
		}
		return str(created, "id")
	}
	var summary []string
	report := func(t *testing.T, format string, args ...any) {
		line := fmt.Sprintf(format, args...)
		summary = append(summary, line)
		t.Log(line)
	}

	var id1 string
	ok := t.Run("1_create_at_a_download_at_b", func(t *testing.T) {
		a0 := nodes["a"].nodeStats(t)
		start := time.Now()
		id1 = create(glances["a"], img1.Path, "e2e-mr-minbase")
		ids.set(id1, "<img1>")
		im := glances["a"].waitActive(t, id1, time.Minute)
		up := time.Since(start)
		a1 := nodes["a"].nodeStats(t)
		if c := str(im, "checksum"); c != d1.MD5 {
			t.Errorf("Glance checksum %q, want the file's MD5 %s", c, d1.MD5)
		}
		// Region b sees the same record through the shared database.
		if imB := glances["b"].image(t, id1); imB == nil || str(imB, "status") != "active" || str(imB, "checksum") != d1.MD5 {
			t.Fatalf("Glance b's view of image 1: %v", imB)
		}
		p := nodes["b"].plan(t, "AUTH_test/glance/"+id1)
		t.Logf("plan at b before the download: %s", p)

		var got digest
		c := measure(func() { got, _ = glances["b"].download(t, id1) })
		if got != d1 {
			t.Fatalf("download of image 1 at b: %+v, want %+v", got, d1)
		}
		ref := reference()
		n, want := ref[0].minus(nil)
		report(t, "1. image 1 (%d B) created at a in %.1fs (a's store +%d chunks, +%d B in /stats); downloaded at b in %.1fs: "+
			"crossed %d B (from a %d, from c %d), received at b %d, b's store +%d chunks; "+
			"expected %d B = stored size of the %d chunks b lacked (all of image 1's)",
			d1.Size, up.Seconds(), a1.Chunks-a0.Chunks, a1.Stored-a0.Stored, c.took.Seconds(),
			c.sent, c.from["a"], c.from["c"], c.recv, c.grew.Chunks, want, n)
		if a1.Chunks-a0.Chunks != int64(n) || p.Missing != n || p.Chunks != n {
			t.Errorf("a stored %d new chunks and b's plan missed %d of %d; the reference store has %d",
				a1.Chunks-a0.Chunks, p.Missing, p.Chunks, n)
		}
		if c.sent != want || c.recv != want || c.from["a"] != want {
			t.Errorf("crossed %d B (from a %d), received %d; want %d, all from a", c.sent, c.from["a"], c.recv, want)
		}
		if b1 := nodes["b"].nodeStats(t); b1 != a1 || c.grew.Chunks != int64(n) {
			t.Errorf("after the download b holds %+v (+%d chunks), a holds %+v; want the same %d chunks", b1, c.grew.Chunks, a1, n)
		}
		// Glance b read from node b only: one GET of the object through
		// b's recorder, none through a's.
		get := findOne(t, recs["b"].All(), http.MethodGet, "/v1/AUTH_test/glance/"+id1, ids)
		if get.Status != http.StatusOK || get.RespLen != d1.Size {
			t.Errorf("node b answered Glance b's GET with %d, %d B; want 200, %d B", get.Status, get.RespLen, d1.Size)
		}
		if xs := findAll(recs["a"].All(), http.MethodGet, "^"+regexp.QuoteMeta("/v1/AUTH_test/glance/"+id1)+"$"); len(xs) != 0 {
			t.Errorf("Glance a's recorder saw %d GETs of image 1; want none", len(xs))
		}
	})
	if !ok {
		t.FailNow()
	}

	ok = t.Run("2_second_download_at_b_is_local", func(t *testing.T) {
		var got digest
		c := measure(func() { got, _ = glances["b"].download(t, id1) })
		if got != d1 {
			t.Fatalf("second download of image 1 at b: %+v, want %+v", got, d1)
		}
		report(t, "2. second download of image 1 at b in %.1fs: crossed %d B, received at b %d, b's store +%d chunks; expected 0",
			c.took.Seconds(), c.sent, c.recv, c.grew.Chunks)
		if c.sent != 0 || c.recv != 0 || c.grew != (nodeStats{}) {
			t.Errorf("second download crossed %d B (received %d, b's store grew %+v); want nothing", c.sent, c.recv, c.grew)
		}
	})
	if !ok {
		t.FailNow()
	}

	t.Run("3_variant_at_c_download_at_b", func(t *testing.T) {
		c0 := nodes["c"].nodeStats(t)
		start := time.Now()
		id2 := create(glances["c"], img2.Path, "e2e-mr-minbase-extra")
		ids.set(id2, "<img2>")
		im := glances["c"].waitActive(t, id2, time.Minute)
		up := time.Since(start)
		c1 := nodes["c"].nodeStats(t)
		if c := str(im, "checksum"); c != d2.MD5 {
			t.Errorf("Glance checksum %q, want the file's MD5 %s", c, d2.MD5)
		}
		p := nodes["b"].plan(t, "AUTH_test/glance/"+id2)
		t.Logf("plan at b before the download: %s", p)
		var got digest
		c := measure(func() { got, _ = glances["b"].download(t, id2) })
		if got != d2 {
			t.Fatalf("download of image 2 at b: %+v, want %+v", got, d2)
		}

		ref := reference()
		n, want := ref[1].minus(ref[0])
		_, all := ref[1].minus(nil)
		report(t, "3. image 2 (%d B) created at c in %.1fs (c's store +%d chunks, +%d B in /stats); downloaded at b in %.1fs: "+
			"crossed %d B (from a %d, from c %d), received at b %d, b's store +%d chunks; "+
			"expected %d B = stored size of the %d of its %d chunks b lacked (%.1f%% of the variant's %d stored bytes)",
			d2.Size, up.Seconds(), c1.Chunks-c0.Chunks, c1.Stored-c0.Stored, c.took.Seconds(),
			c.sent, c.from["a"], c.from["c"], c.recv, c.grew.Chunks, want, n, len(ref[1]), 100*float64(want)/float64(all), all)
		if c1.Chunks-c0.Chunks != int64(len(ref[1])) || p.Chunks != len(ref[1]) || p.Missing != n {
			t.Errorf("c stored %d new chunks and b's plan missed %d of %d; the reference store has %d, %d not in image 1",
				c1.Chunks-c0.Chunks, p.Missing, p.Chunks, len(ref[1]), n)
		}
		if want <= 0 || want >= all/2 {
			t.Errorf("the variant's chunks not in image 1 store %d B of its %d; want > 0 and < half", want, all)
		}
		if c.sent != want || c.recv != want || c.from["c"] != want || c.grew.Chunks != int64(n) {
			t.Errorf("crossed %d B (from a %d, from c %d), received %d, b's store +%d chunks; want %d B, all from c, +%d chunks",
				c.sent, c.from["a"], c.from["c"], c.recv, c.grew.Chunks, want, n)
		}
		if get := findOne(t, recs["b"].All(), http.MethodGet, "/v1/AUTH_test/glance/"+id2, ids); get.Status != http.StatusOK || get.RespLen != d2.Size {
			t.Errorf("node b answered Glance b's GET with %d, %d B; want 200, %d B", get.Status, get.RespLen, d2.Size)
		}
	})
	t.Logf("summary (total %.1fs):\n%s", since(), strings.Join(summary, "\n"))
}
