package objects

import (
	"context"
	"errors"
	"fmt"

	glanceshim "github.com/nitro-cloud/nitro/glance-shim"
	"github.com/nitro-cloud/nitro/node/internal/namespace"
)

// Account returns the account's totals: Swift's account_autocreate, so an
// account never used has zero totals. Cost: a scan of the account's
// container records (see namespace.AccountStats).
func (s *Service) Account(ctx context.Context, account string) (glanceshim.AccountInfo, error) {
	n, st, err := s.ns.AccountStats(ctx, account)
	if err != nil {
		return glanceshim.AccountInfo{}, notFound(err)
	}
	info := glanceshim.AccountInfo{Containers: n, Objects: st.Objects, Bytes: st.Bytes}
	rec, err := s.ns.GetLive(ctx, namespace.AccountKey(account))
	switch {
	case err == nil:
		info.Meta, info.Created = rec.Meta, nsTime(rec.Created)
	case !errors.Is(err, namespace.ErrNotFound):
		return glanceshim.AccountInfo{}, err
	}
	return info, nil
}

// ListContainers lists the account's live containers in byte order. Cost:
// the listing plus one stats read per container returned.
func (s *Service) ListContainers(ctx context.Context, account string, opts glanceshim.ListOptions) ([]glanceshim.ContainerInfo, error) {
	entries, err := s.ns.List(ctx, namespace.AccountKey(account), listOptions(opts))
	if err != nil {
		return nil, notFound(err)
	}
	out := make([]glanceshim.ContainerInfo, 0, len(entries))
	for _, e := range entries {
		if e.Subdir != "" {
			// Swift's account listings roll containers up by delimiter
			// too; ContainerInfo has no subdir field, so a
			// pseudo-container carries just the name.
			out = append(out, glanceshim.ContainerInfo{Name: e.Subdir, Subdir: e.Subdir})
			continue
		}
		info, err := s.containerInfo(ctx, e.Record)
		if err != nil {
			return nil, err
		}
		out = append(out, info)
	}
	return out, nil
}

func listOptions(o glanceshim.ListOptions) namespace.ListOptions {
	return namespace.ListOptions{
		Prefix: o.Prefix, Delimiter: o.Delimiter, Marker: o.Marker,
		EndMarker: o.EndMarker, Limit: o.Limit, Reverse: o.Reverse,
	}
}

func (s *Service) containerInfo(ctx context.Context, rec *namespace.Record) (glanceshim.ContainerInfo, error) {
	st, err := s.ns.ContainerStats(ctx, rec.Account, rec.Container)
	if err != nil {
		return glanceshim.ContainerInfo{}, err
	}
	meta := rec.Meta
	if meta == nil {
		meta = map[string]string{}
	}
	return glanceshim.ContainerInfo{
		Name: rec.Container, Objects: st.Objects, Bytes: st.Bytes, Meta: meta,
		Created:  nsTime(rec.Created),
		Modified: nsTime(max(rec.Timestamp, st.Modified)),
	}, nil
}

// mergeMeta sets the non-empty values of upd in m and removes the keys
// whose value is empty; it returns m (allocated if nil and needed).
func mergeMeta(m, upd map[string]string) map[string]string {
	for k, v := range upd {
		if v == "" {
			delete(m, k)
			continue
		}
		if m == nil {
			m = map[string]string{}
		}
		m[k] = v
	}
	return m
}

// PutContainer creates the container (and its account record on first
// use), or merges meta into an existing one's metadata (empty values
// remove keys).
func (s *Service) PutContainer(ctx context.Context, account, container string, meta map[string]string) (created bool, err error) {
	var written []*namespace.Record
	if err := namespace.ContainerKey(account, container).Validate(); err != nil {
		return false, notFound(err)
	}
	unlock := s.commits.lock(namespace.ContainerKey(account, container).Bytes())
	err = s.ns.Update(ctx, func(t *namespace.Txn) error {
		written, created = written[:0], false
		ts := s.ns.Now()
		acct, err := t.Get(namespace.AccountKey(account))
		if errors.Is(err, namespace.ErrNotFound) || (err == nil && acct.Deleted) {
			acct = &namespace.Record{Key: namespace.AccountKey(account), Timestamp: ts, Region: s.ns.Region(), Created: ts}
			if _, err := t.Apply(acct); err != nil {
				return err
			}
			written = append(written, acct)
		} else if err != nil {
			return err
		}
		k := namespace.ContainerKey(account, container)
		rec, err := t.Get(k)
		switch {
		case errors.Is(err, namespace.ErrNotFound) || (err == nil && rec.Deleted):
			created = true
			rec = &namespace.Record{Key: k, Created: ts}
		case err != nil:
			return err
		}
		rec.Timestamp, rec.Region = ts, s.ns.Region()
		rec.Meta = mergeMeta(rec.Meta, meta)
		if _, err := t.Apply(rec); err != nil {
			return err
		}
		written = append(written, rec)
		return nil
	})
	unlock()
	if err != nil {
		return false, noSpace(notFound(err))
	}
	for _, r := range written {
		if err := s.replicate(ctx, r); err != nil {
			return created, err
		}
	}
	return created, nil
}

// PostContainer merges meta into the container's metadata (empty values
// remove keys); ErrNotFound if the container is absent.
func (s *Service) PostContainer(ctx context.Context, account, container string, meta map[string]string) error {
	rec, err := s.modify(ctx, namespace.ContainerKey(account, container), func(r *namespace.Record) error {
		r.Meta = mergeMeta(r.Meta, meta)
		return nil
	})
	if err != nil {
		return err
	}
	return s.replicate(ctx, rec)
}

