package glanceshim

import (
	"net/http"
	"os"
)

// handleHealth serves GET /healthcheck without auth, like Swift's
// healthcheck middleware (swift/common/middleware/healthcheck.py): 200
// "OK", or 503 "DISABLED BY FILE" while Config.DisableFile exists.
func (q *request) handleHealth() error {
	if q.r.Method != http.MethodGet && q.r.Method != http.MethodHead {
		q.w.Header().Set("Allow", "GET, HEAD")
		return httpErr(http.StatusMethodNotAllowed, "")
	}
	status, body := http.StatusOK, "OK"
	if f := q.s.cfg.DisableFile; f != "" {
		if _, err := os.Stat(f); err == nil {
			status, body = http.StatusServiceUnavailable, "DISABLED BY FILE"
		}
	}
	h := q.w.Header()
	h.Set("Content-Type", "text/plain")
	h.Set("Content-Length", itoa(int64(len(body))))
	q.w.WriteHeader(status)
	if q.r.Method == http.MethodGet {
		_, _ = q.w.Write([]byte(body))
	}
	return nil
}
