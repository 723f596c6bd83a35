package fetch

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"github.com/nitro-cloud/nitro/node/internal/peer"
	"go.uber.org/zap"
)

var secret = []byte("fetch-test-cluster-secret-0123")

// region is one region of a test cluster: a store and its peer server.
type region struct {
	name  string
	store *chunkstore.Store
	srv   *peer.Server
	hs    *httptest.Server
	wrap  *faultStore
}

// faultStore lets a test make a holder serve a chunk corrupt.
type faultStore struct {
	*chunkstore.Store
	mu     sync.Mutex
	tamper map[recipe.ChunkID]bool
	// slowFor, if set, makes the store serve one chunk per 400 ms for
	// slowFor after its first read: a stream slow to start.
	slowFor   time.Duration
	slowStart time.Time
	// freezeAt, if > 0, makes the store serve that many chunks and then
	// block every read until thaw is closed (or the request ends): a
	// holder frozen mid-stream, as by SIGSTOP.
	freezeAt int
	served   int
	thaw     chan struct{}
	// delay, if > 0, is added to every read: a holder slow but alive.
	delay  time.Duration
	thawed bool // thaw is closed
	// firstAt and lastAt are when the store was first and last asked
	// for a chunk (zero: never).
	firstAt, lastAt time.Time
}

func (f *faultStore) GetStored(ctx context.Context, id recipe.ChunkID) (chunkstore.Stored, error) {
	f.mu.Lock()
	if f.slowFor > 0 && f.slowStart.IsZero() {
		f.slowStart = time.Now()
	}
	slow := f.slowFor > 0 && time.Since(f.slowStart) < f.slowFor
	f.served++
	if f.firstAt.IsZero() {
		f.firstAt = time.Now()
	}
	f.lastAt = time.Now()
	frozen := f.freezeAt > 0 && f.served > f.freezeAt
	f.mu.Unlock()
	if frozen {
		select {
		case <-f.thaw:
		case <-ctx.Done():
			return chunkstore.Stored{}, ctx.Err()
		}
	}
	f.mu.Lock()
	delay := f.delay
	f.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return chunkstore.Stored{}, ctx.Err()
		}
	}
	if slow {
		time.Sleep(400 * time.Millisecond)
	}
	st, err := f.Store.GetStored(ctx, id)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil && f.tamper[id] {
		st.Data[len(st.Data)/2] ^= 0x40 // corrupt on the wire: the receiver must notice
	}
	return st, err
}

// freeze makes f serve n more chunks and then block every read until
// unfreeze (at the latest when the test ends).
func (f *faultStore) freeze(t testing.TB, n int) {
	f.mu.Lock()
	f.freezeAt, f.thaw, f.thawed = f.served+n, make(chan struct{}), false
	f.mu.Unlock()
	t.Cleanup(func() { f.unfreeze(0) })
}

// unfreeze lets f's blocked reads go on, each read delayed by delay from
// now on.
func (f *faultStore) unfreeze(delay time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.freezeAt, f.delay = 0, delay
	if f.thaw != nil && !f.thawed {
		f.thawed = true
		close(f.thaw)
	}
}

// frozen reports whether a read of f is blocked by freeze (or has been).
func (f *faultStore) frozen() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.freezeAt > 0 && f.served > f.freezeAt
}

// servedCount returns how many chunks f has been asked for.
func (f *faultStore) servedCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.served
}

// waitUntil polls cond until it holds; the test fails, naming what it
// waited for, after a minute.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within a minute", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// readInBackground starts a read of the whole of rec by r; the function
// it returns waits for the read (the test fails after two minutes) and
// returns its bytes and error.
func readInBackground(t testing.TB, r *reader, rec *recipe.Recipe) func() ([]byte, error) {
	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		data, err := read(t, r, rec, 0, -1)
		done <- result{data, err}
	}()
	return func() ([]byte, error) {
		t.Helper()
		select {
		case res := <-done:
			return res.data, res.err
		case <-time.After(2 * time.Minute):
			t.Fatal("read did not finish")
			return nil, nil
		}
	}
}

// span returns when f was first and last asked for a chunk.
func (f *faultStore) span() (first, last time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.firstAt, f.lastAt
}

