package chunkstore

import (
	"bytes"
	"testing"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

// FuzzChunkValue: decoding a stored chunk value (codec byte + data) never
// panics and never returns more than recipe.MaxChunkSize bytes; what
// decodes re-encodes to a value that decodes to the same bytes.
func FuzzChunkValue(f *testing.F) {
	cd, err := newCodec(1, 1<<20, 1)
	if err != nil {
		f.Fatal(err)
	}
	defer cd.close()
	for _, p := range [][]byte{{}, {0}, []byte("hello"), bytes.Repeat([]byte("ab"), 5000), testData(1, 20000)} {
		f.Add(cd.encodeValue(p))
	}
	f.Add([]byte{1, 0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0})
	f.Add([]byte{2, 1, 2, 3})
	f.Fuzz(func(t *testing.T, val []byte) {
		plain, err := cd.decodeValue(nil, val, 0)
		if err != nil {
			return
		}
		if len(plain) > recipe.MaxChunkSize {
			t.Fatalf("decoded %d bytes", len(plain))
		}
		again, err := cd.decodeValue(nil, cd.encodeValue(plain), len(plain))
		if err != nil || !bytes.Equal(again, plain) {
			t.Fatalf("re-encode round trip: %v", err)
		}
		id := recipe.Sum(plain)
		if _, err := cd.verify(id, nil, Codec(val[0]), val[1:], len(plain)); err != nil {
			t.Fatalf("verify of a decodable value: %v", err)
		}
	})
}

// FuzzRecipeValue: a stored recipe value (stamp + encoding) never panics
// the decoder, and what decodes re-encodes identically.
func FuzzRecipeValue(f *testing.F) {
	rec := &recipe.Recipe{Refs: []recipe.Ref{{ID: recipe.Sum([]byte("a")), Size: 10}}, Size: 10}
	enc, _ := rec.MarshalBinary()
	f.Add(append(encodeStamp(1700000000), enc...))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, val []byte) {
		_, enc, err := splitRecipeValue(val)
		if err != nil {
			return
		}
		var r recipe.Recipe
		if r.UnmarshalBinary(enc) != nil {
			return
		}
		b, err := r.MarshalBinary()
		if err != nil || !bytes.Equal(b, enc) {
			t.Fatalf("not canonical: %v", err)
		}
	})
}
