package namespace

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

func TestProfiles(t *testing.T) {
	ctx := t.Context()
	now := time.Unix(1_000_000, 0)
	ns, _ := newNS(t, "b", func() time.Time { return now })
	r1 := recipe.ID{7, 1}

	k := ProfileKey(r1)
	if got, err := ParseKey(k.Bytes()); err != nil || got != k {
		t.Fatalf("ParseKey(%q) = %v, %v", k.Bytes(), got, err)
	}
	for _, bad := range []Key{ProfileKey(recipe.ID{}), {Kind: KindProfile, Held: r1, Holder: "b"},
		{Kind: KindProfile, Held: r1, Account: "A"}} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%v: Validate = nil", bad)
		}
	}
	if _, err := ParseKey(append(k.Bytes(), 'x')); err == nil {
		t.Error("ParseKey of a profile key with a trailing byte: nil error")
	}

	if _, err := ns.Profile(ctx, r1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Profile before any: %v, want ErrNotFound", err)
	}
	refs := []int32{9, 3, 4, 100}
	rec, err := ns.PutProfile(ctx, r1, refs)
	if err != nil || rec == nil || rec.Region != "b" {
		t.Fatalf("PutProfile = %+v, %v", rec, err)
	}
	got, err := ns.Profile(ctx, r1)
	if err != nil || !slices.Equal(got.Profile, refs) {
		t.Fatalf("Profile = %+v, %v; want refs %v in order", got, err, refs)
	}
	// Encoding round trip, as replication sends it.
	v, err := got.MarshalValue()
	if err != nil {
		t.Fatal(err)
	}
	back, err := UnmarshalRecord(got.Key.Bytes(), v)
	if err != nil || !slices.Equal(back.Profile, refs) || back.Kind != KindProfile || back.Held != r1 {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
	// A replicated newer profile from another region wins.
	if ok, err := ns.Apply(ctx, &Record{Key: k, Timestamp: rec.Timestamp + 1, Region: "c", Profile: []int32{1}}); !ok || err != nil {
		t.Fatalf("Apply newer: %v, %v", ok, err)
	}
	if got, _ := ns.Profile(ctx, r1); got.Region != "c" || !slices.Equal(got.Profile, []int32{1}) {
		t.Fatalf("after newer: %+v", got)
	}
	// Clear: a tombstone newer than the profile; a second clear is not found.
	tomb, err := ns.ClearProfile(ctx, r1)
	if err != nil || !tomb.Deleted || tomb.Timestamp <= rec.Timestamp+1 {
		t.Fatalf("ClearProfile = %+v, %v", tomb, err)
	}
	if _, err := ns.Profile(ctx, r1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Profile after clear: %v", err)
	}
	if _, err := ns.ClearProfile(ctx, r1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second clear: %v", err)
	}
	// GC: a profile of a dead recipe older than before is tombstoned; a
	// live recipe's and a newer one are kept.
	r2, r3 := recipe.ID{8}, recipe.ID{9}
	p2, _ := ns.PutProfile(ctx, r2, []int32{1})
	if _, err := ns.PutProfile(ctx, r3, []int32{2}); err != nil {
		t.Fatal(err)
	}
	if n, err := ns.ExpireProfiles(ctx, []recipe.ID{r3}, p2.Timestamp+1); err != nil || n != 1 {
		t.Fatalf("ExpireProfiles = %d, %v; want 1", n, err)
	}
	if _, err := ns.Profile(ctx, r2); !errors.Is(err, ErrNotFound) {
		t.Errorf("profile of a dead recipe after expiry: %v", err)
	}
	if _, err := ns.Profile(ctx, r3); err != nil {
		t.Errorf("profile of a live recipe after expiry: %v", err)
	}
	var n int
	if err := ns.Scan(ctx, KindProfile, Key{}, func(*Record) (bool, error) { n++; return true, nil }); err != nil || n != 3 {
		t.Fatalf("Scan of profiles: %d, %v", n, err)
	}
}
