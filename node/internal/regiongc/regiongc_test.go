package regiongc

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"github.com/nitro-cloud/nitro/internal/swifttest"
)

func random(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// TestRegionGC runs the region GC against Debian's real Swift (one
// server for all subtests, one layout prefix each).
func TestRegionGC(t *testing.T) {
	srv := swifttest.Start(t)
	sc := swiftClient(t, srv)
	t.Run("TwoSteps", func(t *testing.T) { testTwoSteps(t, sc) })
	t.Run("VersionTags", func(t *testing.T) { testVersionTags(t, sc) })
	t.Run("TouchDuringMove", func(t *testing.T) { testTouchDuringMove(t, sc) })
	t.Run("RunnersInterleaved", func(t *testing.T) { testRunnersInterleaved(t, sc) })
	t.Run("LeaseLost", func(t *testing.T) { testLeaseLost(t, sc) })
	t.Run("TwoRunners", func(t *testing.T) { testTwoRunners(t, sc) })
	t.Run("DeadHolder", func(t *testing.T) { testDeadHolder(t, sc) })
	t.Run("WritersDuringGC", func(t *testing.T) { testWritersDuringGC(t, sc) })
	t.Run("PackSteps", func(t *testing.T) { testPackSteps(t, srv, sc) })
	t.Run("WritersDuringGCPacks", func(t *testing.T) { testWritersDuringGCPacks(t, srv, sc) })
}

// place is where an object is: its live container, its fossil container.
type place struct{ live, fossil bool }

func (p place) String() string { return fmt.Sprintf("{live:%v fossil:%v}", p.live, p.fossil) }

// testTwoSteps: an object X (two chunks of its own, one shared with a
// live object L) goes through two runs of GC with a grace of one hour;
// the table says how old X is at each run, what happens to it before and
// between the runs, and where its recipe and own chunks must be after
// each run. L and the shared chunk stay live throughout, and X reads back
// byte-exact whenever it is not expected deleted.
func testTwoSteps(t *testing.T, sc *gophercloud.ServiceClient) {
	const grace = time.Hour
	cases := []struct {
		name       string
		containers int
		committed  bool          // X's record exists before run 1
		age1       time.Duration // clock advance before run 1
		touch      bool          // a writer touches X's chunks before run 1
		between    bool          // X's record committed between the runs
		age2       time.Duration // clock advance between the runs
		after1     place
		after2     place
	}{
		{name: "unmarked old: fossil, then deleted", containers: 16, age1: 2 * time.Hour, age2: 2 * time.Hour,
			after1: place{fossil: true}, after2: place{}},
		{name: "unmarked old, next run within the grace: fossil kept", containers: 1, age1: 2 * time.Hour, age2: 10 * time.Minute,
			after1: place{fossil: true}, after2: place{fossil: true}},
		{name: "marked between the runs: resurrected", containers: 16, age1: 2 * time.Hour, between: true, age2: 10 * time.Minute,
			after1: place{fossil: true}, after2: place{live: true}},
		{name: "marked between the runs, next run after the grace: resurrected", containers: 1, age1: 2 * time.Hour, between: true, age2: 3 * time.Hour,
			after1: place{fossil: true}, after2: place{live: true}},
		{name: "young: untouched", containers: 16, age1: 10 * time.Minute, age2: 10 * time.Minute,
			after1: place{live: true}, after2: place{live: true}},
		{name: "touched: spared", containers: 1, age1: 2 * time.Hour, touch: true,
			after1: place{live: true}, after2: place{live: true}},
		{name: "live: kept", containers: 16, committed: true, age1: 2 * time.Hour, age2: 2 * time.Hour,
			after1: place{live: true}, after2: place{live: true}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			r := newRegion(t, sc, fmt.Sprintf("two%d", i), tc.containers)
			shared := random(chunkSize)
			lData := append(random(chunkSize), shared...)
			lID, err := r.write(ctx, "L", lData)
			if err != nil {
				t.Fatal(err)
			}
			xData := append(random(2*chunkSize), shared...)
			xRec, xID, err := r.putObj(ctx, xData)
			if err != nil {
				t.Fatal(err)
			}
			if tc.committed {
				if err := r.commit(ctx, "X", xRec, xID); err != nil {
					t.Fatal(err)
				}
			}
			own := []string{xRec.Refs[0].ID.String(), xRec.Refs[1].ID.String()}
			c := r.collector("n1", time.Minute)
			check := func(run int, want place, st Stats) {
				t.Helper()
				got := map[string]place{}
				p := place{}
				p.live, p.fossil = r.where(ctx, KindRecipe, xID.String())
				got["recipe"] = p
				for j, name := range own {
					p.live, p.fossil = r.where(ctx, KindChunk, name)
					got[fmt.Sprint("chunk", j)] = p
				}
				for k, p := range got {
					if p != want {
						t.Errorf("run %d: X's %s is at %v, want %v (stats %+v)", run, k, p, want, st)
					}
				}
				if live, _ := r.where(ctx, KindChunk, xRec.Refs[2].ID.String()); !live {
					t.Errorf("run %d: the shared chunk left its container", run)
				}
				if b, err := r.read(ctx, lID); err != nil || !bytes.Equal(b, lData) {
					t.Errorf("run %d: L: %v", run, err)
				}
				if want == (place{}) {
					return
				}
				if b, err := r.read(ctx, xID); err != nil || !bytes.Equal(b, xData) {
					t.Errorf("run %d: X: %v", run, err)
				}
			}
			r.clk.advance(tc.age1)
			if tc.touch {
				// A write of the same bytes: it touches the chunks it
				// relies on and PUTs the recipe again.
				r.touchAfter = time.Minute
				if _, _, err := r.putObj(ctx, xData); err != nil {
					t.Fatal(err)
				}
			}
			st, err := c.Run(ctx, grace)
			if err != nil {
				t.Fatal(err)
			}
			check(1, tc.after1, st)
			// The re-PUT recipe is young, so its chunks are marked: the
			// touch counted is the recipe's.
			if tc.touch && st.Touched < 1 {
				t.Errorf("run 1: touched = %d, want ≥ 1", st.Touched)
			}
			if tc.after1.fossil && (st.ChunksFossilized != 2 || st.RecipesFossilized != 1 || st.ChunkBytesFossilized != 2*(chunkSize+1)) {
				t.Errorf("run 1: stats %+v, want 2 chunks (%d bytes) and 1 recipe fossilized", st, 2*(chunkSize+1))
			}
			if tc.between {
				if err := r.commit(ctx, "X", xRec, xID); err != nil {
					t.Fatal(err)
				}
			}
			r.clk.advance(tc.age2)
			st, err = c.Run(ctx, grace)
			if err != nil {
				t.Fatal(err)
			}
			check(2, tc.after2, st)
			if tc.between && (st.ChunksResurrected != 2 || st.RecipesResurrected != 1) {
				t.Errorf("run 2: stats %+v, want 2 chunks and 1 recipe resurrected", st)
			}
			if tc.after1.fossil && tc.after2 == (place{}) && (st.ChunkFossilsDeleted != 2 || st.RecipeFossilsDeleted != 1 || st.ChunkBytesDeleted != 2*(chunkSize+1)) {
				t.Errorf("run 2: stats %+v, want 2 chunk fossils (%d bytes) and 1 recipe fossil deleted", st, 2*(chunkSize+1))
			}
		})
	}
}

