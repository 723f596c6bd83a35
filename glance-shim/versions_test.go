package glanceshim_test

import (
	"context"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/containers"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/objects"
	glanceshim "github.com/nitro-cloud/nitro/glance-shim"
)

// TestGophercloudVersioning turns versioning on and off with gophercloud's
// containers.Update (VersionsLocation, HistoryLocation, Remove…) and
// checks what the archive container holds after PUTs and DELETEs, over
// the in-memory Backend (which is no ObjectCopier: copies stream).
func TestGophercloudVersioning(t *testing.T) {
	ts := startServer(t, testConfig(), nil)
	ctx := context.Background()
	sc := gophercloudClient(t, ts.URL)
	for _, c := range []string{"docs", "archive"} {
		if _, err := containers.Create(ctx, sc, c, nil).Extract(); err != nil {
			t.Fatalf("create %s: %v", c, err)
		}
	}
	put := func(body string) {
		t.Helper()
		if _, err := objects.Create(ctx, sc, "docs", "o", objects.CreateOpts{Content: strings.NewReader(body), ContentType: "text/plain"}).Extract(); err != nil {
			t.Fatalf("put %q: %v", body, err)
		}
	}
	get := func() string {
		t.Helper()
		dl := objects.Download(ctx, sc, "docs", "o", nil)
		b, err := dl.ExtractContent()
		if gophercloud.ResponseCodeIs(err, 404) {
			return "<404>"
		}
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		return string(b)
	}
	del := func() {
		t.Helper()
		if _, err := objects.Delete(ctx, sc, "docs", "o", nil).Extract(); err != nil && !gophercloud.ResponseCodeIs(err, 404) {
			t.Fatalf("delete: %v", err)
		}
	}
	archived := func() []string {
		t.Helper()
		pages, err := objects.List(sc, "archive", objects.ListOpts{Prefix: "001o/"}).AllPages(ctx)
		if err != nil {
			t.Fatal(err)
		}
		infos, err := objects.ExtractInfo(pages)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, in := range infos {
			dl := objects.Download(ctx, sc, "archive", in.Name, nil)
			b, err := dl.ExtractContent()
			if err != nil {
				t.Fatalf("get %s: %v", in.Name, err)
			}
			if in.ContentType == glanceshim.DeleteMarkerContentType {
				out = append(out, "<marker>")
			} else {
				out = append(out, string(b))
			}
		}
		return out
	}
	eq := func(what string, got []string, want ...string) {
		t.Helper()
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: %q, want %q", what, got, want)
		}
	}

	// Stack mode.
	if _, err := containers.Update(ctx, sc, "docs", containers.UpdateOpts{VersionsLocation: "archive"}).Extract(); err != nil {
		t.Fatalf("update versions location: %v", err)
	}
	if g, err := containers.Get(ctx, sc, "docs", nil).Extract(); err != nil || g.VersionsLocation != "archive" || g.HistoryLocation != "" {
		t.Fatalf("container get: %+v %v", g, err)
	}
	put("v1")
	put("v2")
	put("v3")
	eq("archive after 3 PUTs", archived(), "v1", "v2")
	del()
	eq("after DELETE", []string{get()}, "v2")
	eq("archive after DELETE", archived(), "v1")
	del()
	del()
	eq("after 3 DELETEs", []string{get()}, "<404>")

	// History mode.
	if _, err := containers.Update(ctx, sc, "docs", containers.UpdateOpts{HistoryLocation: "archive"}).Extract(); err != nil {
		t.Fatalf("update history location: %v", err)
	}
	if g, err := containers.Get(ctx, sc, "docs", nil).Extract(); err != nil || g.HistoryLocation != "archive" || g.VersionsLocation != "" {
		t.Fatalf("container get: %+v %v", g, err)
	}
	put("h1")
	put("h2")
	del()
	eq("after history DELETE", []string{get()}, "<404>")
	eq("archive in history mode", archived(), "h1", "h2", "<marker>")

	// Off.
	if _, err := containers.Update(ctx, sc, "docs", containers.UpdateOpts{RemoveHistoryLocation: "x"}).Extract(); err != nil {
		t.Fatalf("remove history location: %v", err)
	}
	if g, err := containers.Get(ctx, sc, "docs", nil).Extract(); err != nil || g.HistoryLocation != "" || g.VersionsLocation != "" {
		t.Fatalf("container get: %+v %v", g, err)
	}
	put("x1")
	put("x2")
	eq("archive after versioning is off", archived(), "h1", "h2", "<marker>")

	// Both at once: 400.
	_, err := containers.Update(ctx, sc, "docs", containers.UpdateOpts{VersionsLocation: "a", HistoryLocation: "b"}).Extract()
	if !gophercloud.ResponseCodeIs(err, 400) {
		t.Errorf("both locations: %v, want 400", err)
	}
}
