package recipe

import (
	"bytes"
	"crypto/md5"
	"errors"
	"testing"
)

func sample() *Recipe {
	r := &Recipe{MD5: md5.Sum([]byte("x"))}
	for i, n := range []uint32{1, 127, 128, 65536, MaxChunkSize} {
		r.Refs = append(r.Refs, Ref{ID: Sum([]byte{byte(i)}), Size: n})
		r.Size += int64(n)
	}
	return r
}

func TestRoundTrip(t *testing.T) {
	for _, r := range []*Recipe{{}, sample()} {
		b, err := r.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var got Recipe
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		if got.ID() != r.ID() || got.Size != r.Size || len(got.Refs) != len(r.Refs) {
			t.Fatalf("round trip changed the recipe")
		}
	}
}

func TestUnmarshalRejects(t *testing.T) {
	good, _ := sample().MarshalBinary()
	for name, b := range map[string][]byte{
		"empty":     {},
		"magic":     append([]byte("XRC"), good[3:]...),
		"version":   append(append([]byte("NRC"), 2), good[4:]...),
		"truncated": good[:len(good)-1],
		"trailing":  append(bytes.Clone(good), 0),
		"noncanon":  append(append([]byte("NRC\x01"), 0x80, 0x00), good[5:]...),
		"size": func() []byte {
			r := sample()
			r.Size++
			b, _ := (&Recipe{Refs: r.Refs, Size: r.Size - 1, MD5: r.MD5}).MarshalBinary()
			b[4]++
			return b
		}(),
	} {
		var r Recipe
		if err := r.UnmarshalBinary(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: UnmarshalBinary = %v, want ErrMalformed", name, err)
		}
	}
}

func TestSpan(t *testing.T) {
	r := sample()
	off := r.Offsets()
	for _, tc := range []struct {
		off, n      int64
		first, last int
	}{
		{0, 1, 0, 1}, {0, 2, 0, 2}, {1, 1, 1, 2}, {0, r.Size, 0, 5}, {r.Size - 1, 10, 4, 5}, {r.Size, 1, 0, 0}, {5, 0, 0, 0},
	} {
		f, l := Span(off, tc.off, tc.n)
		if f != tc.first || l != tc.last {
			t.Errorf("Span(%d,%d) = %d,%d want %d,%d", tc.off, tc.n, f, l, tc.first, tc.last)
		}
	}
}

// FuzzRecipe: UnmarshalBinary never panics, rejects with ErrMalformed, and
// accepts only canonical encodings (decode then encode is the identity).
func FuzzRecipe(f *testing.F) {
	good, _ := sample().MarshalBinary()
	empty, _ := (&Recipe{}).MarshalBinary()
	f.Add(good)
	f.Add(empty)
	f.Add([]byte("NRC\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Recipe
		if err := r.UnmarshalBinary(b); err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		out, err := r.MarshalBinary()
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("accepted a non-canonical encoding: %v", err)
		}
	})
}

func FuzzParseChunkID(f *testing.F) {
	f.Add(Sum(nil).String())
	f.Add("zz")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseChunkID(s)
		if err == nil && id.String() != s {
			if len(s) != 64 {
				t.Fatalf("accepted %q", s)
			}
		}
	})
}
