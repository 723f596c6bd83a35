package peer

import (
	"errors"
	"net/http"
	"testing"

	"github.com/nitro-cloud/nitro/node/internal/summary"
)

// TestSummaryEndpoint: a peer's chunk summary over the peer protocol
// (real Badger store, loopback HTTP): 503 before it is built; then the
// whole summary, which holds every stored chunk; the same generation
// again is answered without the summary; a chunk stored since changes
// the generation and is in the summary sent.
func TestSummaryEndpoint(t *testing.T) {
	ctx := t.Context()
	loc := summary.NewLocal(nil)
	hs, _, st, ids, _ := setup(t, ServerConfig{Region: "a", Summary: loc}, nil)
	c := client(t, "b", secret)

	var se *StatusError
	if _, _, err := c.Summary(ctx, hs.URL, 0); !errors.As(err, &se) || se.Code != http.StatusServiceUnavailable {
		t.Fatalf("summary before it is built: %v", err)
	}
	st.OnStored(loc.Add)
	if err := loc.Rebuild(ctx, st); err != nil {
		t.Fatal(err)
	}
	gen, data, err := c.Summary(ctx, hs.URL, 0)
	if err != nil || gen == 0 || len(data) == 0 {
		t.Fatalf("summary: gen %d, %d bytes, %v", gen, len(data), err)
	}
	r, err := summary.Decode(gen, data)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if !r.MayHold(id) {
			t.Fatalf("summary lacks stored chunk %s", id.Short())
		}
	}

	// Unchanged: the generation only.
	gen2, data2, err := c.Summary(ctx, hs.URL, gen)
	if err != nil || gen2 != gen || data2 != nil {
		t.Fatalf("unchanged summary: gen %d (want %d), %d bytes resent, %v", gen2, gen, len(data2), err)
	}

	// A chunk stored since: a new generation that has it.
	id, err := st.Put(ctx, chunkData(99, 50000))
	if err != nil {
		t.Fatal(err)
	}
	gen3, data3, err := c.Summary(ctx, hs.URL, gen)
	if err != nil || gen3 == gen || data3 == nil {
		t.Fatalf("after a put: gen %d (was %d), %d bytes, %v", gen3, gen, len(data3), err)
	}
	if r, err := summary.Decode(gen3, data3); err != nil || !r.MayHold(id) {
		t.Fatalf("new summary lacks the new chunk: %v", err)
	}

	// Bad input: 400.
	resp, err := c.do(ctx, http.MethodGet, hs.URL, "/peer/v1/summary?have=x", nil, "")
	if err == nil {
		resp.Body.Close()
	}
	if !errors.As(err, &se) || se.Code != http.StatusBadRequest {
		t.Fatalf("have=x: %v", err)
	}
}

// TestSummaryDeltaEndpoint: GET /peer/v1/summary/delta over loopback
// (real Badger store): 503 before the summary is built; the whole summary
// for a caller holding none; "unchanged" for the current generation; the
// chunk IDs stored since for an older one, which applied to the caller's
// copy give a summary holding them; 400 for a malformed generation.
func TestSummaryDeltaEndpoint(t *testing.T) {
	ctx := t.Context()
	loc := summary.NewLocal(nil)
	hs, _, st, ids, _ := setup(t, ServerConfig{Region: "a", Summary: loc}, nil)
	c := client(t, "b", secret)

	var se *StatusError
	if _, _, _, err := c.SummaryDelta(ctx, hs.URL, 0); !errors.As(err, &se) || se.Code != http.StatusServiceUnavailable {
		t.Fatalf("delta before the summary is built: %v", err)
	}
	st.OnStored(loc.Add)
	if err := loc.Rebuild(ctx, st); err != nil {
		t.Fatal(err)
	}
	gen, full, delta, err := c.SummaryDelta(ctx, hs.URL, 0)
	if err != nil || full == nil || delta != nil {
		t.Fatalf("first fetch: gen %d, %d bytes, %d ids, %v", gen, len(full), len(delta), err)
	}
	r, err := summary.Decode(gen, full)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if !r.MayHold(id) {
			t.Fatalf("summary lacks stored chunk %s", id.Short())
		}
	}
	if g, f, d, err := c.SummaryDelta(ctx, hs.URL, gen); err != nil || g != gen || f != nil || d != nil {
		t.Fatalf("unchanged: gen %d, %d bytes, %d ids, %v", g, len(f), len(d), err)
	}
	id, err := st.Put(ctx, chunkData(99, 50000))
	if err != nil {
		t.Fatal(err)
	}
	g, f, d, err := c.SummaryDelta(ctx, hs.URL, gen)
	if err != nil || f != nil || len(d) != 1 || d[0] != id || g != gen+1 {
		t.Fatalf("after a put: gen %d (was %d), %d bytes, ids %v, %v", g, gen, len(f), d, err)
	}
	r2, err := r.Apply(g, d)
	if err != nil || !r2.MayHold(id) {
		t.Fatalf("applied delta lacks the new chunk: %v", err)
	}

	resp, err := c.do(ctx, http.MethodGet, hs.URL, "/peer/v1/summary/delta?have=-1", nil, "")
	if err == nil {
		resp.Body.Close()
	}
	if !errors.As(err, &se) || se.Code != http.StatusBadRequest {
		t.Fatalf("have=-1: %v", err)
	}
}
