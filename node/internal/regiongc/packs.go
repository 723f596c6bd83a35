package regiongc

// Packs (store.swift.pack_size > 0; chunkstore/swiftstore's packs.go):
// GC at pack granularity, after the chunk steps and with the same mark
// and the same rules, a pack and its pack index moving together:
//
//   - Pack fossils: a fossil pack whose index names a marked chunk is
//     moved back (pack, then its index if it is a fossil too), touched
//     now; an unmarked one older than the cutoff is deleted (pack fossil,
//     then index fossil, each conditional on the tag GC read); the rest
//     wait.
//   - Packs: a pack whose index names a marked chunk is kept, whatever
//     else it holds (no repacking: its unmarked chunks' bytes are counted
//     in Stats.PackBytesDead); an unmarked pack whose touch time is older
//     than the cutoff is moved to the pack fossils, then its index to the
//     index fossils (only if the pack moved). A pack without an index
//     (its index PUT failed: the write failed, nobody learned its chunks)
//     older than the cutoff is moved too.
//
// The safety argument of the package doc holds with "pack" for "chunk":
// a write relies on a chunk of a pack only after seeing the pack in its
// container with a touch time younger than touch_after (touching it
// otherwise), readers fall back to the pack fossil, a pack is marked when
// any chunk of it is, and a fossil pack is deleted only by a run whose
// mark was taken a grace period after it was made.

import (
	"context"
	"errors"
	"strconv"

	"github.com/nitro-cloud/nitro/chunkstore"
	"github.com/nitro-cloud/nitro/chunkstore/swiftstore"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
)

// Packs returns the container of the packs (fossil: of the pack fossils).
func (l Layout) Packs(fossil bool) string {
	sl, _ := l.swift()
	if fossil {
		return sl.Unsharded(swiftstore.KindPackFossils)
	}
	return sl.Unsharded(swiftstore.KindPacks)
}

// PackIndexes returns the container of the pack indexes (fossil: of the
// index fossils).
func (l Layout) PackIndexes(fossil bool) string {
	sl, _ := l.swift()
	if fossil {
		return sl.Unsharded(swiftstore.KindPackIndexFossils)
	}
	return sl.Unsharded(swiftstore.KindPackIndex)
}

// packIndex reads pack name's index from the index container given
// (fossil or not), else the other; where says which held it.
// errNotFound if neither.
func (r *run) packIndex(ctx context.Context, name string, fossilFirst bool) (entries []chunkstore.PackEntry, fossil bool, err error) {
	l := r.c.cfg.Layout
	for _, f := range []bool{fossilFirst, !fossilFirst} {
		b, err := r.c.sw.get(ctx, l.PackIndexes(f), name)
		if errors.Is(err, errNotFound) {
			continue
		}
		if err != nil {
			return nil, false, err
		}
		e, err := swiftstore.DecodePackIndex(b)
		if err != nil {
			// A damaged index must not make GC drop a pack: stop.
			return nil, false, err
		}
		return e, f, nil
	}
	return nil, false, errNotFound
}

// packMarked reports whether entries name a marked chunk, and the stored
// bytes of the unmarked ones.
func (r *run) packMarked(entries []chunkstore.PackEntry) (marked bool, dead int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range entries {
		if _, ok := r.chunks[e.ID]; ok {
			marked = true
		} else {
			dead += e.Len
		}
	}
	return marked, dead
}

