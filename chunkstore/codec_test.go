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
