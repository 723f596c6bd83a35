package glanceshim

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/nitro-cloud/nitro/internal/version"
)

// SwiftVersion is the Swift release whose API the front end follows, as
// /info reports it.
const SwiftVersion = "2.30.1"

// handleInfo serves GET /info without auth (Swift's proxy /info,
// swift/proxy/server.py and the register_swift_info calls of each
// middleware). It advertises exactly what this package implements: the
// core API, tempauth without account ACLs, versioned_writes, tempurl,
// account_quotas and container_quotas, bulk_delete and bulk_upload
// (bulk.go), slo (when the Backend is a Composer, slo.go); no symlinks.
// DLO is always on and has no key, as in Swift. The "nitro" key
// is Nitro's own (version.Info: module version and VCS revision of the
// build); the "swift" key's version stays SwiftVersion, the release whose
// API Swift clients may compare against.
func (q *request) handleInfo() error {
	if q.r.Method != http.MethodGet && q.r.Method != http.MethodHead {
		q.w.Header().Set("Allow", "HEAD, GET, OPTIONS")
		return httpErr(http.StatusMethodNotAllowed, "")
	}
	// Swift's admin /info (swiftinfo_sig, swiftinfo_expires) needs an
	// admin_key; without one, as here, it is 403.
	if v := q.r.URL.Query(); v.Get("swiftinfo_sig") != "" || v.Get("swiftinfo_expires") != "" {
		return httpErr(http.StatusForbidden, "")
	}
	info := map[string]any{
		"swift": map[string]any{
			"version":                   SwiftVersion,
			"max_file_size":             q.s.cfg.MaxFileSize,
			"max_object_name_length":    MaxObjectNameLength,
			"max_container_name_length": MaxContainerNameLength,
			"max_account_name_length":   MaxAccountNameLength,
			"max_meta_name_length":      MaxMetaNameLength,
			"max_meta_value_length":     MaxMetaValueLength,
			"max_meta_count":            MaxMetaCount,
			"max_meta_overall_size":     MaxMetaOverallSize,
			"container_listing_limit":   ContainerListingMax,
			"account_listing_limit":     ContainerListingMax,
			"max_header_size":           maxHeaderSize,
			"extra_header_count":        0,
			"policies":                  []map[string]any{{"name": q.s.cfg.StoragePolicy, "default": true}},
			"strict_cors_mode":          true,
			"allow_account_management":  false,
			"account_autocreate":        true,
			// (Swift's proxy hides swift.valid_api_versions: its
			// disallowed_sections default.)
		},
		"tempauth": map[string]any{"account_acls": false},
		"nitro":    version.Get(),
	}
	info["tempurl"] = q.s.tu.info()
	info["account_quotas"] = map[string]any{}
	info["container_quotas"] = map[string]any{}
	if slo := q.s.sloInfo(); slo != nil {
		info["slo"] = slo
	}
	// versions.go: legacy versioned_writes, as with allow_versioned_writes.
	info["versioned_writes"] = map[string]any{"allowed_flags": []string{"x-versions-location", "x-history-location"}}
	addBulkInfo(info) // bulk.go
	body, _ := json.Marshal(info)
	h := q.w.Header()
	h.Set("Content-Type", "application/json; charset=UTF-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	q.w.WriteHeader(http.StatusOK)
	if q.r.Method == http.MethodGet {
		_, _ = q.w.Write(body)
	}
	return nil
}
