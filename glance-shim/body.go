package glanceshim

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"
)

// bodyReader wraps a PUT body so that the Backend sees an error, and
// commits nothing, when the body is shorter than declared (a client that
// disconnected), fails, stalls longer than timeout (Swift's
// client_timeout), or grows beyond the size limit.
type bodyReader struct {
	r        io.Reader
	declared int64 // Content-Length, or -1 for a chunked body
	max      int64
	n        int64 // bytes read so far
	eof      bool  // the whole body was read
	err      error // first client-side error, already classified

	// rc sets the connection's read deadline to timeout from now before a
	// read, renewed when more than timeout/8 has passed since it was set
	// (so a read waits between 7/8×timeout and timeout); nil rc or zero
	// timeout: no deadline.
	rc       *http.ResponseController
	timeout  time.Duration
	deadline time.Time // zero: none set
}

// renewDeadline sets the read deadline for the next read.
func (b *bodyReader) renewDeadline() {
	if b.rc == nil || b.timeout <= 0 {
		return
	}
	now := time.Now()
	if !b.deadline.IsZero() && b.deadline.Sub(now) > b.timeout-b.timeout/8 {
		return
	}
	if err := b.rc.SetReadDeadline(now.Add(b.timeout)); err != nil {
		b.rc = nil // not a connection (a test's ResponseRecorder)
		return
	}
	b.deadline = now.Add(b.timeout)
}

// clearDeadline removes the read deadline, once the body is done with:
// net/http keeps reading the connection in the background after the body
// ends, and a deadline passing then would cancel the request.
func (b *bodyReader) clearDeadline() {
	if b.rc != nil && !b.deadline.IsZero() {
		_ = b.rc.SetReadDeadline(time.Time{})
		b.deadline = time.Time{}
	}
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.eof {
		return 0, io.EOF
	}
	b.renewDeadline()
	n, err := b.r.Read(p)
	b.n += int64(n)
	switch {
	case b.declared < 0 && b.n > b.max:
		b.err = fmt.Errorf("chunked body over %d bytes: %w", b.max, errTooLarge)
		return n, b.err
	case b.declared >= 0 && b.n > b.declared:
		b.err = fmt.Errorf("body longer than Content-Length %d: %w", b.declared, errClientDisconnect)
		return n, b.err
	case err == io.EOF:
		if b.declared >= 0 && b.n != b.declared {
			b.err = fmt.Errorf("body of %d bytes, Content-Length %d: %w", b.n, b.declared, errClientDisconnect)
			return n, b.err
		}
		b.eof = true
		b.clearDeadline()
		return n, io.EOF
	case err != nil:
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			b.err = fmt.Errorf("reading body: %v: %w", err, errClientTimeout)
		} else {
			b.err = fmt.Errorf("reading body: %v: %w", err, errClientDisconnect)
		}
		return n, b.err
	}
	return n, nil
}

// copyBufSize is the buffer size of response streaming, in bytes.
const copyBufSize = 256 << 10

var copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// streamExactly copies n bytes of r to the response. If r fails or ends
// early (a corrupt or unavailable chunk), the failure is logged and the
// connection aborted (panic(http.ErrAbortHandler)), so that the client
// sees a truncated body and never silently wrong data. A failed write
// (the client went away) just returns the error.
func (q *request) streamExactly(r io.Reader, n int64, what string) error {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	var done int64
	for done < n {
		want := int64(len(buf))
		if n-done < want {
			want = n - done
		}
		m, rerr := io.ReadFull(r, buf[:want])
		if m > 0 {
			if _, werr := q.w.Write(buf[:m]); werr != nil {
				q.logStatus = 499
				return nil
			}
			done += int64(m)
		}
		if rerr != nil {
			q.abort(fmt.Errorf("%s: read failed after %d of %d bytes: %w", what, done, n, rerr))
		}
	}
	return nil
}

// abort logs err and aborts the response mid-body.
func (q *request) abort(err error) {
	q.s.log.Error("aborting response mid-body", zap.String("trans_id", q.txid),
		zap.String("method", q.r.Method), zap.String("path", q.r.URL.EscapedPath()), zap.Error(err))
	if f, ok := q.w.(http.Flusher); ok {
		f.Flush()
	}
	panic(http.ErrAbortHandler)
}
