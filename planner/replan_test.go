package planner

import (
	"errors"
	"math/rand/v2"
	"testing"
)

func TestReplan(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for iter := range 100 {
		in := randInput(rng, genOpts{n: 50 + rng.IntN(300), k: 2 + rng.IntN(5), minSize: 1 << 19, maxSize: 3 << 19, latency: true})
		in = shuffled(rng, in)
		prev, err := Solve(in, Strategy{})
		if err != nil {
			t.Fatal(err)
		}
		// A third has arrived, a few are in flight, source `dead` failed
		// and another slowed down.
		var pr Progress
		n := len(in.Chunks)
		for i := 0; i < n/3; i++ {
			pr.Arrived = append(pr.Arrived, i)
		}
		for i := n / 3; i < n/3+5 && i < n; i++ {
			pr.InFlight = append(pr.InFlight, Transfer{Chunk: i, Source: prev.Owner[i], Remaining: rng.Int64N(in.Chunks[i].Size + 1)})
		}
		dead := rng.IntN(len(in.Sources))
		pr.Sources = append([]Source(nil), in.Sources...)
		pr.Sources[dead].Bandwidth = 0
		pr.Sources[(dead+1)%len(in.Sources)].Bandwidth /= 3
		pl, err := Replan(in, prev, pr)
		if errors.Is(err, ErrNoHolder) {
			continue // some chunk was held only by the failed source
		}
		if err != nil {
			t.Fatalf("iter %d: %v", iter, err)
		}
		// Expected: Solve on the remaining chunks with in-flight bytes queued.
		sub := Input{Sources: append([]Source(nil), pr.Sources...)}
		excluded := map[int]bool{}
		for _, i := range pr.Arrived {
			excluded[i] = true
		}
		for _, tr := range pr.InFlight {
			if tr.Source == dead {
				continue
			}
			excluded[tr.Chunk] = true
			rem := tr.Remaining
			if rem == 0 {
				rem = in.Chunks[tr.Chunk].Size
			}
			sub.Sources[tr.Source].Queued += rem
		}
		var back []int
		for i, c := range in.Chunks {
			if !excluded[i] {
				sub.Chunks = append(sub.Chunks, c)
				back = append(back, i)
			}
		}
		want, err := Solve(sub, Strategy{})
		if err != nil {
			t.Fatal(err)
		}
		checkPlan(t, sub, want, true)
		if pl.Makespan != want.Makespan || pl.LowerBound != want.LowerBound {
			t.Fatalf("iter %d: replan makespan %v bound %v, want %v %v", iter, pl.Makespan, pl.LowerBound, want.Makespan, want.LowerBound)
		}
		for i, o := range pl.Owner {
			if excluded[i] != (o == -1) {
				t.Fatalf("iter %d: chunk %d owner %d, excluded %v", iter, i, o, excluded[i])
			}
			if o == dead {
				t.Fatalf("iter %d: chunk %d planned on the failed source", iter, i)
			}
		}
		for j, o := range want.Owner {
			if pl.Owner[back[j]] != o {
				t.Fatalf("iter %d: chunk %d owner %d, want %d", iter, back[j], pl.Owner[back[j]], o)
			}
		}
		for r, sp := range pl.Sources {
			for x, i := range sp.Chunks {
				if pl.Owner[i] != r || (x > 0 && in.Chunks[sp.Chunks[x-1]].Index >= in.Chunks[i].Index) {
					t.Fatalf("iter %d: source %d list broken", iter, r)
				}
			}
		}
	}
}

func TestReplanErrors(t *testing.T) {
	in := Input{Sources: []Source{{Region: "a", Bandwidth: 10}, {Region: "b", Bandwidth: 10}}, Chunks: []Chunk{
		{Index: 0, ID: "x", Size: 5, Holders: 1}, {Index: 1, ID: "y", Size: 5, Holders: 3}, {Index: 2, ID: "z", Size: 5, Holders: 2},
	}}
	tests := []struct {
		name string
		pr   Progress
		want error
	}{
		{"arrived out of range", Progress{Arrived: []int{3}}, ErrBadInput},
		{"arrived twice", Progress{Arrived: []int{1, 1}}, ErrBadInput},
		{"arrived and in flight", Progress{Arrived: []int{1}, InFlight: []Transfer{{Chunk: 1, Source: 0}}}, ErrBadInput},
		{"bad source", Progress{InFlight: []Transfer{{Chunk: 1, Source: 2}}}, ErrBadInput},
		{"bad remaining", Progress{InFlight: []Transfer{{Chunk: 1, Source: 0, Remaining: 6}}}, ErrBadInput},
		{"sources mismatch", Progress{Sources: in.Sources[:1]}, ErrBadInput},
		{"sources renamed", Progress{Sources: []Source{{Region: "a", Bandwidth: 1}, {Region: "c", Bandwidth: 1}}}, ErrBadInput},
		{"only holder failed", Progress{Sources: []Source{{Region: "a", Bandwidth: 10}, {Region: "b"}}}, ErrNoHolder},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Replan(in, nil, tt.pr); !errors.Is(err, tt.want) {
				t.Fatalf("Replan error %v, want %v", err, tt.want)
			}
		})
	}
	// The error names the caller's chunk position.
	_, err := Replan(in, nil, Progress{Arrived: []int{0}, Sources: []Source{{Region: "a", Bandwidth: 10}, {Region: "b"}}})
	var ce *ChunkError
	if !errors.As(err, &ce) || ce.Pos != 2 || ce.ID != "z" {
		t.Fatalf("error %v does not name chunk 2", err)
	}
	// Everything arrived: an empty plan.
	pl, err := Replan(in, &Plan{Strategy: Strategy{Kind: RoundRobin}}, Progress{Arrived: []int{0, 1, 2}})
	if err != nil || pl.Makespan != 0 || pl.Strategy.Kind != RoundRobin || pl.Owner[1] != -1 {
		t.Fatalf("all arrived: %+v, %v", pl, err)
	}
}
