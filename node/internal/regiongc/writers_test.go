package regiongc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

// testWritersDuringGC is issue 12's "region GC while two nodes write":
// two writers (goroutines following the contract's write rules, one
// namespace standing for the replicated one) write objects made of
// chunks drawn from a pool, most of them old and unreferenced (garbage
// GC is about to move), and delete some of their objects again, while two
// nodes' collectors run GC over and over at a grace of a few seconds,
// competing for the lease. Then every object still live must read back
// byte-exact with every chunk verified: first as the runs left the
// cluster, then after two more runs past the grace (so any chunk a race
// left only in the fossils must have been moved back, not deleted).
//
// The collectors wait 300 ms between each move's COPY and DELETE (a slow
// cluster), which widens the window in which a writer relies on a chunk
// being moved: with the move replaced by a plain DELETE this test loses
// chunks (checked), with the fossils it must not. Safety here rests on
// grace > touchAfter + the longest write (its last chunk check to its
// record): 6 s > 1 s + well under a second per object.
// NITRO_REGIONGC_FULL=1 writes for 2 minutes instead of 15 s.
func testWritersDuringGC(t *testing.T, sc *gophercloud.ServiceClient) {
	ctx := t.Context()
	const grace = 6 * time.Second
	dur, perWriter := 15*time.Second, 60
	if os.Getenv("NITRO_REGIONGC_FULL") == "1" {
		dur, perWriter = 2*time.Minute, 600
	}
	r := newRegion(t, sc, "writers", 1)
	r.touchAfter = time.Second

	// The pool: 48 chunks written as one object nobody names (garbage
	// from the start), and 16 more under a live object.
	pool := make([][]byte, 64)
	for i := range pool {
		pool[i] = random(chunkSize)
	}
	if _, _, err := r.putObj(ctx, bytes.Join(pool[:48], nil)); err != nil {
		t.Fatal(err)
	}
	baseID, err := r.write(ctx, "base", bytes.Join(pool[48:], nil))
	if err != nil {
		t.Fatal(err)
	}
	live := map[string]liveObj{"base": {baseID, bytes.Join(pool[48:], nil)}}

	verify := func(when string) {
		t.Helper()
		for name, o := range live {
			if got, err := r.read(ctx, o.id); err != nil || !bytes.Equal(got, o.data) {
				t.Errorf("%s: %s: %v", when, name, err)
			}
		}
	}
	ok := raceWriters(t, r, grace, dur, perWriter, live, writer{
		data: func(rng *rand.Rand) []byte {
			var parts [][]byte
			for range 4 {
				parts = append(parts, pool[rng.IntN(len(pool))])
			}
			return bytes.Join(append(parts, random(chunkSize/2)), nil)
		},
		write: func(ctx context.Context, _ int, name string, data []byte) (recipe.ID, error) {
			return r.write(ctx, name, data)
		},
		read: func(ctx context.Context, _ int, id recipe.ID) ([]byte, error) { return r.read(ctx, id) },
	}, verify, func(st Stats) bool { return st.ChunksFossilized > 0 })
	if !ok {
		return
	}
	for name, o := range live {
		rec, err := r.getFallback(ctx, KindRecipe, o.id.String())
		if err != nil {
			t.Fatal(err)
		}
		var rc recipe.Recipe
		if err := rc.UnmarshalBinary(rec); err != nil {
			t.Fatal(err)
		}
		for _, ref := range rc.Refs {
			if l, _ := r.where(ctx, KindChunk, ref.ID.String()); !l {
				t.Errorf("%s: chunk %s not back in its container", name, ref.ID)
			}
		}
	}
}

// liveObj is an object a test wrote and has not deleted: its recipe
// and its data.
type liveObj struct {
	id   recipe.ID
	data []byte
}

// writer is how raceWriters' writer w (0 or 1) makes, writes (as object
// name, committed) and reads back an object.
type writer struct {
	data  func(rng *rand.Rand) []byte
	write func(ctx context.Context, w int, name string, data []byte) (recipe.ID, error)
	read  func(ctx context.Context, w int, id recipe.ID) ([]byte, error)
}

