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
