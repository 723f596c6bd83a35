package e2e

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"github.com/nitro-cloud/nitro/chunkstore/swiftstore"
)

// TestSwiftBackendKeystoneV3 checks store.backend swift's Keystone v3
// client (auth_version 3) against Debian's real Keystone: it
// authenticates as the seeded demo user, picks the object-store endpoint
// of region_name from the token's catalog, and puts, heads, touches and
// gets a chunk and a recipe there. The object store behind that endpoint
// is a Nitro node validating Keystone tokens (any Swift API would do; the
// shared Keystone's catalog points at this port).
func TestSwiftBackendKeystoneV3(t *testing.T) {
	k := sharedKeystoneFor(t)
	krec := newRecorder(t, k.URL)
	node := startNitro(t, keystoneNodeConfig(krec.URL+"/v3", "RegionOne"))
	newRecorderOn(t, k.ObjectStoreAddr["RegionOne"], node.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cl, err := swiftstore.Open(ctx, swiftstore.Config{
		AuthURL: k.URL + "/v3", AuthVersion: 3, User: "demo", Key: ksDemoPassword, Project: "demo",
		RegionName: "RegionOne", ContainerPrefix: "ksv3", Containers: 16,
	})
	if err != nil {
		t.Fatal(err)
	}
	plain := bytes.Repeat([]byte("keystone v3 "), 1000)
	id := recipe.Sum(plain)
	val := append([]byte{0}, plain...) // codec raw
	if err := cl.PutChunk(ctx, id, val); err != nil {
		t.Fatal(err)
	}
	if info, err := cl.StatChunk(ctx, id); err != nil || info.Size != int64(len(val)) {
		t.Fatalf("StatChunk: %+v, %v", info, err)
	}
	if err := cl.TouchChunk(ctx, id, time.Now()); err != nil {
		t.Fatal(err)
	}
	got, info, err := cl.GetChunk(ctx, id, nil)
	if err != nil || !bytes.Equal(got, val) || info.Fossil {
		t.Fatalf("GetChunk: %d bytes, %+v, %v", len(got), info, err)
	}
	rid := recipe.ID(recipe.Sum([]byte("a recipe")))
	if err := cl.PutRecipe(ctx, rid, []byte("a recipe")); err != nil {
		t.Fatal(err)
	}
	if enc, err := cl.GetRecipe(ctx, rid); err != nil || string(enc) != "a recipe" {
		t.Fatalf("GetRecipe: %q, %v", enc, err)
	}
	if ep := cl.Client().Endpoint; !bytes.Contains([]byte(ep), []byte(k.ObjectStoreAddr["RegionOne"])) {
		t.Errorf("endpoint %s, want RegionOne's object store %s", ep, k.ObjectStoreAddr["RegionOne"])
	}
}
