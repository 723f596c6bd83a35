package membership

import (
	"testing"
	"time"
)

// TestFitProbeTimeout: the UDP probe timeout always leaves the TCP
// fallback part of the probe interval (memberlist's probeNode gives the
// whole probe one interval).
func TestFitProbeTimeout(t *testing.T) {
	for _, tc := range []struct {
		name              string
		interval, timeout time.Duration
		want              time.Duration
	}{
		{"WAN preset", 5 * time.Second, 3 * time.Second, 3 * time.Second},
		{"1s interval with the preset's 3s timeout", time.Second, 3 * time.Second, 600 * time.Millisecond},
		{"2s interval with the preset's 3s timeout", 2 * time.Second, 3 * time.Second, 1200 * time.Millisecond},
		{"timeout equal to the interval", time.Second, time.Second, 600 * time.Millisecond},
		{"test timings kept", 200 * time.Millisecond, 160 * time.Millisecond, 160 * time.Millisecond},
		{"no interval", 0, 3 * time.Second, 3 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fitProbeTimeout(tc.interval, tc.timeout); got != tc.want {
				t.Errorf("fitProbeTimeout(%v, %v) = %v, want %v", tc.interval, tc.timeout, got, tc.want)
			}
			if got := fitProbeTimeout(tc.interval, tc.timeout); tc.interval > 0 && got >= tc.interval {
				t.Errorf("timeout %v leaves no time of the %v interval to the TCP fallback", got, tc.interval)
			}
		})
	}
}
