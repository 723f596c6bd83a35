package fetch

// Transfers: a bounded record of the fetch jobs this node ran, for the
// status page (node/statuspage.go) and GET /status. A job registers when it
// starts, notes its first plan's prediction, counts its re-plans, and adds
// each stored chunk's bytes to its source's series; the fetcher keeps the
// last keepTransfers jobs (running or finished).

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

const (
	// keepTransfers bounds the jobs remembered (running and recent).
	keepTransfers = 16
	// maxPoints bounds the points of one source's series; a full series
	// drops every other point (keeping the first and last).
	maxPoints = 120
	// pointEvery is the least time between two points of a series (a
	// chunk arriving sooner updates the last point).
	pointEvery = 100 * time.Millisecond
)

// Transfer is one fetch job: the chunks it fetched, the plan's prediction
// and what happened.
type Transfer struct {
	ID        int64     `json:"id"`
	StartedAt time.Time `json:"started_at"`
	// FinishedAt is zero while the job runs.
	FinishedAt time.Time `json:"finished_at,omitzero"`
	Chunks     int       `json:"chunks"`
	// DoneChunks and FailedChunks are resolved so far.
	DoneChunks   int `json:"done_chunks"`
	FailedChunks int `json:"failed_chunks"`
	// StoredBytes is the sum of the fetched chunks' stored sizes so far.
	StoredBytes int64 `json:"stored_bytes"`
	// PredictedSeconds and LowerBoundSeconds are the first plan's makespan
	// and its fractional lower bound (0: not planned yet).
	PredictedSeconds  float64 `json:"predicted_seconds"`
	LowerBoundSeconds float64 `json:"lower_bound_seconds"`
	// ElapsedSeconds is the time since the start (to the finish when done).
	ElapsedSeconds float64 `json:"elapsed_seconds"`
	// Replans counts re-plans after a failed or slow source.
	Replans int `json:"replans"`
	// Hedges counts streams that missed a chunk's deadline and whose
	// chunks were asked of other holders at once (see hedge.go).
	Hedges  int              `json:"hedges"`
	Sources []TransferSource `json:"sources"`
}

// Running reports whether the job has not finished.
func (t *Transfer) Running() bool { return t.FinishedAt.IsZero() }

// TransferSource is one source node of a Transfer (a region has one per
// node the job could use).
type TransferSource struct {
	Region string `json:"region"`
	// Node is the node's name (its URL when membership gave none).
	Node string `json:"node,omitempty"`
	// PlannedBytes is what the first plan assigned to it (stored bytes)
	// and PlannedSeconds when the plan predicted it would finish.
	PlannedBytes   int64   `json:"planned_bytes"`
	PlannedSeconds float64 `json:"planned_seconds"`
	// Bytes is what it delivered (stored bytes of chunks stored).
	Bytes  int64 `json:"bytes"`
	Failed bool  `json:"failed"`
	// Points is the cumulative Bytes over time, at most maxPoints.
	Points []TransferPoint `json:"points"`
}

// TransferPoint is a source's cumulative bytes at Seconds after the start.
type TransferPoint struct {
	Seconds float64 `json:"s"`
	Bytes   int64   `json:"bytes"`
}

// transfers is the fetcher's ring of jobs.
type transfers struct {
	mu   sync.Mutex
	next int64
	all  []*Transfer // oldest first, at most keepTransfers
}

// start registers a job fetching chunks from the nodes srcs.
func (ts *transfers) start(chunks int, srcs []Peer) *Transfer {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.next++
	t := &Transfer{ID: ts.next, StartedAt: time.Now(), Chunks: chunks}
	for _, p := range srcs {
		t.Sources = append(t.Sources, TransferSource{Region: p.Region, Node: p.name()})
	}
	ts.all = append(ts.all, t)
	if len(ts.all) > keepTransfers {
		// Drop the oldest finished one; if all run, the oldest.
		i := slices.IndexFunc(ts.all, func(t *Transfer) bool { return !t.Running() })
		if i < 0 {
			i = 0
		}
		ts.all = slices.Delete(ts.all, i, i+1)
	}
	return t
}

