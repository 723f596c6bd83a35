package node

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestSpeculativeStartFromHolding: a's PUT writes its holding of the
// object's recipe with the object record; b, reading the object, finds
// the holding in its namespace (what X-Nitro-Regions shows) and starts
// streaming from a before the have answers (fetch/speculate.go), which its
// /status counts. Before the speculative start the counters did not exist
// and every first read waited for the have round trip.
func TestSpeculativeStartFromHolding(t *testing.T) {
	tc := startCluster(t)
	ca := tc.client("a")
	ca.must(201, "PUT", "/images", nil, nil)
	data := randomBytes(t, 1<<20)
	ca.must(201, "PUT", "/images/spec", nil, bytes.NewReader(data))
	if got, _ := tc.get("b", "/images/spec"); !bytes.Equal(got, data) {
		t.Fatal("bytes differ")
	}
	var st Status
	if err := json.Unmarshal([]byte(httpGet(t, tc.nodes["b"].ops()+"/status")), &st); err != nil {
		t.Fatal(err)
	}
	if st.Cluster == nil {
		t.Fatal("no cluster status")
	}
	f := st.Cluster.Fetch
	t.Logf("fetch status %+v", f)
	if f.SpeculativeStarts != 1 || f.SpeculativeChunks < 1 || f.DuplicateChunks != 0 || f.NoHolderChunks != 0 {
		t.Fatalf("fetch status %+v: want one speculative start", f)
	}
}
