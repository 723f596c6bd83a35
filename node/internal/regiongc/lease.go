package regiongc

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gophercloud/gophercloud/v2"
)

// leaseObject is the lease's object name in Layout.GC().
const leaseObject = "lease"

// ErrLeaseHeld is returned (wrapped, in a *LeaseHeldError) when another
// node holds an unexpired lease, and when this node lost the race for a
// free one.
var ErrLeaseHeld = errors.New("regiongc: the gc lease is held by another node")

// LeaseHeldError says who holds the lease and until when.
type LeaseHeldError struct {
	// Owner is the holder's node name; Expires its expiry (holder's clock).
	Owner   string
	Expires time.Time
}

// Error describes the holder.
func (e *LeaseHeldError) Error() string {
	return fmt.Sprintf("%v: %s until %s", ErrLeaseHeld, e.Owner, e.Expires.UTC().Format(time.RFC3339))
}

// Unwrap returns ErrLeaseHeld.
func (e *LeaseHeldError) Unwrap() error { return ErrLeaseHeld }

// leaseBody is the lease object's JSON body.
type leaseBody struct {
	// Owner is the holder's node name.
	Owner string `json:"owner"`
	// Token is random per acquisition: read back, it tells the holder its
	// own write from another's.
	Token string `json:"token"`
	// Expires is the expiry in unix seconds, by the holder's clock.
	Expires int64 `json:"expires"`
}

// lease is the region's GC lease: at most one runner at a time in the
// common case, taken over after TTL when its holder dies. Swift offers no
// compare-and-swap, so the lease is best effort (write, settle, read
// back); the package doc argues why two holders at once only waste work.
type lease struct {
	sw     swift
	cont   string
	owner  string
	ttl    time.Duration
	settle time.Duration
	now    func() time.Time

	token string
}

// read returns the current lease and its X-Delete-At, or errNotFound.
// Swift answers 404 for an object past its X-Delete-At, reaped or not.
func (l *lease) read(ctx context.Context) (leaseBody, int64, error) {
	resp, err := l.sw.c.Get(ctx, l.sw.url(l.cont, leaseObject), nil, &gophercloud.RequestOpts{
		OkCodes: []int{200}, KeepResponseBody: true,
	})
	if err != nil {
		return leaseBody{}, 0, wrap("GET", l.cont, leaseObject, err)
	}
	defer resp.Body.Close()
	var b leaseBody
	if err := json.NewDecoder(resp.Body).Decode(&b); err != nil {
		// A torn or foreign body: treat as free, a write replaces it.
		return leaseBody{}, 0, nil
	}
	tag, _ := strconv.ParseInt(resp.Header.Get("X-Delete-At"), 10, 64)
	return b, tag, nil
}

// write PUTs the lease with a fresh expiry; create adds If-None-Match: *.
func (l *lease) write(ctx context.Context, create bool) error {
	b, _ := json.Marshal(leaseBody{Owner: l.owner, Token: l.token, Expires: l.now().Add(l.ttl).Unix()})
	h := map[string]string{
		"Content-Type": "application/json",
		// Server-side expiry, by the cluster's clock: a dead holder's
		// lease disappears even if no node's clock agrees with its JSON.
		"X-Delete-After": strconv.FormatInt(int64((l.ttl+time.Second-1)/time.Second), 10),
	}
	if create {
		h["If-None-Match"] = "*"
	}
	_, err := l.sw.c.Put(ctx, l.sw.url(l.cont, leaseObject), nil, nil, &gophercloud.RequestOpts{
		RawBody: bytes.NewReader(b), MoreHeaders: h, OkCodes: []int{201},
	})
	if gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		// The container is missing: make it, then try once more.
		if _, cerr := l.sw.c.Put(ctx, l.sw.c.ServiceURL(l.cont), nil, nil, &gophercloud.RequestOpts{OkCodes: []int{201, 202}}); cerr != nil {
			return fmt.Errorf("regiongc: create %s: %w", l.cont, cerr)
		}
		_, err = l.sw.c.Put(ctx, l.sw.url(l.cont, leaseObject), nil, nil, &gophercloud.RequestOpts{
			RawBody: bytes.NewReader(b), MoreHeaders: h, OkCodes: []int{201},
		})
	}
	return wrap("PUT", l.cont, leaseObject, err)
}

