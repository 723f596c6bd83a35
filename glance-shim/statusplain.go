package glanceshim

import (
	"errors"
	"net/http"
)

// plainError is a statusError Swift sends as text/plain instead of its
// default text/html (the answers it builds with content_type='text/plain':
// bad listing parameters, X-Delete-At checks, copy checks).
type plainError struct {
	statusError
	ct string // "" : text/plain
}

// Unwrap exposes the status and body to statusOf.
func (p *plainError) Unwrap() error { return &p.statusError }

// plainBadRequest is a 400 with body msg, sent as text/plain.
func plainBadRequest(msg string) error {
	return &plainError{statusError: statusError{status: http.StatusBadRequest, body: msg}}
}

// plainErr is status with body msg, sent as text/plain.
func plainErr(status int, msg string) error {
	return &plainError{statusError: statusError{status: status, body: msg}}
}

// errContentType is the Content-Type of err's answer.
func errContentType(err error) string {
	var pe *plainError
	if errors.As(err, &pe) {
		if pe.ct != "" {
			return pe.ct
		}
		return "text/plain"
	}
	return "text/html; charset=UTF-8"
}

// headLength is the Content-Length of err's answer to a HEAD: swob keeps
// the length of a body given explicitly (e.g. "Bad URL") and sends 0
// for a status' default body, which it only builds when iterating.
func headLength(err error) int {
	var se *statusError
	if errors.As(err, &se) {
		return len(se.body)
	}
	return 0
}

// htmlError turns a text/plain error into swob's default text/html one,
// same status and body (the account server's parameter errors).
func htmlError(err error) error {
	var pe *plainError
	if errors.As(err, &pe) {
		return &pe.statusError
	}
	return err
}
