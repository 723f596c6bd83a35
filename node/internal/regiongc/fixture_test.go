package regiongc

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/swauth"
	"github.com/nitro-cloud/nitro/chunkstore"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"github.com/nitro-cloud/nitro/internal/swifttest"
	"github.com/nitro-cloud/nitro/node/internal/namespace"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

// swiftClient authenticates to srv as the tempauth test user.
func swiftClient(t testing.TB, srv *swifttest.Server) *gophercloud.ServiceClient {
	t.Helper()
	pc := &gophercloud.ProviderClient{IdentityBase: srv.URL + "/", IdentityEndpoint: srv.URL + "/"}
	pc.HTTPClient = http.Client{Timeout: time.Minute}
	sc, err := swauth.NewObjectStorageV1(context.Background(), pc, swauth.AuthOpts{User: swifttest.User, Key: swifttest.Key})
	if err != nil {
		t.Fatalf("swauth: %v", err)
	}
	return sc
}

// clock is the collectors' clock: the wall clock plus an offset a test
// moves forward to age what is in the cluster (Swift's own times stay
// real).
type clock struct{ off atomic.Int64 }

func (c *clock) now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) advance(d time.Duration) { c.off.Add(int64(d)) }

// region is one test region: a layout in the shared Swift, the
// replicated namespace (a real one on Badger: the marking roots), and a
// writer that follows the write rules of chunkstore/swiftstore's package doc with gophercloud
// directly, standing in for the Swift backend.
type region struct {
	t      testing.TB
	sc     *gophercloud.ServiceClient
	sw     swift
	layout Layout
	ns     *namespace.Namespace
	clk    *clock
	// touchAfter: a write relying on a chunk whose touch time is older
	// than this touches it first (store.touch_after).
	touchAfter time.Duration
}

