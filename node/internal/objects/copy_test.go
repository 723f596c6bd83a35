package objects

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	glanceshim "github.com/nitro-cloud/nitro/glance-shim"
	"github.com/nitro-cloud/nitro/node/internal/namespace"
	"go.uber.org/zap"
)

// TestCopyObjectSharesTheRecipe checks that CopyObject (versioning's copies
// into and out of an archive container) stores nothing new: the copy
// names the source's recipe, with opts' metadata; it survives the
// source's deletion and a GC; absent source or destination container is
// ErrNotFound.
func TestCopyObjectSharesTheRecipe(t *testing.T) {
	ctx := context.Background()
	st, ns := openStore(t, 500*time.Millisecond)
	repl := &fakeRepl{}
	s, err := New(st, ns, repl, nil, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"c", "arch"} {
		if _, err := s.PutContainer(ctx, "A", c, nil); err != nil {
			t.Fatal(err)
		}
	}
	data := rnd(t, 200000)
	src, err := s.PutObject(ctx, "A", "c", "o", bytes.NewReader(data), glanceshim.PutOptions{Size: int64(len(data)), ContentType: "text/x-src"})
	if err != nil {
		t.Fatal(err)
	}
	before, _ := st.Stats(ctx)
	nrepl := len(repl.recs)

	cp, err := s.CopyObject(ctx, "A", "c", "o", "arch", "001o/1", glanceshim.PutOptions{ContentType: "text/x-copy", Meta: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	if cp.ETag != src.ETag || cp.Size != src.Size || cp.ContentType != "text/x-copy" || cp.Meta["k"] != "v" {
		t.Errorf("copy info %+v, source %+v", cp, src)
	}
	after, _ := st.Stats(ctx)
	if after != before {
		t.Errorf("store changed by the copy: %+v → %+v", before, after)
	}
	srec, _ := ns.GetLive(ctx, namespace.ObjectKey("A", "c", "o"))
	drec, _ := ns.GetLive(ctx, namespace.ObjectKey("A", "arch", "001o/1"))
	if srec == nil || drec == nil || drec.Recipe != srec.Recipe {
		t.Fatalf("records: source %+v, copy %+v", srec, drec)
	}
	if len(repl.recs) != nrepl+1 || repl.recs[nrepl].Key != drec.Key {
		t.Errorf("replicated %d records after the copy, want the copy's", len(repl.recs)-nrepl)
	}
	if cs, err := s.Container(ctx, "A", "arch"); err != nil || cs.Objects != 1 || cs.Bytes != int64(len(data)) {
		t.Errorf("archive container stats %+v, %v", cs, err)
	}

	if err := s.DeleteObject(ctx, "A", "c", "o"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond) // past the 1 s grace; stamps are whole seconds
	if _, err := st.GC(ctx, ns.LiveRecipes, time.Second); err != nil {
		t.Fatal(err)
	}
	rc, _, err := s.OpenObject(ctx, "A", "arch", "001o/1", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("copy after the source's deletion and GC: %d bytes, %v", len(got), err)
	}

	if _, err := s.CopyObject(ctx, "A", "c", "o", "arch", "x", glanceshim.PutOptions{}); !errors.Is(err, glanceshim.ErrNotFound) {
		t.Errorf("copy of a deleted object: %v, want ErrNotFound", err)
	}
	if _, err := s.CopyObject(ctx, "A", "arch", "001o/1", "nope", "x", glanceshim.PutOptions{}); !errors.Is(err, glanceshim.ErrNotFound) {
		t.Errorf("copy into a missing container: %v, want ErrNotFound", err)
	}
}
