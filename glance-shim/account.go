package glanceshim

import (
	"context"
	"net/http"
)

// AccountMetaSetter is an optional Backend capability: a Backend that
// implements it stores X-Account-Meta-* from account POSTs (keys lower
// case without the prefix; an empty value removes the key). Without it,
// account POST validates the metadata and answers 204 without storing it.
type AccountMetaSetter interface {
	PostAccount(ctx context.Context, account string, meta map[string]string) error
}

// handleAccount serves /v1/{account} (Swift's proxy/controllers/
// account.py): HEAD 204, GET listing 200 (204 if empty and plain), POST
// 204; PUT and DELETE are 405 (allow_account_management = false). Only
// the account's admins and reseller admins get in.
func (q *request) handleAccount() error {
	if !q.isOwner() {
		return q.denied()
	}
	ctx := q.r.Context()
	switch q.r.Method {
	case http.MethodHead, http.MethodGet:
		lr, err := q.getListing()
		if err != nil {
			return htmlError(err) // the account server's 400s are text/html
		}
		info, err := q.s.backend.Account(ctx, q.p.Account)
		if err != nil {
			return err
		}
		q.accountHeaders(info)
		if q.r.Method == http.MethodHead {
			q.writeListingHead()
			return nil
		}
		var cs []ContainerInfo
		if !lr.empty {
			if cs, err = q.s.backend.ListContainers(ctx, q.p.Account, lr.opts); err != nil {
				return err
			}
		}
		body, ok := renderContainers(lr.format, q.p.Account, cs)
		q.writeListing(lr.format, body, ok)
		return nil
	case http.MethodPost:
		meta, err := readMeta(q.r.Header, "X-Account-Meta-", "X-Remove-Account-Meta-")
		if err != nil {
			return err
		}
		if err := q.postAccountMeta(ctx, meta); err != nil {
			return err
		}
		q.writeEmpty(http.StatusNoContent)
		return nil
	}
	q.w.Header().Set("Allow", accountMethods) // Swift's allowed_methods (cors.go)
	return httpErr(http.StatusMethodNotAllowed, "")
}

func (q *request) accountHeaders(info AccountInfo) {
	h := q.w.Header()
	h.Set("X-Account-Container-Count", itoa(info.Containers))
	h.Set("X-Account-Object-Count", itoa(info.Objects))
	h.Set("X-Account-Bytes-Used", itoa(info.Bytes))
	pol := "X-Account-Storage-Policy-" + q.s.cfg.StoragePolicy + "-"
	h.Set(pol+"Container-Count", itoa(info.Containers))
	h.Set(pol+"Object-Count", itoa(info.Objects))
	h.Set(pol+"Bytes-Used", itoa(info.Bytes))
	if !info.Created.IsZero() {
		h.Set("X-Timestamp", xTimestamp(info.Created))
	}
	writeMeta(h, "X-Account-Meta-", info.Meta)
	h.Set("Accept-Ranges", "bytes")
}
