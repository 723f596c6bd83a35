package peer

import (
	"context"
	"io"
	"time"
)

// pacer is a writer that delivers at most rate bytes/s on average since its
// first write, sleeping as needed: a token bucket with a burst of one
// slice of at most paceSlice bytes. It exists to emulate WAN links in
// tests (golang.org/x/time/rate is not a dependency).
type pacer struct {
	ctx   context.Context
	w     io.Writer
	rate  float64 // bytes/s, > 0
	start time.Time
	sent  int64
}

const paceSlice = 16 << 10

func (p *pacer) Write(b []byte) (int, error) {
	if p.start.IsZero() {
		p.start = time.Now()
	}
	n := 0
	for len(b) > 0 {
		k := min(len(b), paceSlice)
		due := p.start.Add(time.Duration(float64(p.sent+int64(k)) / p.rate * float64(time.Second)))
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
		p.sent += int64(m)
		if err != nil {
			return n, err
		}
		b = b[k:]
	}
	return n, nil
}
