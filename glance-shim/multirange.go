package glanceshim

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
)

// serveRanges answers a GET with several satisfiable ranges as swob does:
// 206, Content-Type "multipart/byteranges;boundary=<32 hex digits>", and
// for each range "--B\r\nContent-Type: <type>\r\nContent-Range: bytes
// s-e/size\r\n\r\n<bytes>\r\n", then "--B--"; Content-Length is exact.
// Each range is read from the Backend in turn; a failed read aborts the
// connection (streamExactly).
func (q *request) serveRanges(info ObjectInfo, rs []byteRange) error {
	var rnd [16]byte
	_, _ = rand.Read(rnd[:])
	boundary := hex.EncodeToString(rnd[:])
	ct := info.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	heads := make([]string, len(rs))
	var total int64
	for i, r := range rs {
		heads[i] = "--" + boundary + "\r\nContent-Type: " + ct + "\r\nContent-Range: " + contentRange(r, info.Size) + "\r\n\r\n"
		total += int64(len(heads[i])) + r.Length + 2
	}
	tail := "--" + boundary + "--"
	total += int64(len(tail))
	h := q.w.Header()
	h.Del("Content-Range")
	h.Set("Content-Type", "multipart/byteranges;boundary="+boundary)
	h.Set("Content-Length", strconv.FormatInt(total, 10))
	q.w.WriteHeader(http.StatusPartialContent)
	ctx := q.r.Context()
	for i, r := range rs {
		if _, err := q.w.Write([]byte(heads[i])); err != nil {
			return err
		}
		rc, got, err := q.s.backend.OpenObject(ctx, q.p.Account, q.p.Container, q.p.Object, r.Start, r.Length)
		if err == nil && (got.ETag != info.ETag || !got.Timestamp.Equal(info.Timestamp)) {
			rc.Close()
			err = fmt.Errorf("object %s changed during a multi-range GET: %w", q.p.Object, ErrUnavailable)
		}
		if err != nil {
			q.abort(err)
		}
		err = q.streamExactly(rc, r.Length, "object "+q.p.Object)
		rc.Close()
		if err != nil {
			return err
		}
		if _, err := q.w.Write([]byte("\r\n")); err != nil {
			return err
		}
	}
	_, err := q.w.Write([]byte(tail))
	return err
}
