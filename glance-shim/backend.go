package glanceshim

import (
	"context"
	"errors"
	"io"
	"time"
)

// Backend is what the Swift front end needs from the object service below
// it: accounts, containers and plain objects. Swift's middleware semantics
// (auth, DLO concatenation, Range, conditional requests, listings' formats,
// constraints) live in this package; the Backend stores and names data.
//
// Errors: implementations return errors wrapping the sentinels below
// (ErrNotFound, ErrContainerNotEmpty, ErrETagMismatch, ErrConflict,
// ErrUnavailable); anything else is a 500. Names arrive already validated
// against Swift's constraints (UTF-8, lengths, no '/' in containers).
type Backend interface {
	// Account returns the account's totals; an account that was never used
	// exists with zero totals (Swift's account_autocreate).
	Account(ctx context.Context, account string) (AccountInfo, error)
	// ListContainers lists the account's containers in byte order.
	ListContainers(ctx context.Context, account string, opts ListOptions) ([]ContainerInfo, error)
	// PutContainer creates the container, or updates its metadata if it
	// exists; created says which (Swift answers 201 or 202).
	PutContainer(ctx context.Context, account, container string, meta map[string]string) (created bool, err error)
	// PostContainer sets (non-empty value) or removes (empty value) the
	// given container metadata keys; ErrNotFound if absent.
	PostContainer(ctx context.Context, account, container string, meta map[string]string) error
	// Container returns the container's info; ErrNotFound if absent.
	Container(ctx context.Context, account, container string) (ContainerInfo, error)
	// DeleteContainer deletes an empty container; ErrContainerNotEmpty if
	// it holds objects, ErrNotFound if absent.
	DeleteContainer(ctx context.Context, account, container string) error

	// ListObjects lists the container's objects in byte order of name;
	// ErrNotFound if the container is absent. With a Delimiter, names that
	// share a prefix up to the delimiter come back once with Subdir set.
	ListObjects(ctx context.Context, account, container string, opts ListOptions) ([]ObjectInfo, error)
	// PutObject stores the body under the name and returns the new
	// object's info. The body is read to EOF; if reading fails (a client
	// that disconnects) or opts.ETag is set and differs from the body's
	// MD5 (ErrETagMismatch), nothing becomes visible. ErrNotFound if the
	// container is absent.
	PutObject(ctx context.Context, account, container, object string, body io.Reader, opts PutOptions) (ObjectInfo, error)
	// PostObject replaces the object's user metadata, stored headers and
	// X-Object-Manifest (empty: the object is no longer a DLO manifest),
	// and its content type if non-empty (Swift's fast-post); ErrNotFound
	// if absent.
	PostObject(ctx context.Context, account, container, object string, opts PutOptions) error
	// Object returns the object's info without its body; ErrNotFound if
	// absent.
	Object(ctx context.Context, account, container, object string) (ObjectInfo, error)
	// OpenObject returns the object's bytes [off, off+length) (length < 0:
	// to the end) as stored, i.e. a DLO manifest's own (empty) body. Every
	// byte is verified against its chunk's hash before it is returned; a
	// failed verification surfaces as a read error.
	OpenObject(ctx context.Context, account, container, object string, off, length int64) (io.ReadCloser, ObjectInfo, error)
	// DeleteObject deletes the object; ErrNotFound if absent.
	DeleteObject(ctx context.Context, account, container, object string) error
}

// Sentinel errors a Backend wraps; the error-to-status table maps them.
var (
	ErrNotFound          = errors.New("not found")                          // 404
	ErrContainerNotEmpty = errors.New("container not empty")                // 409
	ErrConflict          = errors.New("conflict")                           // 409
	ErrETagMismatch      = errors.New("etag does not match the body's md5") // 422
	ErrUnavailable       = errors.New("service unavailable")                // 503
	// ErrInsufficientStorage: the store refuses new data because its disk
	// is (nearly) full; nothing of the request was committed (507, as
	// Swift's object server answers when a write would cross its
	// fallocate_reserve).
	ErrInsufficientStorage = errors.New("insufficient storage") // 507
)

// AccountInfo is an account's totals and metadata.
type AccountInfo struct {
	Containers, Objects int64
	Bytes               int64 // sum of object sizes, in bytes
	Meta                map[string]string
	Created             time.Time
}

// ContainerInfo is a container's totals and metadata.
type ContainerInfo struct {
	Name string
	// Subdir, in a delimited account listing, is a pseudo-container:
	// the names sharing it up to the delimiter (every other field zero).
	Subdir  string
	Objects int64
	Bytes   int64 // sum of object sizes, in bytes
	// Meta holds X-Container-Meta-* (keys lower case, without the prefix)
	// and the ACL headers under "x-container-read"/"x-container-write".
	Meta     map[string]string
	Created  time.Time // X-Timestamp of the container
	Modified time.Time // last change, for listings' last_modified
}

// ObjectInfo describes an object, or a pseudo-directory in a delimited
// listing (Subdir non-empty, every other field zero).
type ObjectInfo struct {
	Name        string
	Subdir      string
	Size        int64  // plain bytes stored under this name (0 for a DLO manifest)
	ETag        string // lowercase hex MD5 of the stored bytes
	ContentType string
	// Timestamp is the X-Timestamp of the PUT that wrote the object; it is
	// also Last-Modified.
	Timestamp time.Time
	// Meta holds user metadata (X-Object-Meta-*, keys lower case without
	// the prefix).
	Meta map[string]string
	// Headers holds the other headers Swift stores with an object
	// (Content-Encoding, Content-Disposition, Cache-Control,
	// Content-Language, Expires, X-Robots-Tag, X-Delete-At), canonical keys.
	Headers map[string]string
	// Manifest is the X-Object-Manifest value ("<container>/<prefix>") of a
	// DLO manifest, empty otherwise.
	Manifest string
	// SLOManifest is a static large object's manifest as Swift stores it
	// (slo.go's storedSegment list, JSON), nil for any other object. Size
	// and ETag are then the SLO's: its content's total size and the SLO
	// ETag (MD5 of the segments' ETags, not of the content).
	SLOManifest []byte
	// Regions lists the regions that hold every chunk of the object (for
	// multi-region nodes; nil when unknown), sorted; sent as
	// X-Nitro-Regions on GET and HEAD. Advisory: see regionsHeader.
	Regions []string
	// Version is the Backend's own handle of the stored version of the
	// object this info describes, opaque to the front end, for
	// VersionOpener; nil when the Backend has none.
	Version any
}

// ListOptions are Swift's listing query parameters.
type ListOptions struct {
	Prefix, Delimiter string
	Marker, EndMarker string
	Limit             int // 1..10000; the front end fills the default
	Reverse           bool
}

// PutOptions carry what a PUT or POST sets besides the body.
type PutOptions struct {
	ContentType string
	Meta        map[string]string // user metadata, keys lower case without prefix
	Headers     map[string]string // see ObjectInfo.Headers
	Manifest    string            // X-Object-Manifest, decoded
	// ETag, if set, is the client's expected MD5 (lowercase hex).
	ETag string
	// Size is the declared Content-Length, or -1 for a chunked body.
	Size int64
}
