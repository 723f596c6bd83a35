package main

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// eventKinds classify a node's log lines (Nitro's JSON logs, Swift's
// proxy log) into the events the report counts per run: the first kind
// whose every pattern occurs in the lower-cased line wins.
var eventKinds = []struct {
	kind     string
	patterns []string
}{
	{"slow_source", []string{"far behind"}},
	{"slow_source", []string{"stall"}},
	{"slow_source", []string{"slow source"}},
	{"hedge", []string{"hedge"}},
	{"source_failed", []string{"source failed"}},
	{"replan", []string{"re-plan"}},
	{"replan", []string{"replan"}},
	{"duplicate", []string{"received twice"}},
	{"swift_error", []string{"error", "trying to"}},
	{"swift_error", []string{"error"}},
}

// CountEvents counts the events of a log: every line matching a kind of
// eventKinds once, under that kind. Re-plans caused by a slow or failed
// source also count as "replan" (their messages say "re-planning").
func CountEvents(r io.Reader) map[string]int {
	out := map[string]int{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := strings.ToLower(sc.Text())
		for _, k := range eventKinds {
			all := true
			for _, p := range k.patterns {
				all = all && strings.Contains(l, p)
			}
			if all {
				out[k.kind]++
				if k.kind != "replan" && (strings.Contains(l, "re-plan") || strings.Contains(l, "replan")) {
					out["replan"]++
				}
				break
			}
		}
	}
	return out
}

// keepLog copies the log at src from byte offset from on into
// resultsDir/rel and returns its events; a missing log has none.
func keepLog(src string, from int64, resultsDir, rel string) map[string]int {
	f, err := os.Open(src)
	if err != nil {
		return nil
	}
	defer f.Close()
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return nil
	}
	dst := filepath.Join(resultsDir, rel)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return nil
	}
	out, err := os.Create(dst)
	if err != nil {
		return nil
	}
	defer out.Close()
	return CountEvents(io.TeeReader(f, out))
}

// fileSize returns the size of path, 0 if it does not exist.
func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}
