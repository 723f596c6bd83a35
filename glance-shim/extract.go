package glanceshim

import (
	"archive/tar"
	"bufio"
	"compress/bzip2"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"
)

// errInvalidTar is a malformed archive: Swift's "Invalid Tar File: <why>"
// (400 in the body).
type errInvalidTar struct{ why string }

func (e errInvalidTar) Error() string { return "Invalid Tar File: " + e.why }

// extractArchive serves PUT ?extract-archive (Swift's handle_extract_iter):
// every regular file of the tar (compressed with comp: "", "gz", "bz2")
// becomes an object under the request path (the account, a container or
// a pseudo-directory); files at the account's top level are skipped;
// containers are created as needed (HEAD then PUT subrequests). Each
// object is a PUT subrequest with Content-Length, the token, and the
// request's X-Delete-At / X-Delete-After / X-Object-Meta-* headers, plus
// Content-Type and X-Object-Meta-* from the file's PAX xattrs
// (SCHILY.xattr.user.mime_type, SCHILY.xattr.user.meta.*, and the
// LIBARCHIVE.xattr forms).
func (q *request) extractArchive(comp string) {
	out := q.newBulkOut()
	res := newBulkResult("Response Status", statusLine(http.StatusCreated), "Response Body", "",
		"Number Files Created", 0)
	defer out.finish(res, "extract")
	if out.format == "" {
		res.fail(http.StatusNotAcceptable, "")
		return
	}
	r := q.r
	chunked := len(r.TransferEncoding) > 0 && strings.EqualFold(r.TransferEncoding[0], "chunked")
	if _, ok := r.Header["Content-Length"]; !ok && !chunked && r.ContentLength <= 0 {
		res.fail(http.StatusLengthRequired, "")
		return
	}
	base := ""
	if q.p.Kind != kindAccount {
		base = q.p.Container
		if q.p.Kind == kindObject {
			base += "/" + q.p.Object
		}
	}
	base = strings.TrimRight(base, "/")
	q.body = &bodyReader{r: r.Body, declared: r.ContentLength, max: 1 << 62,
		rc: http.NewResponseController(q.w), timeout: q.s.cfg.ClientTimeout}
	if chunked {
		q.body.declared = -1
	}
	defer q.body.clearDeadline()
	st, msg := q.extractFiles(out, res, comp, base)
	if st != 0 {
		res.fail(st, msg)
		return
	}
	if len(res.errors) > 0 {
		return // Response Status set by extractFiles
	}
	if res.num("Number Files Created") == 0 {
		res.fail(http.StatusBadRequest, "Invalid Tar File: No Valid Files")
	}
}

