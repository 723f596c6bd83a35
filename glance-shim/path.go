package glanceshim

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Swift's name constraints (swift/common/constraints.py), in bytes of the
// URL-decoded name.
const (
	MaxAccountNameLength   = 256
	MaxContainerNameLength = 256
	MaxObjectNameLength    = 1024
)

// pathKind is what a request path addresses.
type pathKind int

const (
	kindUnknown   pathKind = iota
	kindAuth               // /auth/v1.0, /auth/v1 (with or without a trailing '/')
	kindInfo               // /info
	kindHealth             // /healthcheck
	kindAccount            // /v1/{account}
	kindContainer          // /v1/{account}/{container}
	kindObject             // /v1/{account}/{container}/{object...}
)

// swiftPath is a parsed request path. Account, Container and Object are
// URL-decoded once; they are valid UTF-8 without NUL and within Swift's
// length limits.
type swiftPath struct {
	Kind      pathKind
	Version   string // "v1" or "v1.0"
	Account   string
	Container string
	Object    string
}

// parsePath dispatches on the depth of the escaped path like Swift's
// proxy (swift/proxy/server.py get_controller with split_path(path, 1, 4,
// True)): "/v1/a/c/o" splits on its first three '/' after the version, so
// the object name keeps every later '/', "//", "..", "/v1/" and trailing
// '/'; the pieces are then unescaped once, so "%2F" in an object name is
// a '/', and in a container name an error. No cleaning is ever done.
//
// A trailing '/' after the account or container addresses that account
// or container, as in Swift. Errors are 400 (*statusError) or 404 for a
// path outside the API.
func parsePath(escaped string) (swiftPath, error) {
	switch escaped {
	case "/auth/v1.0", "/auth/v1.0/", "/auth/v1", "/auth/v1/":
		return swiftPath{Kind: kindAuth}, nil
	case "/info":
		return swiftPath{Kind: kindInfo}, nil
	case "/healthcheck":
		return swiftPath{Kind: kindHealth}, nil
	}
	if !strings.HasPrefix(escaped, "/") {
		return swiftPath{}, httpErr(404, "")
	}
	segs := strings.SplitN(escaped[1:], "/", 4)
	p := swiftPath{Version: segs[0]}
	if p.Version == "" {
		return swiftPath{}, httpErr(404, "") // "/" or "//x": split_path fails
	}
	if len(segs) < 2 || segs[1] == "" {
		// Swift's proxy: no account, no controller (412 "Bad URL").
		return swiftPath{}, httpErr(http.StatusPreconditionFailed, "Bad URL")
	}
	if p.Version != "v1" && p.Version != "v1.0" {
		return swiftPath{}, httpErr(http.StatusBadRequest, "") // APIVersionError
	}
	var err error
	if p.Account, err = unescapeName(segs[1], "Account", MaxAccountNameLength); err != nil {
		return swiftPath{}, err
	}
	p.Kind = kindAccount
	if len(segs) < 3 {
		return p, nil
	}
	if segs[2] == "" {
		if len(segs) == 4 {
			// "/v1/a//o": an object without a container.
			return swiftPath{}, badRequest("Invalid path: %s", escaped)
		}
		return p, nil // "/v1/a/": the account
	}
	if p.Container, err = unescapeName(segs[2], "Container", MaxContainerNameLength); err != nil {
		return swiftPath{}, err
	}
	if strings.Contains(p.Container, "/") {
		return swiftPath{}, badRequest("Container name cannot contain slashes")
	}
	p.Kind = kindContainer
	if len(segs) < 4 || segs[3] == "" {
		return p, nil // "/v1/a/c" or "/v1/a/c/"
	}
	if p.Object, err = unescapeName(segs[3], "Object", MaxObjectNameLength); err != nil {
		return swiftPath{}, err
	}
	p.Kind = kindObject
	return p, nil
}

// unescapeName URL-decodes one path piece and checks it against Swift's
// constraints for what (Account, Container, Object): valid UTF-8, no NUL,
// at most max bytes.
func unescapeName(escaped, what string, max int) (string, error) {
	s, err := url.PathUnescape(escaped)
	if err != nil {
		return "", badRequest("Invalid path encoding")
	}
	if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
		// Swift's proxy checks the whole path first: 412.
		return "", httpErr(http.StatusPreconditionFailed, "Invalid UTF8 or contains NULL")
	}
	if len(s) > max {
		ct := "" // the proxy's own 400 (containers): text/html
		if what == "Object" {
			ct = "text/plain" // constraints.check_object_creation's
		}
		return "", &nameLenError{statusError{status: http.StatusBadRequest,
			body: fmt.Sprintf("%s name length of %d longer than %d", what, len(s), max), contentType: ct}, what}
	}
	return s, nil
}

// nameLenError is a container or object name over Swift's limit: 400 for
// the PUT that would create it, 404 for any other request (Swift checks
// the length only on creation; the name then simply does not exist).
type nameLenError struct {
	statusError
	what string // "Account", "Container", "Object"
}

// Unwrap exposes the 400 to statusOf.
func (e *nameLenError) Unwrap() error { return &e.statusError }

// pathError adjusts a parsePath error to the request's method: an
// over-long container or object name is 404 except on PUT.
func pathError(err error, method string) error {
	var ne *nameLenError
	if errors.As(err, &ne) && ne.what != "Account" && method != http.MethodPut {
		return fmt.Errorf("%s: %w", ne.body, ErrNotFound)
	}
	return err
}

// checkName applies Swift's check_utf8 and length constraints.
func checkName(s, what string, max int) error {
	if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
		return badRequest("Invalid UTF8 or contains NULL")
	}
	if len(s) > max {
		if what != "Object" { // the proxy's own check, not constraints.py's
			return badRequestHTML("%s name length of %d longer than %d", what, len(s), max)
		}
		return badRequest("%s name length of %d longer than %d", what, len(s), max)
	}
	return nil
}

// escapePath percent-encodes s for a URL path or a header echoing one,
// keeping '/' (Python's urllib.parse.quote(s, safe='/'), as swiftclient
// and rclone encode X-Object-Manifest).
func escapePath(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '_' || c == '.' || c == '~' || c == '/' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
