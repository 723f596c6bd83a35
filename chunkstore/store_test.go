package chunkstore

import (
	"bytes"
	"context"
	"crypto/md5"
	"io"
	"testing"
)

// splitmix is SplitMix64 (Steele et al.): a tiny generator whose output is
// fixed forever, unlike math/rand's, so golden files stay valid.
type splitmix uint64

func (s *splitmix) next() uint64 {
	*s += 0x9e3779b97f4a7c15
	z := uint64(*s)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// testData returns n bytes of compressible-but-not-trivial data,
// deterministic for seed: 4 KiB blocks, each at random one of incompressible
// random bytes, a repeated sentence, or random letters from a 16-letter
// alphabet (zstd -1 stores the whole mix at about 60 % of its size).
func testData(seed uint64, n int) []byte {
	rng := splitmix(seed)
	out := make([]byte, n+4096)
	text := []byte("Nitro stores Glance images deduplicated across regions. ")
	for off := 0; off < n; off += 4096 {
		b := out[off : off+4096]
		switch rng.next() % 3 {
		case 0:
			for i := 0; i < len(b); i += 8 {
				v := rng.next()
				for k := 0; k < 8; k++ {
					b[i+k] = byte(v >> (8 * k))
				}
			}
		case 1:
			for i := range b {
				b[i] = text[i%len(text)]
			}
		default:
			for i := 0; i < len(b); i += 16 {
				v := rng.next()
				for k := 0; k < 16; k++ {
					b[i+k] = 'a' + byte(v>>(4*k))&15
				}
			}
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
