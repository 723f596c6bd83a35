package glanceshim

import (
	"errors"
	"net/http"
)

// plainBadRequest is a 400 with body msg, sent as text/plain (the answers
// Swift builds with content_type='text/plain': bad listing parameters,
// X-Delete-At checks, copy checks).
func plainBadRequest(msg string) error { return plainErr(http.StatusBadRequest, msg) }

// plainErr is status with body msg, sent as text/plain.
func plainErr(status int, msg string) error {
	return &statusError{status: status, body: msg, contentType: "text/plain"}
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
	var se *statusError
	if errors.As(err, &se) && se.contentType == "text/plain" {
		return &statusError{status: se.status, body: se.body}
	}
	return err
}
