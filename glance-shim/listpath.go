package glanceshim

import (
	"context"
	"errors"
)

// listObjects is Backend.ListObjects with Swift's legacy path= semantics
// (container/backend.py list_objects_iter): a path listing holds only the
// objects directly under the path, never a subdir, and not the object
// named like the path itself; an object whose name ends in "/" right
// after one level ("dir/sub/") is a direct child. The Backend's
// delimited listing rolls such a name into a subdir, so each subdir is
// looked up as an object; pages are fetched until the limit is reached.
func (q *request) listObjects(ctx context.Context, account, container string, lr listRequest) ([]ObjectInfo, error) {
	if !lr.path {
		return q.s.backend.ListObjects(ctx, account, container, lr.opts)
	}
	opts := lr.opts
	want := opts.Limit
	var out []ObjectInfo
	for len(out) < want {
		opts.Limit = want - len(out)
		page, err := q.s.backend.ListObjects(ctx, account, container, opts)
		if err != nil {
			return nil, err
		}
		for _, o := range page {
			switch {
			case o.Subdir == "":
				if o.Name != opts.Prefix {
					out = append(out, o)
				}
			case o.Subdir != opts.Prefix:
				info, err := q.s.backend.Object(ctx, account, container, o.Subdir)
				switch {
				case err == nil:
					info.Name = o.Subdir
					out = append(out, info)
				case !errors.Is(err, ErrNotFound):
					return nil, err
				}
			}
		}
		if len(page) < opts.Limit {
			break
		}
		last := page[len(page)-1]
		opts.Marker = last.Name
		if last.Subdir != "" {
			opts.Marker = last.Subdir
		}
	}
	return out, nil
}
