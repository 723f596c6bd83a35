package namespace

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// ListOptions are Swift's listing parameters. Names are compared as bytes.
type ListOptions struct {
	// Prefix keeps only names that start with it.
	Prefix string
	// Delimiter, if set, rolls names that hold it after Prefix up into one
	// Subdir entry: the name up to and including the delimiter.
	Delimiter string
	// Marker and EndMarker are exclusive bounds: names > Marker and
	// < EndMarker (empty: unbounded). With Reverse they swap roles, as in
	// Swift: names < Marker and > EndMarker, largest first.
	Marker, EndMarker string
	// Limit bounds the entries returned; <= 0 means no limit.
	Limit int
	// Reverse lists in descending byte order.
	Reverse bool
}

// Entry is one listing entry: a live record, or a pseudo-directory
// (Subdir set, Record nil).
type Entry struct {
	Name   string
	Subdir string
	Record *Record
}

// List lists the live children of parent: the containers of an account key
// or the objects of a container key. Tombstones are skipped.
//
// Cost: a forward listing reads the records it returns plus the
// tombstones among them and skips a pseudo-directory with a new seek once
// it has found a live name under it (tombstones before it are read);
// a Reverse listing reads every record in its range (Records scans forward
// only) and keeps what it returns in memory.
func (ns *Namespace) List(ctx context.Context, parent Key, opts ListOptions) ([]Entry, error) {
	if err := parent.Validate(); err != nil {
		return nil, err
	}
	if parent.Kind != KindAccount && parent.Kind != KindContainer {
		return nil, fmt.Errorf("namespace: cannot list the children of a %v", parent.Kind)
	}
	if !opts.Reverse {
		return ns.listForward(ctx, parent, opts.Prefix, opts.Delimiter, opts.Marker, opts.EndMarker, opts.Limit)
	}
	out, err := ns.listForward(ctx, parent, opts.Prefix, opts.Delimiter, opts.EndMarker, opts.Marker, 0)
	if err != nil {
		return nil, err
	}
	slices.Reverse(out)
	if opts.Limit > 0 && len(out) > opts.Limit {
		out = out[:opts.Limit]
	}
	return out, nil
}

// listForward returns the entries with names in (lo, hi) (empty: open) in
// ascending order, at most limit (<= 0: all).
func (ns *Namespace) listForward(ctx context.Context, parent Key, prefix, delim, lo, hi string, limit int) ([]Entry, error) {
	pfx := childPrefix(parent)
	start := string(pfx) + prefix
	if lo != "" && string(pfx)+lo > start {
		start = string(pfx) + lo
	}
	var out []Entry
	from := []byte(start)
	for from != nil {
		var next []byte
		err := ns.kv.Scan(ctx, pfx, from, func(key, val []byte) (bool, error) {
			name := string(key[len(pfx):])
			if !strings.HasPrefix(name, prefix) {
				return name < prefix, nil // before the prefix range: go on; after: done
			}
			if name == lo || (lo != "" && name < lo) {
				return true, nil
			}
			if hi != "" && name >= hi {
				return false, nil
			}
			r, err := UnmarshalRecord(key, val)
			if err != nil {
				return false, err
			}
			if r.Deleted {
				// A tombstone is no entry, and no evidence of a
				// pseudo-directory either: a subdir is listed only for a
				// live name under it (tombstones outlive their objects,
				// and their container, until purged).
				return true, nil
			}
			if delim != "" {
				if i := strings.Index(name[len(prefix):], delim); i >= 0 {
					sub := name[:len(prefix)+i+len(delim)]
					if sub != lo {
						out = append(out, Entry{Name: sub, Subdir: sub})
					}
					// Seek past every name under sub.
					next = prefixEnd(append(append([]byte(nil), pfx...), sub...))
					return false, nil
				}
			}
			out = append(out, Entry{Name: name, Record: r})
			return limit <= 0 || len(out) < limit, ctx.Err()
		})
		if err != nil {
			return nil, err
		}
		if next != nil && (limit <= 0 || len(out) < limit) {
			from = next
		} else {
			from = nil
		}
	}
	return out, nil
}

// prefixEnd returns the smallest key greater than every key with prefix b,
// or nil if there is none (b is all 0xff). It modifies b.
func prefixEnd(b []byte) []byte {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return b[:i+1]
		}
	}
	return nil
}
