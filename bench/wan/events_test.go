package main

import (
	"maps"
	"strings"
	"testing"
)

// TestCountEvents classifies log lines of the shapes Nitro's fetcher and
// Swift's proxy write.
func TestCountEvents(t *testing.T) {
	for _, tc := range []struct {
		name string
		log  string
		want map[string]int
	}{
		{"quiet", `{"level":"info","msg":"planned"}` + "\n", map[string]int{}},
		{"slow", `{"level":"warn","msg":"source far behind its predicted progress; re-planning its chunks","region":"a"}` + "\n",
			map[string]int{"slow_source": 1, "replan": 1}},
		{"failed", `{"level":"warn","msg":"source failed; re-planning its chunks onto the others"}` + "\n" +
			`{"level":"warn","msg":"chunk received twice"}` + "\n",
			map[string]int{"source_failed": 1, "replan": 1, "duplicate": 1}},
		{"hedge", `{"level":"info","msg":"hedged chunk to another holder"}` + "\n", map[string]int{"hedge": 1}},
		{"swift", "proxy-r0: ERROR with Object server 10.213.0.3:6200/d1 re: Trying to GET /v1/AUTH_bench/images/x: Timeout (60.0s)\n",
			map[string]int{"swift_error": 1}},
	} {
		if got := CountEvents(strings.NewReader(tc.log)); !maps.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
