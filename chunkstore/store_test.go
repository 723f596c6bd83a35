package chunkstore

import (
	"bytes"
	"context"
	"crypto/md5"
	"io"
	"math/rand/v2"
	"testing"
)

// testData returns n bytes of compressible-but-not-trivial data: a mix of
// random 4 KiB blocks and repeated text, deterministic for seed.
func testData(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := make([]byte, 0, n)
	text := []byte("Nitro stores Glance images deduplicated across regions. ")
	for len(out) < n {
		switch rng.IntN(3) {
		case 0:
			b := make([]byte, 4096)
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			out = append(out, b...)
		case 1:
			for range 4096 / len(text) {
				out = append(out, text...)
			}
		default:
			b := make([]byte, 4096)
			for i := range b {
				b[i] = byte('a' + rng.IntN(16))
			}
			out = append(out, b...)
		}
	}
	return out[:n]
}

func openTest(t testing.TB, mod func(*Config)) *Store {
	t.Helper()
	cfg := Config{Dir: t.TempDir(), NoSync: true}
	if mod != nil {
		mod(&cfg)
	}
	s, err := Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestWriteReadRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, nil)
	data := testData(1, 3<<20+12345)
	rec, id, err := s.Write(ctx, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if rec.Size != int64(len(data)) || rec.MD5 != md5.Sum(data) || rec.ID() != id {
		t.Fatalf("recipe: size %d md5 %x", rec.Size, rec.MD5)
	}
	got, err := s.Recipe(ctx, id)
	if err != nil || got.ID() != id {
		t.Fatalf("Recipe: %v", err)
	}
	r, err := s.NewReader(ctx, rec, 0, -1, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	r.Close()
	if err != nil || !bytes.Equal(b, data) {
		t.Fatalf("read back: %v, equal %v", err, bytes.Equal(b, data))
	}
	// Second write: all duplicate.
	rec2, id2, err := s.Write(ctx, bytes.NewReader(data))
	if err != nil || id2 != id || len(rec2.Refs) != len(rec.Refs) {
		t.Fatalf("rewrite: %v", err)
	}
	missing, err := s.Missing(ctx, rec.Unique())
	if err != nil || len(missing) != 0 {
		t.Fatalf("missing %d, %v", len(missing), err)
	}
}
