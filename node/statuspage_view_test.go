package node

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/nitro-cloud/nitro/node/internal/fetch"
)

// TestStatusPageRendersStates renders a made-up Status (no cluster runs
// here: the states a test cluster rarely reaches, a dead and a suspect
// region, a failed source, a placement) and checks what the page shows.
func TestStatusPageRendersStates(t *testing.T) {
	now := time.Now()
	st := &Status{Node: "b-1", Region: "b", StartedAt: now.Add(-time.Hour), UptimeSeconds: 3600,
		Store:   StoreStatus{Chunks: 10, StoredBytes: 1 << 20, Recipes: 1, DiskBytes: 2 << 20},
		Objects: ObjectsStatus{Accounts: 1, Containers: 1, Objects: 1, PlainBytes: 3 << 20},
		Cluster: &ClusterStatus{
			Members: []MemberStatus{{Name: "a-1", Region: "a", State: "dead"}, {Name: "b-1", Region: "b", State: "alive"},
				{Name: "c-1", Region: "c", State: "suspect"}, {Name: "c-2", Region: "c", State: "alive"}, {Name: "d-1", Region: "d", State: "suspect"}},
			Links: []LinkStatus{{Region: "a", BandwidthBytesPerSecond: 1e6, PriorBandwidthBytesPerSecond: 1e7, Samples: 3},
				{Region: "c", BandwidthBytesPerSecond: 9e6, PriorBandwidthBytesPerSecond: 1e7, Samples: 3},
				{Region: "d", BandwidthBytesPerSecond: 5e6, PriorBandwidthBytesPerSecond: 1e7, Samples: 3}},
			Transfers: []TransferStatus{{ID: 7, StartedAt: now.Add(-10 * time.Second), FinishedAt: now, Chunks: 4, DoneChunks: 3, FailedChunks: 1,
				StoredBytes: 3 << 20, PredictedSeconds: 5, LowerBoundSeconds: 4, ElapsedSeconds: 10, Replans: 1,
				Sources: []fetch.TransferSource{{Region: "a", PlannedBytes: 2 << 20, PlannedSeconds: 5, Bytes: 1 << 20, Failed: true,
					Points: []fetch.TransferPoint{{Seconds: 1, Bytes: 1 << 20}}},
					{Region: "c", PlannedBytes: 2 << 20, PlannedSeconds: 5, Bytes: 2 << 20, Points: []fetch.TransferPoint{{Seconds: 9, Bytes: 2 << 20}}}}}},
			Placing: []PlacementStatus{{Object: "AUTH_x/c/o", StartedAt: now}},
		},
		Images: []ImageStatus{{Account: "AUTH_x", Container: "c", Object: "o", Bytes: 3 << 20, Chunks: 10, Placing: true,
			Regions: []RegionShare{{Region: "a", Share: 1, Holding: true}, {Region: "b", Share: 0.4}, {Region: "c", Share: -1}}}},
	}
	var buf bytes.Buffer
	if err := pageTmpl.Execute(&buf, newPageView(st, now)); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, c := range []struct{ what, want string }{
		{"a dead region", `data-region="a" data-state="dead"`},
		{"a region with one live node is alive", `data-region="c" data-state="alive"`},
		{"a suspect region", `data-region="d" data-state="suspect"`},
		{"the dead region's link is red", `data-from="a" data-to="b">` + "\n" + `      <line x1=`},
		{"a failed transfer", `class="transfer" data-id="7" data-state="failed"`},
		{"its failed source", `<span class="badge">failed</span>`},
		{"the placement", `<span class="badge">placing here</span>`},
		{"a partial share", `data-region="b" data-share="0.400"`},
		{"an unknown share", `data-region="c" data-share="-1.000"><span class="muted">no answer</span>`},
		{"the ratio", `3.00×`},
		{"the re-plans", `1 · 0`},
	} {
		if !strings.Contains(page, c.want) {
			t.Errorf("%s: page lacks %q", c.what, c.want)
		}
	}
	if i := strings.Index(page, `data-from="a"`); i < 0 || !strings.Contains(page[i:i+400], `stroke="#c62828"`) {
		t.Errorf("the link from the dead region is not red")
	}
	if t.Failed() {
		t.Log(page)
	}
}
