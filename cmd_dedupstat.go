package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore"
)

// runDedupstat implements `nitro dedupstat [flags] FILE...`: it cuts the
// files as the store would (or into fixed-size blocks with --fixed) and
// prints total bytes, zero bytes, unique bytes after dedup, after dedup and
// compression, chunk count and chunk-size mean/stddev. The set of distinct
// chunks spans all files, so shared chunks count once.
func runDedupstat(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("dedupstat", flag.ContinueOnError)
	avg := fs.Int("avg", chunkstore.DefaultAvgSize, "average chunk size in bytes (power of two)")
	minSize := fs.Int("min", 0, "minimum chunk size in bytes (0: avg/4)")
	maxSize := fs.Int("max", 0, "maximum chunk size in bytes (0: avg*4)")
	fixed := fs.Int("fixed", 0, "cut fixed-size chunks of this many bytes instead of content-defined ones")
	level := fs.Int("level", chunkstore.DefaultCompressionLevel, "zstd level 1..4, -1: no compression")
	poly := fs.Uint64("polynomial", chunkstore.DefaultPolynomial, "Rabin polynomial")
	asJSON := fs.Bool("json", false, "print JSON")
	perFile := fs.Bool("per-file", false, "also print cumulative stats after each file (stderr)")
	row := fs.String("row", "", "print one markdown table row starting with this label (see scripts/dedup-table.sh)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: nitro dedupstat [flags] FILE...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errors.New("no files")
	}
	cfg := chunkstore.AnalyzeConfig{
		Chunking: chunkstore.ChunkingConfig{Polynomial: *poly, MinSize: *minSize, AvgSize: *avg, MaxSize: *maxSize},
		Fixed:    *fixed,
		Level:    *level,
	}
	a, err := chunkstore.NewAnalyzer(cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	start := time.Now()
	for _, name := range fs.Args() {
		if err := addFile(ctx, a, name); err != nil {
			return err
		}
		if *perFile {
			printStats(os.Stderr, name, a.Stats())
		}
	}
	st := a.Stats()
	ck := cfg.Chunking.Normalize()
	if *asJSON {
		out := struct {
			chunkstore.DedupStats
			Avg         int     `json:"avg"`
			Min         int     `json:"min"`
			Max         int     `json:"max"`
			Fixed       int     `json:"fixed"`
			Level       int     `json:"level"`
			Saved       float64 `json:"saved"`
			SavedStored float64 `json:"saved_stored"`
			Seconds     float64 `json:"seconds"`
		}{st, ck.AvgSize, ck.MinSize, ck.MaxSize, *fixed, *level, st.Saved(), st.SavedStored(), time.Since(start).Seconds()}
		return printJSON(out)
	}
	if *row != "" {
		fmt.Printf("| %s | %.2f | %.2f | %.2f | %.2f | %.1f %% | %.1f %% | %d | %.0f | %.0f |\n",
			*row, gib(st.Total), gib(st.Total-st.ZeroBytes), gib(st.Unique), gib(st.UniqueStored),
			100*st.Saved(), 100*st.SavedStored(), st.Chunks-st.ZeroChunks, st.MeanNonZero/1024, st.StdDevNonZero/1024)
		return nil
	}
	printStats(os.Stdout, "total", st)
	return nil
}

func gib(n int64) float64 { return float64(n) / (1 << 30) }

func addFile(ctx context.Context, a *chunkstore.Analyzer, name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := a.Add(ctx, f); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

func printStats(w io.Writer, label string, st chunkstore.DedupStats) {
	nz := st.Total - st.ZeroBytes
	fmt.Fprintf(w, "%s: %d files\n", label, st.Files)
	fmt.Fprintf(w, "  total bytes           %14d\n", st.Total)
	fmt.Fprintf(w, "  zero bytes            %14d  (%d zero chunks)\n", st.ZeroBytes, st.ZeroChunks)
	fmt.Fprintf(w, "  non-zero bytes        %14d\n", nz)
	fmt.Fprintf(w, "  unique after dedup    %14d  (saved %.1f%% of non-zero)\n", st.Unique, 100*st.Saved())
	fmt.Fprintf(w, "  + compression         %14d  (saved %.1f%% of non-zero)\n", st.UniqueStored, 100*st.SavedStored())
	fmt.Fprintf(w, "  chunks                %14d  (%d unique non-zero)\n", st.Chunks, st.UniqueChunks)
	fmt.Fprintf(w, "  chunk size mean       %14.0f  stddev %.0f  (all chunks)\n", st.MeanSize, st.StdDevSize)
	fmt.Fprintf(w, "  non-zero chunk mean   %14.0f  stddev %.0f\n", st.MeanNonZero, st.StdDevNonZero)
}
