package chunkstore

import (
	"os"
	"path/filepath"
	"testing"
)

// TestOpenAfterCrashDuringMemtableCreation: a SIGKILL between Badger's
// creating a memtable file and sizing it leaves an empty .mem file, on
// which badger.Open fails once with z.NewFile (dgraph-io/badger#2207,
// seen in TestCrashRecovery); Open must still open the store.
func TestOpenAfterCrashDuringMemtableCreation(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Config{Dir: dir, NoSync: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "00007.mem"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err = Open(Config{Dir: dir, NoSync: true}, nil)
	if err != nil {
		t.Fatalf("open after an empty memtable file: %v", err)
	}
	s.Close()
}
