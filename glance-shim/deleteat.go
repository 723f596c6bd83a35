package glanceshim

import (
	"math"
	"net/http"
	"strconv"
	"strings"
)

// checkIfDeleteAt applies a DELETE's X-If-Delete-At as Swift's object
// server does: a value that is not a timestamp is 400 "Bad X-If-Delete-At
// header value"; with a valid one, a missing object is 404 and an object
// whose X-Delete-At differs is 412 "X-If-Delete-At and X-Delete-At do not
// match". Without the header it does nothing.
func (q *request) checkIfDeleteAt() error {
	vs, ok := q.r.Header["X-If-Delete-At"]
	if !ok {
		return nil
	}
	want, ok := parseSwiftTimestamp(vs[0])
	if !ok {
		return badRequestHTML("Bad X-If-Delete-At header value")
	}
	info, err := q.s.backend.Object(q.r.Context(), q.p.Account, q.p.Container, q.p.Object)
	if err != nil {
		return err
	}
	have, err := strconv.ParseInt(info.Headers["X-Delete-At"], 10, 64)
	if err != nil || have != int64(want) {
		return httpErr(http.StatusPreconditionFailed, "X-If-Delete-At and X-Delete-At do not match")
	}
	return nil
}

// parseSwiftTimestamp parses a value as swift.common.utils.Timestamp does
// for a plain number ("1700000000", "1700000000.12345"): a float, not
// negative, below 10^10 (its integer seconds).
func parseSwiftTimestamp(v string) (float64, bool) {
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, '_'); i >= 0 { // offset form "ts_offset"
		v = v[:i]
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f >= 1e10 {
		return 0, false
	}
	return math.Floor(f), true
}
