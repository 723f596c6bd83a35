package swiftstore

// Packs (Config.PackSize > 0): a Write's new chunks are concatenated, in
// their stored forms, into pack objects of about PackSize bytes, so that a
// GiB is tens of requests, not tens of thousands.
//
//   - packs: container <prefix>-packs (one container: names are listed in
//     order), object name NAME (chunkstore.NewPackName: 16 hex digits of
//     the writer's clock in unix nanoseconds, '-', 16 random hex digits),
//     body the stored forms one after the other; immutable;
//   - pack indexes: <prefix>-pack-index/NAME, written after the pack
//     succeeded, body EncodePackIndex (chunk ID and stored length of each
//     chunk in body order, with a SHA-256 of the whole); nodes list them
//     by name from a marker to learn where chunks are;
//   - fossils (region GC): <prefix>-pack-fossils/NAME and
//     <prefix>-pack-index-fossils/NAME; readers fall back to the pack
//     fossil.
//
// A pack's touch time is the same as a chunk object's: max(Last-Modified,
// X-Object-Meta-Nitro-Touched). A write relying on a chunk of a pack
// touches the pack, as it touches chunk objects.

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/objectstorage/v1/objects"
	"github.com/gophercloud/gophercloud/v2/pagination"
	"github.com/nitro-cloud/nitro/chunkstore"
)

// Pack container kinds (Layout.Unsharded).
const (
	KindPacks             = "packs"
	KindPackIndex         = "pack-index"
	KindPackFossils       = "pack-fossils"
	KindPackIndexFossils  = "pack-index-fossils"
	packIndexMagic        = "NPI1"
	packIndexEntryLen     = 32 + 4
	packIndexHeaderLen    = 4 + 4
	packIndexTrailerLen   = sha256.Size
	maxPackIndexEntries   = 1 << 22
	packIndexListPageSize = 10000
)

var packKinds = []string{KindPacks, KindPackIndex, KindPackFossils, KindPackIndexFossils}

var _ chunkstore.PackCluster = (*Store)(nil)

// EncodePackIndex returns the pack-index body of entries (in pack order,
// contiguous from offset 0): "NPI1", the count as a big-endian uint32,
// then per chunk its 32-byte ID and its stored length as a big-endian
// uint32, then the SHA-256 of all that.
func EncodePackIndex(entries []chunkstore.PackEntry) []byte {
	b := make([]byte, 0, packIndexHeaderLen+len(entries)*packIndexEntryLen+packIndexTrailerLen)
	b = append(b, packIndexMagic...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(entries)))
	for _, e := range entries {
		b = append(b, e.ID[:]...)
		b = binary.BigEndian.AppendUint32(b, uint32(e.Len))
	}
	sum := sha256.Sum256(b)
	return append(b, sum[:]...)
}

// ErrBadPackIndex is returned (wrapped) for a pack-index body that does
// not decode or whose checksum fails.
var ErrBadPackIndex = errors.New("swiftstore: malformed pack index")

// DecodePackIndex parses a body of EncodePackIndex, with each entry's
// offset. Errors: ErrBadPackIndex (wrapped).
func DecodePackIndex(b []byte) ([]chunkstore.PackEntry, error) {
	if len(b) < packIndexHeaderLen+packIndexTrailerLen || string(b[:4]) != packIndexMagic {
		return nil, fmt.Errorf("%w: %d bytes, no header", ErrBadPackIndex, len(b))
	}
	body, sum := b[:len(b)-packIndexTrailerLen], b[len(b)-packIndexTrailerLen:]
	if got := sha256.Sum256(body); string(got[:]) != string(sum) {
		return nil, fmt.Errorf("%w: checksum", ErrBadPackIndex)
	}
	n := binary.BigEndian.Uint32(body[4:8])
	if n > maxPackIndexEntries || len(body) != packIndexHeaderLen+int(n)*packIndexEntryLen {
		return nil, fmt.Errorf("%w: %d entries in %d bytes", ErrBadPackIndex, n, len(body))
	}
	out := make([]chunkstore.PackEntry, n)
	off := int64(0)
	p := body[packIndexHeaderLen:]
	for i := range out {
		copy(out[i].ID[:], p[:32])
		l := int64(binary.BigEndian.Uint32(p[32:36]))
		if l == 0 {
			return nil, fmt.Errorf("%w: empty entry", ErrBadPackIndex)
		}
		out[i].Off, out[i].Len = off, l
		off += l
		p = p[packIndexEntryLen:]
	}
	return out, nil
}

