package chunkstore

import (
	"errors"
	"io"
	"math/rand/v2"
	"testing"
)

// failingReader returns its data, then err.
type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// TestWriteCutShortStoresNoRecipe: a Write whose stream fails (a client
// that stalls and is timed out) returns the stream's error and stores no
// recipe, however the cutter's failure and the committer interleave.
// Before the fix the committer could find the job channel closed before
// the errgroup cancelled its context, and store the partial recipe (seen
// once as a second recipe in e2e.TestReliabilityStalledClients). The
// window is a few microseconds: this loop guards the behaviour but did not
// hit the race in 900 writes without the fix.
func TestWriteCutShortStoresNoRecipe(t *testing.T) {
	ctx := t.Context()
	s, err := Open(Config{Dir: t.TempDir(), NoSync: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	errStall := errors.New("client stalled")
	rng := rand.New(rand.NewPCG(13, 0))
	for i := range 300 {
		data := make([]byte, 1+rng.IntN(64<<10))
		for k := range data {
			data[k] = byte(rng.Uint32())
		}
		if _, _, err := s.Write(ctx, &failingReader{data: data, err: errStall}); !errors.Is(err, errStall) {
			t.Fatalf("write %d: %v, want the stream's error", i, err)
		}
	}
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Recipes != 0 {
		t.Fatalf("%d recipes stored by failed writes, want 0", st.Recipes)
	}
	if _, _, err := s.Write(ctx, &failingReader{data: []byte("whole"), err: io.EOF}); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Stats(ctx); st.Recipes != 1 {
		t.Fatalf("%d recipes after a whole write, want 1", st.Recipes)
	}
}
