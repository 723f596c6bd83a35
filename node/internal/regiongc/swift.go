package regiongc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/objects"
	"github.com/gophercloud/gophercloud/v2/pagination"
)

// Object metadata Nitro keeps on cluster objects (chunkstore/swiftstore's package doc).
const (
	// HeaderTouched is the touch time a writer sets (POST) on a chunk it
	// relies on without uploading it, in unix seconds.
	HeaderTouched = "X-Object-Meta-Nitro-Touched"
	// HeaderFossilized is the time GC moved the object to its fossil
	// container, in unix seconds by the GC node's clock; a fossil's age
	// is from the latest of it and its Last-Modified (the COPY's time).
	HeaderFossilized = "X-Object-Meta-Nitro-Fossilized"
)

// Version tags. Every object GC writes (a fossil, a resurrected chunk or
// recipe) gets X-Delete-At = a random time in [tagBase, tagBase+tagSpan),
// far in the future, never an expiry in practice: it is a version tag.
// GC deletes only with X-If-Delete-At = the tag it read (0 for objects
// writers wrote, which carry none), so Swift's object server refuses the
// DELETE (412) if the object was rewritten since (by a writer's PUT, by a
// writer's touch POST, which drops X-Delete-At, or by another GC's COPY,
// which carries another tag). Swift 2.30 obj/server.py DELETE.
const (
	tagBase = 4102444800 // 2100-01-01T00:00:00Z
	tagSpan = 1 << 24    // ≈ 194 days of expirer-queue containers
)

// errNotFound is a 404 from the cluster.
var errNotFound = errors.New("regiongc: not found")

// errChanged is the cluster's refusal of a conditional DELETE (409, 412):
// the object changed since GC looked at it.
var errChanged = errors.New("regiongc: object changed")

// info is what a HEAD tells GC about an object.
type info struct {
	// touch = max(Last-Modified, X-Object-Meta-Nitro-Touched,
	// X-Object-Meta-Nitro-Fossilized): the object's last write, POST,
	// touch or move by GC (the latest of the times, so a clock that runs
	// ahead of the cluster's only keeps objects longer).
	touch time.Time
	// modified is Last-Modified alone (for a fossil: when it was made).
	modified time.Time
	// tag is X-Delete-At, 0 if none.
	tag int64
	// size is Content-Length.
	size int64
}

// swift is the handful of Swift API calls GC makes.
type swift struct {
	c *gophercloud.ServiceClient
}

func (s swift) url(container, name string) string {
	return s.c.ServiceURL(url.PathEscape(container), url.PathEscape(name))
}

// wrap maps gophercloud's errors: 404 → errNotFound, 409/412 → errChanged.
func wrap(op, container, name string, err error) error {
	if err == nil {
		return nil
	}
	switch {
	case gophercloud.ResponseCodeIs(err, http.StatusNotFound):
		return fmt.Errorf("%s %s/%s: %w", op, container, name, errNotFound)
	case gophercloud.ResponseCodeIs(err, http.StatusPreconditionFailed), gophercloud.ResponseCodeIs(err, http.StatusConflict):
		return fmt.Errorf("%s %s/%s: %w", op, container, name, errChanged)
	}
	return fmt.Errorf("regiongc: %s %s/%s: %w", op, container, name, err)
}

// head returns the object's info.
func (s swift) head(ctx context.Context, container, name string) (info, error) {
	resp, err := s.c.Head(ctx, s.url(container, name), &gophercloud.RequestOpts{OkCodes: []int{200, 204}})
	if err != nil {
		return info{}, wrap("HEAD", container, name, err)
	}
	return parseInfo(resp.Header), nil
}

func parseInfo(h http.Header) info {
	var in info
	if t, err := http.ParseTime(h.Get("Last-Modified")); err == nil {
		in.modified = t
	}
	in.touch = in.modified
	for _, k := range []string{HeaderTouched, HeaderFossilized} {
		if v, err := strconv.ParseFloat(h.Get(k), 64); err == nil && !math.IsNaN(v) && !math.IsInf(v, 0) {
			if t := time.Unix(int64(math.Ceil(v)), 0); t.After(in.touch) {
				in.touch = t
			}
		}
	}
	in.tag, _ = strconv.ParseInt(h.Get("X-Delete-At"), 10, 64)
	in.size, _ = strconv.ParseInt(h.Get("Content-Length"), 10, 64)
	return in
}

// get returns the object's body.
func (s swift) get(ctx context.Context, container, name string) ([]byte, error) {
	r := objects.Download(ctx, s.c, container, name, nil)
	if r.Err != nil {
		return nil, wrap("GET", container, name, r.Err)
	}
	b, err := r.ExtractContent()
	return b, wrap("GET", container, name, err)
}

// copy makes dst/name a server-side copy of src/name carrying tag as
// X-Delete-At and the extra headers.
func (s swift) copy(ctx context.Context, src, dst, name string, tag int64, extra map[string]string) error {
	h := map[string]string{
		"Destination": "/" + url.PathEscape(dst) + "/" + url.PathEscape(name),
		"X-Delete-At": strconv.FormatInt(tag, 10),
	}
	for k, v := range extra {
		h[k] = v
	}
	resp, err := s.c.Request(ctx, "COPY", s.url(src, name), &gophercloud.RequestOpts{MoreHeaders: h, OkCodes: []int{201}})
	if resp != nil && resp.Body != nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	return wrap("COPY", src, name, err)
}

// deleteIf deletes container/name if its X-Delete-At is still tag (0:
// none); errChanged if it is not, errNotFound if it is gone.
func (s swift) deleteIf(ctx context.Context, container, name string, tag int64) error {
	_, err := s.c.Delete(ctx, s.url(container, name), &gophercloud.RequestOpts{
		MoreHeaders: map[string]string{"X-If-Delete-At": strconv.FormatInt(tag, 10)},
		OkCodes:     []int{204},
	})
	return wrap("DELETE", container, name, err)
}

// listed is one row of a container listing.
type listed struct {
	name     string
	size     int64
	modified time.Time // the row's last_modified
}

// list calls fn with each page of container's listing (10 000 rows a
// page, Swift's maximum); a missing container lists nothing.
func (s swift) list(ctx context.Context, container string, fn func([]listed) error) error {
	pager := objects.List(s.c, container, objects.ListOpts{Limit: 10000})
	err := pager.EachPage(ctx, func(ctx context.Context, p pagination.Page) (bool, error) {
		objs, err := objects.ExtractInfo(p)
		if err != nil {
			return false, err
		}
		rows := make([]listed, 0, len(objs))
		for _, o := range objs {
			rows = append(rows, listed{name: o.Name, size: o.Bytes, modified: o.LastModified})
		}
		return true, fn(rows)
	})
	if gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		return nil
	}
	if err != nil && !strings.HasPrefix(err.Error(), "regiongc") {
		return fmt.Errorf("regiongc: list %s: %w", container, err)
	}
	return err
}
