package node

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/accounts"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/containers"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/objects"
)

// TestGophercloudSwiftBreadth: the gophercloud v2 calls of issue 11
// against a real node (Badger on disk, HTTP over loopback; glance-shim's
// own gophercloud tests use its in-memory backend): account metadata
// and the account temp URL key (accounts.Update / Get), a temp URL GET
// (objects.CreateTempURL), versioning (containers.Update with
// VersionsLocation: an overwrite is archived, a DELETE restores it) and
// objects.BulkDelete.
func TestGophercloudSwiftBreadth(t *testing.T) {
	ctx := context.Background()
	r := startNode(t, testConfig(t))
	sc := gopherClient(t, r.base(), "test:tester", "testing")

	if _, err := accounts.Update(ctx, sc, accounts.UpdateOpts{Metadata: map[string]string{"Team": "images"}, TempURLKey: "acct-key"}).Extract(); err != nil {
		t.Fatalf("accounts.Update: %v", err)
	}
	meta, err := accounts.Get(ctx, sc, nil).ExtractMetadata()
	if err != nil || meta["Team"] != "images" {
		t.Fatalf("account metadata %v, %v", meta, err)
	}

	for _, c := range []string{"docs", "archive"} {
		if _, err := containers.Create(ctx, sc, c, nil).Extract(); err != nil {
			t.Fatalf("create %s: %v", c, err)
		}
	}
	put := func(name, body string) {
		t.Helper()
		if _, err := objects.Create(ctx, sc, "docs", name, objects.CreateOpts{Content: strings.NewReader(body), ContentType: "text/plain"}).Extract(); err != nil {
			t.Fatalf("put %s: %v", name, err)
		}
	}
	get := func(name string) string {
		t.Helper()
		dr := objects.Download(ctx, sc, "docs", name, nil)
		b, err := dr.ExtractContent()
		if err != nil {
			t.Fatalf("get %s: %v", name, err)
		}
		return string(b)
	}

	// Temp URL with the account key.
	put("disk.img", "disk bytes")
	u, err := objects.CreateTempURL(ctx, sc, "docs", "disk.img", objects.CreateTempURLOpts{Method: http.MethodGet, TTL: 600, Digest: "sha256"})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "disk bytes" {
		t.Fatalf("GET temp URL: %d %q", resp.StatusCode, body)
	}

	// Versioning.
	if _, err := containers.Update(ctx, sc, "docs", containers.UpdateOpts{VersionsLocation: "archive"}).Extract(); err != nil {
		t.Fatalf("containers.Update VersionsLocation: %v", err)
	}
	if g, err := containers.Get(ctx, sc, "docs", nil).Extract(); err != nil || g.VersionsLocation != "archive" {
		t.Fatalf("containers.Get: %+v, %v", g, err)
	}
	put("o", "v1")
	put("o", "v2")
	if n := listCount(ctx, t, sc, "archive"); n != 1 {
		t.Fatalf("archive holds %d objects after an overwrite, want 1", n)
	}
	if _, err := objects.Delete(ctx, sc, "docs", "o", nil).Extract(); err != nil {
		t.Fatal(err)
	}
	if got := get("o"); got != "v1" {
		t.Fatalf("after DELETE: %q, want the restored v1", got)
	}
	if _, err := containers.Update(ctx, sc, "docs", containers.UpdateOpts{RemoveVersionsLocation: "x"}).Extract(); err != nil {
		t.Fatal(err)
	}

	// Bulk delete.
	names := []string{"o", "disk.img", "b1", "b2"}
	put("b1", "1")
	put("b2", "2")
	res, err := objects.BulkDelete(ctx, sc, "docs", append(names, "missing")).Extract()
	if err != nil || res.NumberDeleted != len(names) || res.NumberNotFound != 1 || res.ResponseStatus != "200 OK" {
		t.Fatalf("BulkDelete: %+v, %v", res, err)
	}
	if n := listCount(ctx, t, sc, "docs"); n != 0 {
		t.Fatalf("docs holds %d objects after the bulk delete", n)
	}
}

// listCount is the number of objects objects.List returns for container.
func listCount(ctx context.Context, t *testing.T, sc *gophercloud.ServiceClient, container string) int {
	t.Helper()
	pages, err := objects.List(sc, container, objects.ListOpts{}).AllPages(ctx)
	if err != nil {
		t.Fatalf("list %s: %v", container, err)
	}
	names, err := objects.ExtractNames(pages)
	if err != nil {
		t.Fatal(err)
	}
	return len(names)
}
