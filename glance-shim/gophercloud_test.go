package glanceshim_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/containers"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/objects"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/swauth"
)

// TestGophercloud drives the server with gophercloud v2's
// objectstorage/v1 client, authenticated with swauth (GET /auth/v1.0).
func TestGophercloud(t *testing.T) {
	ts := startServer(t, testConfig(), nil)
	ctx := context.Background()
	sc := gophercloudClient(t, ts.URL)
	if _, err := containers.Create(ctx, sc, "gc", containers.CreateOpts{Metadata: map[string]string{"Purpose": "test"}}).Extract(); err != nil {
		t.Fatalf("create container: %v", err)
	}
	data := bytes.Repeat([]byte("gophercloud "), 10000)
	names := []string{"a.txt", "dir/b.bin", "test-object-with-/v1/-in-the-name"}
	for _, n := range names {
		res, err := objects.Create(ctx, sc, "gc", n, objects.CreateOpts{Content: bytes.NewReader(data)}).Extract()
		if err != nil {
			t.Fatalf("upload %s: %v", n, err)
		}
		if res.ETag == "" {
			t.Errorf("upload %s: no ETag", n)
		}
	}
	// DLO through gophercloud's ObjectManifest option.
	for i, part := range [][]byte{data[:1000], data[1000:]} {
		name := "big/seg-" + string(rune('0'+i))
		if _, err := objects.Create(ctx, sc, "gc", name, objects.CreateOpts{Content: bytes.NewReader(part)}).Extract(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := objects.Create(ctx, sc, "gc", "big", objects.CreateOpts{Content: bytes.NewReader(nil), ObjectManifest: "gc/big/seg-", NoETag: true}).Extract(); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	for _, n := range append(names, "big") {
		dl := objects.Download(ctx, sc, "gc", n, nil)
		got, err := dl.ExtractContent()
		if err != nil {
			t.Fatalf("download %s: %v", n, err)
		}
		if !bytes.Equal(got, data) {
			t.Errorf("download %s: %d bytes differ", n, len(got))
		}
	}
	dl := objects.Download(ctx, sc, "gc", "a.txt", objects.DownloadOpts{Range: "bytes=0-10"})
	if got, err := dl.ExtractContent(); err != nil || string(got) != "gophercloud" {
		t.Errorf("range download: %q %v", got, err)
	}
	pages, err := objects.List(sc, "gc", objects.ListOpts{Prefix: "", Limit: 2}).AllPages(ctx)
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	infos, err := objects.ExtractInfo(pages)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 6 {
		t.Errorf("listed %d objects, want 6: %+v", len(infos), infos)
	}
	cpages, err := containers.List(sc, nil).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cn, _ := containers.ExtractNames(cpages); len(cn) != 1 || cn[0] != "gc" {
		t.Errorf("containers %v", cn)
	}
	get, err := containers.Get(ctx, sc, "gc", nil).Extract()
	if err != nil || get.ObjectCount != 6 {
		t.Errorf("container get: %+v %v", get, err)
	}
	if _, err := objects.Copy(ctx, sc, "gc", "a.txt", objects.CopyOpts{Destination: "/gc/copy.txt"}).Extract(); err != nil {
		t.Errorf("copy: %v", err)
	}
	if _, err := objects.Update(ctx, sc, "gc", "a.txt", objects.UpdateOpts{Metadata: map[string]string{"K": "v"}}).Extract(); err != nil {
		t.Errorf("update: %v", err)
	}
	if m, err := objects.Get(ctx, sc, "gc", "a.txt", nil).ExtractMetadata(); err != nil || m["K"] != "v" {
		t.Errorf("metadata %v %v", m, err)
	}
	if _, err := containers.Delete(ctx, sc, "gc").Extract(); err == nil {
		t.Error("deleting a non-empty container succeeded")
	}
	for _, n := range append(names, "big", "big/seg-0", "big/seg-1", "copy.txt") {
		if _, err := objects.Delete(ctx, sc, "gc", n, nil).Extract(); err != nil {
			t.Errorf("delete %s: %v", n, err)
		}
	}
	if _, err := containers.Delete(ctx, sc, "gc").Extract(); err != nil {
		t.Errorf("delete container: %v", err)
	}
	gone := objects.Download(ctx, sc, "gc", "a.txt", nil)
	if _, err := gone.ExtractContent(); err == nil {
		t.Error("download after delete succeeded")
	}
}

// gophercloudClient is gophercloud v2's objectstorage/v1 client for the
// server at url, authenticated as test:tester with swauth (GET /auth/v1.0).
func gophercloudClient(t *testing.T, url string) *gophercloud.ServiceClient {
	t.Helper()
	pc, err := openstack.NewClient(url + "/")
	if err != nil {
		t.Fatal(err)
	}
	sc, err := swauth.NewObjectStorageV1(context.Background(), pc, swauth.AuthOpts{User: "test:tester", Key: "testing"})
	if err != nil {
		t.Fatalf("swauth: %v", err)
	}
	return sc
}