// packFossils: a marked fossil pack is moved back with its index; an
// unmarked one older than the cutoff is deleted with its index fossil.
func (r *run) packFossils(ctx context.Context) error {
	l := r.c.cfg.Layout
	cont := l.Packs(true)
	return r.eachIn(ctx, cont, func(ctx context.Context, row listed) error {
		entries, idxFossil, err := r.packIndex(ctx, row.name, true)
		if err != nil && !errors.Is(err, errNotFound) {
			return err
		}
		marked, _ := r.packMarked(entries)
		in, skip, err := r.headFossil(ctx, cont, row, marked)
		if skip || err != nil {
			return err
		}
		if marked {
			moved, err := r.move(ctx, cont, l.Packs(false), row.name, in,
				map[string]string{HeaderTouched: strconv.FormatInt(r.c.cfg.Now().Unix(), 10)})
			if err != nil || !moved {
				return err
			}
			r.add(func(st *Stats) { st.PacksResurrected++ })
			if idxFossil {
				return r.moveIndex(ctx, row.name, true)
			}
			return nil
		}
		if deleted, err := r.deleteFossil(ctx, cont, row.name, in); !deleted {
			return err
		}
		r.add(func(st *Stats) { st.PackFossilsDeleted++; st.PackBytesDeleted += row.size })
		if idxFossil {
			ic := l.PackIndexes(true)
			iin, err := r.c.sw.head(ctx, ic, row.name)
			if err == nil {
				err = r.c.sw.deleteIf(ctx, ic, row.name, iin.tag)
			}
			if err != nil && !errors.Is(err, errNotFound) && !errors.Is(err, errChanged) {
				return err
			}
		}
		return nil
	})
}

// moveIndex moves pack name's index between the index containers
// (toLive: from the fossils back).
func (r *run) moveIndex(ctx context.Context, name string, toLive bool) error {
	l := r.c.cfg.Layout
	src, dst := l.PackIndexes(false), l.PackIndexes(true)
	extra := map[string]string{HeaderFossilized: strconv.FormatInt(r.now.Unix(), 10)}
	if toLive {
		src, dst = dst, src
		extra = map[string]string{HeaderTouched: strconv.FormatInt(r.c.cfg.Now().Unix(), 10)}
	}
	in, gone, err := r.head(ctx, src, name)
	if gone || err != nil {
		return err
	}
	_, err = r.move(ctx, src, dst, name, in, extra)
	return err
}

// livePacks: a pack with a marked chunk is kept; an unmarked one older
// than the cutoff is fossilized, then its index.
func (r *run) livePacks(ctx context.Context) error {
	l := r.c.cfg.Layout
	cont := l.Packs(false)
	return r.eachIn(ctx, cont, func(ctx context.Context, row listed) error {
		r.add(func(st *Stats) { st.PacksListed++; st.PackBytes += row.size })
		entries, _, err := r.packIndex(ctx, row.name, false)
		if err != nil && !errors.Is(err, errNotFound) {
			return err
		}
		if errors.Is(err, errNotFound) {
			r.c.log.Debug("pack without an index", zap.String("pack", row.name))
		}
		marked, dead := r.packMarked(entries)
		if marked {
			r.add(func(st *Stats) { st.PackBytesDead += dead })
			return nil
		}
		isOld, in, gone, err := r.old(ctx, cont, row)
		if err != nil || gone {
			return err
		}
		if !isOld {
			r.add(func(st *Stats) { st.PackBytesYoung += row.size })
			return nil
		}
		moved, err := r.move(ctx, cont, l.Packs(true), row.name, in,
			map[string]string{HeaderFossilized: strconv.FormatInt(r.now.Unix(), 10)})
		if err != nil || !moved {
			return err
		}
		r.add(func(st *Stats) { st.PacksFossilized++; st.PackBytesFossilized += row.size })
		return r.moveIndex(ctx, row.name, false)
	})
}

// eachIn lists container and calls fn for each row, at most Workers
// calls at once (the run's bound).
func (r *run) eachIn(ctx context.Context, container string, fn func(ctx context.Context, row listed) error) error {
	return r.c.sw.list(ctx, container, func(rows []listed) error {
		g, gctx := errgroup.WithContext(ctx)
		for _, row := range rows {
			if err := r.sem.Acquire(gctx, 1); err != nil {
				break // gctx is done: g.Wait returns why
			}
			g.Go(func() error {
				defer r.sem.Release(1)
				return fn(gctx, row)
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
		return ctx.Err()
	})
}
