package peer

import (
	"context"
	"io"
	"sync"
	"time"
)

// link is the emulated link to one destination region: every chunk stream
// to that region draws from it, so that concurrent streams (a hedge beside
// a running stream, parallel streams on one link) share the link's rate as
// they would share a real link, instead of each getting the full rate. It
// is a virtual clock: next is when the link is free again.
type link struct {
	mu   sync.Mutex
	next time.Time
}

// reserve books n bytes at rate bytes/s on the link for a stream that
// started at since and returns when they have crossed it.
func (l *link) reserve(n int, rate float64, since time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	// A link idle during a stream lends up to paceBurst bytes of credit,
	// as a real sender's socket buffer lets its writes run ahead of the
	// wire: the sender's work between frames overlaps the link's. None
	// from before the stream's first write.
	now := time.Now()
	floor := now.Add(-time.Duration(paceBurst / rate * float64(time.Second)))
	if floor.Before(since) {
		floor = since
	}
	if l.next.Before(floor) {
		l.next = floor
	}
	l.next = l.next.Add(time.Duration(float64(n) / rate * float64(time.Second)))
	return l.next
}

// links holds the emulated links by destination region.
type links struct {
	mu sync.Mutex
	m  map[string]*link
}

func (ls *links) get(region string) *link {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.m == nil {
		ls.m = map[string]*link{}
	}
	l := ls.m[region]
	if l == nil {
		l = &link{}
		ls.m[region] = l
	}
	return l
}

// pacer is a writer that delivers at most rate bytes/s over its link,
// shared with the other streams to the same region, sleeping as needed, in
// slices of at most paceSlice bytes. It exists to emulate WAN links in
// tests (golang.org/x/time/rate is not a dependency).
type pacer struct {
	ctx   context.Context
	w     io.Writer
	rate  float64 // bytes/s, > 0
	link  *link
	start time.Time // first write
}

const (
	paceSlice = 16 << 10
	paceBurst = 1 << 20
)

func (p *pacer) Write(b []byte) (int, error) {
	if p.start.IsZero() {
		p.start = time.Now()
	}
	n := 0
	for len(b) > 0 {
		k := min(len(b), paceSlice)
		due := p.link.reserve(k, p.rate, p.start)
		if d := time.Until(due); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-p.ctx.Done():
				t.Stop()
				return n, p.ctx.Err()
			case <-t.C:
			}
		}
		m, err := p.w.Write(b[:k])
		n += m
		if err != nil {
			return n, err
		}
		b = b[k:]
	}
	return n, nil
}
