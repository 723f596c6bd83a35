package glanceshim

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// Quotas, as Swift 2.30's container_quotas and account_quotas
// middlewares (swift/common/middleware/container_quotas.py,
// account_quotas.py):
//   - X-Container-Meta-Quota-Bytes / -Quota-Count on container PUT and
//     POST must be digits (400 "Invalid bytes quota." / "Invalid count
//     quota."); an object PUT that would take the container past either
//     gets 413 "Upload exceeds quota." (the count check adds one object,
//     even for an overwrite, as Swift does).
//   - X-Account-Meta-Quota-Bytes (and X-Remove-Account-Meta-Quota-Bytes)
//     on account POST are for reseller admins only (403 for anyone else;
//     400 unless digits); an object PUT that would take the account's
//     bytes past it gets 413, except for a reseller admin.
//
// Both use the declared Content-Length (0 for a chunked body), as Swift
// does; they are checks before the upload, not a hard bound.

// errQuota is the 413 of both quota middlewares.
func errQuota() error { return httpErr(http.StatusRequestEntityTooLarge, "Upload exceeds quota.") }

// checkContainerQuotaHeaders validates the quota metadata of a container
// PUT or POST.
func (q *request) checkContainerQuotaHeaders() error {
	if v := q.r.Header.Get("X-Container-Meta-Quota-Bytes"); v != "" && !isDigits(v) {
		return badRequestHTML("Invalid bytes quota.")
	}
	if v := q.r.Header.Get("X-Container-Meta-Quota-Count"); v != "" && !isDigits(v) {
		return badRequestHTML("Invalid count quota.")
	}
	return nil
}

// checkAccountQuotaHeader is account_quotas on an account POST.
func (q *request) checkAccountQuotaHeader() error {
	vs, set := q.r.Header["X-Account-Meta-Quota-Bytes"]
	newQuota := ""
	if set {
		newQuota = vs[0]
	}
	if q.r.Header.Get("X-Remove-Account-Meta-Quota-Bytes") != "" {
		set, newQuota = true, "" // X-Remove dominates (Swift: new_quota = 0)
	}
	if q.isResellerAdmin() {
		if newQuota != "" && !isDigits(newQuota) {
			return httpErr(http.StatusBadRequest, "")
		}
		return nil
	}
	if set {
		return fmt.Errorf("%s may not set the account quota: %w", q.p.Account, ErrForbidden)
	}
	return nil
}

// checkObjectQuotas runs both quota checks before an object PUT's body is
// read, after authorization: the container's count and bytes, then the
// account's bytes (skipped for reseller admins).
func (q *request) checkObjectQuotas(ctx context.Context) error {
	return q.checkQuotasFor(ctx, q.p.Account, q.p.Container, max(q.r.ContentLength, 0))
}

// checkQuotasFor is checkObjectQuotas for size new bytes (bytes) in
// account/container: a PUT's Content-Length, or the source's size of a
// COPY or X-Copy-From, which Swift's quota middlewares see as a PUT of
// the source (the copy middleware runs before them).
func (q *request) checkQuotasFor(ctx context.Context, account, container string, size int64) error {
	ci, err := q.s.backend.Container(ctx, account, container)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil
	case err != nil:
		return err
	}
	if v := ci.Meta["quota-bytes"]; isDigits(v) {
		if quota, err := strconv.ParseInt(v, 10, 64); err == nil && quota < ci.Bytes+size {
			return errQuota()
		}
	}
	if v := ci.Meta["quota-count"]; isDigits(v) {
		if quota, err := strconv.ParseInt(v, 10, 64); err == nil && quota < ci.Objects+1 {
			return errQuota()
		}
	}
	if q.isResellerAdmin() {
		return nil
	}
	am, err := q.s.accountMeta(ctx, account)
	if err != nil {
		return err
	}
	v, ok := am["quota-bytes"]
	if !ok {
		return nil
	}
	quota, err := strconv.ParseInt(v, 10, 64)
	if err != nil || quota < 0 {
		return nil
	}
	info, err := q.s.backend.Account(ctx, account)
	if err != nil {
		return err
	}
	if quota < info.Bytes+size {
		return errQuota()
	}
	return nil
}
