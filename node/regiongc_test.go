package node

import (
	"bytes"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore"
	"github.com/nitro-cloud/nitro/chunkstore/swiftstore"
	"github.com/nitro-cloud/nitro/internal/swifttest"
)

// TestRegionGCWired: two nodes of one region on store.backend: swift over
// Debian's Swift. Their collections at the same moment sweep the cluster
// under the lease (one sweeps and the other finds the lease held, or both
// sweep: both are safe). Node b's namespace never gets a's records (a
// replica lagging for ever): if b sweeps, it may move the live object's
// chunks to the fossils, from where reads still get them and a's next
// sweep moves them back. Repeated collections past the grace (2 s) then
// delete the deleted object's chunks and recipe from the cluster, while
// the live object reads back byte-exact throughout.
func TestRegionGCWired(t *testing.T) {
	srv := swifttest.Start(t)
	ctx := t.Context()
	a := startNode(t, swiftBackendConfig(t, srv, "r1-a", "rg"))
	b := startNode(t, swiftBackendConfig(t, srv, "r1-b", "rg"))
	ca := login(t, a.base(), "test:tester", "testing")
	keep, gone := randomBytes(t, 1<<20), randomBytes(t, 1<<20)
	ca.must(http.StatusCreated, "PUT", "/images", nil, nil)
	ca.must(http.StatusCreated, "PUT", "/images/keep", nil, bytes.NewReader(keep))
	ca.must(http.StatusCreated, "PUT", "/images/gone", nil, bytes.NewReader(gone))
	rec, rc := a.recipeOf(t, "images", "gone")
	ca.must(http.StatusNoContent, "DELETE", "/images/gone", nil, nil)
	cl, err := swiftstore.Open(ctx, swiftBackendConfig(t, srv, "x", "rg").Store.Swift.swiftstore())
	if err != nil {
		t.Fatal(err)
	}
	left := func() int { // gone's chunks still in the cluster (container or fossil)
		n := 0
		for _, id := range rc.Unique() {
			if _, _, err := cl.GetChunk(ctx, id, nil); err == nil {
				n++
			} else if !errors.Is(err, chunkstore.ErrNotFound) {
				t.Fatal(err)
			}
		}
		return n
	}
	if n := left(); n != len(rc.Unique()) {
		t.Fatalf("%d of gone's %d chunks in the cluster before GC", n, len(rc.Unique()))
	}

	var wg sync.WaitGroup
	res := make([]GCResult, 2)
	errs := make([]error, 2)
	for i, n := range []*running{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i], errs[i] = n.GC(ctx, 0)
		}()
	}
	wg.Wait()
	swept := 0
	for i := range res {
		switch {
		case errs[i] != nil:
			t.Fatalf("gc %d: %v", i, errs[i])
		case res[i].Region != nil:
			swept++
			t.Logf("node %d swept: %+v", i, *res[i].Region)
		case res[i].RegionLeaseHeldBy == "":
			t.Errorf("gc %d: neither swept nor found the lease held", i)
		default:
			t.Logf("node %d: lease held by %s", i, res[i].RegionLeaseHeldBy)
		}
	}
	if swept == 0 {
		t.Fatal("no node swept the region")
	}
	if _, got := ca.must(http.StatusOK, "GET", "/images/keep", nil, nil); !bytes.Equal(got, keep) {
		t.Fatal("keep differs after the concurrent sweeps")
	}

	var fossilized, deleted int
	for round := 0; left() > 0; round++ {
		if round == 6 {
			t.Fatalf("%d of gone's chunks still in the cluster after %d sweeps (fossilized %d, deleted %d)", left(), round, fossilized, deleted)
		}
		time.Sleep(3 * time.Second) // past the grace
		r, err := a.GC(ctx, 0)
		if err != nil || r.Region == nil {
			t.Fatalf("gc: %+v %v", r, err)
		}
		fossilized += r.Region.ChunksFossilized
		deleted += r.Region.ChunkFossilsDeleted
		if _, got := ca.must(http.StatusOK, "GET", "/images/keep", nil, nil); !bytes.Equal(got, keep) {
			t.Fatalf("keep differs after sweep %d", round)
		}
	}
	if deleted < len(rc.Unique()) {
		t.Errorf("%d chunk fossils deleted, want ≥ %d", deleted, len(rc.Unique()))
	}
	if _, err := cl.GetRecipe(ctx, rec.Recipe); !errors.Is(err, chunkstore.ErrNotFound) {
		t.Errorf("gone's recipe: %v, want not found", err)
	}
}
