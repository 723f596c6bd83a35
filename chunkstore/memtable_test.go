package chunkstore

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

// TestOpenWithEmptyLogFile: a zero-length memtable or value-log file, as
// a process SIGKILLed right after Badger created it leaves behind (both
// seen in e2e.TestReliabilityCrashLoop), does not stop the store from
// opening, and loses nothing.
func TestOpenWithEmptyLogFile(t *testing.T) {
	for _, name := range []string{"00042.mem", "000042.vlog"} {
		t.Run(name, func(t *testing.T) { testOpenWithEmptyFile(t, name) })
	}
}

func testOpenWithEmptyFile(t *testing.T, name string) {
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
	if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err = Open(Config{Dir: dir, NoSync: true}, nil)
	if err != nil {
		t.Fatalf("open after a crash left an empty %s: %v", name, err)
	}
	defer s.Close()
	if _, _, err := s.Write(ctx, bytes.NewReader(testData(10, 1<<20))); err != nil {
		t.Fatalf("write after reopen: %v", err)
	}
	rep, err := s.Fsck(ctx, []recipe.ID{id}, false)
	if err != nil || !rep.OK() {
		t.Fatalf("fsck: %+v %v", rep, err)
	}
}
