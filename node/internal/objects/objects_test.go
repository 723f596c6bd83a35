package objects

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	glanceshim "github.com/nitro-cloud/nitro/glance-shim"
	"github.com/nitro-cloud/nitro/node/internal/namespace"
	"go.uber.org/zap"
)

// fakeRepl records what the service replicates; err, if set, fails it.
type fakeRepl struct {
	mu   sync.Mutex
	recs []namespace.Record
	err  error
}

func (f *fakeRepl) Replicate(_ context.Context, recs ...namespace.Record) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recs = append(f.recs, recs...)
	return f.err
}

// fakeRemote records the spans asked for and serves from the store.
type fakeRemote struct {
	store       *chunkstore.Store
	first, last int
	calls       int
}

func (f *fakeRemote) Source(_ context.Context, rec *recipe.Recipe, first, last int) (chunkstore.ChunkSource, error) {
	f.first, f.last = first, last
	f.calls++
	return f.store, nil
}

func newService(t *testing.T, repl Replicator, remote func(*chunkstore.Store) RemoteReader) (*Service, *chunkstore.Store) {
	t.Helper()
	st, ns := openStore(t, 0)
	var rr RemoteReader
	if remote != nil {
		rr = remote(st)
	}
	s, err := New(st, ns, repl, rr, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	return s, st
}

// openStore opens a chunkstore in a temp dir (small chunks, no fsync,
// touchAfter 0: the store's default) and a namespace of region r1 on it,
// both closed when t ends.
func openStore(t *testing.T, touchAfter time.Duration) (*chunkstore.Store, *namespace.Namespace) {
	t.Helper()
	st, err := chunkstore.Open(chunkstore.Config{Dir: t.TempDir(), NoSync: true, TouchAfter: touchAfter, MinSize: 1 << 10, AvgSize: 4 << 10, MaxSize: 16 << 10}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ns, err := namespace.New(namespace.Config{Region: "r1"}, st.Records(), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	return st, ns
}

func rnd(t *testing.T, n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func TestPutCommitsNothingOnFailure(t *testing.T) {
	ctx := context.Background()
	repl := &fakeRepl{}
	s, _ := newService(t, repl, nil)
	if _, err := s.PutObject(ctx, "A", "nope", "o", bytes.NewReader(nil), glanceshim.PutOptions{Size: -1}); !errors.Is(err, glanceshim.ErrNotFound) {
		t.Fatalf("PUT into a missing container: %v", err)
	}
	if _, err := s.PutContainer(ctx, "A", "c", nil); err != nil {
		t.Fatal(err)
	}
	body := rnd(t, 100000)
	cases := map[string]struct {
		r    io.Reader
		opts glanceshim.PutOptions
		want error
	}{
		"body fails": {io.MultiReader(bytes.NewReader(body), iotest.ErrReader(io.ErrUnexpectedEOF)), glanceshim.PutOptions{Size: -1}, io.ErrUnexpectedEOF},
		"etag":       {bytes.NewReader(body), glanceshim.PutOptions{Size: -1, ETag: "0123456789abcdef0123456789abcdef"}, glanceshim.ErrETagMismatch},
		"short body": {bytes.NewReader(body), glanceshim.PutOptions{Size: int64(len(body)) + 1}, io.ErrUnexpectedEOF},
	}
	for name, tc := range cases {
		if _, err := s.PutObject(ctx, "A", "c", "o", tc.r, tc.opts); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
		if _, err := s.Object(ctx, "A", "c", "o"); !errors.Is(err, glanceshim.ErrNotFound) {
			t.Errorf("%s: object visible after a failed PUT: %v", name, err)
		}
	}
	sum := md5.Sum(body)
	info, err := s.PutObject(ctx, "A", "c", "o", bytes.NewReader(body), glanceshim.PutOptions{Size: int64(len(body)), ETag: `"` + hex.EncodeToString(sum[:]) + `"`})
	if err != nil || info.ETag != hex.EncodeToString(sum[:]) || info.ContentType != defaultContentType {
		t.Fatalf("good PUT: %+v, %v", info, err)
	}
	ci, _ := s.Container(ctx, "A", "c")
	if ci.Objects != 1 || ci.Bytes != int64(len(body)) {
		t.Fatalf("container %+v", ci)
	}
	// Replicated: account, container, object and its region's holding of
	// the recipe, in that order.
	var kinds []namespace.Kind
	for _, r := range repl.recs {
		kinds = append(kinds, r.Kind)
	}
	if string(kindsBytes(kinds)) != "acoh" || repl.recs[2].Recipe.IsZero() ||
		repl.recs[3].Key != namespace.HoldingKey(repl.recs[2].Recipe, "r1") {
		t.Fatalf("replicated %v", repl.recs)
	}
	if info.Regions == nil {
		t.Fatalf("PUT info without regions: %+v", info)
	}
}

func kindsBytes(k []namespace.Kind) []byte {
	b := make([]byte, len(k))
	for i, x := range k {
		b[i] = byte(x)
	}
	return b
}

func TestReplicateErrorIs503(t *testing.T) {
	ctx := context.Background()
	repl := &fakeRepl{err: errors.New("peers down")}
	s, _ := newService(t, repl, nil)
	if _, err := s.PutContainer(ctx, "A", "c", nil); !errors.Is(err, glanceshim.ErrUnavailable) {
		t.Fatalf("PutContainer with failing replication: %v", err)
	}
	// Committed locally all the same; anti-entropy will spread it.
	if _, err := s.Container(ctx, "A", "c"); err != nil {
		t.Fatal(err)
	}
}

func TestOpenObjectRangesAndRemoteSpan(t *testing.T) {
	ctx := context.Background()
	var remote *fakeRemote
	s, _ := newService(t, nil, func(st *chunkstore.Store) RemoteReader { remote = &fakeRemote{store: st}; return remote })
	s.PutContainer(ctx, "A", "c", nil)
	body := rnd(t, 300000)
	if _, err := s.PutObject(ctx, "A", "c", "o", bytes.NewReader(body), glanceshim.PutOptions{Size: -1}); err != nil {
		t.Fatal(err)
	}
	for _, rg := range []struct{ off, length int64 }{{0, -1}, {0, 1}, {12345, 100000}, {299999, 1}, {250000, -1}, {100, 1 << 30}} {
		rc, info, err := s.OpenObject(ctx, "A", "c", "o", rg.off, rg.length)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		end := int64(len(body))
		if rg.length >= 0 && rg.off+rg.length < end {
			end = rg.off + rg.length
		}
		if err != nil || !bytes.Equal(got, body[rg.off:end]) || info.Size != int64(len(body)) {
			t.Fatalf("range %+v: %d bytes, %v", rg, len(got), err)
		}
		if remote.first >= remote.last {
			t.Fatalf("range %+v: remote asked for span [%d,%d)", rg, remote.first, remote.last)
		}
	}
	if remote.calls != 6 {
		t.Fatalf("remote Source called %d times", remote.calls)
	}
}

func TestContainerLifecycle(t *testing.T) {
	ctx := context.Background()
	s, _ := newService(t, nil, nil)
	if a, err := s.Account(ctx, "A"); err != nil || a.Containers != 0 {
		t.Fatalf("autocreated account: %+v, %v", a, err)
	}
	created, err := s.PutContainer(ctx, "A", "c", map[string]string{"color": "red", "x-container-read": ".r:*"})
	if err != nil || !created {
		t.Fatal(created, err)
	}
	if created, _ := s.PutContainer(ctx, "A", "c", map[string]string{"size": "xl"}); created {
		t.Fatal("second PUT created")
	}
	if err := s.PostContainer(ctx, "A", "c", map[string]string{"color": ""}); err != nil {
		t.Fatal(err)
	}
	ci, _ := s.Container(ctx, "A", "c")
	if len(ci.Meta) != 2 || ci.Meta["size"] != "xl" || ci.Meta["x-container-read"] != ".r:*" || ci.Created.IsZero() {
		t.Fatalf("meta %+v", ci)
	}
	s.PutObject(ctx, "A", "c", "dir/o", bytes.NewReader([]byte("x")), glanceshim.PutOptions{Size: 1})
	if err := s.DeleteContainer(ctx, "A", "c"); !errors.Is(err, glanceshim.ErrContainerNotEmpty) {
		t.Fatalf("delete non-empty: %v", err)
	}
	l, _ := s.ListObjects(ctx, "A", "c", glanceshim.ListOptions{Delimiter: "/"})
	if len(l) != 1 || l[0].Subdir != "dir/" {
		t.Fatalf("delimited listing %+v", l)
	}
	if err := s.DeleteObject(ctx, "A", "c", "dir/o"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteObject(ctx, "A", "c", "dir/o"); !errors.Is(err, glanceshim.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if err := s.DeleteContainer(ctx, "A", "c"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ListObjects(ctx, "A", "c", glanceshim.ListOptions{}); !errors.Is(err, glanceshim.ErrNotFound) {
		t.Fatalf("listing a deleted container: %v", err)
	}
	if err := s.PostContainer(ctx, "A", "c", nil); !errors.Is(err, glanceshim.ErrNotFound) {
		t.Fatalf("POST to a deleted container: %v", err)
	}
	if _, err := s.Object(ctx, "A", "c", "a\x00b"); !errors.Is(err, glanceshim.ErrNotFound) {
		t.Fatalf("NUL name: %v", err)
	}
	if _, err := s.PutObject(ctx, "A", "c", "a\x00b", bytes.NewReader(nil), glanceshim.PutOptions{Size: 0}); !errors.Is(err, namespace.ErrInvalidName) {
		t.Fatalf("PUT NUL name: %v", err)
	}
}

// TestObjectRegions: an object's regions are those whose holdings name its
// current recipe, from local records.
func TestObjectRegions(t *testing.T) {
	ctx := t.Context()
	s, _ := newService(t, nil, nil)
	if _, err := s.PutContainer(ctx, "A", "c", nil); err != nil {
		t.Fatal(err)
	}
	put := func(body []byte) {
		t.Helper()
		if _, err := s.PutObject(ctx, "A", "c", "o", bytes.NewReader(body), glanceshim.PutOptions{Size: -1}); err != nil {
			t.Fatal(err)
		}
	}
	regions := func() []string {
		t.Helper()
		info, err := s.Object(ctx, "A", "c", "o")
		if err != nil {
			t.Fatal(err)
		}
		rc, info2, err := s.OpenObject(ctx, "A", "c", "o", 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		rc.Close()
		if !slices.Equal(info.Regions, info2.Regions) {
			t.Fatalf("HEAD says %v, GET says %v", info.Regions, info2.Regions)
		}
		return info.Regions
	}
	recipeOf := func() recipe.ID {
		r, err := s.ns.GetLive(ctx, namespace.ObjectKey("A", "c", "o"))
		if err != nil {
			t.Fatal(err)
		}
		return r.Recipe
	}
	hold := func(id recipe.ID, region string, deleted bool) {
		t.Helper()
		if _, err := s.ns.Apply(ctx, &namespace.Record{Key: namespace.HoldingKey(id, region), Timestamp: s.ns.Now(), Region: region, Deleted: deleted}); err != nil {
			t.Fatal(err)
		}
	}

	put(rnd(t, 50000))
	if got := regions(); !slices.Equal(got, []string{"r1"}) {
		t.Fatalf("after PUT: %v, want [r1]", got)
	}
	old := recipeOf()
	hold(old, "r3", false)
	hold(old, "r0", false)
	if got := regions(); !slices.Equal(got, []string{"r0", "r1", "r3"}) {
		t.Fatalf("with holdings of r0 and r3: %v", got)
	}
	hold(old, "r0", true)
	put(rnd(t, 50000)) // overwritten: r3's holding names the old recipe
	if got := regions(); !slices.Equal(got, []string{"r1"}) {
		t.Fatalf("after overwrite: %v, want [r1]", got)
	}
	hold(recipeOf(), "r2", false)
	if got := regions(); !slices.Equal(got, []string{"r1", "r2"}) {
		t.Fatalf("with r2's holding of the new recipe: %v", got)
	}
}

// TestDeleteContainerRacingPuts: a container delete that races object
// PUTs never leaves a deleted container holding live objects. The PUTs do
// not rewrite any key the delete's emptiness check reads except the
// container's write mark (see namespace/stats.go), which must make the
// check conflict when a PUT commits while it runs.
func TestDeleteContainerRacingPuts(t *testing.T) {
	ctx := context.Background()
	s, _ := newService(t, nil, nil)
	for round := range 20 {
		c := fmt.Sprintf("c%d", round)
		if _, err := s.PutContainer(ctx, "A", c, nil); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var put atomic.Int64
		for w := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.PutObject(ctx, "A", c, fmt.Sprint(w), bytes.NewReader([]byte{byte(w)}), glanceshim.PutOptions{Size: 1})
				switch {
				case err == nil:
					put.Add(1)
				case !errors.Is(err, glanceshim.ErrNotFound):
					t.Errorf("PUT: %v", err)
				}
			}()
		}
		deleted := false
		for !deleted {
			err := s.DeleteContainer(ctx, "A", c)
			switch {
			case err == nil:
				deleted = true
			case errors.Is(err, glanceshim.ErrContainerNotEmpty):
				// Empty it and try again, while PUTs may still land.
				l, err := s.ListObjects(ctx, "A", c, glanceshim.ListOptions{})
				if err != nil {
					t.Fatal(err)
				}
				for _, o := range l {
					if err := s.DeleteObject(ctx, "A", c, o.Name); err != nil && !errors.Is(err, glanceshim.ErrNotFound) {
						t.Fatal(err)
					}
				}
			default:
				t.Fatal(err)
			}
		}
		wg.Wait()
		st, err := s.ns.ContainerStats(ctx, "A", c)
		if err != nil || st.Objects != 0 {
			t.Fatalf("round %d: deleted container holds %d objects (%d PUTs succeeded): %v", round, st.Objects, put.Load(), err)
		}
	}
}

// hookStore is the real store with a hook run after each WritePinned,
// before PutObject commits.
type hookStore struct {
	*chunkstore.Store
	afterWrite func()
	beforeSync func() // nil: none
}

func (h hookStore) Sync(ctx context.Context) error {
	if h.beforeSync != nil {
		h.beforeSync()
	}
	return h.Store.Sync(ctx)
}

func (h hookStore) WritePinned(ctx context.Context, r io.Reader, pin *chunkstore.Pin) (*recipe.Recipe, recipe.ID, error) {
	rec, id, err := h.Store.WritePinned(ctx, r, pin)
	h.afterWrite()
	return rec, id, err
}

// TestFailedCommitLeavesGarbageForGC: a PUT whose commit fails after its
// content was stored (here the container is deleted in between) answers
// an error and leaves a recipe and chunks no record names; the next GC
// older than its grace removes all of them, so nothing stays pinned.
func TestFailedCommitLeavesGarbageForGC(t *testing.T) {
	ctx := context.Background()
	st, ns := openStore(t, 500*time.Millisecond)
	var s *Service
	hs := hookStore{Store: st, afterWrite: func() {
		if err := s.DeleteContainer(ctx, "A", "c"); err != nil {
			t.Errorf("DeleteContainer: %v", err)
		}
	}}
	var err error
	if s, err = New(hs, ns, nil, nil, zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutContainer(ctx, "A", "c", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutObject(ctx, "A", "c", "o", bytes.NewReader(rnd(t, 100000)), glanceshim.PutOptions{Size: -1}); !errors.Is(err, glanceshim.ErrNotFound) {
		t.Fatalf("PUT into a container deleted before the commit: %v", err)
	}
	before, err := st.Stats(ctx)
	if err != nil || before.Recipes != 1 || before.Chunks == 0 {
		t.Fatalf("store after the failed PUT: %+v, %v", before, err)
	}
	time.Sleep(2500 * time.Millisecond) // past the 1 s grace; stamps are whole seconds
	gc, err := st.GC(ctx, ns.LiveRecipes, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	after, err := st.Stats(ctx)
	if err != nil || after.Recipes != 0 || after.Chunks != 0 || gc.RecipesRemoved != 1 {
		t.Fatalf("after GC %+v: store %+v, %v", gc, after, err)
	}
}

// TestOpenVersion: OpenVersion reads the version an Object info names,
// without reading the record again (a Range GET's one lookup): the bytes
// of that version even after the name was overwritten; an info without
// a version is ErrUnavailable.
func TestOpenVersion(t *testing.T) {
	ctx := context.Background()
	s, _ := newService(t, nil, nil)
	s.PutContainer(ctx, "A", "c", nil)
	v1, v2 := rnd(t, 200000), rnd(t, 1000)
	if _, err := s.PutObject(ctx, "A", "c", "o", bytes.NewReader(v1), glanceshim.PutOptions{Size: -1}); err != nil {
		t.Fatal(err)
	}
	info, err := s.Object(ctx, "A", "c", "o")
	if err != nil || info.Version == nil {
		t.Fatalf("Object: %+v, %v", info, err)
	}
	if _, err := s.PutObject(ctx, "A", "c", "o", bytes.NewReader(v2), glanceshim.PutOptions{Size: -1}); err != nil {
		t.Fatal(err)
	}
	for _, rg := range []struct{ off, length int64 }{{0, -1}, {4096, 4096}, {199990, 100}} {
		rc, err := s.OpenVersion(ctx, info, rg.off, rg.length)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		end := min(int64(len(v1)), rg.off+rg.length)
		if rg.length < 0 {
			end = int64(len(v1))
		}
		if err != nil || !bytes.Equal(got, v1[rg.off:end]) {
			t.Fatalf("range %+v of the first version: %d bytes, %v", rg, len(got), err)
		}
	}
	if _, err := s.OpenVersion(ctx, glanceshim.ObjectInfo{Name: "o"}, 0, 1); !errors.Is(err, glanceshim.ErrUnavailable) {
		t.Fatalf("info without a version: %v", err)
	}
}
