package objects

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	glanceshim "github.com/nitro-cloud/nitro/glance-shim"
	"github.com/nitro-cloud/nitro/node/internal/namespace"
	"go.uber.org/zap"
)

// putSegments stores the given objects in A/c and returns their infos.
func putSegments(t *testing.T, s *Service, objs map[string][]byte) map[string]glanceshim.ObjectInfo {
	t.Helper()
	ctx := context.Background()
	if _, err := s.PutContainer(ctx, "A", "c", nil); err != nil {
		t.Fatal(err)
	}
	out := map[string]glanceshim.ObjectInfo{}
	for name, b := range objs {
		info, err := s.PutObject(ctx, "A", "c", name, bytes.NewReader(b), glanceshim.PutOptions{Size: int64(len(b))})
		if err != nil {
			t.Fatal(err)
		}
		out[name] = info
	}
	return out
}

func readAll(t *testing.T, s *Service, object string) []byte {
	t.Helper()
	rc, _, err := s.OpenObject(context.Background(), "A", "c", object, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func recipeOf(t *testing.T, s *Service, st *chunkstore.Store, object string) *recipe.Recipe {
	t.Helper()
	r, err := s.ns.GetLive(context.Background(), namespace.ObjectKey("A", "c", object))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := st.Recipe(context.Background(), r.Recipe)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// TestComposeReusesSegmentChunks: a composed object's recipe holds every
// chunk that lies wholly inside a part by reference (the same IDs as the
// segments' recipes), and only the cut edges and inline data become new
// chunks; the bytes read back are the parts' bytes, and the record keeps
// the SLO ETag and manifest.
func TestComposeReusesSegmentChunks(t *testing.T) {
	ctx := context.Background()
	s, st := newService(t, nil, nil)
	s1, s2 := rnd(t, 500000), rnd(t, 300000)
	infos := putSegments(t, s, map[string][]byte{"s1": s1, "s2": s2})
	before, err := st.Count(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		parts []glanceshim.ComposePart
		want  []byte
		// newChunksMax bounds the chunks the compose may add.
		newChunksMax int
	}{
		{"whole segments", []glanceshim.ComposePart{
			{Container: "c", Object: "s1", ETag: infos["s1"].ETag, Length: int64(len(s1))},
			{Container: "c", Object: "s2", ETag: infos["s2"].ETag, Length: int64(len(s2))},
		}, append(bytes.Clone(s1), s2...), 0},
		{"ranges and data", []glanceshim.ComposePart{
			{Container: "c", Object: "s1", ETag: infos["s1"].ETag, Offset: 12345, Length: 400000},
			{Data: []byte("hello")},
			{Container: "c", Object: "s2", ETag: infos["s2"].ETag, Offset: 7, Length: 3},
			{Container: "c", Object: "s2", ETag: infos["s2"].ETag, Offset: 100000, Length: 200000},
		}, bytes.Join([][]byte{s1[12345:412345], []byte("hello"), s2[7:10], s2[100000:300000]}, nil), 12},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := "slo" + string(rune('0'+i))
			info, err := s.ComposeObject(ctx, "A", "c", name, tc.parts, glanceshim.ComposeOptions{
				PutOptions:  glanceshim.PutOptions{ETag: "0123456789abcdef0123456789abcdef", Size: int64(len(tc.want))},
				SLOManifest: []byte(`[{"name": "x"}]`),
			})
			if err != nil {
				t.Fatal(err)
			}
			if info.ETag != "0123456789abcdef0123456789abcdef" || info.Size != int64(len(tc.want)) || string(info.SLOManifest) != `[{"name": "x"}]` {
				t.Fatalf("info %+v", info)
			}
			if got := readAll(t, s, name); !bytes.Equal(got, tc.want) {
				t.Fatalf("content differs (%d bytes, want %d)", len(got), len(tc.want))
			}
			segChunks := map[recipe.ChunkID]bool{}
			for _, seg := range []string{"s1", "s2"} {
				for _, id := range recipeOf(t, s, st, seg).Unique() {
					segChunks[id] = true
				}
			}
			fresh := 0
			for _, id := range recipeOf(t, s, st, name).Unique() {
				if !segChunks[id] {
					fresh++
				}
			}
			if fresh > tc.newChunksMax {
				t.Fatalf("%d chunks not from the segments, want ≤ %d", fresh, tc.newChunksMax)
			}
			after, err := st.Count(ctx)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d new chunks; store chunks %d → %d", tc.name, fresh, before.Chunks, after.Chunks)
		})
	}
	// A range GET of the composed object reads across the parts.
	rc, _, err := s.OpenObject(ctx, "A", "c", "slo1", 399990, 20)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	want := cases[1].want[399990:400010]
	if !bytes.Equal(got, want) {
		t.Fatalf("range across parts: %q, want %q", got, want)
	}
}

// TestComposeSegmentChanged: a part whose object was deleted or
// overwritten since it was validated is ErrConflict, and nothing is
// committed.
func TestComposeSegmentChanged(t *testing.T) {
	ctx := context.Background()
	s, _ := newService(t, nil, nil)
	infos := putSegments(t, s, map[string][]byte{"s1": rnd(t, 1000)})
	for name, p := range map[string]glanceshim.ComposePart{
		"etag":    {Container: "c", Object: "s1", ETag: "ffffffffffffffffffffffffffffffff", Length: 1000},
		"absent":  {Container: "c", Object: "nope", ETag: infos["s1"].ETag, Length: 1000},
		"too far": {Container: "c", Object: "s1", ETag: infos["s1"].ETag, Offset: 1, Length: 1000},
	} {
		_, err := s.ComposeObject(ctx, "A", "c", "slo", []glanceshim.ComposePart{p}, glanceshim.ComposeOptions{PutOptions: glanceshim.PutOptions{Size: 1000}})
		if !errors.Is(err, glanceshim.ErrConflict) {
			t.Errorf("%s: %v, want ErrConflict", name, err)
		}
		if _, err := s.Object(ctx, "A", "c", "slo"); !errors.Is(err, glanceshim.ErrNotFound) {
			t.Errorf("%s: object committed: %v", name, err)
		}
	}
	if _, err := s.ComposeObject(ctx, "A", "nope", "slo", nil, glanceshim.ComposeOptions{}); !errors.Is(err, glanceshim.ErrNotFound) {
		t.Errorf("missing container: %v", err)
	}
}

// TestComposeSurvivesGCAndSegmentDeletes: a GC that runs while a compose
// is in flight (after the segments' recipes were looked up, with the
// segments already deleted and every stamp older than the grace) sweeps
// nothing the composed object needs: the pins hold. After the commit the
// segments are gone and the SLO still reads back byte-exact, and a later
// GC keeps it (its record names the composed recipe).
func TestComposeSurvivesGCAndSegmentDeletes(t *testing.T) {
	ctx := context.Background()
	st, ns := openStore(t, 500*time.Millisecond)
	var s *Service
	var gcs []chunkstore.GCStats
	hs := hookStore{Store: st, afterWrite: func() {
		if len(gcs) > 0 {
			return // the segments' own PUTs are done; only the compose's write
		}
		for _, o := range []string{"s1", "s2"} {
			if err := s.DeleteObject(ctx, "A", "c", o); err != nil {
				t.Errorf("delete %s: %v", o, err)
			}
		}
		time.Sleep(2500 * time.Millisecond) // every stamp older than the 1 s grace
		g, err := st.GC(ctx, ns.LiveRecipes, time.Second)
		if err != nil {
			t.Errorf("GC: %v", err)
		}
		gcs = append(gcs, g)
	}}
	var err error
	if s, err = New(hs, ns, nil, nil, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	s1, s2 := rnd(t, 200000), rnd(t, 150000)
	gcs = append(gcs, chunkstore.GCStats{}) // segments' PUTs: hook off
	infos := putSegments(t, s, map[string][]byte{"s1": s1, "s2": s2})
	gcs = gcs[:0] // hook on for the compose's WritePinned (the cut edges)
	want := bytes.Join([][]byte{s1[:150001], s2[99:]}, nil)
	_, err = s.ComposeObject(ctx, "A", "c", "slo", []glanceshim.ComposePart{
		{Container: "c", Object: "s1", ETag: infos["s1"].ETag, Length: 150001},
		{Container: "c", Object: "s2", ETag: infos["s2"].ETag, Offset: 99, Length: int64(len(s2)) - 99},
	}, glanceshim.ComposeOptions{PutOptions: glanceshim.PutOptions{Size: int64(len(want)), ETag: "x"}, SLOManifest: []byte("[]")})
	if err != nil {
		t.Fatal(err)
	}
	if len(gcs) != 1 {
		t.Fatalf("the hook ran %d GCs, want 1", len(gcs))
	}
	if got := readAll(t, s, "slo"); !bytes.Equal(got, want) {
		t.Fatal("composed object differs after the GC")
	}
	g, err := st.GC(ctx, ns.LiveRecipes, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	live, err := ns.LiveRecipes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := st.Fsck(ctx, live, false)
	if err != nil || !rep.OK() {
		t.Fatalf("fsck after GC: %+v, %v", rep, err)
	}
	if got := readAll(t, s, "slo"); !bytes.Equal(got, want) {
		t.Fatal("composed object differs after the second GC")
	}
	t.Logf("GC during compose: %+v; after: %+v", gcs[0], g)
	if g.RecipesRemoved == 0 {
		t.Errorf("the deleted segments' recipes were never collected")
	}
}

// TestComposeSyncsBeforeHolding: a compose whose chunks are all local
// writes the region's holding with its record, and those chunks may be
// ones a read fetched and stored without waiting for the disk
// (chunkstore.Store.Receive): the store is synced before the record and
// the holding are committed, so a crash cannot keep the holding and lose
// the chunks.
func TestComposeSyncsBeforeHolding(t *testing.T) {
	ctx := context.Background()
	st, err := chunkstore.Open(chunkstore.Config{Dir: t.TempDir(), MinSize: 1 << 10, AvgSize: 4 << 10, MaxSize: 16 << 10}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ns, err := namespace.New(namespace.Config{Region: "r1"}, st.Records(), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	var recordAtSync []bool
	hs := hookStore{Store: st, afterWrite: func() {}, beforeSync: func() {
		_, err := ns.GetLive(ctx, namespace.ObjectKey("A", "c", "slo"))
		recordAtSync = append(recordAtSync, err == nil)
	}}
	s, err := New(hs, ns, nil, nil, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	s1, s2 := rnd(t, 200000), rnd(t, 150000)
	infos := putSegments(t, s, map[string][]byte{"s1": s1, "s2": s2})
	want := append(bytes.Clone(s1), s2...)
	if _, err := s.ComposeObject(ctx, "A", "c", "slo", []glanceshim.ComposePart{
		{Container: "c", Object: "s1", ETag: infos["s1"].ETag, Length: int64(len(s1))},
		{Container: "c", Object: "s2", ETag: infos["s2"].ETag, Length: int64(len(s2))},
	}, glanceshim.ComposeOptions{PutOptions: glanceshim.PutOptions{Size: int64(len(want)), ETag: "x"}, SLOManifest: []byte("[]")}); err != nil {
		t.Fatal(err)
	}
	r, err := ns.GetLive(ctx, namespace.ObjectKey("A", "c", "slo"))
	if err != nil {
		t.Fatal(err)
	}
	if held, err := ns.Holds(ctx, r.Recipe); err != nil || !held {
		t.Fatalf("no holding after a compose of local chunks: %v, %v", held, err)
	}
	if len(recordAtSync) == 0 || recordAtSync[len(recordAtSync)-1] {
		t.Fatalf("syncs before the commit (true: record already there): %v, want a sync before it", recordAtSync)
	}
}
