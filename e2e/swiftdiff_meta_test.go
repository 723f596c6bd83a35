package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// TestSwiftDiffMeta: account and object metadata, the cumulative
// metadata limits and quotas against Swift 2.30. Account metadata is
// written to AUTH_test2 and removed again by each case.
func TestSwiftDiffMeta(t *testing.T) { runDiff(t, metaCases()) }

// bigMeta is n headers prefix+"K<from+i>" of 250 bytes each.
func bigMeta(prefix string, from, n int) map[string]string {
	m := map[string]string{}
	for i := from; i < from+n; i++ {
		m[fmt.Sprintf("%sK%d", prefix, i)] = strings.Repeat("v", 250)
	}
	return m
}

func removeMeta(prefix string, from, n int) map[string]string {
	m := map[string]string{}
	for i := from; i < from+n; i++ {
		m[fmt.Sprintf("%sK%d", prefix, i)] = "x"
	}
	return m
}

func metaCases() []diffCase {
	acct := func(method string, hdr map[string]string, compare ...string) diffStep {
		return diffStep{As: "tester2", Method: method, Path: "", Header: hdr, Compare: compare}
	}
	return []diffCase{{
		Name: "account metadata",
		Steps: []diffStep{
			acct("POST", map[string]string{"X-Account-Meta-Sdcolor": "blue", "X-Account-Meta-Sdsize": "L", "X-Account-Meta-Sdempty": ""}),
			acct("HEAD", nil, "X-Account-Meta-Sdcolor", "X-Account-Meta-Sdsize", "X-Account-Meta-Sdempty"),
			acct("POST", map[string]string{"X-Remove-Account-Meta-Sdcolor": "x", "X-Account-Meta-Sdsize": ""}),
			acct("HEAD", nil, "X-Account-Meta-Sdcolor", "X-Account-Meta-Sdsize"),
			acct("POST", map[string]string{"X-Account-Meta-" + strings.Repeat("n", 129): "v"}),
			acct("POST", map[string]string{"X-Account-Meta-Sdlong": strings.Repeat("v", 257)}),
			acct("POST", bigMeta("X-Account-Meta-Sd", 1, 16)),
			acct("POST", bigMeta("X-Account-Meta-Sd", 17, 1)),
			acct("POST", removeMeta("X-Remove-Account-Meta-Sd", 1, 16)),
			acct("POST", bigMeta("X-Account-Meta-Sd", 17, 1)),
			acct("POST", removeMeta("X-Remove-Account-Meta-Sd", 17, 1)),
			{As: "tester3", Method: "POST", Path: "", Header: map[string]string{"X-Account-Meta-Sdx": "y"}},
		},
	}, {
		Name: "container metadata limits",
		Steps: []diffStep{
			{Method: "PUT", Path: "{c}", Header: bigMeta("X-Container-Meta-", 1, 16)},
			{Method: "POST", Path: "{c}", Header: bigMeta("X-Container-Meta-", 17, 1)},
			{Method: "POST", Path: "{c}", Header: map[string]string{"X-Remove-Container-Meta-K1": "x", "X-Container-Meta-K17": "y"}},
			{Method: "HEAD", Path: "{c}", Compare: []string{"X-Container-Meta-K1", "X-Container-Meta-K17", "X-Container-Meta-K2"}},
			{Method: "PUT", Path: "{c}", Header: bigMeta("X-Container-Meta-", 30, 2)},
			{Method: "POST", Path: "{c}", Header: map[string]string{"X-Container-Meta-Empty": ""}},
			{Method: "HEAD", Path: "{c}", Compare: []string{"X-Container-Meta-Empty"}},
		},
	}, {
		Name: "container quotas",
		Steps: []diffStep{
			{Method: "PUT", Path: "{c}", Header: map[string]string{"X-Container-Meta-Quota-Count": "x"}},
			{Method: "PUT", Path: "{c}", Header: map[string]string{"X-Container-Meta-Quota-Bytes": "-1"}},
			{Method: "PUT", Path: "{c}", Header: map[string]string{"X-Container-Meta-Quota-Bytes": "5", "X-Container-Meta-Quota-Count": "3"}},
			{Method: "POST", Path: "{c}", Header: map[string]string{"X-Container-Meta-Quota-Count": "1.5"}},
			{Method: "PUT", Path: "{c}/a", Body: "012345"},
			{Method: "PUT", Path: "{c}/a", Body: "01"},
			{Method: "HEAD", Path: "{c}", Compare: []string{"X-Container-Meta-Quota-Bytes", "X-Container-Meta-Quota-Count"}},
		},
	}, {
		// Swift's quota middlewares see a COPY or X-Copy-From as a PUT of
		// the source's bytes (the copy middleware runs before them).
		Name: "container quota on copies",
		Steps: []diffStep{
			{Method: "PUT", Path: "{c}", Header: map[string]string{"X-Container-Meta-Quota-Bytes": "5"}},
			{Method: "PUT", Path: "{c2}"},
			{Method: "PUT", Path: "{c2}/src", Body: "0123456789"},
			{Method: "COPY", Path: "{c2}/src", Header: map[string]string{"Destination": "{c}/a"}},
			{Method: "PUT", Path: "{c}/b", Header: map[string]string{"X-Copy-From": "{c2}/src"}},
		},
	}, {
		Name: "account quota reseller only",
		Steps: []diffStep{
			acct("POST", map[string]string{"X-Account-Meta-Quota-Bytes": "10"}),
			acct("POST", map[string]string{"X-Remove-Account-Meta-Quota-Bytes": "x"}),
			{As: "admin", Method: "POST", Path: "/v1/AUTH_test2", Header: map[string]string{"X-Account-Meta-Quota-Bytes": "abc"}},
			{As: "admin", Method: "POST", Path: "/v1/AUTH_test2", Header: map[string]string{"X-Account-Meta-Quota-Bytes": "100000000"}},
			acct("HEAD", nil, "X-Account-Meta-Quota-Bytes"),
			{As: "admin", Method: "POST", Path: "/v1/AUTH_test2", Header: map[string]string{"X-Remove-Account-Meta-Quota-Bytes": "x"}},
			acct("HEAD", nil, "X-Account-Meta-Quota-Bytes"),
			// Enforced: a quota of 0 bytes refuses an upload of a byte (and
			// a copy) into the account until the reseller admin lifts it.
			// (Not a 0-byte upload: Swift's account bytes lag behind its
			// containers' until the container updater runs, so whether it
			// fits depends on timing there.)
			{As: "tester2", Method: "PUT", Path: "/v1/AUTH_test2/{c}", Setup: true},
			{As: "tester2", Method: "PUT", Path: "/v1/AUTH_test2/{c}/src", Body: "x", Setup: true},
			{As: "admin", Method: "POST", Path: "/v1/AUTH_test2", Header: map[string]string{"X-Account-Meta-Quota-Bytes": "0"}},
			{As: "tester2", Method: "PUT", Path: "/v1/AUTH_test2/{c}/o", Body: "x"},
			{As: "tester2", Method: "PUT", Path: "/v1/AUTH_test2/{c}/cp", Header: map[string]string{"X-Copy-From": "{c}/src"}},
			{As: "admin", Method: "POST", Path: "/v1/AUTH_test2", Header: map[string]string{"X-Remove-Account-Meta-Quota-Bytes": "x"}},
			{As: "tester2", Method: "PUT", Path: "/v1/AUTH_test2/{c}/o", Body: "x", Compare: []string{"Etag"}},
			{As: "tester2", Method: "DELETE", Path: "/v1/AUTH_test2/{c}/o", Setup: true},
			{As: "tester2", Method: "DELETE", Path: "/v1/AUTH_test2/{c}/src", Setup: true},
			{As: "tester2", Method: "DELETE", Path: "/v1/AUTH_test2/{c}", Setup: true},
		},
	}, {
		Name: "object post replaces metadata",
		Steps: []diffStep{
			{Method: "PUT", Path: "{c}", Setup: true},
			{Method: "PUT", Path: "{c}/o", Body: "plain", Header: map[string]string{"X-Object-Meta-A": "1", "X-Object-Meta-Empty": "",
				"Content-Disposition": "attachment", "Content-Type": "text/plain"}},
			{Method: "HEAD", Path: "{c}/o", Compare: []string{"X-Object-Meta-A", "X-Object-Meta-Empty", "Content-Disposition"}},
			{Method: "POST", Path: "{c}/o", Header: map[string]string{"X-Object-Meta-B": "2", "X-Object-Meta-Also-Empty": ""}},
			{Method: "HEAD", Path: "{c}/o", Compare: []string{"X-Object-Meta-A", "X-Object-Meta-B", "X-Object-Meta-Empty", "X-Object-Meta-Also-Empty", "Content-Disposition"}},
			{Method: "POST", Path: "{c}/o", Header: map[string]string{"Content-Type": "application/x-test"}},
			{Method: "HEAD", Path: "{c}/o", Compare: []string{"X-Object-Meta-B"}},
			{Method: "POST", Path: "{c}/o", Header: map[string]string{"X-Object-Meta-" + strings.Repeat("n", 129): "v"}},
			{Method: "POST", Path: "{c}/missing", Header: map[string]string{"X-Object-Meta-B": "2"}},
		},
	}, {
		Name: "object post sets changes removes manifest",
		Steps: []diffStep{
			{Method: "PUT", Path: "{c}", Setup: true},
			{Method: "PUT", Path: "{c}/seg/1", Body: "seg1", Setup: true},
			{Method: "PUT", Path: "{c}/seg/2", Body: "seg2", Setup: true},
			{Method: "PUT", Path: "{c}/oth/1", Body: "other", Setup: true},
			{Method: "PUT", Path: "{c}/m", Body: "plain", Setup: true},
			{Method: "POST", Path: "{c}/m", Header: map[string]string{"X-Object-Manifest": "{c}/seg/"}},
			{Method: "GET", Path: "{c}/m", Compare: []string{"X-Object-Manifest", "Etag"}},
			{Method: "POST", Path: "{c}/m", Header: map[string]string{"X-Object-Manifest": "{c}/oth/", "X-Object-Meta-B": "2"}},
			{Method: "GET", Path: "{c}/m", Compare: []string{"X-Object-Manifest", "X-Object-Meta-B", "Etag"}},
			{Method: "POST", Path: "{c}/m", Header: map[string]string{"X-Object-Meta-C": "3"}},
			{Method: "GET", Path: "{c}/m", Compare: []string{"X-Object-Manifest", "X-Object-Meta-B", "X-Object-Meta-C", "Etag"}},
		},
	}}
}
