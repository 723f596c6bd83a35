package fetch

import (
	"errors"
	"testing"
	"time"
)

// TestReadable: Readable says whether a span can be read without reading
// it: at once when its only holder is live (nothing crosses but the have
// answer), after the holder comes back when it was gone for a moment,
// and a *NoHolderError after HolderWait when it stays gone.
func TestReadable(t *testing.T) {
	a := newRegion(t, "a", 0)
	data := randomData(41, 1<<20)
	rec := write(t, a.store, data)
	for _, tc := range []struct {
		name     string
		wait     time.Duration
		goneFor  time.Duration // 0: live; < 0: gone for good
		wantFail bool
	}{
		{"live holder", time.Minute, 0, false},
		{"holder back within the wait", time.Minute, 700 * time.Millisecond, false},
		{"holder gone for good", 500 * time.Millisecond, -1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, view := newReaderView(t, "b", func(c *Config) { c.HolderWait = tc.wait }, a)
			if tc.goneFor != 0 {
				view.setDead("a", true)
			}
			if tc.goneFor > 0 {
				time.AfterFunc(tc.goneFor, func() { view.setDead("a", false) })
			}
			start := time.Now()
			err := b.f.Readable(t.Context(), rec, 0, len(rec.Refs))
			el := time.Since(start)
			t.Logf("%v after %v; stats %+v", err, el, b.f.Stats())
			var nh *NoHolderError
			switch {
			case tc.wantFail && (!errors.As(err, &nh) || el < tc.wait):
				t.Fatalf("got %v after %v, want a *NoHolderError after %v", err, el, tc.wait)
			case !tc.wantFail && err != nil:
				t.Fatalf("got %v, want readable", err)
			case tc.goneFor > 0 && el < tc.goneFor:
				t.Fatalf("readable after %v, before the holder came back (%v)", el, tc.goneFor)
			}
			if total, _ := received(b); total != 0 {
				t.Fatalf("Readable fetched %d bytes", total)
			}
		})
	}
}