// Container returns the container's info; ErrNotFound if absent. O(1):
// two key reads.
func (s *Service) Container(ctx context.Context, account, container string) (glanceshim.ContainerInfo, error) {
	rec, err := s.ns.GetLive(ctx, namespace.ContainerKey(account, container))
	if err != nil {
		return glanceshim.ContainerInfo{}, notFound(err)
	}
	return s.containerInfo(ctx, rec)
}

// DeleteContainer writes the container's tombstone; ErrContainerNotEmpty
// if it holds a live object, ErrNotFound if absent. The emptiness check
// and the tombstone are one transaction, so a concurrent local PUT either
// lands first (and the delete fails) or fails with ErrNotFound: a PUT
// that commits while the check runs rewrites the container's write mark,
// which the check reads (namespace.Txn.Stats), so the check runs again.
func (s *Service) DeleteContainer(ctx context.Context, account, container string) error {
	k := namespace.ContainerKey(account, container)
	tomb, err := s.updateLive(ctx, k, func(t *namespace.Txn, cur *namespace.Record) (*namespace.Record, error) {
		st, err := t.Stats(account, container)
		if err != nil {
			return nil, err
		}
		if st.Objects > 0 {
			return nil, fmt.Errorf("%w: %s/%s holds %d objects", glanceshim.ErrContainerNotEmpty, account, container, st.Objects)
		}
		return &namespace.Record{Key: k, Timestamp: s.ns.Now(), Region: s.ns.Region(), Deleted: true, Created: cur.Created}, nil
	})
	if err != nil {
		return err
	}
	return s.replicate(ctx, tomb)
}

// modify applies fn to a copy of the live record at k with a new
// timestamp, in one transaction, and returns the record written;
// ErrNotFound if there is none.
func (s *Service) modify(ctx context.Context, k namespace.Key, fn func(r *namespace.Record) error) (*namespace.Record, error) {
	return s.updateLive(ctx, k, func(_ *namespace.Txn, cur *namespace.Record) (*namespace.Record, error) {
		rec := cur.Clone()
		rec.Timestamp, rec.Region = s.ns.Now(), s.ns.Region()
		if err := fn(rec); err != nil {
			return nil, err
		}
		return rec, nil
	})
}

// updateLive writes the record next returns for the live record cur at
// k (next may read more through t, or refuse with an error), in one
// namespace transaction under k's commit lock, and returns it. Errors:
// ErrNotFound (notFound's) if k is invalid, absent or deleted, the
// store's ErrNoSpace mapped by noSpace, next's.
func (s *Service) updateLive(ctx context.Context, k namespace.Key, next func(t *namespace.Txn, cur *namespace.Record) (*namespace.Record, error)) (*namespace.Record, error) {
	if err := k.Validate(); err != nil {
		return nil, notFound(err)
	}
	var rec *namespace.Record
	unlock := s.commits.lock(k.Bytes())
	defer unlock()
	err := s.ns.Update(ctx, func(t *namespace.Txn) error {
		cur, err := t.Get(k)
		if err != nil {
			return err
		}
		if cur.Deleted {
			return fmt.Errorf("%w: %v (deleted)", namespace.ErrNotFound, k)
		}
		if rec, err = next(t, cur); err != nil {
			return err
		}
		_, err = t.Apply(rec)
		return err
	})
	if err != nil {
		return nil, noSpace(notFound(err))
	}
	return rec, nil
}

// AccountMeta returns the account's X-Account-Meta-* (keys lower case
// without the prefix; nil for an account never written). O(1): one key
// read, unlike Account's totals (glanceshim.AccountMetaGetter).
func (s *Service) AccountMeta(ctx context.Context, account string) (map[string]string, error) {
	rec, err := s.ns.GetLive(ctx, namespace.AccountKey(account))
	switch {
	case errors.Is(err, namespace.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return rec.Meta, nil
}

// PostAccount merges meta into the account record's metadata (empty
// values remove keys), creating the record on first use (Swift's
// account_autocreate), and replicates it to every region like a
// container's metadata (glanceshim.AccountMetaSetter).
func (s *Service) PostAccount(ctx context.Context, account string, meta map[string]string) error {
	k := namespace.AccountKey(account)
	if err := k.Validate(); err != nil {
		return notFound(err)
	}
	var rec *namespace.Record
	unlock := s.commits.lock(k.Bytes())
	err := s.ns.Update(ctx, func(t *namespace.Txn) error {
		ts := s.ns.Now()
		cur, err := t.Get(k)
		switch {
		case errors.Is(err, namespace.ErrNotFound) || (err == nil && cur.Deleted):
			rec = &namespace.Record{Key: k, Created: ts}
		case err != nil:
			return err
		default:
			rec = cur.Clone()
		}
		rec.Timestamp, rec.Region = ts, s.ns.Region()
		rec.Meta = mergeMeta(rec.Meta, meta)
		_, err = t.Apply(rec)
		return err
	})
	unlock()
	if err != nil {
		return noSpace(notFound(err))
	}
	return s.replicate(ctx, rec)
}

var (
	_ glanceshim.AccountMetaSetter = (*Service)(nil)
	_ glanceshim.AccountMetaGetter = (*Service)(nil)
)

// ContainerMeta returns the container's metadata without its totals;
// ErrNotFound if absent. O(1): one key read
// (glanceshim.ContainerMetaGetter, for temp URL keys and CORS).
func (s *Service) ContainerMeta(ctx context.Context, account, container string) (map[string]string, error) {
	rec, err := s.ns.GetLive(ctx, namespace.ContainerKey(account, container))
	if err != nil {
		return nil, notFound(err)
	}
	return rec.Meta, nil
}

var _ glanceshim.ContainerMetaGetter = (*Service)(nil)
