package glanceshim_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/objects"
)

// bulkFixture starts a server with containers "c" (objects a, b, dir/x)
// and "full" (one object), and returns the account URL and a token.
func bulkFixture(t *testing.T) (acct, tok string) {
	t.Helper()
	ts := startServer(t, testConfig(), nil)
	tok, acct = login(t, ts.URL, "test:tester", "testing")
	auth := map[string]string{"X-Auth-Token": tok}
	for _, c := range []string{"c", "full"} {
		if st, _, _ := hc(t, "PUT", acct+"/"+c, auth, nil); st != 201 {
			t.Fatalf("PUT %s: %d", c, st)
		}
	}
	for _, o := range []string{"c/a", "c/b", "c/dir/x", "full/keep"} {
		if st, _, _ := hc(t, "PUT", acct+"/"+o, auth, []byte("data")); st != 201 {
			t.Fatalf("PUT %s: %d", o, st)
		}
	}
	return acct, tok
}

// TestBulkDelete: Swift 2.30's bulk delete bodies, byte for byte as its
// get_response_body writes them (plain text, JSON and XML), its limits
// and per-item errors.
func TestBulkDelete(t *testing.T) {
	tests := []struct {
		name   string
		method string
		path   string // after the account URL
		hdr    map[string]string
		body   string
		wantCT string
		want   string
	}{
		{"plain objects then container", "POST", "?bulk-delete", nil, "c/a\nc/b\n/c/dir/x\nc/missing\nc\n",
			"text/plain",
			"Number Deleted: 4\nNumber Not Found: 1\nResponse Body: \nResponse Status: 200 OK\nErrors:\n"},
		{"json, non-empty container", "DELETE", "?bulk-delete", map[string]string{"Accept": "application/json"}, "full\nnope/x\n",
			"application/json",
			`{"Response Status": "400 Bad Request", "Response Body": "", "Number Deleted": 0, "Number Not Found": 1, "Errors": [["full", "409 Conflict"]]}`},
		{"xml", "POST", "?bulk-delete", map[string]string{"Accept": "application/xml"}, "c/a\n",
			"application/xml",
			"<delete>\n<number_deleted>1</number_deleted>\n<number_not_found>0</number_not_found>\n<response_body></response_body>\n<response_status>200 OK</response_status>\n<errors>\n</errors>\n</delete>\n"},
		{"url-encoded and invalid utf-8", "POST", "?bulk-delete", map[string]string{"Accept": "application/json"}, "c/%61\nc/%FF\n",
			"application/json",
			`{"Response Status": "400 Bad Request", "Response Body": "", "Number Deleted": 1, "Number Not Found": 0, "Errors": [["c/%FF", "412 Precondition Failed"]]}`},
		{"nothing to delete", "POST", "?bulk-delete", nil, "\n\n", "text/plain",
			"Number Deleted: 0\nNumber Not Found: 0\nResponse Body: Invalid bulk delete.\nResponse Status: 400 Bad Request\nErrors:\n"},
		{"json content type refused", "POST", "?bulk-delete", map[string]string{"Content-Type": "application/json", "Accept": "application/json"}, "c/a\n",
			"application/json",
			`{"Response Status": "406 Not Acceptable", "Response Body": "", "Number Deleted": 0, "Number Not Found": 0, "Errors": []}`},
		{"unacceptable accept", "POST", "?bulk-delete", map[string]string{"Accept": "image/png"}, "c/a\n",
			"text/html; charset=UTF-8",
			"Number Deleted: 0\nNumber Not Found: 0\nResponse Body: \nResponse Status: 406 Not Acceptable\nErrors:\n"},
		{"too many", "POST", "?bulk-delete", nil, strings.Repeat("c/x\n", 10001), "text/plain",
			"Number Deleted: 0\nNumber Not Found: 0\nResponse Body: Maximum Bulk Deletes: 10000 per request\nResponse Status: 413 Request Entity Too Large\nErrors:\n"},
		{"line too long", "POST", "?bulk-delete", nil, strings.Repeat("x", 3000), "text/plain",
			"Number Deleted: 0\nNumber Not Found: 0\nResponse Body: Invalid File Name\nResponse Status: 400 Bad Request\nErrors:\n"},
		{"on a container URL: paths stay account-relative", "POST", "/full?bulk-delete", nil, "c/b\n", "text/plain",
			"Number Deleted: 1\nNumber Not Found: 0\nResponse Body: \nResponse Status: 200 OK\nErrors:\n"},
		{"on an object URL: paths stay account-relative", "POST", "/c/a?bulk-delete", nil, "c/b\n", "text/plain",
			"Number Deleted: 1\nNumber Not Found: 0\nResponse Body: \nResponse Status: 200 OK\nErrors:\n"},
		{"no token: each item 401", "POST", "?bulk-delete", map[string]string{"X-Auth-Token": ""}, "c/a\n", "text/plain",
			"Number Deleted: 0\nNumber Not Found: 0\nResponse Body: \nResponse Status: 400 Bad Request\nErrors:\nc/a, 401 Unauthorized\n"},
		{"over-long names do not exist", "POST", "?bulk-delete", nil, strings.Repeat("n", 300) + "/o\nc/" + strings.Repeat("o", 1100) + "\n", "text/plain",
			"Number Deleted: 0\nNumber Not Found: 2\nResponse Body: \nResponse Status: 200 OK\nErrors:\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acct, tok := bulkFixture(t)
			hdr := map[string]string{"X-Auth-Token": tok}
			for k, v := range tt.hdr {
				hdr[k] = v
			}
			st, h, body := hc(t, tt.method, acct+tt.path, hdr, []byte(tt.body))
			if st != 200 || h.Get("Content-Type") != tt.wantCT || string(body) != tt.want {
				t.Errorf("%d %q\n%s\nwant 200 %q\n%s", st, h.Get("Content-Type"), body, tt.wantCT, tt.want)
			}
		})
	}
}

