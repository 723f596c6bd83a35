package fetch

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"github.com/nitro-cloud/nitro/node/internal/peer"
	"go.uber.org/zap"
)

// eventTransport wraps the real peer client (HTTP over loopback to real
// peer servers) and records the order of requests. Have answers are held
// back until release is closed (nil: not held), which stands in for an
// arbitrarily long round trip and makes the order deterministic; delay,
// if set, is added to every have answer and before every chunk stream's
// first frame: an emulated RTT (netem would need root; peer.Server's
// pacing emulates only the rate).
type eventTransport struct {
	*peer.Client
	release chan struct{}
	delay   time.Duration

	mu     sync.Mutex
	events []string
	// haves counts the have answers returned; early the chunks asked of
	// each region while none had; frames the chunk frames delivered.
	haves, frames int
	early, by     map[string]int
}

func (e *eventTransport) note(ev string) {
	e.mu.Lock()
	e.events = append(e.events, ev)
	e.mu.Unlock()
}

func (e *eventTransport) log() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.events...)
}

func (e *eventTransport) Have(ctx context.Context, base string, ids []recipe.ChunkID) ([]int64, error) {
	sizes, err := e.Client.Have(ctx, base, ids)
	if e.release != nil {
		select {
		case <-e.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err := sleep(ctx, e.delay); err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.haves++
	e.mu.Unlock()
	e.note("have returned")
	return sizes, err
}

func (e *eventTransport) FetchChunks(ctx context.Context, base, region string, ids []recipe.ChunkID,
	fn func(id recipe.ChunkID, st chunkstore.Stored, err error) error) error {
	e.mu.Lock()
	if e.haves == 0 {
		if e.early == nil {
			e.early = map[string]int{}
		}
		e.early[region] += len(ids)
	}
	e.mu.Unlock()
	e.note("stream " + region)
	if err := sleep(ctx, e.delay); err != nil {
		return err
	}
	return e.Client.FetchChunks(ctx, base, region, ids, func(id recipe.ChunkID, st chunkstore.Stored, err error) error {
		e.mu.Lock()
		e.frames++
		if e.by == nil {
			e.by = map[string]int{}
		}
		e.by[region]++
		e.mu.Unlock()
		return fn(id, st, err)
	})
}

// counts returns the chunks asked of each region before any have answer
// had returned, and the frames each region delivered so far.
func (e *eventTransport) counts() (early, frames map[string]int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return maps.Clone(e.early), maps.Clone(e.by)
}

// waitEarlyFrames waits, with the have answers held back, until f has
// made its speculative start and every region tr saw asked before the
// answers has delivered a frame (a not-held one counts).
func waitEarlyFrames(ctx context.Context, t *testing.T, f *Fetcher, tr *eventTransport) {
	t.Helper()
	for {
		s := f.Stats()
		early, frames := tr.counts()
		ok := s.SpecStarts == 1 && len(early) > 0
		for r := range early {
			ok = ok && frames[r] > 0
		}
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("speculative streams did not deliver with the have answers held back; stats %+v, events %v", s, tr.log())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// variantSetup is issue 13's scenario (d): reader b holds a base image;
// region c holds a variant of it (a changed stretch in the middle) whole,
// and its holding says so; region a holds the base only.
type variantSetup struct {
	a, c          *region
	base, variant []byte
	recBase       *recipe.Recipe
	recV          *recipe.Recipe
}

func newVariantSetup(t testing.TB, rate float64, changed int) *variantSetup {
	t.Helper()
	v := &variantSetup{a: newRegion(t, "a", rate), c: newRegion(t, "c", rate)}
	v.base = incompressible(41, 2<<20)
	v.variant = bytes.Clone(v.base)
	copy(v.variant[len(v.base)-changed-100<<10:], incompressible(42, changed))
	v.recBase = write(t, v.a.store, v.base)
	write(t, v.c.store, v.base)
	v.recV = write(t, v.c.store, v.variant)
	return v
}

// reader returns a reader b with the base local, over tr (wrapping a real
// peer client), whose Holders names c for the variant (the namespace's
// holding) when spec is set.
func (v *variantSetup) reader(t testing.TB, spec bool, prior Link, tr *eventTransport) *reader {
	t.Helper()
	st := openStore(t)
	copyChunks(t, v.a.store, st, v.recBase.Refs)
	c, err := peer.NewClient(peer.ClientConfig{Secret: secret, Region: "b", Node: "b"})
	if err != nil {
		t.Fatal(err)
	}
	tr.Client = c
	peers := func() []Peer {
		return []Peer{{Region: "a", URL: v.a.hs.URL}, {Region: "c", URL: v.c.hs.URL}}
	}
	cfg := Config{Region: "b", Priors: map[string]Link{"a": prior, "c": prior}, Grace: 10 * time.Second}
	if spec {
		vid := v.recV.ID()
		cfg.Holders = func(_ context.Context, id recipe.ID) ([]string, error) {
			if id == vid {
				return []string{"c"}, nil
			}
			return nil, nil
		}
	}
	f, err := New(cfg, st, peers, tr, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	return &reader{f: f, client: c, store: st}
}

// lacked returns the refs of rec whose chunks s lacks, in object order.
func lacked(t testing.TB, s *chunkstore.Store, rec *recipe.Recipe) []recipe.Ref {
	t.Helper()
	has, err := s.Has(t.Context(), idsOf(rec.Refs))
	if err != nil {
		t.Fatal(err)
	}
	var out []recipe.Ref
	for i, h := range has {
		if !h {
			out = append(out, rec.Refs[i])
		}
	}
	return out
}

// TestSpeculativeStartBeforeHaveAnswers: a variant read whose missing
// chunks c holds (its holding covers the whole variant) streams its first
// missing chunk from c while every have answer is still held back: the
// chunk is stored before any have request has returned. Then the answers
// come, and the read is byte-exact with every chunk
// crossing once. When c's holding is stale (c lacks the first missing
// chunk after all; a holds it), or c is down, the read still completes
// from a; a larger variant is asked of c whole at once (c is its only
// whole holder, and a holds none of its new chunks). Before
// the speculative start the first missing chunk waited for the have
// answers: with them held back it never arrived.
func TestSpeculativeStartBeforeHaveAnswers(t *testing.T) {
	for _, tc := range []struct {
		name    string
		changed int     // plain bytes of the variant not in the base
		bw      float64 // the links' prior, bytes/s
		stale   bool
		down    bool // c is down (its holding stands; a holds the variant)
	}{
		{"holding right", 160 << 10, 8 << 20, false, false},
		{"holding stale", 160 << 10, 8 << 20, true, false},
		{"holder down", 160 << 10, 8 << 20, false, true},
		// Many chunks over a slower link: all asked of c at once.
		{"larger variant", 1 << 20, 1 << 20, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newVariantSetup(t, 0, tc.changed)
			tr := &eventTransport{release: make(chan struct{})}
			b := v.reader(t, true, Link{Bandwidth: tc.bw, RTT: 50 * time.Millisecond}, tr)
			miss := lacked(t, b.store, v.recV)
			if len(miss) < 2 || len(miss) == len(v.recV.Refs) {
				t.Fatalf("%d of %d refs missing", len(miss), len(v.recV.Refs))
			}
			first := miss[0].ID
			if tc.down {
				copyChunks(t, v.c.store, v.a.store, v.recV.Refs)
				v.c.hs.Close()
			}
			if tc.stale {
				// a gets the variant's chunks too; c loses the first
				// missing one, which its holding still claims.
				copyChunks(t, v.c.store, v.a.store, v.recV.Refs)
				if err := v.c.store.Drop(t.Context(), first); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			src, err := b.f.Source(ctx, v.recV, 0, len(v.recV.Refs))
			if err != nil {
				t.Fatal(err)
			}
			if !tc.stale && !tc.down {
				select {
				case <-src.(*source).wait[first].done:
				case <-time.After(30 * time.Second):
					t.Fatalf("first missing chunk not stored while the have answers are held; events %v", tr.log())
				}
				if ev := tr.log(); len(ev) == 0 || ev[0] != "stream c" {
					t.Fatalf("events %v: want the stream from c first, before any have answer", ev)
				}
			}
			close(tr.release)
			rc, err := b.store.NewReader(ctx, v.recV, 0, -1, src)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(got, v.variant) {
				t.Fatalf("variant read: %d of %d bytes, %v", len(got), len(v.variant), err)
			}
			st := b.f.Stats()
			total, by := received(b)
			t.Logf("events %v; received %v; stats %+v", tr.log(), by, st)
			if st.SpecStarts != 1 || st.SpecChunks != int64(len(miss)) || st.DuplicateChunks != 0 || st.NoHolder != 0 {
				t.Fatalf("stats %+v", st)
			}
			if trs := b.f.Transfers(); len(trs) != 1 || trs[0].PredictedSeconds <= 0 || trs[0].LowerBoundSeconds <= 0 {
				t.Fatalf("transfers %+v: want one with a prediction", trs)
			}
			if tc.stale || tc.down {
				if by["a"] == 0 {
					t.Fatalf("the chunk c lacks did not come from a: %v", by)
				}
			} else if want := storedSize(t, v.c.store, miss); total != want {
				t.Fatalf("crossed %d bytes, want each missing chunk once: %d", total, want)
			}
		})
	}
}

// BenchmarkVariantRead: issue 13's scenario (d) over emulated links of
// 4 MiB/s with an 80 ms RTT (eventTransport.delay): reader b holds the
// base image (2 MiB), c the whole variant, a the base; changed is the
// variant's new stretch (160 KiB: a few chunks; 1 MiB: more; both asked
// of c at once, its only whole holder).
// first-ms is from the read's start until the first missing chunk is
// stored (the reader's first byte that crossed a link), total-ms until
// the whole variant is read; spec=off waits for the have answers before
// its first request (2 RTT + transfer), spec=on starts from c at once
// (1 RTT + transfer).
func BenchmarkVariantRead(b *testing.B) {
	const rate, rtt = 4 << 20, 80 * time.Millisecond
	for _, changed := range []int{160 << 10, 1 << 20} {
		v := newVariantSetup(b, rate, changed)
		for _, spec := range []bool{false, true} {
			name := fmt.Sprintf("changed=%dKiB/spec=%s", changed>>10, map[bool]string{false: "off", true: "on"}[spec])
			b.Run(name, func(b *testing.B) {
				var first, total time.Duration
				n := 0
				for b.Loop() {
					b.StopTimer()
					tr := &eventTransport{delay: rtt}
					r := v.reader(b, spec, Link{Bandwidth: rate, RTT: rtt}, tr)
					miss := lacked(b, r.store, v.recV)
					b.StartTimer()
					t0 := time.Now()
					src, err := r.f.Source(b.Context(), v.recV, 0, len(v.recV.Refs))
					if err != nil {
						b.Fatal(err)
					}
					<-src.(*source).wait[miss[0].ID].done
					first += time.Since(t0)
					rc, err := r.store.NewReader(b.Context(), v.recV, 0, -1, src)
					if err != nil {
						b.Fatal(err)
					}
					got, err := io.ReadAll(rc)
					rc.Close()
					total += time.Since(t0)
					n++
					if err != nil || !bytes.Equal(got, v.variant) {
						b.Fatal(fmt.Errorf("variant read: %w", err))
					}
				}
				b.ReportMetric(float64(first.Milliseconds())/float64(n), "first-ms")
				b.ReportMetric(float64(total.Milliseconds())/float64(n), "total-ms")
			})
		}
	}
}

// TestSpeculativeStartFromEveryWholeHolder: regions a and c both hold the
// whole object and their holdings say so (Config.Holders); the reader
// holds none of it. With every have answer held back, the read asks both
// a and c for chunks (the plan over the two, each its whole share), and
// both streams deliver, before any have answer has returned. When the
// answers come they only correct the plan: when every holder was known,
// it stands (no stream is cut, every chunk was asked for before the
// answers); when a's holding is stale (a lacks every other chunk), the
// chunks it lacks come back not-held and are asked of c; when d, which
// holds part of the object and has no holding record, answers, the
// tails of the streams are planned again over a, c and d, and d delivers
// its share. Every read is byte-exact with every chunk crossing once.
// The links are paced (2 MiB/s each, 3 s for a share), so the streams are
// still running when the answers come. Before, the speculative start
// asked the one best region only: a (or c) got no request until the
// answers came, which this test checks first (it failed there).
func TestSpeculativeStartFromEveryWholeHolder(t *testing.T) {
	for _, tc := range []struct {
		name    string
		stale   bool // a lacks every other chunk, its holding says it holds all
		partial bool // d holds every third chunk and has no holding record
	}{
		{"holdings right", false, false},
		{"a's holding stale", true, false},
		{"partial holder joins after the answers", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const rate = 2 << 20
			a, c := newRegion(t, "a", rate), newRegion(t, "c", rate)
			data := incompressible(51, 12<<20)
			rec := write(t, a.store, data)
			write(t, c.store, data)
			if len(rec.Refs) < 6 {
				t.Fatalf("%d refs: want enough for a tail to move", len(rec.Refs))
			}
			regs := []*region{a, c}
			if tc.partial {
				d := newRegion(t, "d", rate)
				for i, ref := range rec.Refs {
					if i%3 == 0 {
						copyChunks(t, a.store, d.store, []recipe.Ref{ref})
					}
				}
				regs = append(regs, d)
			}
			if tc.stale {
				for i, ref := range rec.Refs {
					if i%2 == 0 {
						if err := a.store.Drop(t.Context(), ref.ID); err != nil {
							t.Fatal(err)
						}
					}
				}
			}
			tr := &eventTransport{release: make(chan struct{})}
			cl, err := peer.NewClient(peer.ClientConfig{Secret: secret, Region: "b", Node: "b"})
			if err != nil {
				t.Fatal(err)
			}
			tr.Client = cl
			link := Link{Bandwidth: rate, RTT: 50 * time.Millisecond}
			// Hedging is off: on a loaded CI machine a stream can miss a
			// deadline and have a window asked twice (HedgeWasted), which the
			// once-only byte count below would take for a speculative
			// stream's fault; hedges have their own tests (hedge_test.go).
			cfg := Config{Region: "b", Priors: map[string]Link{"a": link, "c": link, "d": link}, Grace: 10 * time.Second, HedgeAfter: -1,
				Holders: func(_ context.Context, id recipe.ID) ([]string, error) {
					if id == rec.ID() {
						return []string{"a", "c"}, nil
					}
					return nil, nil
				}}
			peers := func() []Peer {
				var out []Peer
				for _, r := range regs {
					out = append(out, Peer{Region: r.name, URL: r.hs.URL})
				}
				return out
			}
			st := openStore(t)
			f, err := New(cfg, st, peers, tr, zap.NewNop())
			if err != nil {
				t.Fatal(err)
			}
			b := &reader{f: f, client: cl, store: st}

			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			type result struct {
				src chunkstore.ChunkSource
				err error
			}
			done := make(chan result, 1)
			// Source returns once every chunk is placed on a holder.
			go func() {
				src, err := b.f.Source(ctx, rec, 0, len(rec.Refs))
				done <- result{src, err}
			}()
			// Wait (have answers held back) until every region asked
			// before the answers has delivered a frame.
			waitEarlyFrames(ctx, t, b.f, tr)
			early, frames := tr.counts()
			s := b.f.Stats()
			t.Logf("chunks asked before any have answer: %v (of %d missing), frames %v; stats %+v", early, len(rec.Refs), frames, s)
			if early["a"] == 0 || early["c"] == 0 || early["d"] != 0 {
				t.Fatalf("asked before the have answers: %v; want chunks from both whole holders a and c, none from d", early)
			}
			if s.SpecStreams != 2 || s.SpecChunks != int64(len(rec.Refs)) {
				t.Fatalf("stats %+v: want 2 speculative streams asked for every chunk", s)
			}
			close(tr.release)
			r := <-done
			if r.err != nil {
				t.Fatal(r.err)
			}
			rc, err := b.store.NewReader(ctx, rec, 0, -1, r.src)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("read: %d of %d bytes, %v", len(got), len(data), err)
			}
			s = b.f.Stats()
			total, by := received(b)
			t.Logf("received %v; stats %+v", by, s)
			if s.DuplicateChunks != 0 || s.HedgeWasted != 0 || s.NoHolder != 0 || s.Chunks != int64(len(rec.Refs)) {
				t.Fatalf("stats %+v: want every chunk stored once", s)
			}
			if want := storedSize(t, c.store, rec.Refs); total != want {
				t.Fatalf("crossed %d bytes, want each chunk once: %d", total, want)
			}
			if cut := s.SpecCuts == 1 && s.SpecMoved > 0; cut != tc.partial {
				t.Fatalf("stats %+v: want the streams cut short only when a partial holder answers", s)
			}
			if tc.partial && by["d"] == 0 {
				t.Fatalf("received %v: want d, a partial holder, in the plan of the tails", by)
			}
		})
	}
}

// BenchmarkWholeHoldersRead: issue 13's scenario (a) with every holder
// whole (bench/wan --full-replicas) in small: regions a and c both hold a
// 4 MiB image, each paced at 4 MiB/s towards the reader, over emulated
// 80 ms RTTs (eventTransport.delay on every have answer and before every
// stream's first frame); the reader holds none of it. holdings=none plans
// after the have answers (2 RTT before the first byte on every link);
// holdings=c starts from c alone meanwhile, with the whole plan, and a,
// whose holding is not known, takes over the tail of c's stream when its
// have answer comes (specCut); holdings=a,c starts from both at once. The fluid bound is 0.5 s of
// transfer plus one RTT; total-ms is the whole read, first-ms until the
// first chunk is stored.
func BenchmarkWholeHoldersRead(b *testing.B) {
	const rate, rtt = 4 << 20, 80 * time.Millisecond
	a, c := newRegion(b, "a", rate), newRegion(b, "c", rate)
	data := incompressible(61, 4<<20)
	rec := write(b, a.store, data)
	write(b, c.store, data)
	for _, holdings := range [][]string{nil, {"c"}, {"a", "c"}} {
		name := "holdings=none"
		if holdings != nil {
			name = "holdings=" + strings.Join(holdings, ",")
		}
		b.Run(name, func(b *testing.B) {
			var first, total time.Duration
			n := 0
			for b.Loop() {
				b.StopTimer()
				tr := &eventTransport{delay: rtt}
				cl, err := peer.NewClient(peer.ClientConfig{Secret: secret, Region: "b", Node: "b"})
				if err != nil {
					b.Fatal(err)
				}
				tr.Client = cl
				link := Link{Bandwidth: rate, RTT: rtt}
				cfg := Config{Region: "b", Priors: map[string]Link{"a": link, "c": link}, Grace: 10 * time.Second}
				if holdings != nil {
					cfg.Holders = func(context.Context, recipe.ID) ([]string, error) { return holdings, nil }
				}
				peers := func() []Peer { return []Peer{{Region: "a", URL: a.hs.URL}, {Region: "c", URL: c.hs.URL}} }
				st := openStore(b)
				f, err := New(cfg, st, peers, tr, zap.NewNop())
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				t0 := time.Now()
				src, err := f.Source(b.Context(), rec, 0, len(rec.Refs))
				if err != nil {
					b.Fatal(err)
				}
				<-src.(*source).wait[rec.Refs[0].ID].done
				first += time.Since(t0)
				rc, err := st.NewReader(b.Context(), rec, 0, -1, src)
				if err != nil {
					b.Fatal(err)
				}
				got, err := io.ReadAll(rc)
				rc.Close()
				total += time.Since(t0)
				n++
				if err != nil || !bytes.Equal(got, data) {
					b.Fatal(fmt.Errorf("read: %w", err))
				}
				if s := f.Stats(); s.DuplicateChunks != 0 {
					b.Fatalf("stats %+v", s)
				}
			}
			b.ReportMetric(float64(first.Milliseconds())/float64(n), "first-ms")
			b.ReportMetric(float64(total.Milliseconds())/float64(n), "total-ms")
		})
	}
}

// TestFrozenWholeHolderDuringSpeculativeStart: a and c both hold the whole
// object and their holdings say so; c freezes after 20 chunks of its
// speculative share (its stream asked for half the object before any have
// answer). The stall is hedged onto a as for a planned stream (hedge.go):
// the read completes byte-exact with no chunk received twice.
func TestFrozenWholeHolderDuringSpeculativeStart(t *testing.T) {
	const rate = 2 << 20
	a, c := newRegion(t, "a", rate), newRegion(t, "c", rate)
	c.wrap.freezeAt, c.wrap.thaw = 20, make(chan struct{})
	t.Cleanup(func() { close(c.wrap.thaw) }) // runs after the servers' Close: LIFO
	data := incompressible(22, 6<<20)
	rec := write(t, a.store, data)
	copyChunks(t, a.store, c.store, rec.Refs)
	prior := Link{Bandwidth: rate, RTT: 5 * time.Millisecond}
	b := newReaderWith(t, "b", map[string]Link{"a": prior, "c": prior}, func(cfg *Config) {
		cfg.Grace = 10 * time.Minute
		cfg.Holders = func(context.Context, recipe.ID) ([]string, error) { return []string{"a", "c"}, nil }
	}, a, c)
	got, err := read(t, b, rec, 0, -1)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read with a frozen holder: %d of %d bytes, %v", len(got), len(data), err)
	}
	st := b.f.Stats()
	_, by := received(b)
	t.Logf("received %v; stats %+v", by, st)
	if st.SpecStreams != 2 || st.Hedges < 1 || st.DuplicateChunks != 0 || st.NoHolder != 0 {
		t.Fatalf("stats %+v: want both speculative streams, a hedge, no chunk twice", st)
	}
}
