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

// TestSpeculativeStartFromEveryHolding: a PUTs an object and c reads it
// whole, so the holdings of a and c both cover its recipe (X-Nitro-Regions
// "a,c"); b's first read then starts streams from both before the have
// answers (one speculative stream per region the plan over a and c
// uses), which its /status counts, and is byte-exact with no chunk
// received twice. Before, the speculative start asked one region only.
func TestSpeculativeStartFromEveryHolding(t *testing.T) {
	tc := startCluster(t)
	ca := tc.client("a")
	ca.must(201, "PUT", "/images", nil, nil)
	data := randomBytes(t, 8<<20)
	ca.must(201, "PUT", "/images/spec", nil, bytes.NewReader(data))
	if got, _ := tc.get("c", "/images/spec"); !bytes.Equal(got, data) {
		t.Fatal("bytes differ at c")
	}
	tc.waitRegions("/images/spec", "a,c", "b")
	if got, _ := tc.get("b", "/images/spec"); !bytes.Equal(got, data) {
		t.Fatal("bytes differ at b")
	}
	var st Status
	if err := json.Unmarshal([]byte(httpGet(t, tc.nodes["b"].ops()+"/status")), &st); err != nil {
		t.Fatal(err)
	}
	if st.Cluster == nil {
		t.Fatal("no cluster status")
	}
	f := st.Cluster.Fetch
	t.Logf("fetch status at b %+v", f)
	if f.SpeculativeStarts != 1 || f.SpeculativeStreams != 2 || f.DuplicateChunks != 0 || f.NoHolderChunks != 0 {
		t.Fatalf("fetch status %+v: want one speculative start with a stream from each of a and c", f)
	}
}
