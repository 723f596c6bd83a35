package peer

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptrace"
	"sync"
	"time"
)

// WarmConns is how many connections Warm opens to a peer by default: one
// for a chunk stream and one for a have request or a second stream.
const WarmConns = 2

// IdleConnTimeout is how long the Client's own transport keeps an idle
// peer connection open (Go's default is 90 s): warm connections save a
// handshake's round trip on the next read.
const IdleConnTimeout = 10 * time.Minute

// warmBarrier bounds how long Warm's requests wait for each other.
const warmBarrier = 2 * time.Second

// Warm opens n connections (n <= 0: WarmConns) to the peer at base ahead of
// need, with n concurrent empty have requests (signed and answered like
// any other, so that a TLS handshake and the peer's authentication are
// done too), and leaves them in the client's pool of idle connections for
// the next chunk stream or have request. It returns the first error.
// The node calls it when a peer joins.
func (c *Client) Warm(ctx context.Context, base string, n int) error {
	if n <= 0 {
		n = WarmConns
	}
	// Each request holds its connection until all n have one (or a
	// moment has passed), so that none reuses another's: n dials.
	var (
		mu     sync.Mutex
		got    int
		allGot = make(chan struct{})
	)
	trace := &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) {
		mu.Lock()
		got++
		if got == n {
			close(allGot)
		}
		mu.Unlock()
		t := time.NewTimer(warmBarrier)
		defer t.Stop()
		select {
		case <-allGot:
		case <-t.C:
		case <-ctx.Done():
		}
	}}
	tctx := httptrace.WithClientTrace(ctx, trace)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			resp, err := c.do(tctx, http.MethodPost, base, "/peer/v1/have", nil, "application/octet-stream")
			if err != nil {
				errs[i] = err
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			errs[i] = finish(resp)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