// acquire takes the lease if it is free, expired or already ours: write,
// wait settle, read back. A *LeaseHeldError means someone else has it.
func (l *lease) acquire(ctx context.Context) error {
	cur, _, err := l.read(ctx)
	exists := err == nil
	if err != nil && !errors.Is(err, errNotFound) {
		return err
	}
	if exists && cur.Owner != "" && cur.Owner != l.owner && time.Unix(cur.Expires, 0).After(l.now()) {
		return &LeaseHeldError{Owner: cur.Owner, Expires: time.Unix(cur.Expires, 0)}
	}
	var tok [16]byte
	_, _ = rand.Read(tok[:])
	l.token = hex.EncodeToString(tok[:])
	if err := l.write(ctx, !exists); err != nil {
		if errors.Is(err, errChanged) { // If-None-Match: another node created it first
			return l.held(ctx)
		}
		return err
	}
	// Settle: a racing writer's PUT lands within this window; Swift keeps
	// the newest, so both racers read the same winner back.
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(l.settle):
	}
	return l.check(ctx)
}

// check reads the lease back: nil if it is still ours.
func (l *lease) check(ctx context.Context) error {
	cur, _, err := l.read(ctx)
	if err != nil && !errors.Is(err, errNotFound) {
		return err
	}
	if err == nil && cur.Token == l.token {
		return nil
	}
	return &LeaseHeldError{Owner: cur.Owner, Expires: time.Unix(cur.Expires, 0)}
}

// held reports the current holder as a *LeaseHeldError.
func (l *lease) held(ctx context.Context) error {
	cur, _, err := l.read(ctx)
	if err != nil && !errors.Is(err, errNotFound) {
		return err
	}
	return &LeaseHeldError{Owner: cur.Owner, Expires: time.Unix(cur.Expires, 0)}
}

// renew extends the lease if it is still ours (check, then write: not
// atomic; see the package doc).
func (l *lease) renew(ctx context.Context) error {
	if err := l.check(ctx); err != nil {
		return err
	}
	return l.write(ctx, false)
}

// release deletes the lease if it is still ours: a DELETE conditional on
// the X-Delete-At Swift gave our last write, so a lease another node wrote
// since stays.
func (l *lease) release(ctx context.Context) error {
	cur, tag, err := l.read(ctx)
	if errors.Is(err, errNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if cur.Token != l.token {
		return nil
	}
	err = l.sw.deleteIf(ctx, l.cont, leaseObject, tag)
	if errors.Is(err, errNotFound) || errors.Is(err, errChanged) {
		return nil
	}
	return err
}

// hold runs fn with the lease: acquire, renew every TTL/3 while fn runs,
// release after. fn's context is cancelled if a renewal finds the lease
// lost (fn then stops at its next request: safe, see the package doc).
func (l *lease) hold(ctx context.Context, fn func(ctx context.Context) error) error {
	if err := l.acquire(ctx); err != nil {
		return err
	}
	runCtx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	var wg sync.WaitGroup
	lastOK := l.now()
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(l.ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				err := l.renew(runCtx)
				if err == nil {
					lastOK = l.now()
					continue
				}
				// Another holder: stop now. A failed request: retry at
				// the next tick while our last write is surely unexpired.
				if errors.Is(err, ErrLeaseHeld) || l.now().Sub(lastOK) > l.ttl/2 {
					cancel(fmt.Errorf("regiongc: lease lost: %w", err))
					return
				}
			}
		}
	}()
	err := fn(runCtx)
	close(done)
	wg.Wait() // no renewal after the release below
	if cause := context.Cause(runCtx); err != nil && cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause
	}
	cancel(nil)
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer rcancel()
	if rerr := l.release(rctx); err == nil && rerr != nil {
		err = fmt.Errorf("regiongc: release lease: %w", rerr)
	}
	return err
}
