package fetch

import (
	"context"
	"fmt"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"github.com/nitro-cloud/nitro/planner"
)

// Report is what `nitro plan` shows: how this region would read refs
// [First, Last) of a recipe right now, without fetching anything.
type Report struct {
	Region       string         `json:"region"`
	First        int            `json:"first"`
	Last         int            `json:"last"`
	Chunks       int            `json:"chunks"` // distinct chunks in the span
	Local        int            `json:"local_chunks"`
	LocalBytes   int64          `json:"local_bytes"` // plain bytes
	Missing      int            `json:"missing_chunks"`
	MissingPlain int64          `json:"missing_plain_bytes"`
	Strategy     string         `json:"strategy"`
	Sources      []SourceReport `json:"sources"`
	NoHolder     []string       `json:"no_holder,omitempty"` // chunk IDs no live region holds
	// Makespan and LowerBound are the planner's predicted time and its
	// fractional lower bound, in seconds.
	Makespan   float64 `json:"makespan_s"`
	LowerBound float64 `json:"lower_bound_s"`
	// Refs[i] says where ref First+i comes from: "local", a region, or
	// "none".
	Refs []string `json:"refs"`
}

// SourceReport is one source region's part of a Report (a region is one
// source, served by any of its live nodes).
type SourceReport struct {
	Region string `json:"region"`
	// URL is the peer URL of its first node; Nodes names them all.
	URL       string        `json:"url"`
	Nodes     []string      `json:"nodes"`
	Holds     int           `json:"holds"` // missing chunks it holds
	Chunks    int           `json:"chunks"`
	Bytes     int64         `json:"bytes"` // stored bytes, as the holders reported them
	Bandwidth float64       `json:"bandwidth_Bps"`
	RTT       time.Duration `json:"rtt_ns"`
	Finish    float64       `json:"finish_s"`
}

// Explain plans refs [first, last) of rec as Source would, and reports the
// plan instead of running it.
func (f *Fetcher) Explain(ctx context.Context, rec *recipe.Recipe, first, last int) (*Report, error) {
	if first < 0 || last > len(rec.Refs) || first > last {
		return nil, fmt.Errorf("fetch: span [%d, %d) of %d refs", first, last, len(rec.Refs))
	}
	missing, err := f.missing(ctx, rec, first, last)
	if err != nil {
		return nil, err
	}
	rep := &Report{Region: f.cfg.Region, First: first, Last: last, Strategy: f.cfg.Strategy.String()}
	where := map[recipe.ChunkID]string{}
	for i := first; i < last; i++ {
		if _, ok := where[rec.Refs[i].ID]; !ok {
			where[rec.Refs[i].ID] = "local"
			rep.Chunks++
		}
	}
	for _, c := range missing {
		rep.MissingPlain += int64(c.plain)
		where[c.id] = "none"
	}
	rep.Missing = len(missing)
	rep.Local = rep.Chunks - rep.Missing
	peers := f.livePeers()
	ids := make([]recipe.ChunkID, len(missing))
	for i, c := range missing {
		ids[i] = c.id
	}
	var srcs []*jsrc
	if len(missing) > 0 {
		srcs = f.sources(peers, f.haveSizes(ctx, peers, ids), missing)
	}
	var todo []*jchunk
	for _, c := range missing {
		if c.holders == 0 {
			rep.NoHolder = append(rep.NoHolder, c.id.String())
		} else {
			todo = append(todo, c)
		}
	}
	in, g := f.input(srcs, todo, ^planner.RegionSet(0))
	for r, region := range g.names {
		sr := SourceReport{Region: region, Bandwidth: in.Sources[r].Bandwidth, RTT: in.Sources[r].RTT}
		for i, s := range srcs {
			if g.of[i] == r {
				sr.Nodes = append(sr.Nodes, s.name())
				if sr.URL == "" {
					sr.URL = s.URL
				}
			}
		}
		for _, c := range todo {
			if c.holders&g.nodes[r] != 0 {
				sr.Holds++
			}
		}
		rep.Sources = append(rep.Sources, sr)
	}
	if len(todo) > 0 {
		plan, err := planner.Solve(in, f.cfg.Strategy)
		if err != nil {
			return nil, err
		}
		rep.Makespan, rep.LowerBound = plan.Makespan, plan.LowerBound
		for r, sp := range plan.Sources {
			rep.Sources[r].Chunks, rep.Sources[r].Bytes, rep.Sources[r].Finish = len(sp.Chunks), sp.Bytes, sp.Finish
			for _, pos := range sp.Chunks {
				where[todo[pos].id] = sp.Region
			}
		}
	}
	for i := first; i < last; i++ {
		rep.Refs = append(rep.Refs, where[rec.Refs[i].ID])
	}
	for i := first; i < last; i++ {
		if where[rec.Refs[i].ID] == "local" {
			rep.LocalBytes += int64(rec.Refs[i].Size)
		}
	}
	return rep, nil
}
