package chunkstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

// repeatedRecipe stores one chunk of size bytes and returns a recipe of n
// refs to it (an object of n×size bytes) with its plain chunk.
func repeatedRecipe(t *testing.T, s *Store, seed uint64, n, size int) (*recipe.Recipe, recipe.ID, []byte) {
	t.Helper()
	ctx := context.Background()
	plain := testData(seed, size)
	id, err := s.Put(ctx, plain)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recipe.Recipe{Refs: make([]recipe.Ref, n), Size: int64(n) * int64(size)}
	for i := range rec.Refs {
		rec.Refs[i] = recipe.Ref{ID: id, Size: uint32(size)}
	}
	rid, err := s.PutRecipe(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	return rec, rid, plain
}

// TestRecipeCacheSharesDecodedRecipe: a second Recipe of one ID returns
// the decoded recipe of the first (no Badger read, no decode), and
// concurrent first reads share one load.
func TestRecipeCacheSharesDecodedRecipe(t *testing.T) {
	s := openTest(t, nil)
	ctx := context.Background()
	_, id, _ := repeatedRecipe(t, s, 1, 5000, 1024)
	var wg sync.WaitGroup
	got := make([]*recipe.Recipe, 8)
	for i := range got {
		wg.Go(func() {
			r, err := s.Recipe(ctx, id)
			if err != nil {
				t.Error(err)
			}
			got[i] = r
		})
	}
	wg.Wait()
	for i, r := range got {
		if r != got[0] {
			t.Fatalf("Recipe #%d returned another copy: concurrent loads were not shared", i)
		}
	}
	again, err := s.Recipe(ctx, id)
	if err != nil || again != got[0] {
		t.Fatalf("second Recipe: %p, %v; want the cached %p", again, err, got[0])
	}
	if st := s.RecipeCacheStats(); st.Recipes != 1 || st.Bytes <= 0 || st.Bytes > st.Max {
		t.Fatalf("stats %+v", st)
	}
}

// TestRangeReadCostIndependentOfRecipeSize: opening and reading 4 KiB of
// a cached recipe allocates about as much for 200,000 refs as for 1,000
// (before the index: the recipe was read, decoded, validated and summed
// per read, ~9 MB for 200,000 refs). Measured in bytes allocated, not
// time, so that it holds on a loaded machine.
func TestRangeReadCostIndependentOfRecipeSize(t *testing.T) {
	s := openTest(t, nil)
	ctx := context.Background()
	perOp := map[int]uint64{}
	for i, n := range []int{1000, 200_000} {
		_, id, plain := repeatedRecipe(t, s, uint64(10+i), n, 1024)
		read := func() {
			rec, err := s.Recipe(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			off := int64(n/2)*1024 + 100
			rd, err := s.NewReader(ctx, rec, off, 4096, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rd)
			rd.Close()
			want := make([]byte, 4096)
			for k := range want {
				want[k] = plain[(100+k)%len(plain)]
			}
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("read %d bytes, %v; wrong bytes", len(got), err)
			}
		}
		read() // loads the recipe into the cache
		const ops = 20
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for range ops {
			read()
		}
		runtime.ReadMemStats(&after)
		perOp[n] = (after.TotalAlloc - before.TotalAlloc) / ops
		t.Logf("%d refs: %d bytes allocated per 4 KiB read", n, perOp[n])
	}
	// Badger's background work allocates too: allow slack, far below the
	// 200,000 × 44 bytes a per-read decode and offset sum take.
	if perOp[200_000] > 2*perOp[1000]+512<<10 {
		t.Fatalf("a read of a 200,000-ref recipe allocates %d bytes, of a 1,000-ref one %d: per-read work grows with the recipe", perOp[200_000], perOp[1000])
	}
}

// TestCachedRecipeRanges reads ranges of a real object through the cached
// recipe (offset index) and through a recipe of the caller's (no index),
// against the plain bytes.
func TestCachedRecipeRanges(t *testing.T) {
	s := openTest(t, func(c *Config) { c.MinSize, c.AvgSize, c.MaxSize = 1024, 4096, 16384 })
	ctx := context.Background()
	data := testData(7, 300<<10)
	own, id, err := s.Write(ctx, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	cached, err := s.Recipe(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if cached == own {
		t.Fatal("Recipe returned the writer's recipe")
	}
	offs := own.Offsets()
	b1 := offs[1] // first chunk boundary
	size := int64(len(data))
	for _, tc := range []struct {
		name        string
		off, length int64
	}{
		{"first byte", 0, 1},
		{"whole", 0, -1},
		{"across first boundary", b1 - 10, 20},
		{"at boundary", b1, 4096},
		{"ends at boundary", b1 / 2, offs[2] - b1/2},
		{"64 KiB middle", size / 3, 64 << 10},
		{"last byte", size - 1, 1},
		{"past end clipped", size - 10, 100},
		{"empty at end", size, 10},
	} {
		for _, rec := range []*recipe.Recipe{cached, own} {
			t.Run(fmt.Sprintf("%s/cached=%v", tc.name, rec == cached), func(t *testing.T) {
				first, last := s.Span(rec, tc.off, tc.length)
				wf, wl := recipe.Span(offs, tc.off, tc.length)
				if first != wf || last != wl {
					t.Fatalf("Span = [%d,%d), want [%d,%d)", first, last, wf, wl)
				}
				rd, err := s.NewReader(ctx, rec, tc.off, tc.length, nil)
				if err != nil {
					t.Fatal(err)
				}
				defer rd.Close()
				got, err := io.ReadAll(rd)
				end := size
				if tc.length >= 0 && tc.off+tc.length < size {
					end = tc.off + tc.length
				}
				if err != nil || !bytes.Equal(got, data[tc.off:end]) {
					t.Fatalf("got %d bytes (%v), want bytes [%d,%d)", len(got), err, tc.off, end)
				}
			})
		}
	}
	if _, err := s.NewReader(ctx, cached, size+1, 1, nil); !errors.Is(err, ErrRange) {
		t.Fatalf("offset past the end: %v, want ErrRange", err)
	}
	bad := &recipe.Recipe{Refs: own.Refs, Size: own.Size + 1}
	if _, err := s.NewReader(ctx, bad, 0, 1, nil); !errors.Is(err, recipe.ErrMalformed) {
		t.Fatalf("invalid caller's recipe: %v, want ErrMalformed", err)
	}
}

// TestRecipeCacheBounded: the cache holds at most RecipeCacheBytes,
// evicting the least recently used recipe, and skips a recipe larger than
// all of it.
func TestRecipeCacheBounded(t *testing.T) {
	budget := 2*recipeCost(1000) + recipeCost(10)
	s := openTest(t, func(c *Config) { c.RecipeCacheBytes = budget })
	ctx := context.Background()
	var ids []recipe.ID
	for i := range 3 {
		_, id, _ := repeatedRecipe(t, s, uint64(30+i), 1000, 512)
		ids = append(ids, id)
	}
	load := func(id recipe.ID) *recipe.Recipe {
		r, err := s.Recipe(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	load(ids[0])
	load(ids[1])
	load(ids[0]) // ids[1] is now the least recently used
	load(ids[2])
	if s.recipeCache.peek(ids[1]) != nil || s.recipeCache.peek(ids[0]) == nil || s.recipeCache.peek(ids[2]) == nil {
		t.Fatal("eviction did not drop the least recently used recipe")
	}
	if st := s.RecipeCacheStats(); st.Recipes != 2 || st.Bytes > budget {
		t.Fatalf("stats %+v, budget %d", st, budget)
	}
	_, big, _ := repeatedRecipe(t, s, 40, 5000, 512)
	r := load(big)
	if s.recipeCache.peek(big) != nil {
		t.Fatal("a recipe over the whole budget was cached")
	}
	if rd, err := s.NewReader(ctx, r, 0, -1, nil); err != nil {
		t.Fatal(err)
	} else if n, err := io.Copy(io.Discard, rd); err != nil || n != r.Size {
		t.Fatalf("uncached read: %d bytes, %v", n, err)
	}
	off := openTest(t, func(c *Config) { c.RecipeCacheBytes = -1 })
	_, id, _ := repeatedRecipe(t, off, 50, 10, 512)
	a, _ := off.Recipe(ctx, id)
	b, _ := off.Recipe(ctx, id)
	if a == b || off.RecipeCacheStats().Recipes != 0 {
		t.Fatal("RecipeCacheBytes -1 still caches")
	}
}

// TestRecipeCacheForgetsDeletedRecipe: once GC deletes a recipe, Recipe
// answers ErrNotFound although it was cached.
func TestRecipeCacheForgetsDeletedRecipe(t *testing.T) {
	s := openTest(t, func(c *Config) { c.TouchAfter = time.Second })
	ctx := context.Background()
	clock := time.Now()
	s.now = func() time.Time { return clock }
	_, id, _ := repeatedRecipe(t, s, 60, 100, 512)
	if _, err := s.Recipe(ctx, id); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(time.Hour)
	st, err := s.GC(ctx, func(context.Context) ([]recipe.ID, error) { return nil, nil }, 2*time.Second)
	if err != nil || st.RecipesRemoved != 1 {
		t.Fatalf("GC: %+v, %v", st, err)
	}
	if _, err := s.Recipe(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Recipe after GC: %v, want ErrNotFound", err)
	}
}

// BenchmarkOpenRange4KiB opens and reads 4 KiB in the middle of a
// 114,860-ref recipe (the image of issue 15) through Recipe and NewReader.
func BenchmarkOpenRange4KiB(b *testing.B) {
	s := openTest(b, nil)
	ctx := context.Background()
	plain := testData(1, 1024)
	cid, err := s.Put(ctx, plain)
	if err != nil {
		b.Fatal(err)
	}
	const n = 114_860
	rec := &recipe.Recipe{Refs: make([]recipe.Ref, n), Size: n * 1024}
	for i := range rec.Refs {
		rec.Refs[i] = recipe.Ref{ID: cid, Size: 1024}
	}
	id, err := s.PutRecipe(ctx, rec)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 4096)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, err := s.Recipe(ctx, id)
		if err != nil {
			b.Fatal(err)
		}
		rd, err := s.NewReader(ctx, r, int64(i%(n-4))*1024, 4096, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(rd, buf); err != nil {
			b.Fatal(err)
		}
		rd.Close()
	}
}
