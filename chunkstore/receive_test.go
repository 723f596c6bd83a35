package chunkstore

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

// TestReceive: a received chunk is readable when Receive returns, is made
// durable by the background sync without any further call, and survives
// a reopen; bad input is refused like PutStored's.
func TestReceive(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s, err := Open(Config{Dir: dir}, nil) // real fsyncs
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	cd := s.codec
	var ids []recipe.ChunkID
	var plains [][]byte
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
		p := append([]byte{byte(i)}, testData(uint64(i), 20000)...)
		if i%2 == 1 {
			p = append([]byte{byte(i)}, randomData(uint64(i), 20000)...)
		}
		v := cd.encodeValue(p)
		id := recipe.Sum(p)
		ids, plains = append(ids, id), append(plains, p)
		wg.Go(func() { errs <- s.Receive(ctx, id, Stored{Codec: Codec(v[0]), Data: v[1:]}) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for i, id := range ids {
		got, err := s.Get(ctx, id)
		if err != nil || !bytes.Equal(got, plains[i]) {
			t.Fatalf("Get after Receive: %v", err)
		}
	}
	// The background sync runs within receiveSyncDelay (generous bound).
	deadline := time.Now().Add(30 * time.Second)
	for {
		s.group.mu.Lock()
		done := s.group.done
		s.group.mu.Unlock()
		if done > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no background sync after Receive")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st, _ := s.Stats(ctx); st.Chunks != 64 {
		t.Fatalf("%d chunks counted, want 64", st.Chunks)
	}
	// Refused: wrong ID, empty raw chunk, unknown codec.
	other := recipe.Sum([]byte("other"))
	if err := s.Receive(ctx, other, Stored{Codec: CodecRaw, Data: plains[1]}); !isCorrupt(err, other) {
		t.Fatalf("Receive wrong id: %v", err)
	}
	if err := s.Receive(ctx, other, Stored{Codec: CodecRaw}); !isCorrupt(err, other) {
		t.Fatalf("Receive empty: %v", err)
	}
	if err := s.Receive(ctx, ids[0], Stored{Codec: 9, Data: plains[0]}); !isCorrupt(err, ids[0]) {
		t.Fatalf("Receive bad codec: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(Config{Dir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		got, err := s.Get(ctx, id)
		if err != nil || !bytes.Equal(got, plains[i]) {
			t.Fatalf("Get after reopen: %v", err)
		}
	}
}

// TestPutStoredSameChunkOnce: the same new chunk delivered by several
// concurrent callers (two streams, a hedged request) is stored and
// counted once per commit group, and every caller succeeds.
func TestPutStoredSameChunkOnce(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, nil)
	p := randomData(3, 70000)
	id := recipe.Sum(p)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() { errs <- s.PutStored(ctx, id, Stored{Codec: CodecRaw, Data: p}) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.Get(ctx, id); err != nil || !bytes.Equal(got, p) {
		t.Fatalf("Get: %v", err)
	}
}

// TestPutStoredVerifiesInPlace: verifying a raw chunk hashes the caller's
// bytes where they lie, and a zstd chunk decodes into a pooled buffer: a
// PutStored of a present chunk allocates far less than the chunk (the
// receive path used to copy every raw chunk once just to hash it, and
// allocate a fresh buffer for every decode).
func TestPutStoredVerifiesInPlace(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, nil)
	raw := randomData(4, 256<<10)
	text := bytes.Repeat([]byte("a compressible line of text\n"), (256<<10)/28)
	for _, p := range [][]byte{raw, text} {
		v := s.codec.encodeValue(p)
		id := recipe.Sum(p)
		st := Stored{Codec: Codec(v[0]), Data: v[1:]}
		if err := s.PutStored(ctx, id, st); err != nil {
			t.Fatal(err)
		}
		const n = 50
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		for range n {
			if err := s.PutStored(ctx, id, st); err != nil {
				t.Fatal(err)
			}
		}
		runtime.ReadMemStats(&m1)
		if per := (m1.TotalAlloc - m0.TotalAlloc) / n; per > uint64(len(p))/8 {
			t.Errorf("codec %d: PutStored of a present %d-byte chunk allocates %d bytes", st.Codec, len(p), per)
		}
	}
}

// TestSyncAfterReceive: Sync, which a caller runs before recording that
// the store holds received chunks, waits for a DB.Sync that started after
// it was called (not one already running, which may have missed the last
// commits), also under a background sync; a cancelled context is an
// error.
func TestSyncAfterReceive(t *testing.T) {
	ctx := t.Context()
	s, err := Open(Config{Dir: t.TempDir()}, nil) // real fsyncs
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	gen := func() (started, done uint64) {
		s.group.mu.Lock()
		defer s.group.mu.Unlock()
		return s.group.started, s.group.done
	}
	for i := range 20 {
		p := randomData(uint64(100+i), 50000)
		id := recipe.Sum(p)
		if err := s.Receive(ctx, id, Stored{Codec: CodecRaw, Data: p}); err != nil {
			t.Fatal(err)
		}
		started, _ := gen()
		if err := s.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if _, done := gen(); done < started+1 {
			t.Fatalf("Sync returned at sync generation %d, want at least %d", done, started+1)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Sync(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sync with a cancelled context: %v", err)
	}
}