// PackSize implements chunkstore.PackCluster: Config.PackSize.
func (s *Store) PackSize() int { return s.packs }

// PutPack implements chunkstore.PackCluster: PUT of the pack (with its
// MD5 as ETag, so Swift checks the body), then of its index.
func (s *Store) PutPack(ctx context.Context, name string, body []byte, entries []chunkstore.PackEntry) error {
	if err := s.put(ctx, s.layout.Unsharded(KindPacks), name, body); err != nil {
		return err
	}
	return s.put(ctx, s.layout.Unsharded(KindPackIndex), name, EncodePackIndex(entries))
}

// GetPackRange implements chunkstore.PackCluster: a Range GET of the
// pack, else of its fossil (info.Fossil). A short answer is an error.
func (s *Store) GetPackRange(ctx context.Context, name string, off, n int64, dst []byte) ([]byte, chunkstore.ObjectInfo, error) {
	val, info, err := s.getRange(ctx, s.layout.Unsharded(KindPacks), name, off, n, dst)
	if !errors.Is(err, chunkstore.ErrNotFound) {
		return val, info, err
	}
	val, info, err = s.getRange(ctx, s.layout.Unsharded(KindPackFossils), name, off, n, dst)
	info.Fossil = err == nil
	return val, info, err
}

// getRange GETs bytes [off, off+n) of container/name into dst[:0].
func (s *Store) getRange(ctx context.Context, container, name string, off, n int64, dst []byte) ([]byte, chunkstore.ObjectInfo, error) {
	var info chunkstore.ObjectInfo
	if n <= 0 {
		return nil, info, fmt.Errorf("swiftstore: range of %d bytes", n)
	}
	err := s.do(ctx, func(ctx context.Context) error {
		r := objects.Download(ctx, s.sc, container, name, objects.DownloadOpts{Range: fmt.Sprintf("bytes=%d-%d", off, off+n-1)})
		if r.Err != nil {
			return r.Err
		}
		defer r.Body.Close()
		info = infoOf(r.Header)
		if cap(dst) < int(n) {
			dst = make([]byte, n)
		}
		dst = dst[:n]
		if _, err := io.ReadFull(r.Body, dst); err != nil {
			return fmt.Errorf("short range answer: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, info, notFound(err, container+"/"+name)
	}
	return dst, info, nil
}

// StatPack implements chunkstore.PackCluster (a HEAD of the live pack).
func (s *Store) StatPack(ctx context.Context, name string) (chunkstore.ObjectInfo, error) {
	return s.stat(ctx, s.layout.Unsharded(KindPacks), name)
}

// TouchPack implements chunkstore.PackCluster (a POST of TouchedHeader,
// without X-Delete-At: see the region GC's version tags).
func (s *Store) TouchPack(ctx context.Context, name string, now time.Time) error {
	return s.touch(ctx, s.layout.Unsharded(KindPacks), name, now)
}

// ListPackIndexes implements chunkstore.PackCluster: the names of the
// pack-index (or index fossil) container after marker, in order.
func (s *Store) ListPackIndexes(ctx context.Context, marker string, fossil bool) ([]string, error) {
	container := s.layout.Unsharded(KindPackIndex)
	if fossil {
		container = s.layout.Unsharded(KindPackIndexFossils)
	}
	var names []string
	err := s.do(ctx, func(ctx context.Context) error {
		names = names[:0]
		return objects.List(s.sc, container, objects.ListOpts{Marker: marker, Limit: packIndexListPageSize}).EachPage(ctx,
			func(_ context.Context, p pagination.Page) (bool, error) {
				n, err := objects.ExtractNames(p)
				names = append(names, n...)
				return true, err
			})
	})
	if gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("swiftstore: list %s: %w", container, err)
	}
	return names, nil
}

// GetPackIndex implements chunkstore.PackCluster. Errors: ErrNotFound
// (wrapped) for an index not (or no longer) in its container,
// ErrBadPackIndex, the cluster's.
func (s *Store) GetPackIndex(ctx context.Context, name string, fossil bool) ([]chunkstore.PackEntry, error) {
	container := s.layout.Unsharded(KindPackIndex)
	if fossil {
		container = s.layout.Unsharded(KindPackIndexFossils)
	}
	b, _, err := s.get(ctx, container, name, nil)
	if err != nil {
		return nil, err
	}
	e, err := DecodePackIndex(b)
	if err != nil {
		return nil, fmt.Errorf("pack index %s: %w", name, err)
	}
	return e, nil
}
