package e2e

import (
	"slices"
	"strings"
	"testing"
)

// TestSwiftDiffCORS: OPTIONS preflights, CORS response headers from
// container metadata, and referrer ACLs with wildcard and negated
// domains, against Swift 2.30 (strict_cors_mode, no cors_allow_origin).
func TestSwiftDiffCORS(t *testing.T) { runDiff(t, corsCases()) }

// normCSVSet sorts a comma-separated list: Swift builds Allow,
// Access-Control-Allow-Methods/-Headers and -Expose-Headers from Python
// sets, whose order varies between processes.
func normCSVSet(v string) string {
	parts := strings.Split(v, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

func corsCases() []diffCase {
	corsHdrs := []string{"Allow", "Access-Control-Allow-Origin", "Access-Control-Max-Age", "Access-Control-Allow-Methods",
		"Access-Control-Allow-Headers", "Access-Control-Expose-Headers", "Vary", "Www-Authenticate"}
	norm := map[string]func(string) string{"Allow": normCSVSet, "Access-Control-Allow-Methods": normCSVSet,
		"Access-Control-Allow-Headers": normCSVSet, "Access-Control-Expose-Headers": normCSVSet}
	step := func(as, method, path string, hdr map[string]string) diffStep {
		return diffStep{As: as, Method: method, Path: path, Header: hdr, Compare: corsHdrs, Norm: norm}
	}
	pre := func(origin, method, headers string) map[string]string {
		h := map[string]string{"Origin": origin}
		if method != "" {
			h["Access-Control-Request-Method"] = method
		}
		if headers != "" {
			h["Access-Control-Request-Headers"] = headers
		}
		return h
	}
	return []diffCase{{
		Name: "cors preflight",
		Steps: []diffStep{
			{Method: "PUT", Path: "{c}", Header: map[string]string{
				"X-Container-Meta-Access-Control-Allow-Origin":   "http://a.example.com http://b.example.com",
				"X-Container-Meta-Access-Control-Max-Age":        "60",
				"X-Container-Meta-Access-Control-Expose-Headers": "X-Foo  x-bar"}, Setup: true},
			{Method: "PUT", Path: "{c1}", Header: map[string]string{"X-Container-Meta-Access-Control-Allow-Origin": "*"}, Setup: true},
			{Method: "PUT", Path: "{c}/o", Body: "hello", Header: map[string]string{"X-Object-Meta-B": "2"}, Setup: true},
			{Method: "PUT", Path: "{c1}/o", Body: "star", Setup: true},
			step("anon", "OPTIONS", "{c}/o", nil),
			step("anon", "OPTIONS", "{c}", nil),
			step("anon", "OPTIONS", "", nil),
			step("anon", "OPTIONS", "{c}/o", pre("http://a.example.com", "GET", "x-auth-token, content-type")),
			step("anon", "OPTIONS", "{c}", pre("http://b.example.com", "PUT", "")),
			step("anon", "OPTIONS", "{c1}/o", pre("http://elsewhere.org", "DELETE", "")),
			step("anon", "OPTIONS", "{c}/o", pre("http://evil.com", "GET", "")),
			step("anon", "OPTIONS", "{c}/o", pre("http://a.example.com", "", "")),
			step("anon", "OPTIONS", "{c}/o", pre("http://a.example.com", "COPY", "")),
			step("anon", "OPTIONS", "{c2}/o", pre("http://a.example.com", "GET", "")),
			step("anon", "OPTIONS", "", pre("http://a.example.com", "GET", "")),
			step("anon", "OPTIONS", "/info", nil),
		},
	}, {
		Name: "cors response headers",
		Steps: []diffStep{
			{Method: "PUT", Path: "{c}", Header: map[string]string{
				"X-Container-Meta-Access-Control-Allow-Origin":   "http://a.example.com",
				"X-Container-Meta-Access-Control-Expose-Headers": "X-Foo"}, Setup: true},
			{Method: "PUT", Path: "{c1}", Header: map[string]string{"X-Container-Meta-Access-Control-Allow-Origin": "*"}, Setup: true},
			{Method: "PUT", Path: "{c}/o", Body: "hello", Header: map[string]string{"X-Object-Meta-B": "2"}, Setup: true},
			{Method: "PUT", Path: "{c1}/o", Body: "star", Setup: true},
			step("", "GET", "{c}/o", map[string]string{"Origin": "http://a.example.com"}),
			step("", "HEAD", "{c}/o", map[string]string{"Origin": "http://a.example.com"}),
			step("", "GET", "{c}/o", map[string]string{"Origin": "http://evil.com"}),
			step("", "GET", "{c1}/o", map[string]string{"Origin": "http://z.org"}),
			step("", "GET", "{c}/missing", map[string]string{"Origin": "http://a.example.com"}),
			step("", "PUT", "{c}/p", map[string]string{"Origin": "http://a.example.com"}),
		},
	}, {
		Name: "cors container response headers",
		Steps: []diffStep{
			{Method: "PUT", Path: "{c}", Header: map[string]string{"X-Container-Meta-Access-Control-Allow-Origin": "http://a.example.com"}, Setup: true},
			step("", "HEAD", "{c}", map[string]string{"Origin": "http://a.example.com"}),
		},
	}, {
		Name: "referrer acl wildcard domains",
		Steps: []diffStep{
			{Method: "PUT", Path: "{c}", Header: map[string]string{"X-Container-Read": ".r:*.example.com,.r:-bad.example.com"}},
			{Method: "PUT", Path: "{c}/o", Body: "x", Setup: true},
			{Method: "HEAD", Path: "{c}", Compare: []string{"X-Container-Read"}},
			{As: "anon", Method: "GET", Path: "{c}/o", Header: map[string]string{"Referer": "http://www.example.com/page"}},
			{As: "anon", Method: "GET", Path: "{c}/o", Header: map[string]string{"Referer": "https://a.b.example.com:8443/"}},
			{As: "anon", Method: "GET", Path: "{c}/o", Header: map[string]string{"Referer": "http://example.com/"}},
			{As: "anon", Method: "GET", Path: "{c}/o", Header: map[string]string{"Referer": "http://bad.example.com/x"}},
			{As: "anon", Method: "GET", Path: "{c}/o", Header: map[string]string{"Referer": "http://www.example.org/"}},
			{As: "anon", Method: "GET", Path: "{c}/o"},
			{As: "anon", Method: "GET", Path: "{c}", Header: map[string]string{"Referer": "http://www.example.com/"}},
			{Method: "POST", Path: "{c}", Header: map[string]string{"X-Container-Read": ".r:*.example.com,.rlistings"}},
			{As: "anon", Method: "GET", Path: "{c}", Header: map[string]string{"Referer": "http://www.example.com/"}},
			{Method: "POST", Path: "{c}", Header: map[string]string{"X-Container-Read": ".r:"}},
			{Method: "POST", Path: "{c}", Header: map[string]string{"X-Container-Read": ".x:y"}},
			{Method: "POST", Path: "{c}", Header: map[string]string{"X-Container-Write": ".r:*"}},
		},
	}}
}
