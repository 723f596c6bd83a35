package glanceshim

import (
	"context"
	"errors"
	"net/http"
	"strings"
)

// AccountMetaGetter is an optional Backend capability: the account's
// metadata (X-Account-Meta-*, keys lower case without the prefix) without
// the totals Backend.Account computes. Temp URL validation reads the
// account's keys on every request through it; without it, Account is
// used.
type AccountMetaGetter interface {
	AccountMeta(ctx context.Context, account string) (map[string]string, error)
}

// accountMeta returns the account's metadata through AccountMetaGetter
// when the Backend has it, else Backend.Account.
func (s *Server) accountMeta(ctx context.Context, account string) (map[string]string, error) {
	if g, ok := s.backend.(AccountMetaGetter); ok {
		return g.AccountMeta(ctx, account)
	}
	info, err := s.backend.Account(ctx, account)
	return info.Meta, err
}

// ownerOnlyMeta are the metadata keys (lower case, without the
// X-Account-Meta- / X-Container-Meta- prefix) that Swift's proxy shows to
// and accepts from owners only (swift_owner_headers).
var ownerOnlyMeta = []string{"temp-url-key", "temp-url-key-2"}

// checkOverallMeta applies the cumulative limits Swift's account and
// container servers apply after merging a request's metadata into the
// stored one (swift/common/db.py validate_metadata): at most MaxMetaCount
// non-empty X-*-Meta-* items of at most MaxMetaOverallSize bytes of names
// and values together; 400 with Swift's body otherwise. cur is the
// stored metadata, upd the request's (empty value: removed); keys that
// are not user metadata (the container ACLs) do not count.
func checkOverallMeta(cur, upd map[string]string) error {
	count, size := 0, 0
	add := func(k, v string) {
		if v == "" || strings.HasPrefix(k, "x-container-") {
			return
		}
		count++
		size += len(k) + len(v)
	}
	for k, v := range cur {
		if _, over := upd[k]; !over {
			add(k, v)
		}
	}
	for k, v := range upd {
		add(k, v)
	}
	if count > MaxMetaCount {
		return badRequest("Too many metadata items; max %d", MaxMetaCount)
	}
	if size > MaxMetaOverallSize {
		return badRequest("Total metadata too large; max %d", MaxMetaOverallSize)
	}
	return nil
}

// postAccountMeta is account POST's metadata path (Swift's account
// controller with account_quotas): X-Account-Meta-Quota-Bytes only from a
// reseller admin (403 otherwise; 400 unless digits), the cumulative
// limits against the stored metadata, then AccountMetaSetter.
func (q *request) postAccountMeta(ctx context.Context, meta map[string]string) error {
	if err := q.checkAccountQuotaHeader(); err != nil {
		return err
	}
	if len(meta) == 0 {
		return nil
	}
	ms, ok := q.s.backend.(AccountMetaSetter)
	if !ok {
		return nil
	}
	cur, err := q.s.accountMeta(ctx, q.p.Account)
	if err != nil {
		return err
	}
	if err := checkOverallMeta(cur, meta); err != nil {
		return err
	}
	return ms.PostAccount(ctx, q.p.Account, meta)
}

// isResellerAdmin reports whether the identity is a reseller admin
// (tempauth's .reseller_admin, Keystone's reseller_admin_role): Swift's
// reseller_request.
func (q *request) isResellerAdmin() bool {
	if q.id == nil {
		return false
	}
	if q.id.Keystone != nil {
		return q.s.ks.isResellerAdmin(q.id.Keystone)
	}
	return q.id.ResellerAdmin
}

// hideOwnerMeta removes the owner-only metadata headers (temp URL keys)
// under prefix from h unless the request is the owner's (Swift's
// swift_owner_headers).
func (q *request) hideOwnerMeta(h http.Header, prefix string) {
	if q.isOwner() {
		return
	}
	for _, k := range ownerOnlyMeta {
		h.Del(prefix + k)
	}
}

// checkContainerOverallMeta is checkOverallMeta for a container PUT or
// POST against the container's stored metadata (none if it is new).
func (q *request) checkContainerOverallMeta(ctx context.Context, meta map[string]string) error {
	ci, err := q.s.backend.Container(ctx, q.p.Account, q.p.Container)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return checkOverallMeta(ci.Meta, meta)
}

// writeObjectMeta sets X-Object-Meta-<key> for every key, empty values
// included (Swift's object server returns them).
func writeObjectMeta(h http.Header, meta map[string]string) {
	for k, v := range meta {
		h["X-Object-Meta-"+http.CanonicalHeaderKey(k)] = []string{v}
	}
}

// postManifest reads X-Object-Manifest of an object POST (Swift 2.30's
// fast-post: the POST's headers replace the stored ones): absent or
// empty, the object stops being a DLO manifest ("" returned); otherwise
// it must be "container/prefix" (400). Swift itself stores any value on
// POST (its dlo middleware validates PUT only) and an empty one makes
// later GETs fail with 500; Nitro validates and treats empty as removal.
func postManifest(h http.Header) (string, error) {
	v := strings.TrimSpace(h.Get("X-Object-Manifest"))
	if v == "" {
		return "", nil
	}
	return parseManifestHeader(v)
}
