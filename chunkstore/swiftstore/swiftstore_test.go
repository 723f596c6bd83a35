package swiftstore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/accounts"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/objects"
	"github.com/nitro-cloud/nitro/chunkstore"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"github.com/nitro-cloud/nitro/chunkstore/swiftstore"
	"github.com/nitro-cloud/nitro/internal/swifttest"
)

// counter is an http.RoundTripper that counts the requests for objects
// (not containers) by method and container kind ("PUT chunks", "HEAD
// chunks", "POST chunks", …). PUTs count only when they succeed (a PUT
// into a container not yet created is answered 404, then repeated).
type counter struct {
	mu    sync.Mutex
	n     map[string]int
	bytes map[string]int64 // body bytes of the successful PUTs, by key
}

func (c *counter) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	kind := "other"
	for _, k := range []string{swiftstore.KindChunks, swiftstore.KindRecipes, swiftstore.KindFossils,
		swiftstore.KindPacks, swiftstore.KindPackIndex, swiftstore.KindPackFossils, swiftstore.KindPackIndexFossils} {
		if strings.Contains(r.URL.Path, "-"+k) {
			kind = k
		}
	}
	object := strings.Count(strings.Trim(r.URL.Path, "/"), "/") >= 3 // v1/AUTH_x/container/object
	if !object || (r.Method == http.MethodPut && (err != nil || resp.StatusCode >= 300)) {
		return resp, err
	}
	c.mu.Lock()
	if c.n == nil {
		c.n, c.bytes = map[string]int{}, map[string]int64{}
	}
	c.n[r.Method+" "+kind]++
	if r.Method == http.MethodPut {
		c.bytes[r.Method+" "+kind] += max(r.ContentLength, 0)
	}
	c.mu.Unlock()
	return resp, err
}

// putBytes returns the body bytes PUT into containers of kind.
func (c *counter) putBytes(kind string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes[http.MethodPut+" "+kind]
}

func (c *counter) get(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[key]
}

func (c *counter) reset() {
	c.mu.Lock()
	c.n, c.bytes = nil, nil
	c.mu.Unlock()
}

// env is one Swift shared by the subtests; each subtest uses its own
// container prefix.
type env struct {
	srv *swifttest.Server
	// packSize is the stores' Config.PackSize (0: one object per chunk).
	packSize int
}

func (e *env) config(prefix string, tr http.RoundTripper) swiftstore.Config {
	return swiftstore.Config{AuthURL: e.srv.AuthURL(), User: swifttest.User, Key: swifttest.Key,
		ContainerPrefix: prefix, Containers: 16, Transport: tr, PackSize: e.packSize}
}

