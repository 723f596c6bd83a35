package glanceshim_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/accounts"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/containers"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/objects"
)

// TestGophercloudAccountAndTempURL: gophercloud v2's accounts.Update
// (metadata, temp URL key, removal) read back with accounts.Get, then
// objects.CreateTempURL with the account key and the container key, for
// each digest, fetched with plain HTTP (no token); a PUT temp URL uploads.
func TestGophercloudAccountAndTempURL(t *testing.T) {
	ts := startServer(t, testConfig(), nil)
	ctx := context.Background()
	sc := gophercloudClient(t, ts.URL)
	if _, err := accounts.Update(ctx, sc, accounts.UpdateOpts{Metadata: map[string]string{"Team": "images", "Gone": "x"}, TempURLKey: "acct-key"}).Extract(); err != nil {
		t.Fatalf("account update: %v", err)
	}
	if _, err := accounts.Update(ctx, sc, accounts.UpdateOpts{RemoveMetadata: []string{"Gone"}}).Extract(); err != nil {
		t.Fatalf("account remove: %v", err)
	}
	got, err := accounts.Get(ctx, sc, nil).Extract()
	if err != nil {
		t.Fatal(err)
	}
	meta, err := accounts.Get(ctx, sc, nil).ExtractMetadata()
	if err != nil || meta["Team"] != "images" || meta["Gone"] != "" || got.TempURLKey != "acct-key" {
		t.Fatalf("account metadata %v (temp URL key %q) %v", meta, got.TempURLKey, err)
	}
	if _, err := containers.Create(ctx, sc, "tu", containers.CreateOpts{}).Extract(); err != nil {
		t.Fatal(err)
	}
	if _, err := objects.Create(ctx, sc, "tu", "disk.img", objects.CreateOpts{Content: strings.NewReader("disk bytes")}).Extract(); err != nil {
		t.Fatal(err)
	}
	fetch := func(method, u string, body io.Reader) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, u, body)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, digest := range []string{"", "sha256", "sha512"} {
		u, err := objects.CreateTempURL(ctx, sc, "tu", "disk.img", objects.CreateTempURLOpts{Method: http.MethodGet, TTL: 600, Digest: digest})
		if err != nil {
			t.Fatalf("CreateTempURL %q: %v", digest, err)
		}
		if st, b := fetch("GET", u, nil); st != 200 || b != "disk bytes" {
			t.Errorf("GET temp URL (%q, account key): %d %q", digest, st, b)
		}
	}
	// A container key; CreateTempURL prefers it.
	if _, err := containers.Update(ctx, sc, "tu", containers.UpdateOpts{TempURLKey: "cont-key"}).Extract(); err != nil {
		t.Fatal(err)
	}
	u, err := objects.CreateTempURL(ctx, sc, "tu", "upload.img", objects.CreateTempURLOpts{Method: http.MethodPut, TTL: 600, Digest: "sha256"})
	if err != nil {
		t.Fatal(err)
	}
	if st, b := fetch("PUT", u, bytes.NewReader([]byte("uploaded"))); st != 201 {
		t.Fatalf("PUT temp URL: %d %q", st, b)
	}
	if st, _ := fetch("GET", u, nil); st != 401 {
		t.Errorf("GET with a PUT temp URL: %d, want 401", st)
	}
	dr := objects.Download(ctx, sc, "tu", "upload.img", nil)
	dl, err := dr.ExtractContent()
	if err != nil || string(dl) != "uploaded" {
		t.Errorf("uploaded object: %q %v", dl, err)
	}
	expired, err := objects.CreateTempURL(ctx, sc, "tu", "disk.img", objects.CreateTempURLOpts{Method: http.MethodGet, TTL: -10})
	if err != nil {
		t.Fatal(err)
	}
	if st, b := fetch("GET", expired, nil); st != 401 || b != "401 Unauthorized: Temp URL invalid\n" {
		t.Errorf("expired temp URL: %d %q", st, b)
	}
}