// extractFiles reads the archive and PUTs its files; a non-zero status
// ends the extraction with that Response Status and body.
func (q *request) extractFiles(out *bulkOut, res *bulkResult, comp, base string) (int, string) {
	var src io.Reader = bufio.NewReaderSize(q.body, 64<<10)
	switch comp {
	case "gz":
		zr, err := gzip.NewReader(src)
		if err != nil {
			return q.tarError(err, "not a gzip file")
		}
		defer zr.Close()
		src = zr
	case "bz2":
		src = bzip2.NewReader(src)
	}
	tr := tar.NewReader(src)
	failType := http.StatusBadRequest
	accessed := map[string]bool{}
	created := 0
	first := true
	for {
		out.tick()
		hdr, err := tr.Next()
		if err == io.EOF {
			if first && q.body.n == 0 {
				return http.StatusBadRequest, "Invalid Tar File: empty file"
			}
			break
		}
		if err != nil {
			return q.tarError(err, "invalid header")
		}
		first = false
		if len(res.errors) >= MaxFailedExtractions {
			break
		}
		if hdr.Typeflag != tar.TypeReg && hdr.Typeflag != tar.TypeCont && hdr.Typeflag != tar.TypeGNUSparse {
			continue
		}
		objPath := strings.TrimLeft(strings.TrimPrefix(hdr.Name, "./"), "/")
		if base != "" {
			objPath = base + "/" + objPath
		}
		if !strings.Contains(objPath, "/") {
			continue // a file at the account's top level
		}
		quoted := pyQuote(truncateBytes(objPath, bulkMaxPathLength), "/")
		dest := "/" + q.p.Version + "/" + q.p.Account + "/" + objPath
		if !utf8.ValidString(dest) || strings.IndexByte(dest, 0) >= 0 {
			res.errors = append(res.errors, [2]string{quoted, statusLine(http.StatusPreconditionFailed)})
			continue
		}
		if hdr.Size > DefaultMaxFileSize {
			res.errors = append(res.errors, [2]string{quoted, statusLine(http.StatusRequestEntityTooLarge)})
			continue
		}
		container, _, _ := strings.Cut(objPath, "/")
		var contFailure *[2]string
		if !accessed[container] {
			cpath := "/" + q.p.Version + "/" + q.p.Account + "/" + container
			st := q.subrequest(http.MethodHead, escapePath(cpath), nil, 0, nil)
			switch {
			case st/100 == 2:
			case st == http.StatusNotFound:
				st = q.subrequest(http.MethodPut, escapePath(cpath), nil, 0, nil)
				if st/100 == 2 {
					created++
					if created > MaxContainersPerExtraction {
						return http.StatusBadRequest, fmt.Sprintf("More than %d containers to create from tar.", MaxContainersPerExtraction)
					}
					break
				}
				fallthrough
			default:
				contFailure = &[2]string{pyQuote(truncateBytes(cpath, bulkMaxPathLength), "/"), statusLine(st)}
				if st == http.StatusUnauthorized {
					return http.StatusUnauthorized, ""
				}
			}
		}
		extra := http.Header{}
		for k, v := range q.r.Header {
			lk := strings.ToLower(k)
			if lk == "x-delete-at" || lk == "x-delete-after" || strings.HasPrefix(lk, "x-object-meta-") {
				extra[k] = v
			}
		}
		for k, v := range hdr.PAXRecords {
			if name := paxHeader(k); name != "" {
				extra.Set(name, v)
			}
		}
		st := q.subrequest(http.MethodPut, escapePath(dest), tr, hdr.Size, extra)
		accessed[container] = true
		if st/100 == 2 {
			res.inc("Number Files Created")
			continue
		}
		if contFailure != nil {
			res.errors = append(res.errors, *contFailure)
		}
		if st == http.StatusUnauthorized {
			res.errors = append(res.errors, [2]string{quoted, statusLine(st)})
			return http.StatusUnauthorized, ""
		}
		if st/100 == 5 {
			failType = http.StatusBadGateway
		}
		res.errors = append(res.errors, [2]string{quoted, statusLine(st)})
	}
	if len(res.errors) > 0 {
		res.set("Response Status", statusLine(failType))
	}
	return 0, ""
}

// tarError maps a read failure of the archive: the client's own failure
// (disconnect, timeout) keeps its status; anything else is a malformed
// archive, 400 "Invalid Tar File: why".
func (q *request) tarError(err error, why string) (int, string) {
	if q.body.err != nil {
		st, _ := statusOf(q.body.err)
		return st, ""
	}
	var bz bzip2.StructuralError
	if errors.As(err, &bz) {
		why = "invalid compressed data"
	}
	return http.StatusBadRequest, errInvalidTar{why}.Error()
}

// paxHeader is Swift's pax_key_to_swift_header: the object header a PAX
// record becomes, or "".
func paxHeader(key string) string {
	switch {
	case key == "SCHILY.xattr.user.mime_type" || key == "LIBARCHIVE.xattr.user.mime_type":
		return "Content-Type"
	case strings.HasPrefix(key, "SCHILY.xattr.user.meta."):
		return "X-Object-Meta-" + key[len("SCHILY.xattr.user.meta."):]
	case strings.HasPrefix(key, "LIBARCHIVE.xattr.user.meta."):
		return "X-Object-Meta-" + key[len("LIBARCHIVE.xattr.user.meta."):]
	}
	return ""
}

// truncateBytes cuts s to at most n bytes (Swift's obj_path[:max]).
func truncateBytes(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
