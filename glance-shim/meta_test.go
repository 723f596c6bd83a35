package glanceshim_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// metaStep is one request of a metadata scenario and what it must answer.
type metaStep struct {
	name, user, method, path string
	hdr                      map[string]string
	body                     string
	want                     int
	wantBody                 string
	wantHdr                  map[string]string // "" means absent
}

func runMetaSteps(t *testing.T, steps []metaStep) {
	ts := startServer(t, testConfig(), nil)
	toks := map[string]string{}
	var su string
	for _, u := range [][2]string{{"test:tester", "testing"}, {"test:reseller", "selling"}, {"test:reader", "reading"}} {
		toks[u[0]], su = login(t, ts.URL, u[0], u[1])
	}
	for _, s := range steps {
		hdr := map[string]string{}
		for k, v := range s.hdr {
			hdr[k] = v
		}
		user := s.user
		if user == "" {
			user = "test:tester"
		}
		hdr["X-Auth-Token"] = toks[user]
		var body []byte
		if s.method == "PUT" || s.body != "" {
			body = []byte(s.body)
		}
		st, h, b := hc(t, s.method, su+s.path, hdr, body)
		if st != s.want {
			t.Fatalf("%s: %s %s: %d %s, want %d", s.name, s.method, s.path, st, b, s.want)
		}
		if s.wantBody != "" && string(b) != s.wantBody {
			t.Errorf("%s: body %q, want %q", s.name, b, s.wantBody)
		}
		for k, v := range s.wantHdr {
			vs, present := h[http.CanonicalHeaderKey(k)]
			switch {
			case v == "" && present:
				t.Errorf("%s: %s = %q, want absent", s.name, k, vs)
			case v == "<empty>" && (!present || vs[0] != ""):
				t.Errorf("%s: %s = %q (present %v), want present and empty", s.name, k, vs, present)
			case v != "" && v != "<empty>" && h.Get(k) != v:
				t.Errorf("%s: %s = %q, want %q", s.name, k, h.Get(k), v)
			}
		}
	}
}

func manyMeta(prefix string, from, n int) map[string]string {
	m := map[string]string{}
	for i := from; i < from+n; i++ {
		m[fmt.Sprintf("%sK%d", prefix, i)] = strings.Repeat("v", 250)
	}
	return m
}

// TestAccountMetadata: account POST keeps X-Account-Meta-*, removes with
// X-Remove-Account-Meta-* or an empty value; Swift's cumulative limits.
func TestAccountMetadata(t *testing.T) {
	runMetaSteps(t, []metaStep{
		{name: "set", method: "POST", hdr: map[string]string{"X-Account-Meta-Color": "blue", "X-Account-Meta-Size": "L"}, want: 204},
		{name: "read", method: "HEAD", want: 204, wantHdr: map[string]string{"X-Account-Meta-Color": "blue", "X-Account-Meta-Size": "L"}},
		{name: "listing shows it", method: "GET", want: 204, wantHdr: map[string]string{"X-Account-Meta-Color": "blue"}},
		{name: "remove and empty", method: "POST", hdr: map[string]string{"X-Remove-Account-Meta-Color": "x", "X-Account-Meta-Size": ""}, want: 204},
		{name: "removed", method: "HEAD", want: 204, wantHdr: map[string]string{"X-Account-Meta-Color": "", "X-Account-Meta-Size": ""}},
		{name: "name too long", method: "POST", hdr: map[string]string{"X-Account-Meta-" + strings.Repeat("n", 129): "v"}, want: 400,
			wantBody: "Metadata name too long: x-account-meta-N" + strings.Repeat("n", 128)},
		{name: "16 x 253 bytes fit", method: "POST", hdr: manyMeta("X-Account-Meta-", 1, 16), want: 204},
		{name: "16 more exceed 4096 in total", method: "POST", hdr: manyMeta("X-Account-Meta-", 17, 16), want: 400,
			wantBody: "Total metadata too large; max 4096"},
		{name: "replacing a value stays within", method: "POST", hdr: map[string]string{"X-Account-Meta-K1": "short"}, want: 204},
		{name: "non-admin may not", user: "test:reader", method: "POST", hdr: map[string]string{"X-Account-Meta-A": "b"}, want: 403},
	})
}

// TestContainerMetadataLimits: cumulative limits on container POST.
func TestContainerMetadataLimits(t *testing.T) {
	runMetaSteps(t, []metaStep{
		{name: "create", method: "PUT", path: "/c", hdr: manyMeta("X-Container-Meta-", 1, 16), want: 201},
		{name: "exceed", method: "POST", path: "/c", hdr: manyMeta("X-Container-Meta-", 17, 1), want: 400,
			wantBody: "Total metadata too large; max 4096"},
		{name: "remove then add", method: "POST", path: "/c", hdr: map[string]string{"X-Remove-Container-Meta-K1": "x", "X-Container-Meta-K17": "y"}, want: 204},
		{name: "kept", method: "HEAD", path: "/c", want: 204, wantHdr: map[string]string{"X-Container-Meta-K17": "y", "X-Container-Meta-K1": ""}},
	})
}

