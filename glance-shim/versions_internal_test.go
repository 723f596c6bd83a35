package glanceshim

import (
	"net/http"
	"reflect"
	"testing"
	"time"
)

// TestVersioningHeaders checks versioned_writes' container header rules
// (legacy.py container_request) case by case.
func TestVersioningHeaders(t *testing.T) {
	set := func(loc, mode string) map[string]string {
		return map[string]string{metaVersionsLocation: loc, metaVersionsMode: mode}
	}
	off := set("", "")
	for _, tc := range []struct {
		name   string
		hdr    map[string]string
		want   map[string]string
		status int
	}{
		{"none", map[string]string{"X-Container-Meta-A": "1"}, nil, 0},
		{"stack", map[string]string{"X-Versions-Location": "arch"}, set("arch", "stack"), 0},
		{"history", map[string]string{"X-History-Location": "arch"}, set("arch", "history"), 0},
		{"both", map[string]string{"X-Versions-Location": "a", "X-History-Location": "b"}, nil, 400},
		{"both, history empty", map[string]string{"X-Versions-Location": "a", "X-History-Location": ""}, set("a", "stack"), 0},
		{"both, versions empty", map[string]string{"X-Versions-Location": "", "X-History-Location": "b"}, set("b", "history"), 0},
		{"both empty", map[string]string{"X-Versions-Location": "", "X-History-Location": ""}, off, 0},
		{"slash", map[string]string{"X-Versions-Location": "a/b"}, nil, 412},
		{"encoded slash passes", map[string]string{"X-History-Location": "a%2Fb"}, set("a%2Fb", "history"), 0},
		{"empty removes", map[string]string{"X-Versions-Location": ""}, off, 0},
		{"remove", map[string]string{"X-Remove-Versions-Location": "x"}, off, 0},
		{"remove history", map[string]string{"X-Remove-History-Location": "1"}, off, 0},
		{"remove with empty value does nothing", map[string]string{"X-Remove-Versions-Location": ""}, nil, 0},
		{"set wins over remove", map[string]string{"X-Versions-Location": "a", "X-Remove-Versions-Location": "x"}, set("a", "stack"), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tc.hdr {
				h[http.CanonicalHeaderKey(k)] = []string{v}
			}
			got, err := versioningHeaders(h)
			status := 0
			if err != nil {
				status, _ = statusOf(err)
			}
			if status != tc.status || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, status %d (%v); want %v, status %d", got, status, err, tc.want, tc.status)
			}
		})
	}
}

// TestVersionName checks the archive names: the name's length in bytes
// as three hex digits, the name, "/", the version's X-Timestamp.
func TestVersionName(t *testing.T) {
	ts := time.Unix(1700000000, 123456000)
	for _, tc := range []struct{ object, want string }{
		{"o", "001o/1700000000.12346"},
		{"déjà/vu", "009déjà/vu/1700000000.12346"},
		{string(make([]byte, 300)), "12c" + string(make([]byte, 300)) + "/1700000000.12346"},
	} {
		if got := versionName(tc.object, ts); got != tc.want {
			t.Errorf("versionName(%.20q) = %.40q, want %.40q", tc.object, got, tc.want)
		}
	}
}
