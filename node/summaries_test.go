package node

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// TestSummaryStartsPartialHolder: a PUTs an image; c PUTs its first half
// as an object of its own, so c holds about half the image's chunks
// (dedup) with no holding record for the image. Once b has fetched c's
// chunk summary (GET /peer/v1/summary; /status shows it), b's first read
// of the image starts streams from a (its holding) and c (its summary)
// before the have answers: two speculative streams, byte-exact, no chunk
// received twice. Without summaries c joined only after its have answer
// (one speculative stream). A few chunks stored at c afterwards reach b
// as a delta (GET /peer/v1/summary/delta), not the whole summary.
func TestSummaryStartsPartialHolder(t *testing.T) {
	tc := startCluster(t)
	ca, cc := tc.client("a"), tc.client("c")
	ca.must(201, "PUT", "/images", nil, nil)
	data := randomBytes(t, 8<<20)
	ca.must(201, "PUT", "/images/full", nil, bytes.NewReader(data))
	cc.must(201, "PUT", "/images/half", nil, bytes.NewReader(data[:4<<20]))
	put := time.Now()
	status := func() *ClusterStatus {
		var st Status
		if err := json.Unmarshal([]byte(httpGet(t, tc.nodes["b"].ops()+"/status")), &st); err != nil {
			t.Fatal(err)
		}
		if st.Cluster == nil || st.Cluster.Summaries == nil {
			t.Fatal("no cluster summaries status")
		}
		return st.Cluster
	}
	waitFor(t, 30*time.Second, "b fetches the summaries of a and c", func() bool {
		n := 0
		for _, p := range status().Summaries.Peers {
			if p.Generation > 0 && p.Bytes > 0 && p.Fetched.After(put) {
				n++
			}
		}
		return n == 2
	})
	if got, _ := tc.get("b", "/images/full"); !bytes.Equal(got, data) {
		t.Fatal("bytes differ at b")
	}
	st := status()
	f := st.Fetch
	t.Logf("fetch status at b %+v; summaries %+v", f, st.Summaries)
	if f.SpeculativeStarts != 1 || f.SpeculativeStreams != 2 || f.DuplicateChunks != 0 || f.NoHolderChunks != 0 {
		t.Fatalf("fetch status %+v: want one speculative start with streams from a (holding) and c (summary)", f)
	}
	if st.Summaries.Local.Generation == 0 || st.Summaries.Local.Bytes == 0 {
		t.Fatalf("b's own summary not built: %+v", st.Summaries.Local)
	}

	// A few chunks more at c: b receives them as a delta (the chunk IDs
	// added since), not the whole summary again.
	var wholes uint64
	for _, p := range st.Summaries.Peers {
		wholes += p.Wholes
	}
	cc.must(201, "PUT", "/images/small", nil, bytes.NewReader(randomBytes(t, 200<<10)))
	waitFor(t, 30*time.Second, "b receives c's new chunks as a delta", func() bool {
		var deltas, w uint64
		for _, p := range status().Summaries.Peers {
			deltas, w = deltas+p.Deltas, w+p.Wholes
		}
		if w != wholes {
			t.Fatalf("the whole summary was sent again (%d, was %d)", w, wholes)
		}
		return deltas > 0
	})
}
