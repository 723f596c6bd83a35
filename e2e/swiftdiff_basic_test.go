package e2e

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"testing"
)

// TestSwiftDiffBasic holds the examples of the differential harness
// (swiftdiff_harness_test.go): one case that agrees, one with a header
// normaliser and a JSON body, one with a deliberate difference.
func TestSwiftDiffBasic(t *testing.T) { runDiff(t, basicCases) }

var basicCases = []diffCase{
	{
		Name: "object put head get delete",
		Steps: []diffStep{
			{Method: "PUT", Path: "{c}", Setup: true},
			{Method: "PUT", Path: "{c}/o", Body: "hello", Header: map[string]string{"X-Object-Meta-Color": "blue"},
				Compare: []string{"Etag", "Last-Modified"}},
			{Method: "HEAD", Path: "{c}/o", Compare: []string{"Etag", "X-Timestamp", "Last-Modified", "X-Object-Meta-Color", "Accept-Ranges"}},
			{Method: "GET", Path: "{c}/o", Compare: []string{"Etag", "X-Object-Meta-Color"}},
			{Method: "DELETE", Path: "{c}/o"},
			{Method: "GET", Path: "{c}/o"},
		},
	},
	{
		Name: "container listing json",
		Steps: []diffStep{
			{Method: "PUT", Path: "{c}", Setup: true},
			{Method: "PUT", Path: "{c}/a", Body: "1", Setup: true},
			{Method: "PUT", Path: "{c}/b/c", Body: "22", Header: map[string]string{"Content-Type": "text/plain"}, Setup: true},
			{Method: "GET", Path: "{c}?format=json", BodyMode: bodyJSON,
				Compare: []string{"X-Container-Object-Count", "X-Container-Bytes-Used", "X-Timestamp"},
				Norm:    map[string]func(string) string{"X-Timestamp": normPresent}},
			{Method: "GET", Path: "{c}?delimiter=/&format=json", BodyMode: bodyJSON},
		},
	},
	{
		Name:    "info lists nitro",
		Differs: "/info has Nitro's own \"nitro\" key (version, VCS revision) besides Swift's",
		Steps: []diffStep{
			{Method: "GET", Path: "/info", BodyMode: bodyIgnore, Nitro: &diffWant{Status: 200,
				Check: func(n *diffResp) error { return jsonHasKeys(n.Raw, "swift", "nitro") }},
				Check: func(s, n *diffResp) error { return sameJSONKeys(s.Raw, n.Raw) }},
		},
	},
	{
		// Issue 11: /info advertises each feature with Swift's keys and
		// limits. Storage policies are compared without their aliases
		// (scripts/lib/swift.sh's swift.conf names some).
		Name: "info advertises the swift api features",
		Steps: []diffStep{
			{Method: "GET", Path: "/info", BodyMode: bodyIgnore, Check: func(s, n *diffResp) error {
				for _, k := range []string{"tempurl", "bulk_delete", "bulk_upload", "account_quotas", "container_quotas", "slo", "versioned_writes"} {
					if err := sameInfoKey(k)(s, n); err != nil {
						return err
					}
				}
				return sameInfoSwift(s, n)
			}},
		},
	},
}

// sameInfoSwift compares the "swift" key of two /info answers, storage
// policies without their "aliases".
func sameInfoSwift(s, n *diffResp) error {
	var sm, nm map[string]map[string]any
	if err := json.Unmarshal(s.Raw, &sm); err != nil {
		return fmt.Errorf("swift /info: %v", err)
	}
	if err := json.Unmarshal(n.Raw, &nm); err != nil {
		return fmt.Errorf("nitro /info: %v", err)
	}
	for _, m := range []map[string]any{sm["swift"], nm["swift"]} {
		ps, _ := m["policies"].([]any)
		for _, p := range ps {
			if pm, ok := p.(map[string]any); ok {
				delete(pm, "aliases")
			}
		}
	}
	if !reflect.DeepEqual(sm["swift"], nm["swift"]) {
		return fmt.Errorf("/info swift: swift %s, nitro %s", canonJSON(sm["swift"]), canonJSON(nm["swift"]))
	}
	return nil
}

// jsonKeys returns the sorted top-level keys of the JSON object b.
func jsonKeys(b []byte) ([]string, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys, nil
}

// jsonHasKeys checks that the JSON object b has every key of keys.
func jsonHasKeys(b []byte, keys ...string) error {
	have, err := jsonKeys(b)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if !slices.Contains(have, k) {
			return fmt.Errorf("no key %q in %v", k, have)
		}
	}
	return nil
}

// sameJSONKeys checks that two JSON objects have the same top-level keys.
func sameJSONKeys(a, b []byte) error {
	ka, err := jsonKeys(a)
	if err != nil {
		return err
	}
	kb, err := jsonKeys(b)
	if err != nil {
		return err
	}
	if !slices.Equal(ka, kb) {
		return fmt.Errorf("top-level keys: swift %v, nitro %v", ka, kb)
	}
	return nil
}