// TestBulkDeleteManyFailures: after MaxFailedDeletes failed items the
// bulk delete stops with 400 "Max delete failures exceeded".
func TestBulkDeleteManyFailures(t *testing.T) {
	acct, tok := bulkFixture(t)
	var b strings.Builder
	for i := 0; i < 1200; i++ {
		fmt.Fprintf(&b, "full\n") // 409 each: not empty
	}
	st, _, body := hc(t, "POST", acct+"?bulk-delete", map[string]string{"X-Auth-Token": tok, "Accept": "application/json"}, []byte(b.String()))
	var res struct {
		Status string          `json:"Response Status"`
		Body   string          `json:"Response Body"`
		Errors [][2]string     `json:"Errors"`
		Rest   json.RawMessage `json:"-"`
	}
	if err := json.Unmarshal(body, &res); err != nil || st != 200 {
		t.Fatalf("%d %v: %s", st, err, body)
	}
	if res.Status != "400 Bad Request" || res.Body != "Max delete failures exceeded" || len(res.Errors) != 1000 {
		t.Errorf("status %q body %q errors %d", res.Status, res.Body, len(res.Errors))
	}
}

// TestGophercloudBulkDelete: gophercloud v2's objects.BulkDelete.
func TestGophercloudBulkDelete(t *testing.T) {
	ts := startServer(t, testConfig(), nil)
	ctx := context.Background()
	sc := gophercloudClient(t, ts.URL)
	tok, acct := login(t, ts.URL, "test:tester", "testing")
	hc(t, "PUT", acct+"/gc", map[string]string{"X-Auth-Token": tok}, nil)
	names := []string{"a", "dir/b c", "ü?#%"}
	for _, n := range names {
		if _, err := objects.Create(ctx, sc, "gc", n, objects.CreateOpts{Content: strings.NewReader("x")}).Extract(); err != nil {
			t.Fatal(err)
		}
	}
	res, err := objects.BulkDelete(ctx, sc, "gc", append(names, "missing")).Extract()
	if err != nil {
		t.Fatal(err)
	}
	if res.NumberDeleted != 3 || res.NumberNotFound != 1 || res.ResponseStatus != "200 OK" || len(res.Errors) != 0 {
		t.Errorf("%+v", res)
	}
	if st, _, body := hc(t, "GET", acct+"/gc", map[string]string{"X-Auth-Token": tok}, nil); st != 204 {
		t.Errorf("left: %d %q", st, body)
	}
}

func tarball(t *testing.T, files map[string]string, pax map[string]map[string]string) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, name := range []string{"./c1/a.txt", "c1/dir/b.wav", "top.txt", "c2/x", "dir/", "bad\xff/x"} {
		data, ok := files[name]
		if !ok {
			continue
		}
		h := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg, PAXRecords: pax[name]}
		if strings.HasSuffix(name, "/") {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(data))
	}
	tw.Close()
	return b.Bytes()
}

