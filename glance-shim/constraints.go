package glanceshim

import (
	"net/http"
	"strings"
)

// Swift's metadata constraints (swift/common/constraints.py check_metadata),
// per request, in bytes.
const (
	MaxMetaNameLength   = 128
	MaxMetaValueLength  = 256
	MaxMetaCount        = 90
	MaxMetaOverallSize  = 4096
	ContainerListingMax = 10000 // container_listing_limit and account_listing_limit
)

// storedObjectHeaders are the headers Swift keeps with an object besides
// X-Object-Meta-* (the object server's allowed_headers), canonical keys.
var storedObjectHeaders = []string{
	"Content-Encoding", "Content-Disposition", "Cache-Control",
	"Content-Language", "Expires", "X-Robots-Tag",
}

// readMeta collects the user metadata of h under prefix ("X-Object-Meta-",
// "X-Container-Meta-", "X-Account-Meta-"): keys lower case without the
// prefix. With removePrefix ("X-Remove-Container-Meta-"), removed keys map
// to "" (a POST's deletion). It enforces Swift's limits (400).
func readMeta(h http.Header, prefix, removePrefix string) (map[string]string, error) {
	meta := map[string]string{}
	count, size := 0, 0
	for k, vs := range h {
		lk := strings.ToLower(k)
		var name, value string
		switch {
		case strings.HasPrefix(lk, strings.ToLower(prefix)):
			name, value = lk[len(prefix):], strings.TrimSpace(vs[0])
		case removePrefix != "" && strings.HasPrefix(lk, strings.ToLower(removePrefix)):
			name = lk[len(removePrefix):]
			if name == "" {
				continue
			}
			if _, set := meta[name]; !set {
				meta[name] = ""
			}
			continue
		default:
			continue
		}
		if name == "" {
			return nil, badRequest("Metadata name cannot be empty")
		}
		if len(name) > MaxMetaNameLength {
			return nil, badRequest("Metadata name too long: %s%s", prefix, truncate(name, 64))
		}
		if len(value) > MaxMetaValueLength {
			return nil, badRequest("Metadata value longer than %d: %s%s", MaxMetaValueLength, prefix, truncate(name, 64))
		}
		count++ // check_metadata counts empty values too
		size += len(name) + len(value)
		meta[name] = value
	}
	if count > MaxMetaCount {
		return nil, badRequest("Too many metadata items; max %d", MaxMetaCount)
	}
	if size > MaxMetaOverallSize {
		return nil, badRequest("Total metadata too large; max %d", MaxMetaOverallSize)
	}
	return meta, nil
}

// writeMeta sets prefix+key for every non-empty metadata value.
func writeMeta(h http.Header, prefix string, meta map[string]string) {
	for k, v := range meta {
		if v != "" {
			h.Set(prefix+k, v)
		}
	}
}

// truthy is Swift's config_true_value.
func truthy(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "1", "yes", "on", "t", "y":
		return true
	}
	return false
}
