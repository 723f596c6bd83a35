package e2e

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
)

// TestSwiftDiffVersioning compares object versioning (Swift 2.30's legacy
// versioned_writes: X-Versions-Location, X-History-Location) with real
// Swift. Archive names end in the version's X-Timestamp, normalised to
// "<timestamp>" by the harness.
func TestSwiftDiffVersioning(t *testing.T) { runDiff(t, versioningCases) }

// Shorthands for the versioning cases.
var (
	vPutC = func(c string, h map[string]string) diffStep {
		return diffStep{Method: "PUT", Path: c, Header: h, Setup: true}
	}
	vPut = func(o, body string) diffStep {
		return diffStep{Method: "PUT", Path: o, Body: body, Compare: []string{"Etag"}}
	}
	vGet = func(o string) diffStep {
		return diffStep{Method: "GET", Path: o, Compare: []string{"Etag", "X-Object-Meta-A"}}
	}
	vDel   = func(o string) diffStep { return diffStep{Method: "DELETE", Path: o} }
	vList  = func(c string) diffStep { return diffStep{Method: "GET", Path: c + "?format=json", BodyMode: bodyJSON} }
	vHeadC = func(c string) diffStep {
		return diffStep{Method: "HEAD", Path: c, Compare: []string{"X-Versions-Location", "X-History-Location", "X-Container-Object-Count"}}
	}
	stackOn   = map[string]string{"X-Versions-Location": "{c1}"}
	historyOn = map[string]string{"X-History-Location": "{c1}"}
)

