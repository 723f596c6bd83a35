package chunkstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

// restCuts returns the chunk lengths restic/chunker cuts r into.
func resticCuts(t testing.TB, cfg ChunkingConfig, r io.Reader) []int {
	ch := cfg.newChunker(r)
	buf := make([]byte, 0, cfg.MaxSize)
	var out []int
	for {
		c, err := ch.Next(buf)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, len(c.Data))
	}
}

func cutterCuts(t testing.TB, cfg ChunkingConfig, r io.Reader, data []byte) []int {
	ch := cfg.newCutter(r)
	buf := make([]byte, 0, cfg.MaxSize)
	var out []int
	off := 0
	for {
		c, err := ch.Next(buf)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if data != nil && !bytes.Equal(c, data[off:off+len(c)]) {
			t.Fatalf("chunk at %d: wrong bytes", off)
		}
		off += len(c)
		out = append(out, len(c))
	}
}

// TestCutterMatchesRestic checks that the cutter cuts exactly where
// restic/chunker does, over inputs that cut on the hash, at MaxSize (low
// entropy), at MinSize (zero runs), at the end, with short reads, and with
// several chunking parameters.
func TestCutterMatchesRestic(t *testing.T) {
	zeros := make([]byte, 3<<20)
	mixed := testData(7, 9<<20+12345)
	copy(mixed[2<<20:], zeros[:1<<20])
	for i := 5 << 20; i < 6<<20; i++ {
		mixed[i] = byte(i % 7)
	}
	inputs := map[string][]byte{
		"testData":  testData(1, 5<<20+777),
		"mixed":     mixed,
		"zeros":     zeros,
		"tiny":      testData(2, 100),
		"empty":     nil,
		"one chunk": testData(3, 20000),
	}
	cfgs := []ChunkingConfig{
		{},
		{MinSize: 64, AvgSize: 256, MaxSize: 1024},
		{MinSize: 100, AvgSize: 4096, MaxSize: 5000},
		{MinSize: 4096, AvgSize: 16384, MaxSize: 65536},
		{AvgSize: 1 << 20},
		{Polynomial: 0x3DA3358B4DC173, MinSize: 512 << 10, AvgSize: 1 << 20, MaxSize: 8 << 20},
	}
	for name, data := range inputs {
		for _, cfg := range cfgs {
			cfg = cfg.Normalize()
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			t.Run(fmt.Sprintf("%s/%d-%d-%d", name, cfg.MinSize, cfg.AvgSize, cfg.MaxSize), func(t *testing.T) {
				want := resticCuts(t, cfg, bytes.NewReader(data))
				got := cutterCuts(t, cfg, bytes.NewReader(data), data)
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("cuts differ:\n got %d chunks %.300v\nwant %d chunks %.300v", len(got), got, len(want), want)
				}
				got = cutterCuts(t, cfg, iotest.HalfReader(iotest.OneByteReader(bytes.NewReader(data))), data)
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("short reads: cuts differ")
				}
			})
		}
	}
}

// TestCutterGolden runs the golden input of TestGoldenChunking through the
// cutter the writer uses.
func TestCutterGolden(t *testing.T) {
	data := testData(42, 4<<20)
	cfg := ChunkingConfig{}.Normalize()
	var b strings.Builder
	fmt.Fprintf(&b, "# polynomial %#x min %d avg %d max %d; input testData(42, %d)\n",
		cfg.Polynomial, cfg.MinSize, cfg.AvgSize, cfg.MaxSize, len(data))
	ch := cfg.newCutter(bytes.NewReader(data))
	buf := make([]byte, 0, cfg.MaxSize)
	off := 0
	for {
		c, err := ch.Next(buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%d %d %s\n", off, len(c), recipe.Sum(c))
		off += len(c)
	}
	want, err := os.ReadFile(filepath.Join("testdata", "chunks-default.golden"))
	if err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != string(want) {
		t.Fatalf("chunk boundaries changed:\n got: %.400s\nwant: %.400s", got, want)
	}
}

func TestCutterReadError(t *testing.T) {
	cfg := ChunkingConfig{}.Normalize()
	ch := cfg.newCutter(iotest.TimeoutReader(bytes.NewReader(testData(1, 3<<20))))
	buf := make([]byte, 0, cfg.MaxSize)
	for {
		_, err := ch.Next(buf)
		if err == io.EOF {
			t.Fatal("no error")
		}
		if err != nil {
			if err != iotest.ErrTimeout {
				t.Fatal(err)
			}
			return
		}
	}
}

// TestWriteShortBodyFails: a reader that fails with io.ErrUnexpectedEOF
// (an HTTP body shorter than its Content-Length) makes Write fail; it is
// never taken for the end of the stream.
func TestWriteShortBodyFails(t *testing.T) {
	s := openTest(t, nil)
	data := testData(3, 300<<10)
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"bare", io.ErrUnexpectedEOF},
		{"wrapped", fmt.Errorf("body: %w", io.ErrUnexpectedEOF)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := io.MultiReader(bytes.NewReader(data), iotest.ErrReader(tc.err))
			if _, _, err := s.Write(context.Background(), r); !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("Write of a short body: %v, want %v", err, io.ErrUnexpectedEOF)
			}
		})
	}
}
