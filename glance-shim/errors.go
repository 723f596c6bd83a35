package glanceshim

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Errors of the front end itself, beside the Backend's sentinels in
// backend.go. They map to statuses in statusOf, the one error-to-status
// table of the package.
var (
	// ErrUnauthorized is returned by an Authenticator for a missing,
	// unknown or expired token, and by a login with bad credentials (401).
	ErrUnauthorized = errors.New("glanceshim: unauthorized")
	// ErrForbidden means the identity is valid but may not do this (403).
	ErrForbidden = errors.New("glanceshim: forbidden")
	// errClientDisconnect: the request body ended early or failed (499, as
	// Swift logs it; the client is usually gone).
	errClientDisconnect = errors.New("glanceshim: client disconnected")
	// errClientTimeout: reading the request body timed out (408).
	errClientTimeout = errors.New("glanceshim: client read timeout")
	// errTooLarge: a chunked body grew beyond Config.MaxFileSize (413).
	errTooLarge = errors.New("glanceshim: request body too large")
)

// statusError is an error that carries its HTTP status and, optionally,
// the response body Swift sends for it (empty: the status' standard body).
type statusError struct {
	status int
	body   string
	// contentType, if set, replaces the error's usual Content-Type
	// ("text/html; charset=UTF-8"), as Swift's middlewares set it for some
	// errors (e.g. versioned_writes' text/plain 400).
	contentType string
}

func (e *statusError) Error() string {
	if e.body != "" {
		return fmt.Sprintf("%d %s: %s", e.status, http.StatusText(e.status), e.body)
	}
	return fmt.Sprintf("%d %s", e.status, http.StatusText(e.status))
}

// httpErr returns an error answered with status and body (empty: the
// standard Swift body of the status).
func httpErr(status int, body string) error { return &statusError{status: status, body: body} }

// badRequest is a 400 with Swift's message for it.
func badRequest(format string, args ...any) error {
	return &statusError{status: http.StatusBadRequest, body: fmt.Sprintf(format, args...)}
}

// swiftReasons are Swift's swob RESPONSE_REASONS: title and explanation
// of the HTML error body (swift/common/swob.py).
var swiftReasons = map[int][2]string{
	400: {"Bad Request", "The server could not comply with the request since it is either malformed or otherwise incorrect."},
	401: {"Unauthorized", "This server could not verify that you are authorized to access the document you requested."},
	403: {"Forbidden", "Access was denied to this resource."},
	404: {"Not Found", "The resource could not be found."},
	405: {"Method Not Allowed", "The method is not allowed for this resource."},
	408: {"Request Timeout", "The server has waited too long for the request to be sent by the client."},
	409: {"Conflict", "There was a conflict when trying to complete your request."},
	411: {"Length Required", "Length Required"},
	412: {"Precondition Failed", "A precondition for this request was not met."},
	413: {"Request Entity Too Large", "The body of your request was too large for this server."},
	416: {"Requested Range Not Satisfiable", "The Range requested is not available."},
	422: {"Unprocessable Entity", "Unable to process the contained instructions"},
	499: {"Client Disconnect", "The client was disconnected during request."},
	500: {"Internal Error", "The server has either erred or is incapable of performing the requested operation."},
	501: {"Not Implemented", "The server does not implement the requested method."},
	503: {"Service Unavailable", "The server is currently unavailable. Please try again at a later time."},
	507: {"Insufficient Storage", "There was not enough space to save the resource. Drive: nitro"},
}

// statusOf is the error-to-status table: every error a handler or the
// Backend returns becomes exactly one status here, with the body to send.
func statusOf(err error) (status int, body string) {
	status, body, _ = statusTypeOf(err)
	return status, body
}

// statusTypeOf is statusOf plus the error's own Content-Type ("" for the
// usual one).
func statusTypeOf(err error) (status int, body, contentType string) {
	var se *statusError
	switch {
	case errors.As(err, &se):
		status, body, contentType = se.status, se.body, se.contentType
	case errors.Is(err, ErrUnauthorized):
		status = http.StatusUnauthorized
	case errors.Is(err, ErrForbidden):
		status = http.StatusForbidden
	case errors.Is(err, ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, ErrContainerNotEmpty):
		status, body = http.StatusConflict, "There was a conflict when trying to complete your request."
	case errors.Is(err, ErrConflict):
		status = http.StatusConflict
	case errors.Is(err, ErrETagMismatch):
		status = http.StatusUnprocessableEntity
	case errors.Is(err, errTooLarge):
		status, body = http.StatusRequestEntityTooLarge, "Your request is too large."
	case errors.Is(err, errClientTimeout):
		status = http.StatusRequestTimeout
	case errors.Is(err, errClientDisconnect), errors.Is(err, context.Canceled):
		status = 499
	case errors.Is(err, ErrInsufficientStorage):
		status = http.StatusInsufficientStorage
	case errors.Is(err, ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		status = http.StatusServiceUnavailable
	default:
		status = http.StatusInternalServerError
	}
	if body == "" {
		if r, ok := swiftReasons[status]; ok {
			body = "<html><h1>" + r[0] + "</h1><p>" + r[1] + "</p></html>"
		}
	}
	return status, body, contentType
}

// fail answers the request with err's status and Swift-style body, and
// logs the failure: 5xx at Error, 499 and 401 at Info (the error names the
// reason of an authentication failure: unknown user, wrong key, expired or
// unknown token), other 4xx at Debug. Tokens, keys and query strings are
// never logged.
func (q *request) fail(err error) {
	status, body, ctype := statusTypeOf(err)
	lvl := zapcore.DebugLevel
	switch {
	case status >= 500:
		lvl = zapcore.ErrorLevel
	case status == 499, status == http.StatusUnauthorized:
		lvl = zapcore.InfoLevel
	}
	if ce := q.s.log.Check(lvl, "request failed"); ce != nil {
		ce.Write(zap.String("trans_id", q.txid), zap.String("method", q.r.Method),
			zap.String("path", q.r.URL.EscapedPath()), zap.Int("status", status), zap.Error(err))
	}
	if q.resp.Committed {
		return
	}
	h := q.w.Header()
	if q.unreadBody() {
		// The body was not (fully) read: do not let the next request on
		// this connection start in the middle of it.
		h.Set("Connection", "close")
	}
	if status == http.StatusUnauthorized {
		realm := q.p.Account
		if realm == "" {
			realm = "unknown"
		}
		h.Set("Www-Authenticate", "Swift realm=\""+realm+"\"")
		if q.s.ks.wwwAuth != "" {
			// keystonemiddleware's answer: where to get a token.
			h.Set("Www-Authenticate", "Keystone uri=\""+q.s.ks.wwwAuth+"\"")
		}
	}
	if status == 499 {
		// Nobody is listening; Swift only logs it.
		status = http.StatusBadRequest
		q.logStatus = 499
	}
	if ctype == "" {
		ctype = "text/html; charset=UTF-8"
	}
	h.Set("Content-Type", ctype)
	if q.r.Method == http.MethodHead || status == http.StatusNotModified {
		body = ""
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	q.w.WriteHeader(status)
	if q.r.Method != http.MethodHead {
		_, _ = q.w.Write([]byte(body))
	}
}

func errorsIsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