func openStore(t testing.TB) *chunkstore.Store {
	t.Helper()
	s, err := chunkstore.Open(chunkstore.Config{Dir: t.TempDir(), NoSync: true,
		MinSize: 16 << 10, AvgSize: 32 << 10, MaxSize: 128 << 10}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newRegion starts a region whose peer server paces streams to every
// other region at rate bytes/s (0: unlimited).
func newRegion(t testing.TB, name string, rate float64) *region {
	t.Helper()
	r := &region{name: name, store: openStore(t)}
	r.wrap = &faultStore{Store: r.store, tamper: map[recipe.ChunkID]bool{}}
	srv, err := peer.NewServer(peer.ServerConfig{Secret: secret, Region: name,
		RateLimit: func(string) float64 { return rate }}, r.wrap, nil, nil, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	r.srv = srv
	r.hs = httptest.NewServer(srv)
	t.Cleanup(r.hs.Close)
	return r
}

type reader struct {
	f      *Fetcher
	client *peer.Client
	store  *chunkstore.Store
}

func newReader(t testing.TB, name string, priors map[string]Link, peers ...*region) *reader {
	t.Helper()
	return newReaderWith(t, name, priors, nil, peers...)
}

// newReaderWith is newReader with the fetcher's Config adjusted by
// configure (nil: unchanged).
func newReaderWith(t testing.TB, name string, priors map[string]Link, configure func(*Config), peers ...*region) *reader {
	t.Helper()
	return newReaderOn(t, openStore(t), name, priors, configure, peers...)
}

// newReaderOn is newReaderWith over the given store.
func newReaderOn(t testing.TB, st *chunkstore.Store, name string, priors map[string]Link, configure func(*Config), peers ...*region) *reader {
	t.Helper()
	list := func() []Peer {
		var out []Peer
		for _, p := range peers {
			out = append(out, Peer{Region: p.name, URL: p.hs.URL})
		}
		return out
	}
	cfg := Config{Region: name, Priors: priors, Grace: 300 * time.Millisecond, DefaultBandwidth: 1 << 20}
	return newReaderFrom(t, st, cfg, configure, list)
}

// newReaderFrom starts a fetcher of region cfg.Region (its node named
// the same) over st, whose live peers are listed by peers, with cfg
// adjusted by configure (nil: unchanged).
func newReaderFrom(t testing.TB, st *chunkstore.Store, cfg Config, configure func(*Config), peers func() []Peer) *reader {
	t.Helper()
	c, err := peer.NewClient(peer.ClientConfig{Secret: secret, Region: cfg.Region, Node: cfg.Region})
	if err != nil {
		t.Fatal(err)
	}
	if configure != nil {
		configure(&cfg)
	}
	f, err := New(cfg, st, peers, c, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	return &reader{f: f, client: c, store: st}
}

func randomData(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	// Half compressible, so stored sizes differ from plain sizes.
	for i := 0; i < n/2; i++ {
		b[i] = "nitro "[i%6]
	}
	return b
}

// incompressible returns n random bytes: stored size equals plain size,
// so the planner's size estimates are exact.
func incompressible(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func write(t testing.TB, s *chunkstore.Store, data []byte) *recipe.Recipe {
	t.Helper()
	rec, _, err := s.Write(t.Context(), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func read(t testing.TB, r *reader, rec *recipe.Recipe, off, n int64) ([]byte, error) {
	t.Helper()
	ctx := t.Context()
	first, last := 0, len(rec.Refs)
	if n >= 0 {
		first, last = recipe.Span(rec.Offsets(), off, n)
	}
	src, err := r.f.Source(ctx, rec, first, last)
	if err != nil {
		return nil, err
	}
	rc, err := r.store.NewReader(ctx, rec, off, n, src)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// storedSize sums the stored sizes of the distinct chunks of refs in s.
func storedSize(t *testing.T, s *chunkstore.Store, refs []recipe.Ref) int64 {
	seen := map[recipe.ChunkID]bool{}
	var n int64
	for _, ref := range refs {
		if seen[ref.ID] {
			continue
		}
		seen[ref.ID] = true
		st, err := s.GetStored(t.Context(), ref.ID)
		if err != nil {
			t.Fatal(err)
		}
		n += int64(len(st.Data))
	}
	return n
}

func received(r *reader) (total int64, by map[string]int64) {
	by = map[string]int64{}
	for reg, lc := range r.client.ReceivedStats() {
		by[reg] = lc.Bytes
		total += lc.Bytes
	}
	return total, by
}

func TestReadFromOneRegionThenLocal(t *testing.T) {
	a := newRegion(t, "a", 0)
	data := randomData(1, 3<<20)
	rec := write(t, a.store, data)
	b := newReader(t, "b", nil, a)

	got, err := read(t, b, rec, 0, -1)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read: %v (equal %v)", err, bytes.Equal(got, data))
	}
	want := storedSize(t, a.store, rec.Refs)
	total, _ := received(b)
	sent := a.srv.SentStats()["b"].Bytes
	t.Logf("%d refs, %d plain bytes, %d stored bytes crossed; stats %+v", len(rec.Refs), len(data), total, b.f.Stats())
	if total != want || sent != want {
		t.Fatalf("crossed: received %d, sent %d, want stored size %d", total, sent, want)
	}
	// Second read is local.
	got, err = read(t, b, rec, 0, -1)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatal("second read", err)
	}
	if again, _ := received(b); again != total {
		t.Fatalf("second read crossed %d bytes", again-total)
	}
}

func TestVariantCrossesOnlyMissingChunks(t *testing.T) {
	a, c := newRegion(t, "a", 0), newRegion(t, "c", 0)
	base := randomData(2, 2<<20)
	recA := write(t, a.store, base)
	b := newReader(t, "b", nil, a, c)
	if _, err := read(t, b, recA, 0, -1); err != nil {
		t.Fatal(err)
	}
	before, _ := received(b)
	// A variant: the base with a changed middle, uploaded at c.
	variant := bytes.Clone(base)
	copy(variant[1<<20:], randomData(3, 100<<10))
	write(t, c.store, base) // c also knows the base
	recV := write(t, c.store, variant)
	var lacked []recipe.Ref
	has, _ := b.store.Has(t.Context(), idsOf(recV.Refs))
	for i, h := range has {
		if !h {
			lacked = append(lacked, recV.Refs[i])
		}
	}
	got, err := read(t, b, recV, 0, -1)
	if err != nil || !bytes.Equal(got, variant) {
		t.Fatal("variant", err)
	}
	after, _ := received(b)
	want := storedSize(t, c.store, lacked)
	t.Logf("variant: %d of %d refs lacked, %d stored bytes crossed", len(lacked), len(recV.Refs), after-before)
	if after-before != want || len(lacked) == 0 || len(lacked) > len(recV.Refs)/2 {
		t.Fatalf("variant crossed %d bytes, want %d (%d chunks lacked)", after-before, want, len(lacked))
	}
}

func idsOf(refs []recipe.Ref) []recipe.ChunkID {
	ids := make([]recipe.ChunkID, len(refs))
	for i, r := range refs {
		ids[i] = r.ID
	}
	return ids
}

// copyChunks copies the chunks of rec from one store to another.
func copyChunks(t testing.TB, from, to *chunkstore.Store, refs []recipe.Ref) {
	for _, ref := range refs {
		st, err := from.GetStored(t.Context(), ref.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := to.PutStored(t.Context(), ref.ID, st); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSplitInProportionToLinkSpeeds reads 6 MiB held by a (4 MiB/s) and c
// (2 MiB/s): the plan gives a about 2/3 of the bytes, the fetch carries
// the plan out as planned, and the two streams run at the same time.
//
// Everything asserted is deterministic: the plan (from the priors), the
// bytes each source delivered (equal to the plan when nothing re-plans)
// and the overlap of the two paced streams (each lasts about a second by
// the pacing, which load only lengthens). Wall-clock time is logged, not
// asserted: on a loaded 2-core CI runner the read back of 6 MiB took 2 s
// against a 1 s fluid bound with the split exactly as planned. The
// slow-source check and the hedge, which judge streams by the wall clock,
// are held off so that CPU starvation cannot move chunks; their own tests
// (TestSlowSourceReplanned, hedge_test.go) cover them.
func TestSplitInProportionToLinkSpeeds(t *testing.T) {
	const fast, slow = 4 << 20, 2 << 20 // bytes/s
	a, c := newRegion(t, "a", fast), newRegion(t, "c", slow)
	data := incompressible(4, 6<<20)
	rec := write(t, a.store, data)
	copyChunks(t, a.store, c.store, rec.Refs)
	b := newReaderWith(t, "b", map[string]Link{"a": {Bandwidth: fast}, "c": {Bandwidth: slow}},
		func(cfg *Config) { cfg.Grace, cfg.HedgeAfter = 10*time.Minute, -1 }, a, c)
	start := time.Now()
	got, err := read(t, b, rec, 0, -1)
	el := time.Since(start)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatal(err)
	}
	// The job records its end after its last chunk resolved the read
	// (its streams' goroutines have to return first): wait for it.
	waitUntil(t, "the fetch job's end", func() bool {
		trs := b.f.Transfers()
		return len(trs) != 1 || !trs[0].Running()
	})
	total, by := received(b)
	st := b.f.Stats()
	trs := b.f.Transfers()
	if len(trs) != 1 || trs[0].Running() {
		t.Fatalf("transfers %+v, want one, finished", trs)
	}
	tr := trs[0]
	src := map[string]TransferSource{}
	for _, s := range tr.Sources {
		src[s.Region] = s
	}
	planned := src["a"].PlannedBytes + src["c"].PlannedBytes
	share := float64(src["a"].PlannedBytes) / float64(planned)
	ideal := time.Duration(float64(total) / (fast + slow) * float64(time.Second))
	t.Logf("plan: a %d bytes by %.3fs, c %d bytes by %.3fs (a's share %.3f, want %.3f), makespan %.3fs, bound %.3fs",
		src["a"].PlannedBytes, src["a"].PlannedSeconds, src["c"].PlannedBytes, src["c"].PlannedSeconds,
		share, 2.0/3, tr.PredictedSeconds, tr.LowerBoundSeconds)
	t.Logf("a sent %d, c sent %d; %v elapsed, fluid bound %v (not asserted); stats %+v", by["a"], by["c"], el, ideal, st)
	if want := storedSize(t, a.store, rec.Refs); planned != want || total != want {
		t.Fatalf("planned %d bytes, received %d, want the stored size %d", planned, total, want)
	}
	if share < 0.6 || share > 0.73 {
		t.Fatalf("plan gives a a share of %.3f, want about 2/3", share)
	}
	// The plan's makespan is the fluid bound but for the last chunk.
	if tr.PredictedSeconds > tr.LowerBoundSeconds*1.05 {
		t.Fatalf("plan's makespan %.3fs, fluid bound %.3fs", tr.PredictedSeconds, tr.LowerBoundSeconds)
	}
	// Nothing moved the chunks off the plan: each source sent its part.
	if st.Replans != 0 || st.Plans != 1 || st.DuplicateChunks != 0 || tr.Hedges != 0 {
		t.Fatalf("the fetch left its plan: %+v", st)
	}
	for _, r := range []string{"a", "c"} {
		if by[r] != src[r].PlannedBytes || src[r].Bytes != src[r].PlannedBytes {
			t.Fatalf("%s sent %d (stored %d), planned %d", r, by[r], src[r].Bytes, src[r].PlannedBytes)
		}
	}
	// The two streams ran at the same time: each holder was asked for its
	// first chunk before the other was asked for its last (sequential
	// streams would take the sum of their times, 2 s, not the bound, 1 s;
	// each paced stream lasts about 1 s, so only a start delayed by that
	// long could break the overlap).
	ta0, ta1 := a.wrap.span()
	tc0, tc1 := c.wrap.span()
	if !ta0.Before(tc1) || !tc0.Before(ta1) {
		t.Fatalf("streams did not overlap: a served %v..%v, c %v..%v after the start",
			ta0.Sub(start), ta1.Sub(start), tc0.Sub(start), tc1.Sub(start))
	}
	t.Logf("a served %v..%v, c %v..%v after the start", ta0.Sub(start), ta1.Sub(start), tc0.Sub(start), tc1.Sub(start))
}

func TestHolderKilledMidRead(t *testing.T) {
	const rate = 2 << 20
	a, c := newRegion(t, "a", rate), newRegion(t, "c", rate)
	data := incompressible(5, 4<<20)
	rec := write(t, a.store, data)
	copyChunks(t, a.store, c.store, rec.Refs)
	b := newReader(t, "b", map[string]Link{"a": {Bandwidth: rate}, "c": {Bandwidth: rate}}, a, c)
	go func() {
		time.Sleep(300 * time.Millisecond)
		a.hs.CloseClientConnections()
		a.hs.Close()
	}()
	got, err := read(t, b, rec, 0, -1)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read with a killed holder: %v", err)
	}
	_, by := received(b)
	st := b.f.Stats()
	t.Logf("a sent %d before dying, c sent %d; stats %+v", by["a"], by["c"], st)
	if st.SourceFails < 1 || by["a"] == 0 {
		t.Fatalf("expected a failed source mid-read: %+v", st)
	}
	if trs := b.f.Transfers(); len(trs) != 1 || trs[0].Replans < 1 {
		t.Fatalf("transfers %+v, want one with a re-plan", trs)
	}
}

func TestCorruptChunkFetchedFromAnotherHolder(t *testing.T) {
	a, c := newRegion(t, "a", 0), newRegion(t, "c", 0)
	data := randomData(6, 1<<20)
	rec := write(t, a.store, data)
	copyChunks(t, a.store, c.store, rec.Refs)
	for _, ref := range rec.Refs { // a corrupts everything it sends
		a.wrap.tamper[ref.ID] = true
	}
	b := newReader(t, "b", map[string]Link{"a": {Bandwidth: 100e6}, "c": {Bandwidth: 1e6}}, a, c)
	got, err := read(t, b, rec, 0, -1)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read: %v", err)
	}
	if st := b.f.Stats(); st.CorruptFetch == 0 {
		t.Fatalf("no corrupt chunk detected: %+v", st)
	}
	// Only verified chunks were stored.
	for _, ref := range rec.Refs {
		if _, err := b.store.Chunk(t.Context(), ref); err != nil {
			t.Fatal(err)
		}
	}
}

func TestNoHolderIsAClearError(t *testing.T) {
	a := newRegion(t, "a", 0)
	data := randomData(7, 512<<10)
	rec := write(t, a.store, data)
	lost := rec.Refs[len(rec.Refs)/2]
	other := newRegion(t, "c", 0)
	copyChunks(t, a.store, other.store, rec.Refs[:len(rec.Refs)/2])
	// a is not live; nobody comes back for the missing chunk.
	b := newReaderWith(t, "b", nil, func(c *Config) { c.HolderWait = 200 * time.Millisecond }, other)
	_, err := read(t, b, rec, 0, -1)
	var nh *NoHolderError
	if !errors.As(err, &nh) || nh.ID != lost.ID || nh.Index != len(rec.Refs)/2 {
		t.Fatalf("want NoHolderError for ref %d, got %v", len(rec.Refs)/2, err)
	}
	t.Log(err)
}

func TestConcurrentReadsShareOneFetch(t *testing.T) {
	a := newRegion(t, "a", 8<<20)
	data := randomData(8, 2<<20)
	rec := write(t, a.store, data)
	b := newReader(t, "b", nil, a)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			got, err := read(t, b, rec, 0, -1)
			if err != nil || !bytes.Equal(got, data) {
				t.Error("concurrent read", err)
			}
		})
	}
	wg.Wait()
	if sent, want := a.srv.SentStats()["b"].Bytes, storedSize(t, a.store, rec.Refs); sent != want {
		t.Fatalf("sent %d bytes for 4 concurrent reads, want %d (once)", sent, want)
	}
	t.Logf("stats %+v", b.f.Stats())
}

func TestRangeReadFetchesOnlyCoveredChunks(t *testing.T) {
	a := newRegion(t, "a", 0)
	data := randomData(9, 2<<20)
	rec := write(t, a.store, data)
	b := newReader(t, "b", nil, a)
	off, n := int64(700<<10), int64(100<<10)
	got, err := read(t, b, rec, off, n)
	if err != nil || !bytes.Equal(got, data[off:off+n]) {
		t.Fatal("range", err)
	}
	first, last := recipe.Span(rec.Offsets(), off, n)
	want := storedSize(t, a.store, rec.Refs[first:last])
	if total, _ := received(b); total != want {
		t.Fatalf("range crossed %d, want %d (refs %d..%d)", total, want, first, last)
	}
}

func TestSlowSourceReplanned(t *testing.T) {
	// c is configured as fast but is actually slow: after the grace
	// period its chunks move to a.
	a, c := newRegion(t, "a", 4<<20), newRegion(t, "c", 64<<10)
	data := randomData(10, 3<<20)
	rec := write(t, a.store, data)
	copyChunks(t, a.store, c.store, rec.Refs)
	b := newReader(t, "b", map[string]Link{"a": {Bandwidth: 4 << 20}, "c": {Bandwidth: 4 << 20}}, a, c)
	start := time.Now()
	got, err := read(t, b, rec, 0, -1)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatal(err)
	}
	el := time.Since(start)
	_, by := received(b)
	st := b.f.Stats()
	t.Logf("%v; a sent %d, c sent %d; stats %+v; links %+v", el, by["a"], by["c"], st, b.f.Links())
	// A source this slow may miss its first chunk's deadline and be
	// hedged (hedge.go) before the slow check judges it: either moves it.
	if st.SlowSources+st.Hedges == 0 || el > 5*time.Second {
		t.Fatalf("slow source not re-planned (took %v)", el)
	}
	// The re-plan asks no chunk twice: what crossed is the stored size.
	total, _ := received(b)
	if want := storedSize(t, a.store, rec.Refs); st.DuplicateChunks != 0 || total != want {
		t.Fatalf("%d duplicate chunks; received %d bytes, want %d", st.DuplicateChunks, total, want)
	}
	if st.Plans < 2 || st.PlanNanos <= 0 || st.LastPlanNanos <= 0 {
		t.Fatalf("planner time not counted: %+v", st)
	}
}

func TestSlowStartNotReplanned(t *testing.T) {
	// c starts slowly (as TCP does on a long-RTT link: a few round trips
	// below the link's rate) and then runs at its rate: it is behind its
	// predicted progress early on, but not for long, and keeps its chunks.
	// (The old check, observed rate over the first Grace, moved them.)
	a, c := newRegion(t, "a", 1<<20), newRegion(t, "c", 1<<20)
	c.wrap.slowFor = 900 * time.Millisecond
	data := incompressible(12, 4<<20)
	rec := write(t, a.store, data)
	copyChunks(t, a.store, c.store, rec.Refs)
	prior := Link{Bandwidth: 1 << 20, RTT: 150 * time.Millisecond}
	b := newReader(t, "b", map[string]Link{"a": prior, "c": prior}, a, c)
	got, err := read(t, b, rec, 0, -1)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatal(err)
	}
	_, by := received(b)
	st := b.f.Stats()
	t.Logf("a sent %d, c sent %d; stats %+v", by["a"], by["c"], st)
	if st.SlowSources != 0 || st.Replans != 0 || st.DuplicateChunks != 0 {
		t.Fatalf("slow start taken for a slow source: %+v", st)
	}
}

func TestSlowSoleHolderKeepsItsStream(t *testing.T) {
	// a is the only holder and slower than its prior: cancelling its
	// stream could only ask a again, so the stream runs to the end and
	// every chunk crosses exactly once (seen in e2e TestGlanceMultiRegion
	// on loaded cores: the re-plan sent ~5% of the bytes twice).
	a := newRegion(t, "a", 256<<10)
	data := incompressible(11, 768<<10)
	rec := write(t, a.store, data)
	b := newReader(t, "b", map[string]Link{"a": {Bandwidth: 4 << 20}}, a)
	got, err := read(t, b, rec, 0, -1)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatal(err)
	}
	want := storedSize(t, a.store, rec.Refs)
	total, _ := received(b)
	sent := a.srv.SentStats()["b"].Bytes
	st := b.f.Stats()
	t.Logf("a sent %d, b received %d, stored size %d; stats %+v", sent, total, want, st)
	if st.Replans != 0 || sent != want || total != want {
		t.Fatalf("%d re-plans; sent %d, received %d, want %d each", st.Replans, sent, total, want)
	}
}