// raceWriters runs two writers against racingCollectors(grace) for dur
// or perWriter objects each: each writes an object, reads back a random
// earlier one of its own, deletes a random one of its own one time in
// three and sleeps up to 100 ms. live holds the objects written before
// and ends with those still live. Then it fails t with the writers' and
// collectors' errors, calls verify("after the writes"), fails t if the
// collectors did too little (did false for their summed counters), runs
// GC twice more past the grace and calls verify("after the final
// runs"). ok is false when it stopped early on a failure.
func raceWriters(t *testing.T, r *region, grace, dur time.Duration, perWriter int, live map[string]liveObj,
	wr writer, verify func(when string), did func(Stats) bool) (ok bool) {
	t.Helper()
	ctx := t.Context()
	stopGC := racingCollectors(ctx, r, grace)
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	werr := make(chan error, 2)
	deadline := time.Now().Add(dur)
	for w := range 2 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			var mine []string
			for i := 0; i < perWriter && time.Now().Before(deadline); i++ {
				data := wr.data(rng)
				name := fmt.Sprintf("w%d-%d", w, i)
				id, err := wr.write(ctx, w, name, data)
				if err != nil {
					werr <- fmt.Errorf("write %s: %w", name, err)
					return
				}
				mu.Lock()
				live[name] = liveObj{id, data}
				mu.Unlock()
				mine = append(mine, name)
				// Read back a random earlier object of this writer
				// (through the fossils if a race put a chunk there).
				o := mine[rng.IntN(len(mine))]
				mu.Lock()
				want := live[o]
				mu.Unlock()
				if want.data != nil {
					if got, err := wr.read(ctx, w, want.id); err != nil || !bytes.Equal(got, want.data) {
						werr <- fmt.Errorf("read back %s during GC: %v", o, err)
						return
					}
				}
				if rng.IntN(3) == 0 { // delete one: its chunks become garbage
					o := mine[rng.IntN(len(mine))]
					mu.Lock()
					_, ok := live[o]
					delete(live, o)
					mu.Unlock()
					if ok {
						if err := r.remove(ctx, o); err != nil {
							werr <- err
							return
						}
					}
				}
				time.Sleep(time.Duration(rng.IntN(100)) * time.Millisecond)
			}
		})
	}
	wg.Wait()
	total, runs, held, gcErrs := stopGC()
	close(werr)
	for err := range werr {
		t.Error(err)
	}
	for _, err := range gcErrs {
		t.Error(err)
	}
	if t.Failed() {
		return false
	}
	verify("after the writes")
	t.Logf("%d objects live; %d runs, %d found the lease held; totals %+v", len(live), runs, held, total)
	if runs < 2 || !did(total) {
		t.Errorf("GC did too little to test anything: %d runs, %+v", runs, total)
	}
	// Two runs past the grace: everything unreferenced goes, everything
	// live comes back to the live containers.
	c := r.collector("n1", 10*time.Second)
	for i := range 2 {
		r.clk.advance(2 * grace)
		st, err := c.Run(ctx, grace)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("final run %d: %+v", i, st)
	}
	verify("after the final runs")
	return true
}

// racingCollectors starts two collectors of r, n1 and n2, each running
// Run(ctx, grace) every 200 ms against a slow cluster (300 ms between a
// move's COPY and its DELETE: the window in which a writer can rely on
// what is being moved) until stop is called. stop waits for them and
// returns the runs' summed counters, how many runs completed, how many
// found the lease held, and the errors that ended a collector.
func racingCollectors(ctx context.Context, r *region, grace time.Duration) (stop func() (total Stats, runs, held int, errs []error)) {
	var (
		mu         sync.Mutex
		wg         sync.WaitGroup
		done       = make(chan struct{})
		total      Stats
		runs, held int
		errs       []error
	)
	for _, owner := range []string{"n1", "n2"} {
		c := r.collector(owner, 10*time.Second)
		c.cfg.Settle = 100 * time.Millisecond
		c.afterCopy = func(string, string) { time.Sleep(300 * time.Millisecond) }
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				case <-time.After(200 * time.Millisecond):
				}
				st, err := c.Run(ctx, grace)
				mu.Lock()
				switch {
				case err == nil:
					runs++
					addCounters(&total, st)
				case errors.Is(err, ErrLeaseHeld):
					held++
				default:
					errs = append(errs, fmt.Errorf("%s: %w", owner, err))
					mu.Unlock()
					return
				}
				mu.Unlock()
			}
		})
	}
	return func() (Stats, int, int, []error) {
		close(done)
		wg.Wait()
		return total, runs, held, errs
	}
}

// addCounters adds every int and int64 counter of st to total.
func addCounters(total *Stats, st Stats) {
	tv, sv := reflect.ValueOf(total).Elem(), reflect.ValueOf(st)
	for i := range tv.NumField() {
		f := tv.Field(i)
		if f.Type() == reflect.TypeOf(time.Duration(0)) {
			continue
		}
		switch f.Kind() {
		case reflect.Int, reflect.Int64:
			f.SetInt(f.Int() + sv.Field(i).Int())
		}
	}
}