// TestQuotas: container_quotas and account_quotas as Swift 2.30.
func TestQuotas(t *testing.T) {
	runMetaSteps(t, []metaStep{
		{name: "bad count", method: "PUT", path: "/q", hdr: map[string]string{"X-Container-Meta-Quota-Count": "x"}, want: 400, wantBody: "Invalid count quota."},
		{name: "bad bytes", method: "PUT", path: "/q", hdr: map[string]string{"X-Container-Meta-Quota-Bytes": "-1"}, want: 400, wantBody: "Invalid bytes quota."},
		{name: "container quotas", method: "PUT", path: "/q", hdr: map[string]string{"X-Container-Meta-Quota-Count": "1", "X-Container-Meta-Quota-Bytes": "5"}, want: 201},
		{name: "too many bytes", method: "PUT", path: "/q/a", body: "012345", want: 413, wantBody: "Upload exceeds quota."},
		{name: "fits", method: "PUT", path: "/q/a", body: "01", want: 201},
		{name: "count", method: "PUT", path: "/q/b", body: "0", want: 413, wantBody: "Upload exceeds quota."},
		{name: "bad count by POST", method: "POST", path: "/q", hdr: map[string]string{"X-Container-Meta-Quota-Count": "1.5"}, want: 400},
		{name: "lift", method: "POST", path: "/q", hdr: map[string]string{"X-Remove-Container-Meta-Quota-Count": "x"}, want: 204},
		{name: "lifted", method: "PUT", path: "/q/b", body: "0", want: 201},
		{name: "a source", method: "PUT", path: "/src", want: 201},
		{name: "source object", method: "PUT", path: "/src/big", body: "0123456789", want: 201},
		{name: "COPY over the bytes quota", method: "COPY", path: "/src/big", hdr: map[string]string{"Destination": "q/c"}, want: 413, wantBody: "Upload exceeds quota."},
		{name: "X-Copy-From over the bytes quota", method: "PUT", path: "/q/c", hdr: map[string]string{"X-Copy-From": "src/big"}, want: 413, wantBody: "Upload exceeds quota."},
		{name: "account quota by admin", method: "POST", hdr: map[string]string{"X-Account-Meta-Quota-Bytes": "10"}, want: 403},
		{name: "account quota removal by admin", method: "POST", hdr: map[string]string{"X-Remove-Account-Meta-Quota-Bytes": "x"}, want: 403},
		{name: "account quota not digits", user: "test:reseller", method: "POST", hdr: map[string]string{"X-Account-Meta-Quota-Bytes": "abc"}, want: 400},
		{name: "account quota by reseller", user: "test:reseller", method: "POST", hdr: map[string]string{"X-Account-Meta-Quota-Bytes": "10"}, want: 204},
		{name: "visible", method: "HEAD", want: 204, wantHdr: map[string]string{"X-Account-Meta-Quota-Bytes": "10"}},
		{name: "plain container", method: "PUT", path: "/r", want: 201},
		{name: "account full", method: "PUT", path: "/r/c", body: "01234567", want: 413, wantBody: "Upload exceeds quota."},
		{name: "reseller is not bound", user: "test:reseller", method: "PUT", path: "/r/c", body: "01234567", want: 201},
		{name: "reseller lifts", user: "test:reseller", method: "POST", hdr: map[string]string{"X-Remove-Account-Meta-Quota-Bytes": "x"}, want: 204},
		{name: "account free", method: "PUT", path: "/r/d", body: "01234567", want: 201},
	})
}

// TestObjectPostMetadata: Swift 2.30 fast-post: a POST replaces user
// metadata and the stored headers, sets, changes or removes
// X-Object-Manifest; empty metadata values are kept and returned.
func TestObjectPostMetadata(t *testing.T) {
	runMetaSteps(t, []metaStep{
		{name: "container", method: "PUT", path: "/c", want: 201},
		{name: "seg1", method: "PUT", path: "/c/seg/1", body: "seg1", want: 201},
		{name: "seg2", method: "PUT", path: "/c/seg/2", body: "seg2", want: 201},
		{name: "other1", method: "PUT", path: "/c/oth/1", body: "other", want: 201},
		{name: "plain", method: "PUT", path: "/c/m", body: "plain", hdr: map[string]string{"X-Object-Meta-A": "1", "X-Object-Meta-Empty": ""}, want: 201},
		{name: "empty value kept", method: "HEAD", path: "/c/m", want: 200, wantHdr: map[string]string{"X-Object-Meta-A": "1", "X-Object-Meta-Empty": "<empty>"}},
		{name: "post manifest", method: "POST", path: "/c/m", hdr: map[string]string{"X-Object-Manifest": "c/seg/"}, want: 202},
		{name: "now a DLO", method: "GET", path: "/c/m", want: 200, wantBody: "seg1seg2",
			wantHdr: map[string]string{"X-Object-Manifest": "c/seg/", "X-Object-Meta-A": ""}},
		{name: "change manifest", method: "POST", path: "/c/m", hdr: map[string]string{"X-Object-Manifest": "c/oth/", "X-Object-Meta-B": "2"}, want: 202},
		{name: "changed", method: "GET", path: "/c/m", want: 200, wantBody: "other", wantHdr: map[string]string{"X-Object-Meta-B": "2"}},
		{name: "bad manifest", method: "POST", path: "/c/m", hdr: map[string]string{"X-Object-Manifest": "nocontainer"}, want: 400},
		{name: "post without manifest", method: "POST", path: "/c/m", hdr: map[string]string{"X-Object-Meta-C": "3"}, want: 202},
		{name: "plain again", method: "GET", path: "/c/m", want: 200, wantBody: "plain",
			wantHdr: map[string]string{"X-Object-Manifest": "", "X-Object-Meta-B": "", "X-Object-Meta-C": "3"}},
	})
}
