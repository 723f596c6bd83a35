package glanceshim

import (
	"context"
	"io"
)

// VersionOpener is implemented by a Backend that can open the content of
// the very object version an ObjectInfo it returned describes
// (ObjectInfo.Version), without looking the name up again: a Range GET,
// which needs the object's size and ETag before it can pick its range,
// then costs one metadata read, not two (Object, then OpenObject).
type VersionOpener interface {
	// OpenVersion returns the bytes [off, off+length) (length < 0: to the
	// end; the range is clipped to the object) of the version info
	// describes, verified as OpenObject's, even if the name has been
	// overwritten or deleted since. ErrUnavailable when the version's
	// content is not readable here.
	OpenVersion(ctx context.Context, info ObjectInfo, off, length int64) (io.ReadCloser, error)
}

// openVersion opens rg of the object version info (from Object): through
// the Backend's VersionOpener when info carries a Version, else by
// OpenObject, whose answer is then compared with info (same false: the
// object was overwritten in between; rc is still to be closed).
func (q *request) openVersion(ctx context.Context, info ObjectInfo, rg byteRange) (rc io.ReadCloser, same bool, err error) {
	if vo, ok := q.s.backend.(VersionOpener); ok && info.Version != nil {
		rc, err := vo.OpenVersion(ctx, info, rg.Start, rg.Length)
		return rc, err == nil, err
	}
	rc, got, err := q.s.backend.OpenObject(ctx, q.p.Account, q.p.Container, q.p.Object, rg.Start, rg.Length)
	if err != nil {
		return nil, false, err
	}
	return rc, got.ETag == info.ETag && got.Timestamp.Equal(info.Timestamp), nil
}
