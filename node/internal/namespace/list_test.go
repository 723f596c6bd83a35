package namespace

import (
	"context"
	"testing"
)

// TestListingNoGhostSubdir: a pseudo-directory whose objects are all
// deleted (tombstones, kept for replication until purged) is not listed,
// also after its container is deleted and created again (the tombstones
// survive that); a prefix with one live object among tombstones is.
func TestListingNoGhostSubdir(t *testing.T) {
	ctx := context.Background()
	ns, _ := newNS(t, "r1", nil)
	put := func(name string, deleted bool) {
		t.Helper()
		if _, err := ns.Apply(ctx, &Record{Key: ObjectKey("A", "c", name), Timestamp: ns.Now(), Region: "r1", Deleted: deleted}); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"dir/a", "dir/b", "dir/sub/x", "mixed/a", "mixed/b", "mixed/c", "top", "zz::a"} {
		put(n, false)
	}
	for _, n := range []string{"dir/a", "dir/b", "dir/sub/x", "mixed/a", "mixed/c", "zz::a"} {
		put(n, true) // delete: a tombstone replaces the record
	}
	// The container itself deleted and created again.
	ns.Apply(ctx, &Record{Key: ContainerKey("A", "c"), Timestamp: ns.Now(), Region: "r1", Deleted: true})
	ns.Apply(ctx, &Record{Key: ContainerKey("A", "c"), Timestamp: ns.Now(), Region: "r1"})

	checkList(t, ns, []listCase{
		{ListOptions{Delimiter: "/"}, "[mixed/] top"},
		{ListOptions{Delimiter: "/", Prefix: "dir/"}, ""},
		{ListOptions{Delimiter: "/", Limit: 1}, "[mixed/]"},
		{ListOptions{Delimiter: "/", Reverse: true}, "top [mixed/]"},
		{ListOptions{Delimiter: "::"}, "mixed/b top"},
		{ListOptions{Delimiter: "/", Marker: "dir/"}, "[mixed/] top"},
		{ListOptions{Delimiter: "/", EndMarker: "n"}, "[mixed/]"},
	})
}
