package fetch

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestStarvedReaderDoesNotHedge: the whole process (reader and holders
// alike: a machine so loaded that none of them runs) is stopped for 1.5 s
// in the middle of a read from two paced holders. When it runs again,
// every stream's next frame is overdue by the wall clock, but no source
// stalled: the read completes with no hedge and no chunk received twice.
// Without noteLoop the late loop hedged every stream at once.
func TestStarvedReaderDoesNotHedge(t *testing.T) {
	const rate = 2 << 20
	a, c := newRegion(t, "a", rate), newRegion(t, "c", rate)
	data := incompressible(51, 8<<20)
	rec := write(t, a.store, data)
	copyChunks(t, a.store, c.store, rec.Refs)
	prior := Link{Bandwidth: rate, RTT: 5 * time.Millisecond}
	b := newReaderWith(t, "b", map[string]Link{"a": prior, "c": prior},
		func(cfg *Config) { cfg.Grace = 10 * time.Minute }, a, c) // only the hedge may move chunks

	wait := readInBackground(t, b, rec)
	time.Sleep(700 * time.Millisecond)
	// Stop this process for 1.5 s: a child sends SIGSTOP and, 1.5 s later,
	// SIGCONT (it is not stopped with us).
	pid := fmt.Sprint(os.Getpid())
	stop := exec.Command("sh", "-c", "kill -STOP "+pid+"; sleep 1.5; kill -CONT "+pid)
	t0 := time.Now()
	if err := stop.Run(); err != nil {
		t.Fatal(err)
	}
	t.Logf("stopped for %v", time.Since(t0))
	if got, err := wait(); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read: %d of %d bytes, %v", len(got), len(data), err)
	}
	st := b.f.Stats()
	t.Logf("stats %+v", st)
	if st.Hedges != 0 || st.HedgeWasted != 0 || st.DuplicateChunks != 0 {
		t.Fatalf("a starved reader hedged its streams: %d hedges, %d chunks wasted, %d duplicates", st.Hedges, st.HedgeWasted, st.DuplicateChunks)
	}
}
