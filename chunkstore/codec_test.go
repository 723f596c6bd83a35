package chunkstore

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"testing"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

// TestIncompressible checks the sampling rule that skips zstd: random and
// already-compressed chunks are skipped; text, testData (mixed), zeros,
// a mostly random chunk with a compressible run, and small chunks are not.
func TestIncompressible(t *testing.T) {
	rng := splitmix(9)
	random := make([]byte, 64<<10)
	for i := range random {
		random[i] = byte(rng.next())
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zw.Write(testData(5, 1<<20))
	zw.Close()
	mixed := append([]byte(nil), random...)
	copy(mixed[20<<10:], make([]byte, 5<<10))
	for _, tc := range []struct {
		name string
		data []byte
		want bool
	}{
		{"random", random, true},
		{"gzip", gz.Bytes()[:64<<10], true},
		{"random max", append(append([]byte(nil), random...), random[:1000]...), true},
		{"testData", testData(6, 64<<10), false},
		{"zeros", make([]byte, 64<<10), false},
		{"random with zero run", mixed, false},
		{"small random", random[:8<<10], false},
	} {
		if got := incompressible(tc.data); got != tc.want {
			t.Errorf("%s: incompressible = %v, want %v", tc.name, got, tc.want)
		}
	}
	// Whatever the rule says, values round-trip.
	cd, err := newCodec(1, 256<<10, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer cd.close()
	for _, p := range [][]byte{random, mixed, testData(6, 64<<10)} {
		v := cd.encodeValue(p)
		got, err := cd.decodeValue(nil, v, len(p))
		if err != nil || !bytes.Equal(got, p) {
			t.Fatal("round trip", err)
		}
		if incompressible(p) && Codec(v[0]) != CodecRaw {
			t.Fatal("incompressible chunk not stored raw")
		}
	}
}

func TestChunkIDZero(t *testing.T) {
	s := &Store{}
	for _, n := range []int{1, 100, 16 << 10, 16 << 10, 20000, 16<<10 + 1, 256 << 10} {
		z := make([]byte, n)
		if got, want := s.chunkID(z), recipe.ChunkID(sha256.Sum256(z)); got != want {
			t.Fatalf("zero chunk of %d bytes: %v, want %v", n, got, want)
		}
		z[n-1] = 1
		if got, want := s.chunkID(z), recipe.ChunkID(sha256.Sum256(z)); got != want {
			t.Fatalf("chunk of %d bytes: %v, want %v", n, got, want)
		}
	}
	if !isZero(nil) || !isZero(make([]byte, 40000)) || isZero(append(make([]byte, 40000), 1)) {
		t.Fatal("isZero")
	}
}

// TestDecodeBufferSlack: a zstd chunk decoded into a buffer the codec
// allocates (an empty or short dst) gets decodeSlack bytes of spare
// capacity past its plain size, so that klauspost/compress's decoder uses
// its fast block copies (it needs 16 bytes past the output's end; see
// BenchmarkDecodeChunk). Before, the buffer was exactly the plain size,
// and every read of the store through the node's fetcher (store.Chunk,
// no pooled buffer) decoded on the bounds-exact path.
func TestDecodeBufferSlack(t *testing.T) {
	cd, err := newCodec(1, 256<<10, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer cd.close()
	plain := testData(5, 100<<10)
	val := cd.encodeValue(plain)
	if Codec(val[0]) != CodecZstd {
		t.Fatalf("codec %d: want zstd", val[0])
	}
	for _, dst := range [][]byte{nil, make([]byte, 0, len(plain))} {
		out, err := cd.decode(dst, CodecZstd, val[1:], len(plain))
		if err != nil || !bytes.Equal(out, plain) {
			t.Fatalf("decode: %d bytes, %v", len(out), err)
		}
		if cap(out)-len(out) < 16 {
			t.Fatalf("decoded into cap %d for %d bytes: want at least 16 spare", cap(out), len(out))
		}
	}
}

// BenchmarkDecodeChunk decodes a 64 KiB zstd chunk of testData into a
// buffer of exactly its size (exact: the decoder's bounds-exact copies)
// and into one with decodeSlack spare (slack: its fast copies).
func BenchmarkDecodeChunk(b *testing.B) {
	cd, err := newCodec(1, 256<<10, 1)
	if err != nil {
		b.Fatal(err)
	}
	defer cd.close()
	plain := testData(6, 64<<10)
	val := cd.encodeValue(plain)
	for _, tc := range []struct {
		name  string
		slack int
	}{{"exact", 0}, {"slack", decodeSlack}} {
		b.Run(tc.name, func(b *testing.B) {
			dst := make([]byte, 0, len(plain)+tc.slack)
			b.SetBytes(int64(len(plain)))
			for b.Loop() {
				out, err := cd.dec.DecodeAll(val[1:], dst[:0])
				if err != nil || len(out) != len(plain) {
					b.Fatal(len(out), err)
				}
			}
		})
	}
}