var versioningCases = []diffCase{
	{
		Name: "stack mode push and pop",
		Steps: []diffStep{
			vPutC("{c1}", nil), vPutC("{c}", stackOn), vHeadC("{c}"),
			vPut("{c}/o", "v1"), vPut("{c}/o", "v22"), vPut("{c}/o", "v333"),
			vList("{c1}"), vHeadC("{c1}"), vGet("{c}/o"),
			vDel("{c}/o"), vGet("{c}/o"), vList("{c1}"),
			vDel("{c}/o"), vGet("{c}/o"), vList("{c1}"),
			vDel("{c}/o"), vGet("{c}/o"), vDel("{c}/o"), vList("{c}"),
		},
	},
	{
		Name: "history mode delete markers",
		Steps: []diffStep{
			vPutC("{c1}", nil), vPutC("{c}", historyOn), vHeadC("{c}"),
			vPut("{c}/o", "v1"), vPut("{c}/o", "v22"), vList("{c1}"),
			vDel("{c}/o"), vGet("{c}/o"), vList("{c1}"),
			vDel("{c}/o"), vList("{c1}"), vList("{c}"),
		},
	},
	{
		Name: "stack pop under a delete marker",
		Steps: []diffStep{
			vPutC("{c1}", nil), vPutC("{c}", historyOn),
			vPut("{c}/o", "v1"), vPut("{c}/o", "v22"), vDel("{c}/o"), vList("{c1}"),
			{Method: "POST", Path: "{c}", Header: stackOn}, vHeadC("{c}"),
			vDel("{c}/o"), vGet("{c}/o"), vList("{c1}"),
			vPut("{c}/o", "v4444"), vList("{c1}"),
		},
	},
	{
		Name: "delete marker on top and the object written again",
		Steps: []diffStep{
			vPutC("{c1}", nil), vPutC("{c}", historyOn),
			vPut("{c}/o", "v1"), vDel("{c}/o"),
			{Method: "POST", Path: "{c}", Header: stackOn},
			vPut("{c}/o", "v22"), vList("{c1}"),
			vDel("{c}/o"), vGet("{c}/o"), vList("{c1}"),
		},
	},
	{
		Name: "missing archive container",
		Steps: []diffStep{
			vPutC("{c}", stackOn),
			vPut("{c}/o", "v1"), vPut("{c}/o", "v22"), vGet("{c}/o"),
			vDel("{c}/o"), vGet("{c}/o"),
			vPutC("{c2}", map[string]string{"X-History-Location": "{c1}"}),
			vDel("{c2}/o"), vPut("{c2}/o", "v1"), vPut("{c2}/o", "v2"), vDel("{c2}/o"), vGet("{c2}/o"),
		},
	},
	{
		Name: "container header rules",
		Steps: []diffStep{
			{Method: "PUT", Path: "{c}", Header: map[string]string{"X-Versions-Location": "a", "X-History-Location": "b"}},
			{Method: "PUT", Path: "{c}", Header: map[string]string{"X-Versions-Location": "a/b"}},
			{Method: "PUT", Path: "{c}", Header: map[string]string{"X-History-Location": "a/b"}},
			{Method: "PUT", Path: "{c}", Header: map[string]string{"X-Versions-Location": "{c1}", "X-History-Location": ""}},
			vHeadC("{c}"),
			{Method: "POST", Path: "{c}", Header: map[string]string{"X-Versions-Location": "", "X-History-Location": "{c2}"}},
			vHeadC("{c}"),
			{Method: "POST", Path: "{c}", Header: map[string]string{"X-Remove-History-Location": "x"}},
			vHeadC("{c}"),
			{Method: "POST", Path: "{c}", Header: map[string]string{"X-Versions-Location": "{c1}"}},
			{Method: "POST", Path: "{c}", Header: map[string]string{"X-Versions-Location": ""}},
			vHeadC("{c}"),
			{Method: "POST", Path: "{c}", Header: map[string]string{"X-Versions-Location": "{c1}"}},
			{Method: "POST", Path: "{c}", Header: map[string]string{"X-Remove-Versions-Location": ""}},
			vHeadC("{c}"),
			{Method: "GET", Path: "{c}", Header: map[string]string{"X-Versions-Location": "a", "X-History-Location": "b"}},
			{Method: "POST", Path: "{c}", Header: map[string]string{"X-Versions-Location": "{c1}", "X-Remove-Versions-Location": "x"}},
			vHeadC("{c}"),
			{Method: "GET", Path: "?prefix={c}&format=json", BodyMode: bodyJSON},
		},
	},
	{
		Name: "versioning removed stops archiving",
		Steps: []diffStep{
			vPutC("{c1}", nil), vPutC("{c}", stackOn),
			vPut("{c}/o", "v1"), vPut("{c}/o", "v22"),
			{Method: "POST", Path: "{c}", Header: map[string]string{"X-Remove-Versions-Location": "1"}},
			vPut("{c}/o", "v333"), vList("{c1}"), vDel("{c}/o"), vGet("{c}/o"),
		},
	},
	{
		Name: "metadata and content type travel with versions",
		Steps: []diffStep{
			vPutC("{c1}", nil), vPutC("{c}", stackOn),
			{Method: "PUT", Path: "{c}/o.txt", Body: "first", Header: map[string]string{"X-Object-Meta-A": "one", "Content-Type": "text/x-first", "Content-Disposition": "inline"}},
			{Method: "POST", Path: "{c}/o.txt", Header: map[string]string{"X-Object-Meta-A": "posted"}},
			vList("{c1}"),
			{Method: "PUT", Path: "{c}/o.txt", Body: "second", Header: map[string]string{"X-Object-Meta-B": "two"}},
			vList("{c1}"),
			{Method: "HEAD", Path: "{c}/o.txt", Compare: []string{"Etag", "X-Object-Meta-A", "X-Object-Meta-B", "Content-Disposition"}},
			vDel("{c}/o.txt"),
			{Method: "HEAD", Path: "{c}/o.txt", Compare: []string{"Etag", "X-Object-Meta-A", "X-Object-Meta-B", "Content-Disposition"}},
		},
	},
	{
		Name: "names are prefixed with their byte length",
		Steps: []diffStep{
			vPutC("{c1}", nil), vPutC("{c}", stackOn),
			vPut("{c}/d%C3%A9j%C3%A0/vu", "1"), vPut("{c}/d%C3%A9j%C3%A0/vu", "2"),
			vPut("{c}/"+fmt.Sprintf("%0300d", 7), "1"), vPut("{c}/"+fmt.Sprintf("%0300d", 7), "2"),
			vList("{c1}"),
			{Method: "GET", Path: "{c1}?prefix=00a&format=json", BodyMode: bodyJSON},
			vDel("{c}/d%C3%A9j%C3%A0/vu"), vGet("{c}/d%C3%A9j%C3%A0/vu"),
		},
	},
	{
		Name: "copy and copy-from archive the destination",
		Steps: []diffStep{
			vPutC("{c1}", nil), vPutC("{c}", stackOn), vPutC("{c2}", nil),
			vPut("{c2}/src", "source"), vPut("{c}/o", "v1"),
			{Method: "COPY", Path: "{c2}/src", Header: map[string]string{"Destination": "{c}/o"}},
			vList("{c1}"), vGet("{c}/o"),
			{Method: "PUT", Path: "{c}/o", Header: map[string]string{"X-Copy-From": "{c2}/src", "X-Object-Meta-A": "copied"}},
			vList("{c1}"),
			vDel("{c}/o"), vGet("{c}/o"), vDel("{c}/o"), vGet("{c}/o"),
		},
	},
	{
		Name: "post does not version",
		Steps: []diffStep{
			vPutC("{c1}", nil), vPutC("{c}", stackOn), vPut("{c}/o", "v1"),
			{Method: "POST", Path: "{c}/o", Header: map[string]string{"X-Object-Meta-A": "x"}},
			vList("{c1}"), vDel("{c}/o"), vGet("{c}/o"),
		},
	},
	{
		Name: "dlo manifest versions are manifests",
		Steps: []diffStep{
			vPutC("{c1}", nil), vPutC("{c}", stackOn), vPutC("{c2}", nil),
			vPut("{c2}/seg/1", "aaa"), vPut("{c2}/seg/2", "bbb"),
			{Method: "PUT", Path: "{c}/m", Header: map[string]string{"X-Object-Manifest": "{c2}/seg/"}},
			vPut("{c}/m", "plain"), vList("{c1}"),
			vDel("{c}/m"),
			{Method: "GET", Path: "{c}/m", Compare: []string{"Etag", "X-Object-Manifest"}},
		},
	},
	{
		Name: "acl users version through the container",
		Steps: []diffStep{
			vPutC("{c1}", nil),
			vPutC("{c}", map[string]string{"X-Versions-Location": "{c1}", "X-Container-Write": "test:tester3", "X-Container-Read": "test:tester3"}),
			{As: "tester3", Method: "PUT", Path: "{c}/o", Body: "v1"},
			{As: "tester3", Method: "PUT", Path: "{c}/o", Body: "v22"},
			vList("{c1}"),
			{As: "tester3", Method: "DELETE", Path: "{c}/o"},
			{As: "tester3", Method: "GET", Path: "{c}/o"},
			vList("{c1}"),
			{As: "tester2", Method: "DELETE", Path: "/v1/AUTH_test/{c}/o"},
			{As: "anon", Method: "DELETE", Path: "{c}/o"},
			vGet("{c}/o"),
		},
	},
	{
		Name:  "info advertises versioned_writes",
		Steps: []diffStep{{Method: "GET", Path: "/info", BodyMode: bodyIgnore, Check: sameInfoKey("versioned_writes")}},
	},
}

// sameInfoKey compares one top-level key of two /info answers.
func sameInfoKey(key string) func(s, n *diffResp) error {
	return func(s, n *diffResp) error {
		var sm, nm map[string]any
		if err := json.Unmarshal(s.Raw, &sm); err != nil {
			return fmt.Errorf("swift /info: %v", err)
		}
		if err := json.Unmarshal(n.Raw, &nm); err != nil {
			return fmt.Errorf("nitro /info: %v", err)
		}
		if !reflect.DeepEqual(sm[key], nm[key]) {
			return fmt.Errorf("/info %s: swift %v, nitro %v", key, sm[key], nm[key])
		}
		return nil
	}
}
