package summary

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"go.uber.org/zap"
)

func openStore(t *testing.T) *chunkstore.Store {
	t.Helper()
	s, err := chunkstore.Open(chunkstore.Config{Dir: t.TempDir(), NoSync: true}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func encodeDecode(t *testing.T, l *Local) *Remote {
	t.Helper()
	gen, data, err := l.Encoded()
	if err != nil {
		t.Fatal(err)
	}
	r, err := Decode(gen, data)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestLocalSummary: a summary rebuilt from a real store holds every
// stored chunk; a chunk stored since (the store's OnStored hook) is added
// with a new generation; a dropped one stays until the next rebuild; the
// false-positive rate is near FalsePositive.
func TestLocalSummary(t *testing.T) {
	ctx := t.Context()
	st := openStore(t)
	l := NewLocal(nil)
	if gen, data, _ := l.Encoded(); gen != 0 || data != nil {
		t.Fatalf("unbuilt summary: gen %d, %d bytes", gen, len(data))
	}
	st.OnStored(l.Add)
	var ids []recipe.ChunkID
	for i := range 2000 {
		id, err := st.Put(ctx, []byte(fmt.Sprintf("chunk %d", i)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := l.Rebuild(ctx, st); err != nil {
		t.Fatal(err)
	}
	r := encodeDecode(t, l)
	for _, id := range ids {
		if !r.MayHold(id) {
			t.Fatalf("summary lacks %s", id.Short())
		}
	}
	fp := 0
	const probes = 20000
	for i := range probes {
		if r.MayHold(recipe.Sum([]byte(fmt.Sprintf("absent %d", i)))) {
			fp++
		}
	}
	if rate := float64(fp) / probes; rate > 3*FalsePositive {
		t.Fatalf("false-positive rate %.4f, want about %.2f", rate, FalsePositive)
	}
	gen := r.Generation
	id, err := st.Put(ctx, []byte("late chunk"))
	if err != nil {
		t.Fatal(err)
	}
	if r := encodeDecode(t, l); r.Generation == gen || !r.MayHold(id) {
		t.Fatalf("added chunk: generation %d (was %d), held %v", r.Generation, gen, r.MayHold(id))
	}
	if err := st.Drop(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if !encodeDecode(t, l).MayHold(ids[0]) {
		t.Fatal("a dropped chunk left the summary before a rebuild")
	}
	if s := l.Stats(); s.Chunks != 2001 || s.Bytes == 0 || s.Built.IsZero() {
		t.Fatalf("stats %+v", s)
	}
}

// TestDecodeRefuses: malformed or oversized encodings are refused before
// anything is allocated for them.
func TestDecodeRefuses(t *testing.T) {
	hdr := func(m, k, bits uint64, n int) []byte {
		b := make([]byte, 24+n)
		binary.BigEndian.PutUint64(b, m)
		binary.BigEndian.PutUint64(b[8:], k)
		binary.BigEndian.PutUint64(b[16:], bits)
		return b
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"short header", make([]byte, 10)},
		{"huge bit count", hdr(1<<40, 7, 1<<40, 64)},
		{"m and bits differ", hdr(512, 7, 1024, 64)},
		{"no hash", hdr(512, 0, 512, 64)},
		{"truncated bits", hdr(512, 7, 512, 8)},
		{"too large", make([]byte, MaxBytes+1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Decode(1, tc.data); err == nil {
				t.Fatal("decoded")
			}
		})
	}
	if _, err := Decode(1, make([]byte, MaxBytes+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized: %v", err)
	}
}

// TestReplicas: a peer's summary is fetched once, then only its
// generation is asked for until the interval passes; an unchanged answer
// keeps it; a store no longer among the targets is dropped. The fetch
// function stands in for the peer protocol (its endpoint has its own
// tests in node/internal/peer).
func TestReplicas(t *testing.T) {
	ctx := t.Context()
	st := openStore(t)
	l := NewLocal(nil)
	if err := l.Rebuild(ctx, st); err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1000, 0)
	var asked []uint64
	fetch := func(_ context.Context, url string, have uint64) (Answer, error) {
		asked = append(asked, have)
		gen, data, err := l.Encoded()
		if gen == have {
			data = nil
		}
		return Answer{Gen: gen, Full: data}, err
	}
	rs := NewReplicas(fetch, 30*time.Second, func() time.Time { return now }, nil)
	tg := []Target{{Key: "r1/store", URL: "u1"}, {Key: "r1/store", URL: "u2"}}
	rs.Refresh(ctx, tg)
	if rs.Get("r1/store") == nil || len(asked) != 1 || asked[0] != 0 {
		t.Fatalf("first refresh: asked %v", asked)
	}
	rs.Refresh(ctx, tg) // within the interval: not asked
	now = now.Add(31 * time.Second)
	rs.Refresh(ctx, tg)
	if len(asked) != 2 || asked[1] == 0 || rs.Get("r1/store") == nil {
		t.Fatalf("refresh after the interval: asked %v", asked)
	}
	rs.Refresh(ctx, nil)
	if rs.Get("r1/store") != nil || len(rs.Stats()) != 0 {
		t.Fatal("summary of a gone store kept")
	}
}

// serve answers a summary fetch as the peer endpoint does: a delta when
// Local.Delta offers one, else the whole summary.
func serve(l *Local, have uint64) (Answer, error) {
	if gen, ids, ok := l.Delta(have); ok {
		return Answer{Gen: gen, Delta: ids}, nil
	}
	gen, data, err := l.Encoded()
	return Answer{Gen: gen, Full: data}, err
}

// TestDeltas: a summary that only grew travels as the chunk IDs added
// since the peer's generation, and the peer's copy then answers as the
// whole would; a rebuild that drops nothing keeps the generation (nothing
// resent); one that drops a chunk, a peer too far behind, or a delta
// larger than the whole sends the whole; generations of a restarted node
// are above those of its earlier run.
func TestDeltas(t *testing.T) {
	ctx := t.Context()
	st := openStore(t)
	clock := time.Unix(1_800_000_000, 0)
	l := NewLocal(func() time.Time { return clock })
	st.OnStored(l.Add)
	var ids []recipe.ChunkID
	put := func(n int) {
		for range n {
			id, err := st.Put(ctx, []byte(fmt.Sprintf("chunk %d", len(ids))))
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
	}
	put(5000)
	if err := l.Rebuild(ctx, st); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := l.Delta(0); ok {
		t.Fatal("a delta against no summary")
	}
	var asked []uint64
	rs := NewReplicas(func(_ context.Context, _ string, have uint64) (Answer, error) {
		asked = append(asked, have)
		return serve(l, have)
	}, time.Second, func() time.Time { return clock }, nil)
	tg := []Target{{Key: "r1/node/a", URL: "u"}}
	refresh := func() *Remote {
		t.Helper()
		clock = clock.Add(2 * time.Second)
		rs.Refresh(ctx, tg)
		r := rs.Get("r1/node/a")
		if r == nil {
			t.Fatalf("no summary: %+v", rs.Stats())
		}
		return r
	}
	r0 := refresh()
	put(40)
	r1 := refresh()
	gen, _, _ := l.Encoded()
	if r1.Generation != gen || r1.Generation != r0.Generation+40 {
		t.Fatalf("after 40 puts: generation %d, want %d", r1.Generation, gen)
	}
	for _, id := range ids {
		if !r1.MayHold(id) {
			t.Fatalf("delta copy lacks %s", id.Short())
		}
	}
	if r0.MayHold(ids[len(ids)-1]) {
		t.Log("the old copy holds the new chunk by a false positive")
	}
	want := encodeDecode(t, l)
	for i := range 20000 {
		id := recipe.Sum([]byte(fmt.Sprintf("absent %d", i)))
		if r1.MayHold(id) != want.MayHold(id) {
			t.Fatalf("delta copy and whole summary disagree on %s", id.Short())
		}
	}
	if s := rs.Stats()[0]; s.Wholes != 1 || s.Deltas != 1 {
		t.Fatalf("stats %+v, want 1 whole and 1 delta", s)
	}

	// Unchanged: a delta of nothing.
	if g, d, ok := l.Delta(gen); !ok || g != gen || len(d) != 0 {
		t.Fatalf("unchanged: gen %d, %d ids, ok %v", g, len(d), ok)
	}
	// A rebuild that drops nothing keeps the generation.
	if err := l.Rebuild(ctx, st); err != nil {
		t.Fatal(err)
	}
	if g, _, _ := l.Encoded(); g != gen {
		t.Fatalf("rebuild without drops: generation %d, was %d", g, gen)
	}
	// A delta as large as the whole is not sent.
	if _, _, ok := l.Delta(r0.Generation - 1); ok {
		t.Fatal("a delta from before the rebuild")
	}
	put(300) // 300 × 32 bytes > the ~8 KB filter
	if _, _, ok := l.Delta(gen); ok {
		t.Fatal("a delta larger than the whole summary")
	}
	refresh()
	if s := rs.Stats()[0]; s.Wholes != 2 {
		t.Fatalf("stats %+v, want the whole sent again", s)
	}
	// A rebuild after a drop: a new generation, no delta across it.
	gen, _, _ = l.Encoded()
	if err := st.Drop(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if err := l.Rebuild(ctx, st); err != nil {
		t.Fatal(err)
	}
	g2, _, _ := l.Encoded()
	if g2 == gen {
		t.Fatal("rebuild after a drop kept the generation")
	}
	if _, _, ok := l.Delta(gen); ok {
		t.Fatal("a delta across a rebuild that dropped a chunk")
	}
	// A bad delta is refused, the copy kept.
	if _, err := want.Apply(want.Generation+2, ids[:1]); err == nil {
		t.Fatal("applied a delta that skips a generation")
	}
	// A restart: generations above the earlier run's.
	l2 := NewLocal(func() time.Time { return clock.Add(time.Millisecond) })
	if err := l2.Rebuild(ctx, st); err != nil {
		t.Fatal(err)
	}
	if g, _, _ := l2.Encoded(); g <= g2 {
		t.Fatalf("restarted node's generation %d, not above %d", g, g2)
	}
	if _, _, ok := l2.Delta(g2); ok {
		t.Fatal("a delta against the earlier run's generation")
	}
}