// TestExtractArchive: PUT ?extract-archive for tar, tar.gz and tar.bz2,
// to the account (containers created), a container and a
// pseudo-directory; PAX xattrs become metadata; Swift's response bodies
// and errors.
func TestExtractArchive(t *testing.T) {
	files := map[string]string{"./c1/a.txt": "hello", "c1/dir/b.wav": "world!", "top.txt": "top", "c2/x": "x", "dir/": ""}
	pax := map[string]map[string]string{"./c1/a.txt": {"SCHILY.xattr.user.meta.color": "blue", "SCHILY.xattr.user.mime_type": "text/x-test"}}
	plain := tarball(t, files, pax)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(plain)
	zw.Close()
	bz, err := os.ReadFile("testdata/extract.tar.bz2") // tar cjf of cont/dir/a.txt, cont/b.wav, top.txt
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path string
		hdr        map[string]string
		body       []byte
		want       string
		objects    map[string]string // path -> content type
	}{
		{"tar to the account", "?extract-archive=tar", nil, plain,
			"Number Files Created: 3\nResponse Body: \nResponse Status: 201 Created\nErrors:\n",
			map[string]string{"c1/a.txt": "text/x-test", "c1/dir/b.wav": "audio/x-wav", "c2/x": "application/octet-stream"}},
		{"tar.gz to a container, json", "/c1?extract-archive=tar.gz", map[string]string{"Accept": "application/json"}, gz.Bytes(),
			`{"Response Status": "201 Created", "Response Body": "", "Number Files Created": 4, "Errors": []}`,
			map[string]string{"c1/c1/a.txt": "text/x-test", "c1/top.txt": "text/plain"}},
		{"tar.bz2 to a pseudo-directory", "/c1/sub/?extract-archive=.tar.bz2.", nil, bz,
			"Number Files Created: 3\nResponse Body: \nResponse Status: 201 Created\nErrors:\n",
			map[string]string{"c1/sub/cont/b.wav": "audio/x-wav", "c1/sub/top.txt": "text/plain"}},
		{"not a gzip file", "?extract-archive=tar.gz", map[string]string{"Accept": "application/xml"}, plain,
			"<extract>\n<number_files_created>0</number_files_created>\n<response_body>Invalid Tar File: not a gzip file</response_body>\n<response_status>400 Bad Request</response_status>\n<errors>\n</errors>\n</extract>\n", nil},
		{"empty", "?extract-archive=tar", nil, []byte{},
			"Number Files Created: 0\nResponse Body: Invalid Tar File: empty file\nResponse Status: 400 Bad Request\nErrors:\n", nil},
		{"no valid files", "?extract-archive=tar", nil, tarball(t, map[string]string{"top.txt": "x"}, nil),
			"Number Files Created: 0\nResponse Body: Invalid Tar File: No Valid Files\nResponse Status: 400 Bad Request\nErrors:\n", nil},
		{"garbage", "?extract-archive=tar", nil, bytes.Repeat([]byte("x"), 600),
			"Number Files Created: 0\nResponse Body: Invalid Tar File: invalid header\nResponse Status: 400 Bad Request\nErrors:\n", nil},
		{"invalid utf-8 name", "/c1?extract-archive=tar", nil, tarball(t, map[string]string{"bad\xff/x": "x", "c2/x": "y"}, nil),
			"Number Files Created: 1\nResponse Body: \nResponse Status: 400 Bad Request\nErrors:\nc1/bad%FF/x, 412 Precondition Failed\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acct, tok := bulkFixture(t)
			hdr := map[string]string{"X-Auth-Token": tok}
			for k, v := range tt.hdr {
				hdr[k] = v
			}
			st, _, body := hc(t, "PUT", acct+tt.path, hdr, tt.body)
			if st != 200 || string(body) != tt.want {
				t.Errorf("%d\n%s\nwant\n%s", st, body, tt.want)
			}
			for o, ct := range tt.objects {
				st, h, _ := hc(t, "HEAD", acct+"/"+o, hdr, nil)
				if st != 200 || h.Get("Content-Type") != ct {
					t.Errorf("HEAD %s: %d %q, want %q", o, st, h.Get("Content-Type"), ct)
				}
				if o == "c1/a.txt" && h.Get("X-Object-Meta-Color") != "blue" {
					t.Errorf("HEAD %s: meta %v", o, h)
				}
			}
		})
	}
	// An unknown format is a plain 400.
	acct, tok := bulkFixture(t)
	if st, _, body := hc(t, "PUT", acct+"/c?extract-archive=zip", map[string]string{"X-Auth-Token": tok}, plain); st != 400 || string(body) != "Unsupported archive format" {
		t.Errorf("zip: %d %q", st, body)
	}
}

// BenchmarkBulkDelete: one bulk delete of 1000 objects per iteration
// (uploaded outside the timer) through the handler over the in-memory
// test double: the front end's per-item cost (subrequest, auth, ACL).
func BenchmarkBulkDelete(b *testing.B) {
	h, tok := benchServer(b)
	const n = 1000
	var list strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&list, "c/o%04d\n", i)
	}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		for i := 0; i < n; i++ {
			req := httptest.NewRequest("PUT", fmt.Sprintf("/v1/AUTH_test/c/o%04d", i), strings.NewReader("x"))
			req.Header.Set("X-Auth-Token", tok)
			h.ServeHTTP(httptest.NewRecorder(), req)
		}
		b.StartTimer()
		req := httptest.NewRequest("POST", "/v1/AUTH_test?bulk-delete", strings.NewReader(list.String()))
		req.Header.Set("X-Auth-Token", tok)
		req.Header.Set("Accept", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if !strings.Contains(w.Body.String(), `"Number Deleted": 1000`) {
			b.Fatalf("bulk delete: %s", w.Body.String())
		}
	}
}
