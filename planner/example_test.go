package planner_test

import (
	"fmt"
	"time"

	"github.com/nitro-cloud/nitro/planner"
)

func ExampleSolve() {
	in := planner.Input{
		Sources: []planner.Source{
			{Region: "eu-west-1", Bandwidth: 20e6, RTT: 30 * time.Millisecond},
			{Region: "us-east-1", Bandwidth: 10e6, RTT: 80 * time.Millisecond},
		},
	}
	for i := range 6 {
		holders := planner.Regions(0, 1)
		if i == 5 {
			holders = planner.Regions(1) // only us-east-1 has the last chunk
		}
		in.Chunks = append(in.Chunks, planner.Chunk{Index: i, Size: 4 << 20, Holders: holders})
	}
	st, _ := planner.ParseStrategy("optimal")
	pl, err := planner.Solve(in, st)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, sp := range pl.Sources {
		fmt.Printf("%s sends chunks %v, done at %.3f s\n", sp.Region, sp.Chunks, sp.Finish)
	}
	fmt.Printf("makespan %.3f s, lower bound %.3f s\n", pl.Makespan, pl.LowerBound)
	// Equal sizes: the plan is the best integral one; the fractional
	// bound would split a chunk.

	// Output:
	// eu-west-1 sends chunks [0 1 2 3], done at 0.869 s
	// us-east-1 sends chunks [4 5], done at 0.919 s
	// makespan 0.919 s, lower bound 0.886 s
}