func newRegion(t testing.TB, sc *gophercloud.ServiceClient, prefix string, containers int) *region {
	t.Helper()
	st, err := chunkstore.Open(chunkstore.Config{Dir: t.TempDir(), NoSync: true}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ns, err := namespace.New(namespace.Config{Region: "r1"}, st.Records(), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	r := &region{t: t, sc: sc, sw: swift{c: sc}, layout: Layout{Prefix: prefix, Containers: containers}, ns: ns, clk: &clock{}, touchAfter: time.Hour}
	for _, k := range []Kind{KindChunk, KindRecipe} {
		for _, cont := range r.layout.shardContainers(k, false) {
			if _, err := sc.Put(context.Background(), sc.ServiceURL(cont), nil, nil, &gophercloud.RequestOpts{OkCodes: []int{201, 202}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return r
}

// collector returns a Collector of node owner over r.
func (r *region) collector(owner string, ttl time.Duration) *Collector {
	c, err := New(Config{Client: r.sc, Layout: r.layout, Owner: owner, Roots: r.ns, LeaseTTL: ttl,
		Settle: 300 * time.Millisecond, Workers: 8, Now: r.clk.now, Log: zaptest.NewLogger(r.t).Named(owner)})
	if err != nil {
		r.t.Fatal(err)
	}
	return c
}

// chunkSize is the test writer's fixed chunk size (content-defined
// chunking is not what is tested here).
const chunkSize = 4 << 10

func pieces(data []byte) [][]byte {
	var out [][]byte
	for len(data) > 0 {
		n := min(len(data), chunkSize)
		out = append(out, data[:n])
		data = data[n:]
	}
	return out
}

// putObj stores data as the Swift backend would (per chunk: HEAD, then
// PUT if absent from the chunk container, else touch if older than
// touchAfter; then the recipe) and returns its recipe. It does not write
// a namespace record (see commit).
func (r *region) putObj(ctx context.Context, data []byte) (*recipe.Recipe, recipe.ID, error) {
	rec := &recipe.Recipe{Size: int64(len(data)), MD5: md5.Sum(data)}
	for _, p := range pieces(data) {
		id := recipe.Sum(p)
		rec.Refs = append(rec.Refs, recipe.Ref{ID: id, Size: uint32(len(p))})
		if err := r.putChunk(ctx, id, p); err != nil {
			return nil, recipe.ID{}, err
		}
	}
	enc, err := rec.MarshalBinary()
	if err != nil {
		return nil, recipe.ID{}, err
	}
	id := rec.ID()
	if err := r.put(ctx, r.layout.Recipe(id), id.String(), enc); err != nil {
		return nil, recipe.ID{}, err
	}
	return rec, id, nil
}

func (r *region) putChunk(ctx context.Context, id recipe.ChunkID, p []byte) error {
	cont := r.layout.Chunk(id)
	in, err := r.sw.head(ctx, cont, id.String())
	switch {
	case errors.Is(err, errNotFound):
		// Absent (maybe a fossil): upload, never rely on a fossil.
		return r.put(ctx, cont, id.String(), append([]byte{byte(chunkstore.CodecRaw)}, p...))
	case err != nil:
		return err
	case r.clk.now().Sub(in.touch) > r.touchAfter:
		_, err := r.sc.Post(ctx, r.sw.url(cont, id.String()), nil, nil, &gophercloud.RequestOpts{
			MoreHeaders: map[string]string{HeaderTouched: strconv.FormatInt(r.clk.now().Unix(), 10)}, OkCodes: []int{202},
		})
		if gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
			// Gone between HEAD and POST: upload.
			return r.put(ctx, cont, id.String(), append([]byte{byte(chunkstore.CodecRaw)}, p...))
		}
		return err
	}
	return nil
}

// put PUTs an object. It also sets its touch time to the test clock's
// now: under a clock moved forward, a PUT's Last-Modified (Swift's real
// time) would look old, where a real writer's PUT is always fresh.
func (r *region) put(ctx context.Context, cont, name string, body []byte) error {
	_, err := r.sc.Put(ctx, r.sw.url(cont, name), nil, nil, &gophercloud.RequestOpts{RawBody: bytes.NewReader(body), OkCodes: []int{201},
		MoreHeaders: map[string]string{HeaderTouched: strconv.FormatInt(r.clk.now().Unix(), 10)}})
	return err
}

// commit writes the object record naming id (the write's acknowledgement).
func (r *region) commit(ctx context.Context, name string, rec *recipe.Recipe, id recipe.ID) error {
	_, err := r.ns.Apply(ctx, &namespace.Record{Key: namespace.ObjectKey("AUTH_test", "images", name), Timestamp: r.ns.Now(), Region: "r1",
		Recipe: id, Size: rec.Size, ETag: rec.ETag()})
	return err
}

// remove tombstones object name.
func (r *region) remove(ctx context.Context, name string) error {
	_, err := r.ns.Apply(ctx, &namespace.Record{Key: namespace.ObjectKey("AUTH_test", "images", name), Timestamp: r.ns.Now(), Region: "r1", Deleted: true})
	return err
}

// write is putObj then commit.
func (r *region) write(ctx context.Context, name string, data []byte) (recipe.ID, error) {
	rec, id, err := r.putObj(ctx, data)
	if err == nil {
		err = r.commit(ctx, name, rec, id)
	}
	return id, err
}

// getFallback GETs name from its container, else from the fossil one (the
// contract's read path).
func (r *region) getFallback(ctx context.Context, k Kind, name string) ([]byte, error) {
	b, err := r.sw.get(ctx, r.layout.Live(k, name), name)
	if errors.Is(err, errNotFound) {
		b, err = r.sw.get(ctx, r.layout.Fossil(k, name), name)
	}
	return b, err
}

// read rebuilds the object of recipe id, verifying the recipe and every
// chunk against their IDs and the whole against the recipe's MD5.
func (r *region) read(ctx context.Context, id recipe.ID) ([]byte, error) {
	enc, err := r.getFallback(ctx, KindRecipe, id.String())
	if err != nil {
		return nil, fmt.Errorf("recipe %s: %w", id, err)
	}
	if recipe.ID(sha256.Sum256(enc)) != id {
		return nil, fmt.Errorf("recipe %s: corrupt", id)
	}
	var rec recipe.Recipe
	if err := rec.UnmarshalBinary(enc); err != nil {
		return nil, err
	}
	var out []byte
	for _, ref := range rec.Refs {
		b, err := r.getFallback(ctx, KindChunk, ref.ID.String())
		if err != nil {
			return nil, fmt.Errorf("chunk %s: %w", ref.ID, err)
		}
		if len(b) == 0 || b[0] != byte(chunkstore.CodecRaw) || recipe.Sum(b[1:]) != ref.ID {
			return nil, fmt.Errorf("chunk %s: corrupt", ref.ID)
		}
		out = append(out, b[1:]...)
	}
	if md5.Sum(out) != rec.MD5 {
		return nil, fmt.Errorf("object %s: md5 mismatch", id)
	}
	return out, nil
}

// where reports whether name of kind k is in its live and fossil
// containers.
func (r *region) where(ctx context.Context, k Kind, name string) (live, fossil bool) {
	_, err := r.sw.head(ctx, r.layout.Live(k, name), name)
	if err != nil && !errors.Is(err, errNotFound) {
		r.t.Fatal(err)
	}
	live = err == nil
	_, err = r.sw.head(ctx, r.layout.Fossil(k, name), name)
	if err != nil && !errors.Is(err, errNotFound) {
		r.t.Fatal(err)
	}
	return live, err == nil
}

// recipeSum is recipe.Sum (the chunk ID of p).
func recipeSum(p []byte) recipe.ChunkID { return recipe.Sum(p) }

// recipeID is recipe.ID.
type recipeID = recipe.ID
