package namespace

import (
	"slices"
	"testing"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

func TestHoldings(t *testing.T) {
	ctx := t.Context()
	now := time.Unix(1_000_000, 0)
	ns, _ := newNS(t, "b", func() time.Time { return now })
	r1, r2 := recipe.ID{1, 0, 2}, recipe.ID{2}

	k := HoldingKey(r1, "b")
	if got, err := ParseKey(k.Bytes()); err != nil || got != k {
		t.Fatalf("ParseKey(%q) = %v, %v", k.Bytes(), got, err)
	}
	for _, bad := range []Key{HoldingKey(recipe.ID{}, "b"), HoldingKey(r1, ""), HoldingKey(r1, "a\x00b"),
		{Kind: KindHolding, Held: r1, Holder: "b", Account: "A"}, {Kind: KindObject, Account: "A", Container: "c", Object: "o", Holder: "b"}} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%v: Validate = nil", bad)
		}
	}

	rec, err := ns.Hold(ctx, r1)
	if err != nil || rec == nil || rec.Key != k || rec.Region != "b" {
		t.Fatalf("Hold = %+v, %v", rec, err)
	}
	if again, err := ns.Hold(ctx, r1); err != nil || again != nil {
		t.Fatalf("second Hold = %+v, %v; want nothing written", again, err)
	}
	if ok, err := ns.Holds(ctx, r1); !ok || err != nil {
		t.Fatalf("Holds = %v, %v", ok, err)
	}
	// Holdings replicated from other regions; a tombstone does not count,
	// nor does a holding of another recipe.
	for _, h := range []*Record{
		{Key: HoldingKey(r1, "c"), Timestamp: 5, Region: "c"},
		{Key: HoldingKey(r1, "a"), Timestamp: 5, Region: "a"},
		{Key: HoldingKey(r1, "d"), Timestamp: 5, Region: "d", Deleted: true},
		{Key: HoldingKey(r2, "e"), Timestamp: 5, Region: "e"},
	} {
		if _, err := ns.Apply(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := ns.Holders(ctx, r1); err != nil || !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("Holders = %v, %v", got, err)
	}
	var scanned []string
	if err := ns.Scan(ctx, KindHolding, Key{}, func(r *Record) (bool, error) {
		scanned = append(scanned, r.Key.String())
		return true, nil
	}); err != nil || len(scanned) != 5 {
		t.Fatalf("Scan of holdings: %v, %v", scanned, err)
	}

	// r2 is dead: its holding is expired, r1's are kept; a holding newer
	// than the cutoff is kept whatever its recipe.
	if _, err := ns.Apply(ctx, &Record{Key: HoldingKey(r2, "f"), Timestamp: now.UnixNano(), Region: "f"}); err != nil {
		t.Fatal(err)
	}
	n, err := ns.ExpireHoldings(ctx, []recipe.ID{r1}, now.UnixNano()-1)
	if err != nil || n != 1 {
		t.Fatalf("ExpireHoldings = %d, %v; want 1", n, err)
	}
	if got, _ := ns.Holders(ctx, r2); !slices.Equal(got, []string{"f"}) {
		t.Fatalf("r2 holders after expiry = %v, want [f]", got)
	}
	if got, _ := ns.Holders(ctx, r1); len(got) != 3 {
		t.Fatalf("r1 holders after expiry = %v", got)
	}
	// Tombstones of holdings go with the others after the reclaim age.
	now = now.Add(DefaultReclaimAge + time.Hour)
	purged, err := ns.PurgeTombstones(ctx)
	if err != nil || purged != 2 { // d's and e's
		t.Fatalf("PurgeTombstones = %d, %v; want 2", purged, err)
	}
}
