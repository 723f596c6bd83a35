package node

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/nitro-cloud/nitro/chunkstore"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"github.com/nitro-cloud/nitro/chunkstore/swiftstore"
	"github.com/nitro-cloud/nitro/internal/swifttest"
	"github.com/nitro-cloud/nitro/node/internal/namespace"
	"go.uber.org/zap"
)

// swiftBackendConfig is testConfig on store.backend: swift, the Swift srv
// with container prefix.
func swiftBackendConfig(t *testing.T, srv *swifttest.Server, node, prefix string) Config {
	cfg := testConfig(t)
	cfg.Region, cfg.Node = "r1", node
	cfg.Store.Backend = BackendSwift
	cfg.Store.Swift.AuthURL = srv.AuthURL()
	cfg.Store.Swift.User, cfg.Store.Swift.Key = swifttest.User, swifttest.Key
	cfg.Store.Swift.ContainerPrefix, cfg.Store.Swift.Containers = prefix, 16
	// One object per chunk: the tests using this check chunk objects;
	// TestSwiftBackend/packs sets the default, packs.
	cfg.Store.Swift.PackSize = 0
	return cfg
}

// TestSwiftBackend runs `nitro serve`'s node on store.backend: swift over
// Debian's Swift, with one object per chunk (store.swift.pack_size 0) and
// with pack_size at its default (packs): a PUT through the node lands its
// chunks and recipe in the cluster (chunk objects, or packs and no chunk
// object) and not in the data dir; a second node of the region (its own
// data dir, the same cluster) serves the object from the cluster once it
// has the namespace records (here copied as replication would bring
// them); a wrong key fails New without the key in the error.
func TestSwiftBackend(t *testing.T) {
	srv := swifttest.Start(t)
	ctx := context.Background()
	if ps := Default().Store.Swift.PackSize; ps <= 0 {
		t.Fatalf("default pack_size %d: want packing on", ps)
	}
	for _, tc := range []struct {
		name, prefix string
		packSize     int
		// inCluster checks where node a's object rc (size bytes) is.
		inCluster func(t *testing.T, a *running, cl *swiftstore.Store, rc *recipe.Recipe, size int)
	}{
		{"chunk objects", "nb", 0, chunkObjectsInCluster},
		{"packs", "np", Default().Store.Swift.PackSize, chunksInPacks},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfgA := swiftBackendConfig(t, srv, "r1-a", tc.prefix)
			cfgA.Store.Swift.PackSize = tc.packSize
			a := startNode(t, cfgA)
			ca := login(t, a.base(), "test:tester", "testing")
			body := randomBytes(t, 3<<20)
			ca.must(http.StatusCreated, "PUT", "/images", nil, nil)
			ca.must(http.StatusCreated, "PUT", "/images/disk", nil, bytes.NewReader(body))
			if _, got := ca.must(http.StatusOK, "GET", "/images/disk", nil, nil); !bytes.Equal(got, body) {
				t.Fatal("GET from node a differs")
			}
			rec, rc := a.recipeOf(t, "images", "disk")
			cl, err := swiftstore.Open(ctx, cfgA.Store.Swift.swiftstore())
			if err != nil {
				t.Fatal(err)
			}
			tc.inCluster(t, a, cl, rc, len(body))
			if _, err := cl.GetRecipe(ctx, rec.Recipe); err != nil {
				t.Fatalf("recipe not in the cluster: %v", err)
			}

			// A second node of the region, with the namespace records.
			cfgB := swiftBackendConfig(t, srv, "r1-b", tc.prefix)
			cfgB.Store.Swift.PackSize = tc.packSize
			b := startNode(t, cfgB)
			for _, k := range []namespace.Key{namespace.AccountKey("AUTH_test"), namespace.ContainerKey("AUTH_test", "images"),
				namespace.ObjectKey("AUTH_test", "images", "disk")} {
				r, err := a.ns.Get(ctx, k)
				if err != nil {
					if errors.Is(err, namespace.ErrNotFound) {
						continue
					}
					t.Fatal(err)
				}
				if _, err := b.ns.Apply(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
			cb := login(t, b.base(), "test:tester", "testing")
			if _, got := cb.must(http.StatusOK, "GET", "/images/disk", nil, nil); !bytes.Equal(got, body) {
				t.Fatal("GET from node b differs")
			}
			if missing, err := b.store.Missing(ctx, rc.Unique()); err != nil || len(missing) != 0 {
				t.Fatalf("node b misses %d chunks the cluster holds (%v)", len(missing), err)
			}
		})
	}

	// A wrong key: New fails, and neither the error nor the log has it.
	bad := swiftBackendConfig(t, srv, "r1-c", "nb")
	bad.Store.Swift.Key = "not-the-key-4f1c2e"
	n, err := New(bad, zap.NewNop())
	if err == nil {
		n.Close()
		t.Fatal("New with a wrong key succeeded")
	}
	if strings.Contains(err.Error(), bad.Store.Swift.Key) {
		t.Errorf("the error shows the key: %v", err)
	}
	if s := bad.Store.Swift.String(); strings.Contains(s, bad.Store.Swift.Key) || !strings.Contains(s, "redacted") {
		t.Errorf("String shows the key: %s", s)
	}
}