// open opens a store in dir on the cluster with prefix.
func (e *env) open(t testing.TB, dir, prefix string, tr http.RoundTripper, touchAfter time.Duration) (*chunkstore.Store, *swiftstore.Store) {
	t.Helper()
	cl, err := swiftstore.Open(context.Background(), e.config(prefix, tr))
	if err != nil {
		t.Fatal(err)
	}
	st, err := chunkstore.Open(chunkstore.Config{Dir: dir, Cluster: cl, TouchAfter: touchAfter, NoSync: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, cl
}

// data returns n bytes: random 4 KiB blocks and compressible ones.
func data(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := 0; i < n; i += 4096 {
		blk := b[i:min(i+4096, n)]
		if r.IntN(2) == 0 {
			for j := range blk {
				blk[j] = byte(r.Uint32())
			}
		} else {
			for j := range blk {
				blk[j] = "abcdefghijklmnop"[r.IntN(16)]
			}
		}
	}
	return b
}

func readAll(t *testing.T, st *chunkstore.Store, rec *recipe.Recipe) []byte {
	t.Helper()
	rd, err := st.NewReader(context.Background(), rec, 0, -1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	got, err := io.ReadAll(rd)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// rawPut overwrites container/name in the cluster with body, as an
// operator (or a bit flip) would.
func rawPut(t *testing.T, sc *gophercloud.ServiceClient, container, name string, body []byte) {
	t.Helper()
	err := objects.Create(context.Background(), sc, container, name, objects.CreateOpts{Content: bytes.NewReader(body)}).Err
	if err != nil {
		t.Fatal(err)
	}
}

// TestCluster runs chunkstore on a real Swift (Debian's, started by the
// test): the swift backend's contract, subtest by subtest.
func TestCluster(t *testing.T) {
	e := &env{srv: swifttest.Start(t)}
	ctx := context.Background()
	tests := []struct {
		name string
		run  func(t *testing.T, prefix string)
	}{
		{"PutGetVerify", func(t *testing.T, prefix string) {
			cnt := &counter{}
			st, cl := e.open(t, t.TempDir(), prefix, cnt, 0)
			in := data(1, 3<<20)
			rec, id := write(t, st, in)
			checkRead(t, st, rec, in, "read back differs")
			distinct := map[recipe.ChunkID]bool{}
			for _, r := range rec.Refs {
				distinct[r.ID] = true
			}
			if n := cnt.get("PUT chunks"); n != len(distinct) {
				t.Errorf("chunk PUTs = %d, want one per distinct chunk (%d)", n, len(distinct))
			}
			// The cluster holds every chunk in its stored form, verified.
			for cid := range distinct {
				val, info, err := cl.GetChunk(ctx, cid, nil)
				if err != nil || info.Fossil {
					t.Fatalf("chunk %s: %v (fossil %v)", cid.Short(), err, info.Fossil)
				}
				st2, err := st.GetStored(ctx, cid)
				if err != nil {
					t.Fatal(err)
				}
				if val[0] != byte(st2.Codec) || !bytes.Equal(val[1:], st2.Data) {
					t.Fatalf("chunk %s: cluster object is not the stored form", cid.Short())
				}
			}
			if enc, err := cl.GetRecipe(ctx, id); err != nil || recipe.ID(recipe.Sum(enc)) != id {
				t.Fatalf("recipe in the cluster: %v", err)
			}
			// Badger holds no chunk data: its value log stays small.
			stats, _ := st.Stats(ctx)
			if stats.Chunks != int64(len(distinct)) || stats.StoredBytes < int64(len(in))/2 {
				t.Errorf("stats %+v for %d chunks", stats, len(distinct))
			}
			if du := st.DiskUsage(); du > int64(len(in))/4 {
				t.Errorf("the data dir uses %d bytes for %d bytes written: chunk data went to Badger", du, len(in))
			}
		}},
		{"CorruptObjectDetectedAndRepaired", func(t *testing.T, prefix string) {
			st, cl := e.open(t, t.TempDir(), prefix, nil, 0)
			in := data(2, 1<<20)
			rec, _ := write(t, st, in)
			ref := rec.Refs[0]
			good, err := st.GetStored(ctx, ref.ID)
			if err != nil {
				t.Fatal(err)
			}
			bad := append([]byte{byte(chunkstore.CodecRaw)}, bytes.Repeat([]byte{'x'}, int(ref.Size))...)
			name := ref.ID.String()
			rawPut(t, cl.Client(), cl.Layout().Container(swiftstore.KindChunks, name), name, bad)
			var ce *chunkstore.CorruptChunkError
			if _, err := st.Get(ctx, ref.ID); !errors.As(err, &ce) {
				t.Fatalf("Get of a corrupt object: %v, want CorruptChunkError", err)
			}
			rd, _ := st.NewReader(ctx, rec, 0, -1, nil)
			if _, err := io.ReadAll(rd); !errors.As(err, &ce) {
				t.Fatalf("read over a corrupt object: %v, want CorruptChunkError", err)
			}
			rd.Close()
			// A good copy (a fetch from another region) goes over it,
			// though the cluster has an object of that name.
			if err := st.Receive(ctx, ref.ID, good); err != nil {
				t.Fatal(err)
			}
			checkRead(t, st, rec, in, "read after repair differs")
		}},
		{"SkipUploadOfChunksTheClusterHolds", func(t *testing.T, prefix string) {
			cnt := &counter{}
			a, _ := e.open(t, t.TempDir(), prefix, cnt, 0)
			in := data(3, 2<<20)
			write(t, a, in)
			first := cnt.get("PUT chunks")
			// Again on the same node: the index answers, no request per chunk.
			cnt.reset()
			write(t, a, in)
			if p, h := cnt.get("PUT chunks"), cnt.get("HEAD chunks"); p != 0 || h != 0 {
				t.Errorf("rewrite on the same node: %d chunk PUTs, %d HEADs; want 0, 0", p, h)
			}
			// On another node (its own Badger): HEADs, no PUT.
			cnt.reset()
			b, _ := e.open(t, t.TempDir(), prefix, cnt, 0)
			write(t, b, in)
			if p, h := cnt.get("PUT chunks"), cnt.get("HEAD chunks"); p != 0 || h != first {
				t.Errorf("same data on a second node: %d chunk PUTs, %d HEADs; want 0, %d", p, h, first)
			}
			// A new image sharing most of the first: only its new chunks.
			cnt.reset()
			v2 := append(bytes.Clone(in[:1<<20]), data(4, 256<<10)...)
			v2 = append(v2, in[1<<20+256<<10:]...)
			write(t, b, v2)
			if p := cnt.get("PUT chunks"); p == 0 || p > first/3 {
				t.Errorf("variant: %d chunk PUTs of %d for the whole image", p, first)
			}
		}},
		{"RacingWritersOfTheSameChunks", func(t *testing.T, prefix string) {
			a, _ := e.open(t, t.TempDir(), prefix, nil, 0)
			b, _ := e.open(t, t.TempDir(), prefix, nil, 0)
			in := data(5, 2<<20)
			var wg sync.WaitGroup
			recs := make([]*recipe.Recipe, 2)
			errs := make([]error, 2)
			for i, st := range []*chunkstore.Store{a, b} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					recs[i], _, errs[i] = st.Write(ctx, bytes.NewReader(in))
				}()
			}
			wg.Wait()
			for i := range 2 {
				if errs[i] != nil {
					t.Fatal(errs[i])
				}
			}
			for _, st := range []*chunkstore.Store{a, b} {
				if got := readAll(t, st, recs[0]); !bytes.Equal(got, in) {
					t.Fatal("read back differs")
				}
			}
		}},
		{"TouchOfAnOldChunk", func(t *testing.T, prefix string) {
			cnt := &counter{}
			st, cl := e.open(t, t.TempDir(), prefix, cnt, time.Second)
			in := data(6, 256<<10)
			rec, _ := write(t, st, in)
			before, err := cl.StatChunk(ctx, rec.Refs[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(2500 * time.Millisecond) // older than touch_after (1 s), to Swift's second
			cnt.reset()
			write(t, st, in)
			if p, h, po := cnt.get("PUT chunks"), cnt.get("HEAD chunks"), cnt.get("POST chunks"); p != 0 || h == 0 || po == 0 {
				t.Errorf("rewrite of old chunks: %d PUTs, %d HEADs, %d POSTs; want 0, >0, >0", p, h, po)
			}
			after, err := cl.StatChunk(ctx, rec.Refs[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			if !after.Touched.After(before.Touched) {
				t.Errorf("touch time %v, was %v", after.Touched, before.Touched)
			}
		}},
		{"FossilFallback", func(t *testing.T, prefix string) {
			cnt := &counter{}
			st, cl := e.open(t, t.TempDir(), prefix, cnt, 0)
			in := data(7, 1<<20)
			rec, _ := write(t, st, in)
			// The region GC's first step: move a chunk to its fossil container.
			id := rec.Refs[1].ID
			name := id.String()
			val, _, err := cl.GetChunk(ctx, id, nil)
			if err != nil {
				t.Fatal(err)
			}
			sc := cl.Client()
			if err := ensure(sc, cl.Layout().Container(swiftstore.KindFossils, name)); err != nil {
				t.Fatal(err)
			}
			rawPut(t, sc, cl.Layout().Container(swiftstore.KindFossils, name), name, val)
			if err := objects.Delete(ctx, sc, cl.Layout().Container(swiftstore.KindChunks, name), name, nil).Err; err != nil {
				t.Fatal(err)
			}
			checkRead(t, st, rec, in, "read with a fossil differs")
			// The read dropped the index entry: no write relies on a fossil.
			if has, _ := st.Has(ctx, []recipe.ChunkID{id}); has[0] {
				t.Error("Has: a fossil-only chunk counts as held")
			}
			cnt.reset()
			write(t, st, in)
			if p := cnt.get("PUT chunks"); p != 1 {
				t.Errorf("rewrite with a fossil: %d chunk PUTs, want 1 (the fossil's chunk)", p)
			}
			if _, err := cl.StatChunk(ctx, id); err != nil {
				t.Errorf("chunk container after the rewrite: %v", err)
			}
			// Gone from both: not found, and the index entry goes.
			for _, kind := range []string{swiftstore.KindChunks, swiftstore.KindFossils} {
				objects.Delete(ctx, sc, cl.Layout().Container(kind, name), name, nil)
			}
			if _, err := st.Get(ctx, id); !errors.Is(err, chunkstore.ErrNotFound) {
				t.Errorf("Get of a chunk in neither container: %v, want ErrNotFound", err)
			}
			if m, _ := st.Missing(ctx, []recipe.ChunkID{id}); len(m) != 1 {
				t.Errorf("Missing after the chunk is gone: %v", m)
			}
		}},
		{"HasAndMissingAskTheCluster", func(t *testing.T, prefix string) {
			a, _ := e.open(t, t.TempDir(), prefix, nil, 0)
			in := data(8, 1<<20)
			rec, _ := write(t, a, in)
			cnt := &counter{}
			b, _ := e.open(t, t.TempDir(), prefix, cnt, 0)
			ids := []recipe.ChunkID{rec.Refs[0].ID, recipe.Sum([]byte("absent")), rec.Refs[1].ID}
			has, err := b.Has(ctx, ids)
			if err != nil {
				t.Fatal(err)
			}
			if !has[0] || has[1] || !has[2] {
				t.Errorf("Has = %v, want [true false true]", has)
			}
			missing, err := b.Missing(ctx, ids)
			if err != nil || len(missing) != 1 || missing[0] != ids[1] {
				t.Errorf("Missing = %v, %v", missing, err)
			}
			sizes, err := b.StoredSizes(ctx, ids)
			want, _ := a.StoredSizes(ctx, ids[:1])
			if err != nil || sizes[0] != want[0] || sizes[1] != -1 {
				t.Errorf("StoredSizes = %v, %v; want [%d -1 …]", sizes, err, want[0])
			}
			// Indexed now: asked once, not again.
			if h := cnt.get("HEAD chunks"); h != 5 {
				t.Errorf("%d HEADs, want 5 (2 held, asked once; the absent one by each call)", h)
			}
		}},
		{"SecondStoreReadsFromTheCluster", func(t *testing.T, prefix string) {
			a, _ := e.open(t, t.TempDir(), prefix, nil, 0)
			in := data(9, 2<<20)
			rec, id := write(t, a, in)
			b, _ := e.open(t, t.TempDir(), prefix, nil, 0)
			got, err := b.Recipe(ctx, id) // from the cluster
			if err != nil || got.Size != rec.Size {
				t.Fatalf("Recipe from the cluster: %v", err)
			}
			if data := readAll(t, b, got); !bytes.Equal(data, in) {
				t.Fatal("second store reads other bytes")
			}
		}},
		{"WipedBadgerFindsItsChunks", func(t *testing.T, prefix string) {
			dir := t.TempDir()
			a, _ := e.open(t, dir, prefix, nil, 0)
			in := data(10, 2<<20)
			_, id := write(t, a, in)
			a.Close()
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			cnt := &counter{}
			b, _ := e.open(t, dir, prefix, cnt, 0)
			rec, err := b.Recipe(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if data := readAll(t, b, rec); !bytes.Equal(data, in) {
				t.Fatal("wiped store reads other bytes")
			}
			write(t, b, in)
			if p := cnt.get("PUT chunks"); p != 0 {
				t.Errorf("rewrite after the wipe uploaded %d chunks", p)
			}
		}},
		{"FsckVerifiesTheCluster", func(t *testing.T, prefix string) {
			st, cl := e.open(t, t.TempDir(), prefix, nil, 0)
			rec, id, err := st.Write(ctx, bytes.NewReader(data(11, 512<<10)))
			if err != nil {
				t.Fatal(err)
			}
			rep, err := st.Fsck(ctx, []recipe.ID{id}, false)
			if err != nil || !rep.OK() || rep.ChunksChecked == 0 {
				t.Fatalf("fsck: %+v, %v", rep, err)
			}
			name := rec.Refs[0].ID.String()
			rawPut(t, cl.Client(), cl.Layout().Container(swiftstore.KindChunks, name), name, []byte{0, 1, 2})
			rep, err = st.Fsck(ctx, []recipe.ID{id}, false)
			if err != nil || len(rep.Corrupt) != 1 {
				t.Fatalf("fsck over a corrupt object: %+v, %v", rep, err)
			}
		}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, "t"+string(rune('a'+i)))
		})
	}
	// Account usage is what the benchmark measures; make sure it answers.
	cl, err := swiftstore.Open(ctx, e.config("x", nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := accounts.Get(ctx, cl.Client(), nil).Extract(); err != nil {
		t.Fatal(err)
	}
}

func ensure(sc *gophercloud.ServiceClient, container string) error {
	req := &gophercloud.RequestOpts{OkCodes: []int{201, 202}}
	_, err := sc.Request(context.Background(), http.MethodPut, sc.ServiceURL(container), req)
	return err
}

// write stores in with st, failing t on an error.
func write(t *testing.T, st *chunkstore.Store, in []byte) (*recipe.Recipe, recipe.ID) {
	t.Helper()
	rec, id, err := st.Write(context.Background(), bytes.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	return rec, id
}

// checkRead fails t with msg unless rec reads back from st as want.
func checkRead(t *testing.T, st *chunkstore.Store, rec *recipe.Recipe, want []byte, msg string) {
	t.Helper()
	if got := readAll(t, st, rec); !bytes.Equal(got, want) {
		t.Fatal(msg)
	}
}
