package fetch

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"github.com/nitro-cloud/nitro/node/internal/peer"
	"github.com/nitro-cloud/nitro/node/internal/summary"
	"go.uber.org/zap"
)

// summaryOf returns the summary of s's chunks now as a peer receives it:
// built from the store's index, encoded, decoded.
func summaryOf(t testing.TB, s *chunkstore.Store) *summary.Remote {
	t.Helper()
	loc := summary.NewLocal(nil)
	if err := loc.Rebuild(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	gen, data, err := loc.Encoded()
	if err != nil {
		t.Fatal(err)
	}
	r, err := summary.Decode(gen, data)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// partialSetup: region a holds the whole object (its holding says so);
// region d holds every other chunk of it (through dedup: no holding
// record); the reader b holds none.
type partialSetup struct {
	a, d *region
	data []byte
	rec  *recipe.Recipe
}

func newPartialSetup(t testing.TB, rate float64, size int) *partialSetup {
	t.Helper()
	p := &partialSetup{a: newRegion(t, "a", rate), d: newRegion(t, "d", rate), data: incompressible(71, size)}
	p.rec = write(t, p.a.store, p.data)
	for i, ref := range p.rec.Refs {
		if i%2 == 1 {
			copyChunks(t, p.a.store, p.d.store, []recipe.Ref{ref})
		}
	}
	return p
}

// reader returns b over tr; sum, if not nil, is d's summary.
func (p *partialSetup) reader(t testing.TB, link Link, sum Summary, tr *eventTransport, hedge time.Duration) *reader {
	t.Helper()
	cl, err := peer.NewClient(peer.ClientConfig{Secret: secret, Region: "b", Node: "b"})
	if err != nil {
		t.Fatal(err)
	}
	tr.Client = cl
	rid := p.rec.ID()
	cfg := Config{Region: "b", Priors: map[string]Link{"a": link, "d": link}, Grace: 10 * time.Second, HedgeAfter: hedge,
		Holders: func(_ context.Context, id recipe.ID) ([]string, error) {
			if id == rid {
				return []string{"a"}, nil
			}
			return nil, nil
		}}
	if sum != nil {
		cfg.Summary = func(q Peer) Summary {
			if q.Region == "d" {
				return sum
			}
			return nil
		}
	}
	peers := func() []Peer { return []Peer{{Region: "a", URL: p.a.hs.URL}, {Region: "d", URL: p.d.hs.URL}} }
	st := openStore(t)
	f, err := New(cfg, st, peers, tr, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	return &reader{f: f, client: cl, store: st}
}

// TestSummaryStartsPartialHolders: region a holds the whole object and
// its holding says so; d holds every other chunk of it (no holding
// record: a partial holder through dedup) and b has d's chunk summary.
// With every have answer held back, the read asks both a and d for
// chunks, and both deliver, before any have answer has returned: d's
// share starts at once instead of after its have answer. The read is
// byte-exact with every chunk crossing once. When d's summary is stale
// (d dropped half the chunks it claims after it was built), those come
// back not-held and are asked of a: the read still completes byte-exact,
// every chunk stored once. Without summaries (the base branch's
// behaviour, summaries=off below), no chunk is asked of d before its
// answer: the test checks that it fails then.
func TestSummaryStartsPartialHolders(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stale bool
	}{
		{"summary right", false},
		{"summary stale", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const rate = 2 << 20
			p := newPartialSetup(t, rate, 12<<20)
			if len(p.rec.Refs) < 8 {
				t.Fatalf("%d refs: too few", len(p.rec.Refs))
			}
			var sum Summary
			if !noSummaries {
				sum = summaryOf(t, p.d.store)
			}
			dropped := 0
			if tc.stale {
				for i, ref := range p.rec.Refs {
					if i%4 == 1 {
						if err := p.d.store.Drop(t.Context(), ref.ID); err != nil {
							t.Fatal(err)
						}
						dropped++
					}
				}
			}
			tr := &eventTransport{release: make(chan struct{})}
			// Hedging off, as in TestSpeculativeStartFromEveryWholeHolder:
			// a hedge's copy on a loaded machine is not this test's waste.
			b := p.reader(t, Link{Bandwidth: rate, RTT: 50 * time.Millisecond}, sum, tr, -1)

			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			type result struct {
				src chunkstore.ChunkSource
				err error
			}
			done := make(chan result, 1)
			go func() {
				src, err := b.f.Source(ctx, p.rec, 0, len(p.rec.Refs))
				done <- result{src, err}
			}()
			// Wait (have answers held back) until every region asked
			// before the answers has delivered a frame (a not-held one
			// counts: d's first chunks may be the dropped ones).
			waitEarlyFrames(ctx, t, b.f, tr)
			early, frames := tr.counts()
			t.Logf("chunks asked before any have answer: %v (of %d missing), frames %v", early, len(p.rec.Refs), frames)
			if early["a"] == 0 || early["d"] == 0 {
				close(tr.release)
				<-done
				t.Fatalf("asked before the have answers: %v; want chunks from the whole holder a and the partial holder d", early)
			}
			close(tr.release)
			r := <-done
			if r.err != nil {
				t.Fatal(r.err)
			}
			rc, err := b.store.NewReader(ctx, p.rec, 0, -1, r.src)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(got, p.data) {
				t.Fatalf("read: %d of %d bytes, %v", len(got), len(p.data), err)
			}
			s := b.f.Stats()
			total, by := received(b)
			t.Logf("received %v; stats %+v", by, s)
			if s.DuplicateChunks != 0 || s.HedgeWasted != 0 || s.NoHolder != 0 || s.Chunks != int64(len(p.rec.Refs)) {
				t.Fatalf("stats %+v: want every chunk stored once", s)
			}
			if want := storedSize(t, p.a.store, p.rec.Refs); total != want {
				t.Fatalf("crossed %d bytes, want each chunk once: %d", total, want)
			}
			if by["d"] == 0 {
				t.Fatalf("received %v: want d's share", by)
			}
		})
	}
}

// noSummaries turns summaries off in TestSummaryStartsPartialHolders:
// the base branch's behaviour, to check that the test fails there.
var noSummaries = false

// BenchmarkPartialHolderRead: issue 13's scenario (a) in small: region a
// holds a 4 MiB image whole (its holding says so) and d every other chunk
// of it (dedup, no holding record); each is paced at 4 MiB/s towards the
// reader, over emulated 80 ms RTTs (eventTransport.delay on every have
// answer and before every stream's first frame); the reader holds none of
// it. summary=off starts from a at once and d joins after its have answer
// (the tail of a's stream moves to d: specCut); summary=on starts a's and
// d's shares at once. The fluid bound is 0.5 s of transfer plus one RTT;
// total-ms is the whole read, first-ms until the first chunk is stored.
func BenchmarkPartialHolderRead(b *testing.B) {
	const rate, rtt = 4 << 20, 80 * time.Millisecond
	p := newPartialSetup(b, rate, 4<<20)
	sum := summaryOf(b, p.d.store)
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("summary=%s", map[bool]string{false: "off", true: "on"}[on]), func(b *testing.B) {
			var first, total time.Duration
			n := 0
			for b.Loop() {
				b.StopTimer()
				tr := &eventTransport{delay: rtt}
				var s Summary
				if on {
					s = sum
				}
				r := p.reader(b, Link{Bandwidth: rate, RTT: rtt}, s, tr, 0)
				b.StartTimer()
				t0 := time.Now()
				src, err := r.f.Source(b.Context(), p.rec, 0, len(p.rec.Refs))
				if err != nil {
					b.Fatal(err)
				}
				<-src.(*source).wait[p.rec.Refs[0].ID].done
				first += time.Since(t0)
				rc, err := r.store.NewReader(b.Context(), p.rec, 0, -1, src)
				if err != nil {
					b.Fatal(err)
				}
				got, err := io.ReadAll(rc)
				rc.Close()
				total += time.Since(t0)
				n++
				if err != nil || !bytes.Equal(got, p.data) {
					b.Fatal(fmt.Errorf("read: %w", err))
				}
				if s := r.f.Stats(); s.DuplicateChunks != 0 {
					b.Fatalf("stats %+v", s)
				}
			}
			b.ReportMetric(float64(first.Milliseconds())/float64(n), "first-ms")
			b.ReportMetric(float64(total.Milliseconds())/float64(n), "total-ms")
		})
	}
}