// testVersionTags checks the Swift semantics the conditional DELETEs rely
// on: X-If-Delete-At must equal the object's X-Delete-At (0: none); a
// COPY with a new X-Delete-At and a POST without one both change it.
func testVersionTags(t *testing.T, sc *gophercloud.ServiceClient) {
	ctx := t.Context()
	r := newRegion(t, sc, "tags", 1)
	cont := r.layout.Live(KindChunk, "0")
	if err := r.put(ctx, cont, "a", []byte("x")); err != nil {
		t.Fatal(err)
	}
	in, err := r.sw.head(ctx, cont, "a")
	if err != nil || in.tag != 0 {
		t.Fatalf("head: %+v %v", in, err)
	}
	// A writer's object: tag 0. Rewritten by a GC COPY with a tag: a
	// delete conditional on 0 is refused.
	if err := r.sw.copy(ctx, cont, cont, "a", tagBase+7, nil); err != nil {
		t.Fatal(err)
	}
	if err := r.sw.deleteIf(ctx, cont, "a", 0); !errors.Is(err, errChanged) {
		t.Fatalf("delete if 0 of a tagged object: %v, want errChanged", err)
	}
	// A writer's touch (POST without X-Delete-At) drops the tag.
	if _, err := sc.Post(ctx, r.sw.url(cont, "a"), nil, nil, &gophercloud.RequestOpts{
		MoreHeaders: map[string]string{HeaderTouched: strconv.FormatInt(time.Now().Unix(), 10)}, OkCodes: []int{202}}); err != nil {
		t.Fatal(err)
	}
	if err := r.sw.deleteIf(ctx, cont, "a", tagBase+7); !errors.Is(err, errChanged) {
		t.Fatalf("delete if tag of a touched object: %v, want errChanged", err)
	}
	if err := r.sw.copy(ctx, cont, cont, "a", tagBase+9, nil); err != nil {
		t.Fatal(err)
	}
	if err := r.sw.deleteIf(ctx, cont, "a", tagBase+9); err != nil {
		t.Fatalf("delete if the right tag: %v", err)
	}
	// Swift answers 412 here (no X-Delete-At on a tombstone).
	if err := r.sw.deleteIf(ctx, cont, "a", tagBase+9); !errors.Is(err, errNotFound) && !errors.Is(err, errChanged) {
		t.Fatalf("delete of a deleted object: %v, want errNotFound or errChanged", err)
	}
}

