package chunkstore

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

// TestOpenWithEmptyMemtable: a zero-length memtable file, as a process
// SIGKILLed right after Badger created it leaves behind (seen in
// e2e.TestReliabilityCrashLoop), does not stop the store from opening,
// read-write or for fsck, and loses nothing.
func TestOpenWithEmptyMemtable(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s, err := Open(Config{Dir: dir, NoSync: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	data := testData(9, 1<<20)
	_, id, err := s.Write(ctx, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "00042.mem"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err = Open(Config{Dir: dir, NoSync: true}, nil)
	if err != nil {
		t.Fatalf("open after a crash left an empty memtable: %v", err)
	}
	defer s.Close()
	rep, err := s.Fsck(ctx, []recipe.ID{id}, false)
	if err != nil || !rep.OK() {
		t.Fatalf("fsck: %+v %v", rep, err)
	}
}
