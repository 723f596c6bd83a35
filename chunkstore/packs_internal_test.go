package chunkstore

import (
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

// TestLearnPackPrefersNewerPack: a chunk in two packs is indexed in the
// newer (by name), whatever the order the packs are learned in, so an
// entry naming a pack GC deleted is replaced when the chunk is packed
// again elsewhere.
func TestLearnPackPrefersNewerPack(t *testing.T) {
	id := recipe.Sum([]byte("a chunk in two packs"))
	const older, newer = "0000000000000001-00000000000000aa", "0000000000000002-00000000000000bb"
	tests := []struct {
		name  string
		order []string
	}{
		{"older then newer", []string{older, newer}},
		{"newer then older", []string{newer, older}},
		{"newer twice", []string{newer, older, newer}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTest(t, nil)
			for i, p := range tt.order {
				if err := s.learnPack(p, []PackEntry{{ID: id, Off: int64(100 * i), Len: 20}}, time.Time{}); err != nil {
					t.Fatal(err)
				}
			}
			var loc packLoc
			var ok bool
			err := s.db.View(func(txn *badger.Txn) error {
				item, err := txn.Get(chunkKey(id))
				if err != nil {
					return err
				}
				return item.Value(func(v []byte) error { loc, ok = packLocOf(v); return nil })
			})
			if err != nil || !ok {
				t.Fatalf("entry: %v (pack entry %v)", err, ok)
			}
			if loc.pack != newer {
				t.Fatalf("chunk indexed in pack %q, want the newer %q", loc.pack, newer)
			}
		})
	}
}
