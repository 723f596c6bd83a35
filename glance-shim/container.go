package glanceshim

import (
	"context"
	"maps"
	"net/http"
	"strings"
)

// handleContainer serves /v1/{account}/{container} (Swift's
// proxy/controllers/container.py): PUT 201/202, HEAD 204, GET listing
// 200 (204 if empty and plain), POST 204, DELETE 204 / 409 / 404. Owners
// may do everything; others may HEAD and GET when X-Container-Read names
// them.
func (q *request) handleContainer() error {
	ctx := q.r.Context()
	a, c := q.p.Account, q.p.Container
	// versioned_writes sits before the proxy's authorization: its 400 and
	// 412 come first, whatever the method and the identity.
	vmeta, err := versioningHeaders(q.r.Header)
	if err != nil {
		return err
	}
	switch q.r.Method {
	case http.MethodHead, http.MethodGet:
		lr, err := q.getListing()
		if err != nil {
			return err
		}
		info, err := q.s.backend.Container(ctx, a, c)
		if err != nil {
			if !q.isOwner() && errorsIsNotFound(err) {
				return q.denied()
			}
			return err
		}
		if !q.isOwner() {
			if err := q.authorizeContainer(info.Meta, false, true); err != nil {
				return err
			}
		}
		q.containerHeaders(info)
		if q.r.Method == http.MethodHead {
			q.writeListingHead()
			return nil
		}
		var objs []ObjectInfo
		if !lr.empty {
			if objs, err = q.listObjects(ctx, a, c, lr); err != nil { // listpath.go
				return err
			}
		}
		body, ok := renderObjects(lr.format, c, objs)
		q.writeListing(lr.format, body, ok)
		return nil
	}
	if !q.isOwner() {
		return q.denied()
	}
	switch q.r.Method {
	case http.MethodPut:
		meta, err := q.containerWriteMeta(ctx, false, vmeta)
		if err != nil {
			return err
		}
		created, err := q.s.backend.PutContainer(ctx, a, c, meta)
		if err != nil {
			return err
		}
		if created {
			q.writeEmpty(http.StatusCreated)
		} else {
			q.writeEmpty(http.StatusAccepted)
		}
		return nil
	case http.MethodPost:
		meta, err := q.containerWriteMeta(ctx, true, vmeta)
		if err != nil {
			return err
		}
		if err := q.s.backend.PostContainer(ctx, a, c, meta); err != nil {
			return err
		}
		q.writeEmpty(http.StatusNoContent)
		return nil
	case http.MethodDelete:
		if err := q.s.backend.DeleteContainer(ctx, a, c); err != nil {
			return err
		}
		q.writeEmpty(http.StatusNoContent)
		return nil
	}
	q.w.Header().Set("Allow", corsMethods) // Swift's allowed_methods (cors.go)
	return httpErr(http.StatusMethodNotAllowed, "")
}

// containerWriteMeta checks a container PUT or POST (post) in Swift's
// order, X-Storage-Policy (no header passes), the quota headers, then
// the metadata with the versioning headers vmeta merged in, and returns
// that metadata for the Backend (containerMeta's).
func (q *request) containerWriteMeta(ctx context.Context, post bool, vmeta map[string]string) (map[string]string, error) {
	if err := q.checkPolicy(); err != nil {
		return nil, err
	}
	if err := q.checkContainerQuotaHeaders(); err != nil {
		return nil, err
	}
	meta, err := q.containerMeta(post)
	if err != nil {
		return nil, err
	}
	maps.Copy(meta, vmeta)
	if err := q.checkContainerOverallMeta(ctx, meta); err != nil {
		return nil, err
	}
	return meta, nil
}

// checkPolicy accepts X-Storage-Policy naming the one policy (Swift: 400
// "Invalid X-Storage-Policy" for an unknown name).
func (q *request) checkPolicy() error {
	p := strings.TrimSpace(q.r.Header.Get("X-Storage-Policy"))
	if p == "" || strings.EqualFold(p, "Policy-0") || strings.EqualFold(p, q.s.cfg.StoragePolicy) {
		return nil
	}
	return badRequest("Invalid X-Storage-Policy '%s'", truncate(p, 64))
}

// containerMeta reads X-Container-Meta-* and the ACL headers into the
// Backend's container metadata; for a POST (remove), X-Remove-* and
// empty values become "" (delete the key).
func (q *request) containerMeta(post bool) (map[string]string, error) {
	rm := ""
	if post {
		rm = "X-Remove-Container-Meta-"
	}
	meta, err := readMeta(q.r.Header, "X-Container-Meta-", rm)
	if err != nil {
		return nil, err
	}
	for _, acl := range []string{"X-Container-Read", "X-Container-Write"} {
		key := strings.ToLower(acl)
		if vs, ok := q.r.Header[acl]; ok {
			clean, err := cleanACL(acl, vs[0])
			if err != nil { // Swift's proxy: 400 with clean_acl's message
				return nil, badRequestHTML("%s", err.Error())
			}
			meta[key] = clean
		}
		if post {
			if _, ok := q.r.Header["X-Remove-"+acl[2:]]; ok {
				meta[key] = ""
			}
		}
	}
	if !post {
		for k, v := range meta {
			if v == "" {
				delete(meta, k)
			}
		}
	}
	return meta, nil
}

func (q *request) containerHeaders(info ContainerInfo) {
	h := q.w.Header()
	h.Set("X-Container-Object-Count", itoa(info.Objects))
	h.Set("X-Container-Bytes-Used", itoa(info.Bytes))
	h.Set("X-Storage-Policy", q.s.cfg.StoragePolicy)
	if !info.Created.IsZero() {
		h.Set("X-Timestamp", xTimestamp(info.Created))
	}
	if !info.Modified.IsZero() {
		h.Set("Last-Modified", httpDate(info.Modified))
	}
	versioningResponseHeader(h, info.Meta)
	for k, v := range info.Meta {
		switch {
		case v == "" || isSysmeta(k):
		case k == "x-container-read" || k == "x-container-write":
			if q.isOwner() {
				h.Set(k, v)
			}
		default:
			h.Set("X-Container-Meta-"+k, v)
		}
	}
	q.hideOwnerMeta(h, "X-Container-Meta-")
	h.Set("Accept-Ranges", "bytes")
}
