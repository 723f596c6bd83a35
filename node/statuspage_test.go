package node

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestStatusPageThreeRegions: after a PUT at a and a read at b, b's status
// page (GET / on the ops listener) shows the three regions, the links into
// b, the object with a's and b's whole shares, and the finished transfer
// with its prediction; GET /status?images=N says the same as JSON.
func TestStatusPageThreeRegions(t *testing.T) {
	tc := startCluster(t)
	ca := tc.client("a")
	ca.must(201, "PUT", "/images", nil, nil)
	data := randomBytes(t, 2<<20)
	ca.must(201, "PUT", "/images/base", nil, bytes.NewReader(data))
	if got, _ := tc.get("b", "/images/base"); !bytes.Equal(got, data) {
		t.Fatal("bytes differ")
	}
	b := tc.nodes["b"]
	var st Status
	waitFor(t, 20*time.Second, "b's transfer to finish and its holding", func() bool {
		body := httpGet(t, b.ops()+"/status?images=5")
		st = Status{}
		if err := json.Unmarshal([]byte(body), &st); err != nil {
			t.Fatal(err)
		}
		if st.Cluster == nil || len(st.Cluster.Transfers) == 0 || st.Cluster.Transfers[0].Running() || len(st.Images) != 1 {
			return false
		}
		for _, r := range st.Images[0].Regions {
			if r.Region == "b" && !r.Holding {
				return false
			}
		}
		return true
	})
	checkSnakeCase(t, httpGet(t, b.ops()+"/status?images=5"))
	im := st.Images[0]
	if im.Account != "AUTH_test" || im.Container != "images" || im.Object != "base" || im.Bytes != int64(len(data)) || im.Chunks == 0 {
		t.Fatalf("image %+v", im)
	}
	want := map[string]float64{"a": 1, "b": 1, "c": 0}
	if len(im.Regions) != 3 {
		t.Fatalf("regions %+v", im.Regions)
	}
	for _, r := range im.Regions {
		if r.Share != want[r.Region] || r.Holding != (want[r.Region] == 1) {
			t.Errorf("region %+v, want share %v", r, want[r.Region])
		}
	}
	tr := st.Cluster.Transfers[0]
	if tr.DoneChunks != tr.Chunks || tr.PredictedSeconds <= 0 || tr.Hedges != 0 || len(tr.Sources) != 2 {
		t.Errorf("transfer %+v", tr)
	}

	page := httpGet(t, b.ops()+"/")
	for _, want := range []string{
		`<meta http-equiv="refresh"`,
		`class="region" data-region="a" data-state="alive"`,
		`class="region" data-region="b" data-state="alive"`,
		`class="region" data-region="c" data-state="alive"`,
		`class="link" data-from="a" data-to="b"`,
		`class="link" data-from="c" data-to="b"`,
		`class="image" data-object="AUTH_test/images/base"`,
		`class="share" data-region="a" data-share="1.000"`,
		`class="share" data-region="c" data-share="0.000"`,
		`class="transfer" data-id="1" data-state="finished"`,
		`class="series" data-region="a"`,
		`class="predicted"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("page:\n%s", page)
	}
	resp, err := http.Get(b.ops() + "/status?images=x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("images=x: %s, want 400", resp.Status)
	}
}

// TestStatusPageSingleRegion: a node without a cluster renders its page
// (one region, no links, no transfers section).
func TestStatusPageSingleRegion(t *testing.T) {
	r := startNode(t, testConfig(t))
	c := login(t, r.base(), "test:tester", "testing")
	c.must(201, "PUT", "/c", nil, nil)
	c.must(201, "PUT", "/c/o", nil, bytes.NewReader(randomBytes(t, 100<<10)))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", r.ops()+"/", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("GET /: %s %s", resp.Status, ct)
	}
	page := httpGet(t, r.ops()+"/")
	for _, want := range []string{`data-region="` + r.Config().Region + `"`, `data-object="AUTH_test/c/o"`, `data-share="1.000"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s:\n%s", want, page)
		}
	}
	if strings.Contains(page, `id="transfers"`) {
		t.Error("single-region page has a transfers section")
	}
	if resp, err := http.Get(r.ops() + "/nope"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nope: %v %v, want 404", resp, err)
	} else {
		resp.Body.Close()
	}
}