func TestExplain(t *testing.T) {
	a, c := newRegion(t, "a", 0), newRegion(t, "c", 0)
	data := randomData(11, 1<<20)
	rec := write(t, a.store, data)
	copyChunks(t, a.store, c.store, rec.Refs[:len(rec.Refs)/2])
	b := newReader(t, "b", map[string]Link{"a": {Bandwidth: 1e6}, "c": {Bandwidth: 1e6}}, a, c)
	copyChunks(t, a.store, b.store, rec.Refs[:1])
	rep, err := b.f.Explain(context.Background(), rec, 0, len(rec.Refs))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Refs[0] != "local" || rep.Local < 1 || rep.Makespan < rep.LowerBound*(1-1e-9) || rep.LowerBound <= 0 {
		t.Fatalf("report %+v", rep)
	}
	for i, w := range rep.Refs {
		if i >= len(rec.Refs)/2 && w != "a" && w != "local" {
			t.Fatalf("ref %d from %s, only a holds it", i, w)
		}
	}
	if total, _ := received(b); total != 0 {
		t.Fatal("Explain fetched")
	}
	// The plan's bytes are the stored (wire) sizes the holders reported,
	// not plain sizes times a compression estimate.
	var planned int64
	for _, s := range rep.Sources {
		planned += s.Bytes
	}
	seen := map[recipe.ChunkID]bool{rec.Refs[0].ID: true}
	var refs []recipe.Ref
	for _, r := range rec.Refs {
		if !seen[r.ID] {
			seen[r.ID] = true
			refs = append(refs, r)
		}
	}
	if want := storedSize(t, a.store, refs); planned != want {
		t.Fatalf("plan of %d bytes, stored size of the missing chunks %d", planned, want)
	}
}