var _ chunkstore.Cluster = (*swiftstore.Store)(nil)

// chunkObjectsInCluster checks that every chunk of rc is a chunk object
// in cl, verified, and that node a's data dir holds no chunk data (a
// quarter of the object's size at most).
func chunkObjectsInCluster(t *testing.T, a *running, cl *swiftstore.Store, rc *recipe.Recipe, size int) {
	t.Helper()
	for _, id := range rc.Unique() {
		if _, err := cl.StatChunk(context.Background(), id); err != nil {
			t.Fatalf("chunk %s not in the cluster: %v", id.Short(), err)
		}
	}
	if du := a.store.DiskUsage(); du > int64(size)/4 {
		t.Errorf("node a's data dir uses %d bytes for a %d-byte object: chunk data went to Badger", du, size)
	}
}

// chunksInPacks checks that every chunk of rc is in a pack of cl, by the
// pack indexes, and has no chunk object.
func chunksInPacks(t *testing.T, _ *running, cl *swiftstore.Store, rc *recipe.Recipe, _ int) {
	t.Helper()
	ctx := context.Background()
	names, err := cl.ListPackIndexes(ctx, "", false)
	if err != nil || len(names) == 0 {
		t.Fatalf("pack indexes: %v, %v", names, err)
	}
	inPacks := map[string]bool{}
	for _, n := range names {
		entries, err := cl.GetPackIndex(ctx, n, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			inPacks[e.ID.String()] = true
		}
	}
	for _, id := range rc.Unique() {
		if !inPacks[id.String()] {
			t.Errorf("chunk %s in no pack", id.Short())
		}
		if _, err := cl.StatChunk(ctx, id); !errors.Is(err, chunkstore.ErrNotFound) {
			t.Errorf("chunk %s has a chunk object too: %v", id.Short(), err)
		}
	}
}

// TestStoreBackendConfig checks store.backend and store.swift validation.
func TestStoreBackendConfig(t *testing.T) {
	runParseCases(t, []parseCase{
		{name: "default badger", yaml: ""},
		{name: "unknown backend", yaml: "store: {backend: ceph}", wantErr: "store.backend"},
		{name: "swift without url", yaml: "store: {backend: swift, swift: {user: a:b, key: k}}", wantErr: "store.swift.auth_url"},
		{name: "swift without key", yaml: "store: {backend: swift, swift: {auth_url: 'http://h/auth/v1.0', user: a:b}}", wantErr: "store.swift.key"},
		{name: "bad containers", yaml: "store: {backend: swift, swift: {auth_url: 'http://h/auth/v1.0', user: a:b, key: k, containers: 100}}", wantErr: "containers 100"},
		{name: "v3 without project", yaml: "store: {backend: swift, swift: {auth_url: 'http://h/v3', auth_version: 3, user: u, key: k}}", wantErr: "store.swift.project"},
		{name: "negative pack_size", yaml: "store: {backend: swift, swift: {auth_url: 'http://h/auth/v1.0', user: a:b, key: k, pack_size: -1}}", wantErr: "store.swift.pack_size"},
		{name: "v1 ok", yaml: "store: {backend: swift, swift: {auth_url: 'http://h/auth/v1.0', user: a:b, key: k}}"},
		{name: "v3 ok", yaml: "store: {backend: swift, swift: {auth_url: 'http://h/v3', auth_version: 3, user: u, key: sekrit, project: p}}"},
	}, func(t *testing.T, _ parseCase, err error) {
		if strings.Contains(err.Error(), "sekrit") {
			t.Fatalf("error shows the key: %v", err)
		}
	})
}
