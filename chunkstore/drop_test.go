package chunkstore

import (
	"bytes"
	"errors"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

// TestDropCorruptChunk corrupts a stored chunk, drops it, and stores it
// again: before the drop a PutStored of good bytes writes nothing (the
// chunk is present), after it the good bytes are stored and verify.
func TestDropCorruptChunk(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, nil)
	plain := testData(7, 40<<10)
	id, err := s.Put(ctx, plain)
	if err != nil {
		t.Fatal(err)
	}
	good, err := s.GetStored(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	// Flip a byte of the stored value.
	err = s.db.Update(func(txn *badger.Txn) error {
		item, err := txn.Get(chunkKey(id))
		if err != nil {
			return err
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		v[len(v)/2] ^= 0x55
		return txn.Set(chunkKey(id), v)
	})
	if err != nil {
		t.Fatal(err)
	}
	var ce *CorruptChunkError
	if _, err := s.Get(ctx, id); !errors.As(err, &ce) {
		t.Fatalf("Get of the corrupted chunk: %v, want a *CorruptChunkError", err)
	}
	// Present: a PutStored writes nothing, the chunk stays corrupt.
	if err := s.PutStored(ctx, id, good); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, id); !errors.As(err, &ce) {
		t.Fatalf("PutStored over a present chunk repaired it: %v", err)
	}

	if err := s.Drop(ctx, id); err != nil {
		t.Fatal(err)
	}
	if has, err := s.Has(ctx, []recipe.ChunkID{id}); err != nil || has[0] {
		t.Fatalf("Has after Drop = %v, %v", has, err)
	}
	if _, err := s.Get(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Drop: %v, want ErrNotFound", err)
	}
	err = s.db.View(func(txn *badger.Txn) error {
		_, err := txn.Get(stampKey(id))
		return err
	})
	if !errors.Is(err, badger.ErrKeyNotFound) {
		t.Fatalf("stamp after Drop: %v, want deleted", err)
	}
	if err := s.Drop(ctx, id); err != nil {
		t.Fatalf("Drop of an absent chunk: %v", err)
	}

	if err := s.PutStored(ctx, id, good); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, id)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Get after re-store: %v", err)
	}
	rep, err := s.Fsck(ctx, nil, false)
	if err != nil || !rep.OK() || rep.Unstamped != 0 || rep.StrayStamps != 0 {
		t.Fatalf("fsck after re-store: %+v %v", rep, err)
	}
}
