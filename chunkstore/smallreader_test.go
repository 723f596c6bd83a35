package chunkstore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
)

// TestSmallRangeReader: a range of at most smallRangeBytes from the local
// store (read without read-ahead goroutines) returns the right bytes,
// reports a corrupt chunk as a *CorruptChunkError, honours a cancelled
// context and refuses Read after Close.
func TestSmallRangeReader(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, func(c *Config) { c.MinSize, c.AvgSize, c.MaxSize = 1024, 4096, 16384 })
	data := testData(70, 1<<20)
	rec, _, err := s.Write(ctx, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	offs := rec.Offsets()
	read := func(ctx context.Context, off, length int64) ([]byte, error) {
		r, err := s.NewReader(ctx, rec, off, length, s)
		if err != nil {
			return nil, err
		}
		if _, ok := r.(*smallReader); !ok && length <= smallRangeBytes {
			t.Fatalf("range of %d bytes got a %T", length, r)
		}
		defer r.Close()
		return io.ReadAll(r)
	}
	for _, tc := range []struct{ off, length int64 }{
		{0, 1}, {offs[3] - 1, 2}, {offs[5], offs[9] - offs[5]}, {12345, 64 << 10}, {int64(len(data)) - 7, 7}, {100, smallRangeBytes},
	} {
		got, err := read(ctx, tc.off, tc.length)
		if err != nil || !bytes.Equal(got, data[tc.off:tc.off+tc.length]) {
			t.Fatalf("[%d,+%d): %d bytes, %v", tc.off, tc.length, len(got), err)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := read(cctx, 0, 100); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	r, _ := s.NewReader(ctx, rec, 0, 10, nil)
	r.Close()
	if _, err := r.Read(make([]byte, 10)); err == nil {
		t.Fatal("Read after Close succeeded")
	}
	id := rec.Refs[4].ID
	val, err := s.GetStored(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]byte{byte(val.Codec)}, val.Data...)
	bad[len(bad)-1] ^= 1
	corrupt(t, s, id, bad)
	if _, err := read(ctx, offs[3], offs[6]-offs[3]); !isCorrupt(err, id) {
		t.Fatalf("range over a corrupt chunk: %v", err)
	}
}
