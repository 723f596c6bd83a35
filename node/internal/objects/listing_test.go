package objects

import (
	"bytes"
	"context"
	"testing"

	glanceshim "github.com/nitro-cloud/nitro/glance-shim"
)

// TestNoGhostSubdir: over the real chunkstore (Badger on disk), a
// delimited listing shows no pseudo-directory whose objects are all
// deleted, also after the container is deleted and created again (the
// objects' tombstones outlive both until purged).
func TestNoGhostSubdir(t *testing.T) {
	ctx := context.Background()
	s, _ := newService(t, nil, nil)
	list := func(what string, want ...string) {
		t.Helper()
		l, err := s.ListObjects(ctx, "A", "c", glanceshim.ListOptions{Delimiter: "/", Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range l {
			if e.Subdir != "" {
				got = append(got, "["+e.Subdir+"]")
			} else {
				got = append(got, e.Name)
			}
		}
		if len(got) != len(want) {
			t.Fatalf("%s: listed %q, want %q", what, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%s: listed %q, want %q", what, got, want)
			}
		}
	}
	if _, err := s.PutContainer(ctx, "A", "c", nil); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"dir/a", "dir/sub/b", "keep/c"} {
		if _, err := s.PutObject(ctx, "A", "c", n, bytes.NewReader([]byte("x")), glanceshim.PutOptions{Size: 1}); err != nil {
			t.Fatal(err)
		}
	}
	list("before deletes", "[dir/]", "[keep/]")
	for _, n := range []string{"dir/a", "dir/sub/b"} {
		if err := s.DeleteObject(ctx, "A", "c", n); err != nil {
			t.Fatal(err)
		}
	}
	list("after deleting dir/*", "[keep/]")
	if err := s.DeleteObject(ctx, "A", "c", "keep/c"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteContainer(ctx, "A", "c"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutContainer(ctx, "A", "c", nil); err != nil {
		t.Fatal(err)
	}
	list("container re-created")
}
