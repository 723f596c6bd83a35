package node

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/nitro-cloud/nitro/chunkstore"
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
	// TestSwiftBackendPacks runs the default, packs.
	cfg.Store.Swift.PackSize = 0
	return cfg
}

// TestSwiftBackendPacks is TestSwiftBackend's PUT and GET with
// store.swift.pack_size at its default: the chunks land in pack objects
// (no chunk object), and a second node of the region, its own data dir
// empty, serves the object from the packs once it has the records.
func TestSwiftBackendPacks(t *testing.T) {
	srv := swifttest.Start(t)
	ctx := context.Background()
	cfgA := swiftBackendConfig(t, srv, "r1-a", "np")
	cfgA.Store.Swift.PackSize = Default().Store.Swift.PackSize
	if cfgA.Store.Swift.PackSize <= 0 {
		t.Fatalf("default pack_size %d: want packing on", cfgA.Store.Swift.PackSize)
	}
	a := startNode(t, cfgA)
	ca := login(t, a.base(), "test:tester", "testing")
	body := randomBytes(t, 3<<20)
	ca.must(http.StatusCreated, "PUT", "/images", nil, nil)
	ca.must(http.StatusCreated, "PUT", "/images/disk", nil, bytes.NewReader(body))
	if _, got := ca.must(http.StatusOK, "GET", "/images/disk", nil, nil); !bytes.Equal(got, body) {
		t.Fatal("GET from node a differs")
	}
	rec, err := a.ns.GetLive(ctx, namespace.ObjectKey("AUTH_test", "images", "disk"))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := a.store.Recipe(ctx, rec.Recipe)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := swiftstore.Open(ctx, cfgA.Store.Swift.swiftstore())
	if err != nil {
		t.Fatal(err)
	}
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
	cfgB := swiftBackendConfig(t, srv, "r1-b", "np")
	cfgB.Store.Swift.PackSize = cfgA.Store.Swift.PackSize
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
}

// TestSwiftBackend runs `nitro serve`'s node on store.backend: swift over
// Debian's Swift: a PUT through the node lands its chunks and recipe in
// the cluster and not in the data dir; a second node of the region (its
// own data dir, the same cluster) serves the object from the cluster once
// it has the namespace records (here copied as replication would bring
// them); a wrong key fails New without the key in the error.
func TestSwiftBackend(t *testing.T) {
	srv := swifttest.Start(t)
	ctx := context.Background()
	a := startNode(t, swiftBackendConfig(t, srv, "r1-a", "nb"))
	ca := login(t, a.base(), "test:tester", "testing")
	body := randomBytes(t, 3<<20)
	ca.must(http.StatusCreated, "PUT", "/images", nil, nil)
	ca.must(http.StatusCreated, "PUT", "/images/disk", nil, bytes.NewReader(body))
	if _, got := ca.must(http.StatusOK, "GET", "/images/disk", nil, nil); !bytes.Equal(got, body) {
		t.Fatal("GET from node a differs")
	}

	// The chunks are in the cluster, verified, in their stored form.
	rec, err := a.ns.GetLive(ctx, namespace.ObjectKey("AUTH_test", "images", "disk"))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := a.store.Recipe(ctx, rec.Recipe)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := swiftstore.Open(ctx, swiftBackendConfig(t, srv, "x", "nb").Store.Swift.swiftstore())
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range rc.Unique() {
		if _, err := cl.StatChunk(ctx, id); err != nil {
			t.Fatalf("chunk %s not in the cluster: %v", id.Short(), err)
		}
	}
	if _, err := cl.GetRecipe(ctx, rec.Recipe); err != nil {
		t.Fatalf("recipe not in the cluster: %v", err)
	}
	if du := a.store.DiskUsage(); du > int64(len(body))/4 {
		t.Errorf("node a's data dir uses %d bytes for a %d-byte object: chunk data went to Badger", du, len(body))
	}

	// A second node of the region, with the namespace records.
	b := startNode(t, swiftBackendConfig(t, srv, "r1-b", "nb"))
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
	var _ chunkstore.Cluster = cl
}

// TestStoreBackendConfig checks store.backend and store.swift validation.
func TestStoreBackendConfig(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"default badger", "", ""},
		{"unknown backend", "store: {backend: ceph}", "store.backend"},
		{"swift without url", "store: {backend: swift, swift: {user: a:b, key: k}}", "store.swift.auth_url"},
		{"swift without key", "store: {backend: swift, swift: {auth_url: 'http://h/auth/v1.0', user: a:b}}", "store.swift.key"},
		{"bad containers", "store: {backend: swift, swift: {auth_url: 'http://h/auth/v1.0', user: a:b, key: k, containers: 100}}", "containers 100"},
		{"v3 without project", "store: {backend: swift, swift: {auth_url: 'http://h/v3', auth_version: 3, user: u, key: k}}", "store.swift.project"},
		{"negative pack_size", "store: {backend: swift, swift: {auth_url: 'http://h/auth/v1.0', user: a:b, key: k, pack_size: -1}}", "store.swift.pack_size"},
		{"v1 ok", "store: {backend: swift, swift: {auth_url: 'http://h/auth/v1.0', user: a:b, key: k}}", ""},
		{"v3 ok", "store: {backend: swift, swift: {auth_url: 'http://h/v3', auth_version: 3, user: u, key: sekrit, project: p}}", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.yaml), "test.yaml")
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("error %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one naming %q", err, tc.want)
			case err != nil && strings.Contains(err.Error(), "sekrit"):
				t.Fatalf("error shows the key: %v", err)
			}
		})
	}
}
