package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/accounts"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/containers"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/objects"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/swauth"
	"github.com/nitro-cloud/nitro/glance-shim/glanceshimtest"
)

// TestConformance runs the Swift front end's client conformance suite
// against a real node (Badger store, namespace, object service).
func TestConformance(t *testing.T) {
	r := startNode(t, testConfig(t))
	glanceshimtest.Run(t, func(t *testing.T) (string, string, string) {
		return r.base(), "test:tester", "testing"
	})
}

// download returns the object's bytes (opts may be nil).
func download(ctx context.Context, sc *gophercloud.ServiceClient, container, name string, opts objects.DownloadOptsBuilder) ([]byte, error) {
	res := objects.Download(ctx, sc, container, name, opts)
	return res.ExtractContent()
}

func gopherClient(t *testing.T, base, user, key string) *gophercloud.ServiceClient {
	t.Helper()
	pc := &gophercloud.ProviderClient{IdentityBase: base + "/", IdentityEndpoint: base + "/"}
	pc.HTTPClient = http.Client{Timeout: time.Minute}
	sc, err := swauth.NewObjectStorageV1(context.Background(), pc, swauth.AuthOpts{User: user, Key: key})
	if err != nil {
		t.Fatalf("swauth: %v", err)
	}
	return sc
}

// TestGophercloud drives a real node with gophercloud v2 objectstorage v1:
// containers, byte-exact uploads and downloads of multi-MiB random and
// duplicate data, ranges, a DLO manifest, metadata and deletes.
func TestGophercloud(t *testing.T) {
	ctx := context.Background()
	r := startNode(t, testConfig(t))
	sc := gopherClient(t, r.base(), "test:tester", "testing")

	// Containers.
	for _, c := range []string{"images", "segments", "empty"} {
		if _, err := containers.Create(ctx, sc, c, containers.CreateOpts{Metadata: map[string]string{"Purpose": c}}).Extract(); err != nil {
			t.Fatalf("create %s: %v", c, err)
		}
	}
	pages, err := containers.List(sc, containers.ListOpts{}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	names, _ := containers.ExtractNames(pages)
	if strings.Join(names, ",") != "empty,images,segments" {
		t.Fatalf("containers = %v", names)
	}
	if _, err := containers.Delete(ctx, sc, "empty").Extract(); err != nil {
		t.Fatalf("delete empty container: %v", err)
	}

	// Objects: random, a duplicate of it, and one sharing a prefix.
	big := randomBytes(t, 6<<20+12345)
	mixed := append(append([]byte{}, big[:3<<20]...), randomBytes(t, 1<<20)...)
	uploads := map[string][]byte{"a.raw": big, "a-copy.raw": big, "mixed.raw": mixed, "zero": {}}
	for name, data := range uploads {
		res, err := objects.Create(ctx, sc, "images", name, objects.CreateOpts{
			Content: bytes.NewReader(data), ContentType: "application/x-raw",
			Metadata: map[string]string{"Origin": "test"},
		}).Extract()
		if err != nil {
			t.Fatalf("upload %s: %v", name, err)
		}
		if res.ETag != md5hex(data) {
			t.Errorf("%s: ETag %s, want %s", name, res.ETag, md5hex(data))
		}
	}
	for name, data := range uploads {
		got, err := download(ctx, sc, "images", name, nil)
		if err != nil {
			t.Fatalf("download %s: %v", name, err)
		}
		if sha(got) != sha(data) {
			t.Fatalf("download %s: %d bytes differ from the %d uploaded", name, len(got), len(data))
		}
	}
	st, err := r.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if logical := int64(2*len(big) + len(mixed)); st.StoredBytes >= int64(len(big))+int64(len(mixed))/2+(1<<20) {
		t.Errorf("stored %d bytes for %d logical: duplicates not deduplicated", st.StoredBytes, logical)
	}

	// Ranges.
	for _, rg := range []struct {
		hdr        string
		start, end int // want big[start:end]
	}{
		{"bytes=0-0", 0, 1},
		{"bytes=1000-2000000", 1000, 2000001},
		{"bytes=-777", len(big) - 777, len(big)},
		{fmt.Sprintf("bytes=%d-", len(big)-100000), len(big) - 100000, len(big)},
	} {
		got, err := download(ctx, sc, "images", "a.raw", objects.DownloadOpts{Range: rg.hdr})
		if err != nil {
			t.Fatalf("range %s: %v", rg.hdr, err)
		}
		if !bytes.Equal(got, big[rg.start:rg.end]) {
			t.Fatalf("range %s: %d bytes, want big[%d:%d]", rg.hdr, len(got), rg.start, rg.end)
		}
	}

	// Metadata: read, replace by POST.
	meta, err := objects.Get(ctx, sc, "images", "a.raw", nil).ExtractMetadata()
	if err != nil || meta["Origin"] != "test" {
		t.Fatalf("metadata %v, %v", meta, err)
	}
	if _, err := objects.Update(ctx, sc, "images", "a.raw", objects.UpdateOpts{Metadata: map[string]string{"Color": "blue"}}).Extract(); err != nil {
		t.Fatal(err)
	}
	meta, _ = objects.Get(ctx, sc, "images", "a.raw", nil).ExtractMetadata()
	if meta["Color"] != "blue" || meta["Origin"] != "" {
		t.Fatalf("after POST metadata %v", meta)
	}
	cmeta, err := containers.Get(ctx, sc, "images", nil).ExtractMetadata()
	if err != nil || cmeta["Purpose"] != "images" {
		t.Fatalf("container metadata %v, %v", cmeta, err)
	}

	// DLO: three segments in another container, then the manifest.
	var whole []byte
	for i := range 3 {
		seg := randomBytes(t, 1<<20+i*1000)
		whole = append(whole, seg...)
		if _, err := objects.Create(ctx, sc, "segments", fmt.Sprintf("img-%05d", i+1), objects.CreateOpts{Content: bytes.NewReader(seg)}).Extract(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := objects.Create(ctx, sc, "images", "img", objects.CreateOpts{
		Content: bytes.NewReader(nil), ObjectManifest: "segments/img-",
	}).Extract(); err != nil {
		t.Fatal(err)
	}
	got, err := download(ctx, sc, "images", "img", nil)
	if err != nil || !bytes.Equal(got, whole) {
		t.Fatalf("DLO download: %d bytes, %v; want %d", len(got), err, len(whole))
	}
	got, err = download(ctx, sc, "images", "img", objects.DownloadOpts{Range: "bytes=1048570-1048600"})
	if err != nil || !bytes.Equal(got, whole[1048570:1048601]) {
		t.Fatalf("DLO range across segments: %v", err)
	}

	// Listings and account totals.
	opages, err := objects.List(sc, "images", objects.ListOpts{Prefix: "a"}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	infos, _ := objects.ExtractInfo(opages)
	if len(infos) != 2 || infos[0].Name != "a-copy.raw" || infos[1].Name != "a.raw" || infos[1].Bytes != int64(len(big)) {
		t.Fatalf("listing = %+v", infos)
	}
	acct, err := accounts.Get(ctx, sc, nil).Extract()
	if err != nil {
		t.Fatal(err)
	}
	wantBytes := int64(2*len(big) + len(mixed) + len(whole))
	if acct.ContainerCount != 2 || acct.ObjectCount != 8 || acct.BytesUsed != wantBytes {
		t.Fatalf("account: %d containers, %d objects, %d bytes; want 2, 8, %d", acct.ContainerCount, acct.ObjectCount, acct.BytesUsed, wantBytes)
	}

	// Deletes: a non-empty container refuses; objects go; then it goes.
	if _, err := containers.Delete(ctx, sc, "segments").Extract(); !gophercloud.ResponseCodeIs(err, http.StatusConflict) {
		t.Fatalf("delete non-empty container: %v, want 409", err)
	}
	for i := range 3 {
		if _, err := objects.Delete(ctx, sc, "segments", fmt.Sprintf("img-%05d", i+1), nil).Extract(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := objects.Delete(ctx, sc, "segments", "img-00001", nil).Extract(); !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		t.Fatalf("second delete: %v, want 404", err)
	}
	if _, err := containers.Delete(ctx, sc, "segments").Extract(); err != nil {
		t.Fatalf("delete emptied container: %v", err)
	}
	if _, err := objects.Delete(ctx, sc, "images", "img", nil).Extract(); err != nil {
		t.Fatalf("delete the DLO manifest: %v", err)
	}
}

// TestGCFreesChunks: after the objects that named chunks are deleted, a
// POST /gc on the ops listener removes them and /stats shows the store
// shrink; shared chunks of a live object stay and it still reads back.
func TestGCFreesChunks(t *testing.T) {
	r := startNode(t, testConfig(t))
	c := login(t, r.base(), "test:tester", "testing")
	c.must(201, "PUT", "/glance", nil, nil)
	a := randomBytes(t, 4<<20)
	b := append(append([]byte{}, a[:2<<20]...), randomBytes(t, 2<<20)...)
	c.must(201, "PUT", "/glance/a", nil, bytes.NewReader(a))
	c.must(201, "PUT", "/glance/b", nil, bytes.NewReader(b))

	stats := func() Stats {
		var st Stats
		if err := json.Unmarshal([]byte(httpGet(t, r.ops()+"/stats")), &st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	before := stats()
	if before.Chunks == 0 || before.StoredBytes < 6<<20 {
		t.Fatalf("before: %+v", before)
	}
	if body, err := httpPost(r.ops() + "/gc?grace=1s"); !errors.Is(err, errStatus) || !strings.Contains(body, "grace") {
		t.Fatalf("gc with grace below 2×touch_after: %v %s", err, body)
	}
	c.must(204, "DELETE", "/glance/a", nil, nil)
	time.Sleep(3 * time.Second) // older than the 2 s grace (stamps are in whole seconds)
	body, err := httpPost(r.ops() + "/gc?grace=2s")
	if err != nil {
		t.Fatalf("gc: %v: %s", err, body)
	}
	var res GCResult
	if err := json.Unmarshal([]byte(body), &res); err != nil {
		t.Fatal(err)
	}
	after := stats()
	if res.ChunksRemoved == 0 || res.RecipesRemoved != 1 || after.StoredBytes >= before.StoredBytes-(1<<20) {
		t.Fatalf("gc %+v: stored %d → %d bytes", res, before.StoredBytes, after.StoredBytes)
	}
	if after.Chunks != before.Chunks-int64(res.ChunksRemoved) || after.LastGC.ChunksRemoved != res.ChunksRemoved {
		t.Fatalf("stats after gc %+v, gc %+v", after, res)
	}
	_, got := c.must(200, "GET", "/glance/b", nil, nil)
	if !bytes.Equal(got, b) {
		t.Fatal("b changed by gc")
	}
	m := httpGet(t, r.ops()+"/metrics")
	for series, want := range map[string]float64{
		`nitro_http_requests_total{code="2xx",method="PUT"}`:                 3,
		`nitro_http_request_duration_seconds_count{code="2xx",method="PUT"}`: 3,
		`nitro_store_stored_bytes`:                                           float64(after.StoredBytes),
		`nitro_store_chunks`:                                                 float64(after.Chunks),
		`nitro_object_bytes_in_total`:                                        float64(len(a) + len(b)),
		`nitro_objects_deleted_total`:                                        1,
		`nitro_namespace_objects`:                                            1,
		`nitro_namespace_logical_bytes`:                                      float64(len(b)),
		`nitro_gc_runs_total{result="ok"}`:                                   1,
		`nitro_gc_duration_seconds_count`:                                    1,
		`nitro_gc_chunks_removed_total`:                                      float64(res.ChunksRemoved),
		`nitro_gc_last_success_timestamp_seconds`:                            float64(res.Start.Unix()),
		`nitro_store_dedup_ratio`:                                            float64(len(b)) / float64(after.StoredBytes),
		`go_goroutines`:                                                      -1, // present
		`process_resident_memory_bytes`:                                      -1,
	} {
		got, ok := metricValue(m, series)
		if !ok || want >= 0 && math.Abs(got-want) > 1e-6*math.Max(1, want) {
			t.Errorf("metric %s = %v (present %v), want %v", series, got, ok, want)
		}
	}
	if got := httpGet(t, r.ops()+"/healthz"); got != "OK\n" {
		t.Errorf("healthz = %q", got)
	}
}

// metricValue finds series (name and labels as the text exposition
// writes them, labels sorted) in a /metrics answer and parses its value.
func metricValue(text, series string) (float64, bool) {
	for line := range strings.Lines(text) {
		rest, ok := strings.CutPrefix(line, series+" ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
		return v, err == nil
	}
	return 0, false
}
