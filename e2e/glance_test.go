package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nitro-cloud/nitro/internal/testenv"
)

// segmentBytes is the DLO segment size the test configures:
// swift_store_large_object_chunk_size = 16 glance_store "MB" of 1,024,000 B.
const (
	chunkSizeMB  = 16
	segmentBytes = chunkSizeMB * 1024000
)

// TestGlanceSwiftStore is the acceptance test of issue #3: Debian's
// glance-api, swift store, pointed at a Nitro node through a recording
// proxy, with two real Debian VM images (qcow2) that share most content.
//
//	a. single PUT (size known: openstack image create --file): checksum is
//	   the ETag Nitro returned; download matches sha256
//	b. DLO (size unknown: glance image-create --file, chunked): segments
//	   <id>-00001.. with Transfer-Encoding: chunked, zero-byte manifest;
//	   download matches
//	c. the store grows by much less than image 2's size
//	d. delete both via Glance (HEAD, prefix listing, segment DELETEs,
//	   DELETE); GC empties the store
//
// NITRO_E2E_BACKEND=swift runs a to d against Debian's Swift instead (c
// and the GC half of d are then logged, not asserted).
func TestGlanceSwiftStore(t *testing.T) {
	testenv.Short(t)
	img1 := testenv.ImageNamed(t, "bookworm-minbase", "qcow2")
	img2 := testenv.ImageNamed(t, "bookworm-minbase-extra", "qcow2")
	testenv.Tool(t, "glance-api")
	testenv.Tool(t, "openstack")
	testenv.Tool(t, "glance")
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	t0 := time.Now()

	backend := os.Getenv("NITRO_E2E_BACKEND")
	var node *nitroNode
	var target string
	switch backend {
	case "", "nitro":
		backend = "nitro"
		node = startNitro(t, singleNodeConfig)
		target = node.URL
	case "swift":
		target = startSwift(t).URL
	default:
		t.Fatalf("NITRO_E2E_BACKEND=%q: want nitro or swift", backend)
	}
	stored := func() int64 {
		if node == nil {
			return -1
		}
		b, _ := node.storedBytes(t)
		return b
	}
	t.Logf("backend %s at %s (%.1fs)", backend, target, time.Since(t0).Seconds())

	rec := newRecorder(t, target)
	// large_object_size 1024 "MB" (1,048,576,000 B) keeps the known-size
	// upload of a ~140 MB image on the single-PUT path; the chunked upload
	// has size 0 ("unknown") and always takes the DLO path, here with
	// 16,384,000 B segments.
	g := startGlance(t, rec.URL+"/auth/v1.0", glanceOptions{LargeObjectSize: 1024, ChunkSize: chunkSizeMB})
	t.Logf("glance up (%.1fs)", time.Since(t0).Seconds())

	ids := &idNames{}
	art := artifactDir(t)
	defer func() {
		tr := writeTrace(t, filepath.Join(art, "trace.txt"), rec.All(), ids)
		t.Logf("trace of what Glance sent to %s and how it answered (%d requests; full: %s):\n%s",
			backend, len(tr), filepath.Join(art, "trace.txt"), summarize(tr))
	}()

	d1 := digestFile(t, img1.Path)
	d2 := digestFile(t, img2.Path)
	t.Logf("image 1 %s: %d B (%s) sha256 %s", img1.Path, d1.Size, mib(d1.Size), d1.SHA256)
	t.Logf("image 2 %s: %d B (%s) sha256 %s", img2.Path, d2.Size, mib(d2.Size), d2.SHA256)
	before := stored()

	var id1, id2 string
	var after1, after2 int64

	ok := t.Run("a_single_put", func(t *testing.T) {
		mark := rec.Mark()
		out := g.openstack(t, ctx, "image", "create", "--disk-format", "qcow2", "--container-format", "bare",
			"--file", img1.Path, "-f", "json", "e2e-minbase")
		var created map[string]any
		if err := json.Unmarshal([]byte(out), &created); err != nil {
			t.Fatalf("openstack image create output: %v\n%s", err, out)
		}
		id1 = str(created, "id")
		ids.set(id1, "<img1>")
		im := g.waitActive(t, id1, time.Minute)
		xs := rec.Since(mark)

		put := findOne(t, xs, http.MethodPut, "/v1/AUTH_test/glance/"+id1, ids)
		if put.Chunked || put.ReqLen != d1.Size || put.ReqBytes != d1.Size {
			t.Errorf("object PUT: chunked=%v Content-Length=%d body=%d; want a plain PUT of %d B", put.Chunked, put.ReqLen, put.ReqBytes, d1.Size)
		}
		if put.Status != http.StatusCreated {
			t.Errorf("object PUT answered %d, want 201", put.Status)
		}
		if etag := strings.Trim(put.RespHdr.Get("Etag"), `"`); etag != d1.MD5 {
			t.Errorf("object PUT ETag %q, want the body's MD5 %s", etag, d1.MD5)
		}
		if findAll(xs, http.MethodPut, regexp.QuoteMeta("/v1/AUTH_test/glance/"+id1+"-")) != nil {
			t.Errorf("known-size upload below large_object_size was segmented")
		}
		if n := findAll(xs, http.MethodGet, `^/auth/v1\.0/?$`); len(n) == 0 || n[0].Status != http.StatusOK {
			t.Errorf("no successful v1 auth in the upload's trace")
		}
		if c := str(im, "checksum"); c != d1.MD5 {
			t.Errorf("Glance checksum %q, want the file's MD5 %s (taken from the PUT's ETag)", c, d1.MD5)
		}
		if s := num(im, "size"); s != d1.Size {
			t.Errorf("Glance size %d, want %d", s, d1.Size)
		}
		got, md5hdr := g.download(t, id1)
		if got != d1 {
			t.Fatalf("download of image 1: %+v, want %+v", got, d1)
		}
		t.Logf("image 1 %s: checksum %s, Content-MD5 %s, download sha256 matches", id1, str(im, "checksum"), md5hdr)
		after1 = stored()
	})
	if !ok {
		t.FailNow()
	}

	ok = t.Run("b_dlo_chunked", func(t *testing.T) {
		mark := rec.Mark()
		out := g.glance(t, ctx, "image-create", "--disk-format", "qcow2", "--container-format", "bare",
			"--file", img2.Path, "--name", "e2e-minbase-extra")
		id2 = tableID(t, out)
		ids.set(id2, "<img2>")
		im := g.waitActive(t, id2, time.Minute)
		xs := rec.Since(mark)

		want := int((d2.Size + segmentBytes - 1) / segmentBytes)
		segs := findAll(xs, http.MethodPut, regexp.QuoteMeta("/v1/AUTH_test/glance/"+id2)+`-\d{5}$`)
		if len(segs) != want {
			t.Fatalf("%d segment PUTs, want %d (%d B in %d B segments)", len(segs), want, d2.Size, segmentBytes)
		}
		var total int64
		for i, s := range segs {
			name := fmt.Sprintf("/v1/AUTH_test/glance/%s-%05d", id2, i+1)
			if s.Path != name {
				t.Errorf("segment %d is %s, want %s", i+1, ids.replace(s.Path), ids.replace(name))
			}
			if !s.Chunked {
				t.Errorf("segment %d sent without Transfer-Encoding: chunked", i+1)
			}
			if s.Status != http.StatusCreated {
				t.Errorf("segment %d answered %d, want 201", i+1, s.Status)
			}
			if i < len(segs)-1 && s.ReqBytes != segmentBytes {
				t.Errorf("segment %d carried %d B, want %d", i+1, s.ReqBytes, segmentBytes)
			}
			total += s.ReqBytes
		}
		if total != d2.Size {
			t.Errorf("segments carried %d B in all, want %d", total, d2.Size)
		}
		man := findOne(t, xs, http.MethodPut, "/v1/AUTH_test/glance/"+id2, ids)
		if m := man.ReqHdr.Get("X-Object-Manifest"); m != "glance/"+id2+"-" {
			t.Errorf("manifest X-Object-Manifest %q, want %q", m, "glance/"+id2+"-")
		}
		if man.ReqBytes != 0 || man.Status != http.StatusCreated {
			t.Errorf("manifest PUT: %d B body, status %d; want 0 B, 201", man.ReqBytes, man.Status)
		}
		if c := str(im, "checksum"); c != d2.MD5 {
			t.Errorf("Glance checksum %q, want %s", c, d2.MD5)
		}
		mark = rec.Mark()
		got, _ := g.download(t, id2)
		if got != d2 {
			t.Fatalf("download of image 2: %+v, want %+v", got, d2)
		}
		get := findOne(t, rec.Since(mark), http.MethodGet, "/v1/AUTH_test/glance/"+id2, ids)
		if get.RespHdr.Get("X-Object-Manifest") == "" || get.RespLen != d2.Size {
			t.Errorf("manifest GET: X-Object-Manifest %q, %d B; want the manifest header and %d B",
				get.RespHdr.Get("X-Object-Manifest"), get.RespLen, d2.Size)
		}
		t.Logf("image 2 %s: %d segments of %d B (chunked) + manifest; download sha256 matches", id2, len(segs), segmentBytes)
		after2 = stored()
	})
	if !ok {
		t.FailNow()
	}

	t.Run("c_dedup", func(t *testing.T) {
		if node == nil {
			t.Skipf("backend %s has no stored-bytes stats (Swift stores every byte again)", backend)
		}
		g1, g2 := after1-before, after2-after1
		t.Logf("stored bytes: before %d, after image 1 %d (+%d = %.1f%% of its %d B), after image 2 %d (+%d = %.1f%% of its %d B)",
			before, after1, g1, 100*float64(g1)/float64(d1.Size), d1.Size,
			after2, g2, 100*float64(g2)/float64(d2.Size), d2.Size)
		if g2 <= 0 || float64(g2) >= 0.5*float64(d2.Size) {
			t.Errorf("storing image 2 grew the store by %d B (%.1f%% of its size); want > 0 and < 50%%", g2, 100*float64(g2)/float64(d2.Size))
		}
	})

	ok = t.Run("d_delete_gc", func(t *testing.T) {
		mark := rec.Mark()
		g.openstack(t, ctx, "image", "delete", id1, id2)
		for _, id := range []string{id1, id2} {
			if im := g.image(t, id); im != nil && str(im, "status") != "deleted" {
				t.Errorf("image %s still %s after delete", id, str(im, "status"))
			}
		}
		xs := rec.Since(mark)
		for _, id := range []string{id1, id2} {
			head := findOne(t, xs, http.MethodHead, "/v1/AUTH_test/glance/"+id, ids)
			if head.Status != http.StatusOK {
				t.Errorf("HEAD %s answered %d, want 200", ids.replace(id), head.Status)
			}
			del := findOne(t, xs, http.MethodDelete, "/v1/AUTH_test/glance/"+id, ids)
			if del.Status != http.StatusNoContent {
				t.Errorf("DELETE %s answered %d, want 204", ids.replace(id), del.Status)
			}
		}
		list := findAll(xs, http.MethodGet, regexp.QuoteMeta("/v1/AUTH_test/glance?")+".*prefix="+regexp.QuoteMeta(id2+"-"))
		if len(list) != 1 || list[0].Status != http.StatusOK {
			t.Errorf("want one successful prefix listing for image 2's segments, got %d", len(list))
		}
		segDels := findAll(xs, http.MethodDelete, regexp.QuoteMeta("/v1/AUTH_test/glance/"+id2)+`-\d{5}$`)
		want := int((d2.Size + segmentBytes - 1) / segmentBytes)
		if len(segDels) != want {
			t.Errorf("%d segment DELETEs, want %d", len(segDels), want)
		}
		for _, d := range segDels {
			if d.Status != http.StatusNoContent {
				t.Errorf("%s answered %d, want 204", ids.replace(d.Path), d.Status)
			}
		}
		if node == nil {
			return
		}
		pre := stored()
		gcStart := time.Now()
		st := node.gc(t)
		post, raw := node.storedBytes(t)
		t.Logf("GC (POST /gc?grace=1s, %.1fs): removed %d chunks, %d recipes, %d B; stored bytes %d -> %d; chunks left %d, data dir %d B",
			time.Since(gcStart).Seconds(), jsonInt(t, st, "chunks_removed"), jsonInt(t, st, "recipes_removed"),
			jsonInt(t, st, "bytes_removed"), pre, post, jsonInt(t, raw, "chunks"), jsonInt(t, raw, "disk_bytes"))
		if post > 1<<20 {
			t.Errorf("after deleting every image and GC, %d B are still stored; want ~0 (< 1 MiB)", post)
		}
	})
	if !ok {
		t.FailNow()
	}
	t.Logf("total %.1fs", time.Since(t0).Seconds())
}

// findAll returns the exchanges with method whose path matches the
// regular expression re.
func findAll(xs []exchange, method, re string) []exchange {
	r := regexp.MustCompile(re)
	var out []exchange
	for _, e := range xs {
		if e.Method == method && r.MatchString(e.Path) {
			out = append(out, e)
		}
	}
	return out
}

// findOne returns the single exchange with method and exactly path; it
// fails t if there is not exactly one.
func findOne(t testing.TB, xs []exchange, method, path string, ids *idNames) exchange {
	t.Helper()
	var out []exchange
	for _, e := range xs {
		if e.Method == method && e.Path == path {
			out = append(out, e)
		}
	}
	if len(out) != 1 {
		var tr []string
		for _, e := range xs {
			tr = append(tr, e.format(ids))
		}
		t.Fatalf("want exactly one %s %s, got %d; trace:\n%s", method, ids.replace(path), len(out), lines(tr))
	}
	return out[0]
}