// update runs fn on t under the lock.
func (ts *transfers) update(t *Transfer, fn func(t *Transfer)) {
	if t == nil {
		return
	}
	ts.mu.Lock()
	fn(t)
	ts.mu.Unlock()
}

// finish marks t finished and hands a copy of it to fn (nil: none).
func (ts *transfers) finish(t *Transfer, fn func(Transfer)) {
	var cp Transfer
	ts.update(t, func(t *Transfer) {
		t.FinishedAt = time.Now()
		t.ElapsedSeconds = t.FinishedAt.Sub(t.StartedAt).Seconds()
		cp = *t
		cp.Sources = slices.Clone(t.Sources)
	})
	if fn != nil {
		fn(cp)
	}
}

// planned notes a plan: the first gives the prediction, later ones are
// re-plans (counted where their cause is).
func (ts *transfers) planned(t *Transfer, makespan, lower float64, bytes []int64, finish []float64) {
	ts.update(t, func(t *Transfer) {
		if t.PredictedSeconds != 0 || t.LowerBoundSeconds != 0 {
			return
		}
		t.PredictedSeconds, t.LowerBoundSeconds = makespan, lower
		for i, b := range bytes {
			if i < len(t.Sources) {
				t.Sources[i].PlannedBytes, t.Sources[i].PlannedSeconds = b, finish[i]
			}
		}
	})
}

// stored adds n stored bytes from source i.
func (ts *transfers) stored(t *Transfer, i int, n int64) {
	ts.update(t, func(t *Transfer) {
		t.DoneChunks++
		t.StoredBytes += n
		if i < 0 || i >= len(t.Sources) {
			return
		}
		s := &t.Sources[i]
		s.Bytes += n
		now := time.Since(t.StartedAt).Seconds()
		if k := len(s.Points); k > 0 && now-s.Points[k-1].Seconds < pointEvery.Seconds() {
			s.Points[k-1] = TransferPoint{now, s.Bytes}
			return
		}
		if len(s.Points) >= maxPoints {
			kept := s.Points[:0]
			for k, p := range s.Points {
				if k%2 == 0 || k == len(s.Points)-1 {
					kept = append(kept, p)
				}
			}
			s.Points = kept
		}
		s.Points = append(s.Points, TransferPoint{now, s.Bytes})
	})
}

// snapshot returns deep copies of the jobs, newest first.
func (ts *transfers) snapshot() []Transfer {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	out := make([]Transfer, 0, len(ts.all))
	for i := len(ts.all) - 1; i >= 0; i-- {
		t := *ts.all[i]
		t.Sources = slices.Clone(t.Sources)
		for k := range t.Sources {
			t.Sources[k].Points = slices.Clone(t.Sources[k].Points)
		}
		end := t.FinishedAt
		if end.IsZero() {
			end = time.Now()
		}
		t.ElapsedSeconds = end.Sub(t.StartedAt).Seconds()
		out = append(out, t)
	}
	return out
}

// Transfers returns the fetch jobs this node ran recently (at most
// keepTransfers, running ones included), newest first.
func (f *Fetcher) Transfers() []Transfer { return f.transfers.snapshot() }

// Shares returns, for each live peer region that answered within the have
// timeout, the fraction (0..1) of rec's distinct chunks it holds (the
// largest of its nodes'): one have request per live node of another
// region. The local share is the caller's (Store.Has).
func (f *Fetcher) Shares(ctx context.Context, rec *recipe.Recipe) map[string]float64 {
	ids := rec.Unique()
	out := map[string]float64{}
	if len(ids) == 0 {
		return out
	}
	peers := slices.DeleteFunc(f.livePeers(), func(p Peer) bool { return p.Region == f.cfg.Region })
	for i, has := range f.haveSizes(ctx, peers, ids) {
		if has == nil {
			continue
		}
		n := 0
		for _, s := range has {
			if s > 0 {
				n++
			}
		}
		// A region holds what any of its nodes holds (per-node stores);
		// with a shared store its nodes answer alike.
		out[peers[i].Region] = max(out[peers[i].Region], float64(n)/float64(len(ids)))
	}
	return out
}
