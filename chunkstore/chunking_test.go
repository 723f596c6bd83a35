package chunkstore

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// TestGoldenChunking pins the cut points and chunk IDs of a fixed input
// (testData seed 42, 4 MiB) under the default chunking, so that a chunker
// upgrade or a change of defaults that moves cuts is caught: every region
// must cut identically. Regenerate with `go test -run Golden -update` only
// for a deliberate, cluster-wide change.
func TestGoldenChunking(t *testing.T) {
	data := testData(42, 4<<20)
	cfg := ChunkingConfig{}.Normalize()
	var b strings.Builder
	fmt.Fprintf(&b, "# polynomial %#x min %d avg %d max %d; input testData(42, %d)\n",
		cfg.Polynomial, cfg.MinSize, cfg.AvgSize, cfg.MaxSize, len(data))
	ch := cfg.newChunker(bytes.NewReader(data))
	buf := make([]byte, 0, cfg.MaxSize)
	for {
		c, err := ch.Next(buf)
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatal(err)
			}
			break
		}
		fmt.Fprintf(&b, "%d %d %s\n", c.Start, c.Length, recipe.Sum(c.Data))
	}
	golden := filepath.Join("testdata", "chunks-default.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if got := b.String(); got != string(want) {
		t.Fatalf("chunk boundaries changed:\n got: %.400s\nwant: %.400s", got, want)
	}
}

func TestChunkingConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  ChunkingConfig
		ok   bool
	}{
		{"defaults", ChunkingConfig{}, true},
		{"avg only", ChunkingConfig{AvgSize: 1 << 14}, true},
		{"explicit", ChunkingConfig{MinSize: 4096, AvgSize: 16384, MaxSize: 65536}, true},
		{"avg not power of two", ChunkingConfig{MinSize: 4096, AvgSize: 20000, MaxSize: 65536}, false},
		{"min > avg", ChunkingConfig{MinSize: 65536, AvgSize: 16384, MaxSize: 65536 * 2}, false},
		{"max < avg", ChunkingConfig{MinSize: 4096, AvgSize: 16384, MaxSize: 8192}, false},
		{"min below window", ChunkingConfig{MinSize: 32, AvgSize: 16384, MaxSize: 65536}, false},
		{"max too big", ChunkingConfig{MinSize: 4096, AvgSize: 16384, MaxSize: recipe.MaxChunkSize + 1}, false},
		{"reducible polynomial", ChunkingConfig{Polynomial: 1 << 53}, false},
		{"low degree polynomial", ChunkingConfig{Polynomial: 0x3}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Normalize().Validate()
			if (err == nil) != tc.ok {
				t.Fatalf("Validate = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrConfig) {
				t.Fatalf("error %v does not wrap ErrConfig", err)
			}
		})
	}
}

func TestOpenRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{},
		{Dir: t.TempDir(), AvgSize: 3000},
		{Dir: t.TempDir(), CompressionLevel: 9},
		{Dir: t.TempDir(), Workers: -1},
	} {
		if s, err := Open(cfg, nil); !errors.Is(err, ErrConfig) {
			if s != nil {
				s.Close()
			}
			t.Errorf("Open(%+v) = %v, want ErrConfig", cfg, err)
		}
	}
}

func TestAnalyzer(t *testing.T) {
	data := testData(7, 2<<20)
	zeros := make([]byte, 1<<20)
	a, err := NewAnalyzer(AnalyzeConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for _, in := range [][]byte{data, data, zeros} {
		if err := a.Add(t.Context(), bytes.NewReader(in)); err != nil {
			t.Fatal(err)
		}
	}
	st := a.Stats()
	if st.Files != 3 || st.Total != int64(2*len(data)+len(zeros)) {
		t.Fatalf("stats %+v", st)
	}
	if st.Unique != int64(len(data)) || st.ZeroBytes < int64(len(zeros)) {
		t.Fatalf("unique %d zero %d, want %d and >= %d", st.Unique, st.ZeroBytes, len(data), len(zeros))
	}
	if st.UniqueStored >= st.Unique || st.Saved() < 0.49 {
		t.Fatalf("stored %d saved %.3f", st.UniqueStored, st.Saved())
	}
	fx, err := Analyze(t.Context(), bytes.NewReader(data), AnalyzeConfig{Fixed: 1000})
	if err != nil || fx.Chunks != int64((len(data)+999)/1000) || fx.Total != int64(len(data)) {
		t.Fatalf("fixed: %+v %v", fx, err)
	}
}
