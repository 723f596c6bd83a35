package e2e

import "testing"

// TestSwiftDiffListing: container and account listings (issue 11 item 5)
// against real Swift: no subdir for a prefix whose objects are all
// deleted (also after the container is deleted and created again),
// multi-character delimiters, limit / marker / end_marker / prefix / path
// / reverse parsing, and account listings with a delimiter.
func TestSwiftDiffListing(t *testing.T) { runDiff(t, listingCases) }

// listingObjects is a Setup sequence: container {c} with objects that
// exercise delimiters and paths.
func listingObjects() []diffStep {
	steps := []diffStep{{Method: "PUT", Path: "{c}", Setup: true}}
	for _, o := range []string{"a", "dir/", "dir/a", "dir/b", "dir/sub/x", "dir::y", "dirx", "e::f::g", "z"} {
		steps = append(steps, diffStep{Method: "PUT", Path: "{c}/" + o, Body: "x", Header: map[string]string{"Content-Type": "text/plain"}, Setup: true})
	}
	return steps
}

func listCase(name string, queries ...string) diffCase {
	steps := listingObjects()
	for _, q := range queries {
		mode := bodyExact
		if containsFormat(q, "json") {
			mode = bodyJSON
		} else if containsFormat(q, "xml") {
			mode = bodyXML
		}
		steps = append(steps, diffStep{Name: q, Method: "GET", Path: "{c}" + q, BodyMode: mode})
	}
	return diffCase{Name: name, Steps: steps}
}

func containsFormat(q, f string) bool {
	for i := 0; i+len("format="+f) <= len(q); i++ {
		if q[i:i+len("format="+f)] == "format="+f {
			return true
		}
	}
	return false
}

var listingCases = []diffCase{
	{
		Name: "no ghost subdir after deletes",
		Steps: []diffStep{
			{Method: "PUT", Path: "{c}", Setup: true},
			{Method: "PUT", Path: "{c}/dir/a", Body: "1", Setup: true},
			{Method: "PUT", Path: "{c}/dir/sub/b", Body: "2", Setup: true},
			{Method: "PUT", Path: "{c}/keep/c", Body: "3", Setup: true},
			{Method: "DELETE", Path: "{c}/dir/a", Setup: true},
			{Method: "DELETE", Path: "{c}/dir/sub/b", Setup: true},
			{Method: "GET", Path: "{c}?delimiter=/"},
			{Method: "GET", Path: "{c}?delimiter=/&format=json", BodyMode: bodyJSON},
			{Method: "GET", Path: "{c}?delimiter=/&prefix=dir/"},
			{Method: "DELETE", Path: "{c}/keep/c", Setup: true},
			{Method: "DELETE", Path: "{c}", Setup: true},
			{Method: "PUT", Path: "{c}", Setup: true},
			{Method: "GET", Path: "{c}?delimiter=/"},
			{Method: "GET", Path: "{c}?delimiter=/&format=json", BodyMode: bodyJSON},
		},
	},
	listCase("delimiters", "?delimiter=/", "?delimiter=::&format=json", "?delimiter=dir", "?delimiter=/&prefix=dir/&format=xml",
		"?delimiter=%3A%3A&prefix=e%3A%3A", "?delimiter=ir&format=json"),
	listCase("limit", "?limit=2", "?limit=0", "?limit=abc", "?limit=-1", "?limit=10000", "?limit=10001", "?limit=", "?limit=2&delimiter=/&format=json", "?limit=1.5"),
	listCase("markers", "?marker=dir", "?marker=dir/&delimiter=/", "?end_marker=dir/b", "?marker=a&end_marker=dirx", "?marker=zz",
		"?marker=dir/&end_marker=dir/", "?prefix=dir/&marker=dir/a", "?prefix=dir&end_marker=dir/b&delimiter=/"),
	listCase("reverse", "?reverse=true", "?reverse=on&limit=3", "?reverse=yes&marker=dir/b", "?reverse=1&end_marker=dir/b", "?reverse=true&delimiter=/",
		"?reverse=true&marker=z&end_marker=a", "?reverse=false&limit=2", "?reverse=junk&limit=2", "?reverse=true&prefix=dir/&delimiter=/&format=json"),
	listCase("path", "?path=dir", "?path=dir/", "?path=", "?path=dir&format=json", "?path=dir&delimiter=::", "?path=nope", "?path=dir&reverse=true", "?path=dir&marker=dir/a"),
	listCase("bad parameters", "?marker=%FF", "?prefix=%FF", "?delimiter=%FF", "?end_marker=%FF", "?path=%FF", "?marker=%00", "?prefix=a%00",
		"?format=%FF", "?format=yaml", "?format=JSON"),
	{
		Name: "accept header",
		Steps: append(listingObjects(),
			diffStep{Method: "GET", Path: "{c}?limit=1", Header: map[string]string{"Accept": "application/json"}, BodyMode: bodyJSON},
			diffStep{Method: "GET", Path: "{c}?limit=1", Header: map[string]string{"Accept": "text/xml"}, BodyMode: bodyXML},
			diffStep{Method: "GET", Path: "{c}?limit=1", Header: map[string]string{"Accept": "image/png"}},
			diffStep{Method: "GET", Path: "{c}?limit=1", Header: map[string]string{"Accept": "garbage"}},
			diffStep{Method: "GET", Path: "{c}?limit=1", Header: map[string]string{"Accept": "application/xml;q=0.5, application/json"}, BodyMode: bodyJSON},
		),
	},
	{
		Name: "account listing delimiter",
		Steps: []diffStep{
			{Method: "PUT", Path: "{c}", Setup: true},
			{Method: "PUT", Path: "{c1}", Setup: true},
			{Method: "PUT", Path: "{c2}", Setup: true},
			{Method: "GET", Path: "?prefix={c}&delimiter=1"},
			{Method: "GET", Path: "?prefix={c}&delimiter=1&format=json", BodyMode: bodyJSON,
				Norm: map[string]func(string) string{}},
			{Method: "GET", Path: "?prefix={c}&delimiter=1&format=xml", BodyMode: bodyXML},
			{Method: "GET", Path: "?prefix={c}&delimiter=1&reverse=true"},
			{Method: "GET", Path: "?prefix={c}&limit=1&marker={c}"},
			{Method: "GET", Path: "?prefix={c}&end_marker={c1}"},
			{Method: "GET", Path: "?limit=10001"},
			{Method: "GET", Path: "?marker=%FF"},
		},
	},
}
