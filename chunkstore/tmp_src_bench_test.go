package chunkstore

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

type wrapSrc struct{ s *Store }

func (w wrapSrc) Chunk(ctx context.Context, ref recipe.Ref) ([]byte, error) { return w.s.Chunk(ctx, ref) }

func BenchmarkTmpReadSrc(b *testing.B) {
	s := benchStore(b, true)
	data := testData(3, benchSize)
	rec, _, err := s.Write(b.Context(), bytes.NewReader(data))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(benchSize)
	m := startCPU(b)
	for i := 0; i < b.N; i++ {
		r, err := s.NewReader(b.Context(), rec, 0, -1, wrapSrc{s})
		if err != nil {
			b.Fatal(err)
		}
		if n, err := io.Copy(io.Discard, r); err != nil || n != benchSize {
			b.Fatal(n, err)
		}
		r.Close()
	}
	b.StopTimer()
	m.report(b, int64(b.N)*benchSize)
}
