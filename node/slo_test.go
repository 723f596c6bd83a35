package node

import (
	"bytes"
	"strings"
	"testing"
)

// TestSLOMultiRegion: a static large object composed in one region is an
// object like any other for the others. At a: segments and an SLO (a
// range that cuts chunks, inline data); b reads it byte-exact (fetching
// the chunks from a) with the same SLO headers and manifest. At c, which
// holds none of the segments' chunks, an SLO of ranges of a's segments
// is composed (the cut chunks read from a over the peer protocol); b
// reads that one byte-exact too. A multipart-manifest=delete at b removes
// the manifest and its segments in every region.
func TestSLOMultiRegion(t *testing.T) {
	tc := startCluster(t)
	ca := tc.client("a")
	ca.must(201, "PUT", "/slo", nil, nil)
	s1, s2 := randomBytes(t, 1<<20+333), randomBytes(t, 700<<10)
	ca.must(201, "PUT", "/slo/s1", nil, bytes.NewReader(s1))
	ca.must(201, "PUT", "/slo/s2", nil, bytes.NewReader(s2))

	manifest := `[{"path": "slo/s1", "range": "5000-900000"}, {"data": "aGVsbG8="}, {"path": "slo/s2"}]`
	want := bytes.Join([][]byte{s1[5000:900001], []byte("hello"), s2}, nil)
	put, _ := ca.must(201, "PUT", "/slo/m?multipart-manifest=put", nil, strings.NewReader(manifest))
	etag := put.Header.Get("Etag")

	t.Run("ReadAtB", func(t *testing.T) {
		cb := tc.client("b")
		r, got := cb.must(200, "GET", "/slo/m", nil, nil)
		if !bytes.Equal(got, want) {
			t.Fatalf("GET at b: %d bytes, want %d", len(got), len(want))
		}
		if r.Header.Get("Etag") != etag || r.Header.Get("X-Static-Large-Object") != "True" {
			t.Fatalf("GET at b: headers %v (PUT Etag %s)", r.Header, etag)
		}
		_, ma := ca.must(200, "GET", "/slo/m?multipart-manifest=get", nil, nil)
		_, mb := cb.must(200, "GET", "/slo/m?multipart-manifest=get", nil, nil)
		if !bytes.Equal(ma, mb) {
			t.Fatalf("manifests differ:\na %s\nb %s", ma, mb)
		}
		r, got = cb.must(206, "GET", "/slo/m", map[string]string{"Range": "bytes=895990-896020"}, nil)
		if !bytes.Equal(got, want[895990:896021]) {
			t.Fatalf("range across parts at b: %q", got)
		}
	})

	t.Run("ComposeAtCReadAtB", func(t *testing.T) {
		cc := tc.client("c")
		m := `[{"path": "slo/s2", "range": "1-300000"}, {"path": "slo/s1", "range": "-77777"}]`
		cc.must(201, "PUT", "/slo/mc?multipart-manifest=put", nil, strings.NewReader(m))
		want := bytes.Join([][]byte{s2[1:300001], s1[len(s1)-77777:]}, nil)
		if _, got := tc.client("b").must(200, "GET", "/slo/mc", nil, nil); !bytes.Equal(got, want) {
			t.Fatalf("GET at b of the SLO composed at c: %d bytes, want %d", len(got), len(want))
		}
		if _, got := cc.must(200, "GET", "/slo/mc", nil, nil); !bytes.Equal(got, want) {
			t.Fatal("GET at c")
		}
	})

	t.Run("MultipartDeleteAtB", func(t *testing.T) {
		_, body := tc.client("b").must(200, "DELETE", "/slo/m?multipart-manifest=delete", nil, nil)
		if !strings.Contains(string(body), "Number Deleted: 3\n") || !strings.Contains(string(body), "Response Status: 200 OK\n") {
			t.Fatalf("multipart delete: %s", body)
		}
		for _, region := range []string{"a", "b", "c"} {
			for _, o := range []string{"m", "s1", "s2"} {
				if r, _ := tc.client(region).do("HEAD", "/slo/"+o, nil, nil); r.StatusCode != 404 {
					t.Errorf("%s: HEAD %s after the multipart delete: %d", region, o, r.StatusCode)
				}
			}
		}
		// mc's content does not depend on the deleted segments.
		want := bytes.Join([][]byte{s2[1:300001], s1[len(s1)-77777:]}, nil)
		if _, got := tc.client("a").must(200, "GET", "/slo/mc", nil, nil); !bytes.Equal(got, want) {
			t.Fatalf("GET at a of mc after its segments were deleted: %d bytes", len(got))
		}
	})
}
