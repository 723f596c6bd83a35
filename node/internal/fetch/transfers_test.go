package fetch

import (
	"bytes"
	"testing"
	"time"
)

// TestTransfersRecordTheRead reads an object from two holders and checks
// that the fetcher's transfer record matches what crossed the links.
func TestTransfersRecordTheRead(t *testing.T) {
	const rate = 4 << 20 // bytes/s
	a, c := newRegion(t, "a", rate), newRegion(t, "c", rate)
	data := incompressible(7, 3<<20)
	rec := write(t, a.store, data)
	copyChunks(t, a.store, c.store, rec.Refs)
	b := newReader(t, "b", map[string]Link{"a": {Bandwidth: rate}, "c": {Bandwidth: rate}}, a, c)
	got, err := read(t, b, rec, 0, -1)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatal(err)
	}
	total, by := received(b)
	var trs []Transfer
	deadline := time.Now().Add(30 * time.Second)
	for { // the job finishes just after its last chunk resolves
		trs = b.f.Transfers()
		if len(trs) == 1 && !trs[0].Running() || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(trs) != 1 || trs[0].Running() {
		t.Fatalf("transfers %+v, want one finished", trs)
	}
	tr := trs[0]
	if tr.StoredBytes != total || tr.DoneChunks != tr.Chunks || tr.FailedChunks != 0 {
		t.Fatalf("transfer %+v, want %d stored bytes, every chunk done", tr, total)
	}
	if tr.PredictedSeconds <= 0 || tr.LowerBoundSeconds <= 0 || tr.LowerBoundSeconds > tr.PredictedSeconds+1e-9 {
		t.Fatalf("prediction %v, lower bound %v", tr.PredictedSeconds, tr.LowerBoundSeconds)
	}
	var planned int64
	for _, s := range tr.Sources {
		if s.Bytes != by[s.Region] {
			t.Fatalf("source %s: %d bytes recorded, %d received", s.Region, s.Bytes, by[s.Region])
		}
		if s.Bytes > 0 && (len(s.Points) == 0 || s.Points[len(s.Points)-1].Bytes != s.Bytes) {
			t.Fatalf("source %s: series %v does not end at %d", s.Region, s.Points, s.Bytes)
		}
		planned += s.PlannedBytes
	}
	if planned != total {
		t.Fatalf("planned %d bytes, fetched %d", planned, total)
	}
}

// TestTransfersRingBounded checks the ring's bounds: jobs and points.
func TestTransfersRingBounded(t *testing.T) {
	var ts transfers
	for i := range keepTransfers + 5 {
		tr := ts.start(1, []Peer{{Region: "a"}})
		if i > 0 { // the first stays running: it is the one kept longest
			ts.update(tr, func(t *Transfer) { t.FinishedAt = time.Now() })
		}
		for range 3 * maxPoints {
			tr.StartedAt = tr.StartedAt.Add(-time.Second) // every call a new point
			ts.stored(tr, 0, 10)
		}
	}
	got := ts.snapshot()
	if len(got) != keepTransfers {
		t.Fatalf("%d transfers kept, want %d", len(got), keepTransfers)
	}
	if got[len(got)-1].ID != 1 || !got[len(got)-1].Running() {
		t.Fatalf("oldest kept %+v, want the running job 1", got[len(got)-1].ID)
	}
	for _, tr := range got {
		s := tr.Sources[0]
		if len(s.Points) > maxPoints || s.Bytes != 30*maxPoints || s.Points[len(s.Points)-1].Bytes != s.Bytes {
			t.Fatalf("series of %d points ending %+v, bytes %d", len(s.Points), s.Points[len(s.Points)-1], s.Bytes)
		}
	}
}