// testTwoRunners: two nodes run GC at the same moment, several times. In
// each round either one ran and the other found the lease held, or both
// ran (a duplicated lease): either way no live object loses anything and
// the garbage is collected.
func testTwoRunners(t *testing.T, sc *gophercloud.ServiceClient) {
	ctx := t.Context()
	r := newRegion(t, sc, "two-runners", 16)
	live := map[recipe.ID][]byte{}
	var dead []recipe.ID
	for i := range 6 {
		data := random(3 * chunkSize)
		if i%2 == 0 {
			id, err := r.write(ctx, fmt.Sprint("o", i), data)
			if err != nil {
				t.Fatal(err)
			}
			live[id] = data
		} else {
			_, id, err := r.putObj(ctx, data)
			if err != nil {
				t.Fatal(err)
			}
			dead = append(dead, id)
		}
	}
	a, b := r.collector("n1", time.Minute), r.collector("n2", time.Minute)
	ran := 0
	for round := range 3 {
		r.clk.advance(2 * time.Hour)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, c := range []*Collector{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = c.Run(ctx, time.Hour)
			}()
		}
		wg.Wait()
		for _, err := range errs {
			switch {
			case err == nil:
				ran++
			case !errors.Is(err, ErrLeaseHeld):
				t.Fatalf("round %d: %v", round, err)
			}
		}
		t.Logf("round %d: %v", round, errs)
		for id, data := range live {
			if got, err := r.read(ctx, id); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("round %d: live object %s: %v", round, id, err)
			}
		}
	}
	if ran < 3 {
		t.Errorf("%d runs in 3 rounds, want ≥ 3 (one a round at least)", ran)
	}
	for _, id := range dead {
		if l, f := r.where(ctx, KindRecipe, id.String()); l || f {
			t.Errorf("dead recipe %s still there (live %v, fossil %v)", id, l, f)
		}
	}
}

// testDeadHolder: a node takes the lease and dies (never renews nor
// releases it); another node finds it held, then takes it over once it
// expired.
func testDeadHolder(t *testing.T, sc *gophercloud.ServiceClient) {
	ctx := t.Context()
	r := newRegion(t, sc, "dead-holder", 1)
	const ttl = 3 * time.Second
	dead := &lease{sw: r.sw, cont: r.layout.GC(), owner: "n1", ttl: ttl, settle: 300 * time.Millisecond, now: time.Now}
	if err := dead.acquire(ctx); err != nil {
		t.Fatal(err)
	}
	other := r.collector("n2", ttl)
	var held *LeaseHeldError
	if _, err := other.Run(ctx, time.Hour); !errors.As(err, &held) || held.Owner != "n1" {
		t.Fatalf("run during n1's lease: %v, want held by n1", err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, err := other.Run(ctx, time.Hour)
		if err == nil {
			if st.Owner != "n2" {
				t.Fatalf("owner %q", st.Owner)
			}
			break
		}
		if !errors.Is(err, ErrLeaseHeld) || time.Now().After(deadline) {
			t.Fatalf("takeover: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	// n2 released its lease: n1, back, can run.
	if _, err := r.collector("n1", ttl).Run(ctx, time.Hour); err != nil {
		t.Fatalf("after release: %v", err)
	}
}
