package namespace

// Holdings: which regions hold every chunk of a recipe.
//
// A holding record (KindHolding) says that region Holder held every chunk
// of recipe Held at Timestamp. Its key is "h" + the 32 bytes of the recipe
// ID + the region name, so the holdings of one recipe are a prefix scan of
// at most one key per region. A region writes its own holding when it
// becomes complete for a recipe: at the PUT that stored it (with the
// object record, in the same transaction), and when a fetch (a read or
// eager placement) leaves every chunk of the recipe local. Holdings are
// replicated and merged by last writer wins like every other record.
//
// Holdings are keyed by recipe, not by object name: what a region holds is
// content, so one holding serves every object that names the recipe (a
// copy, the same segment uploaded twice), a holding of an overwritten
// object's old recipe simply stops mattering, and the fetcher, which knows
// recipes and not names, can write them.
//
// Holdings are advisory. A region writes one when it knows it is complete;
// it does not retract it when a chunk later goes away (a chunk dropped as
// corrupt and not yet fetched again, fsck --repair, a disk restored from an
// old backup). Readers must treat them as "probably complete", never as a
// reason to skip verification or the have-bitmaps of the fetch.
//
// Garbage: ExpireHoldings (run by GC) tombstones the holdings of recipes no
// live object names any more; PurgeTombstones removes the tombstones after
// the reclaim age, as for other records.

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"go.uber.org/zap"
)

// HoldingKey returns the key of region's holding of recipe id.
func HoldingKey(id recipe.ID, region string) Key {
	return Key{Kind: KindHolding, Held: id, Holder: region}
}

func (k Key) validateHolding() error {
	if k.Account != "" || k.Container != "" || k.Object != "" {
		return fmt.Errorf("%w: holding key with an account, container or object name", ErrInvalidName)
	}
	if k.Held.IsZero() {
		return fmt.Errorf("%w: holding key without a recipe", ErrInvalidName)
	}
	return ValidateName("region", k.Holder)
}

func (k Key) holdingBytes() []byte {
	b := make([]byte, 0, 1+len(k.Held)+len(k.Holder))
	b = append(b, byte(KindHolding))
	b = append(b, k.Held[:]...)
	return append(b, k.Holder...)
}

func holdingPrefix(id recipe.ID) []byte {
	return append([]byte{byte(KindHolding)}, id[:]...)
}

func parseHoldingKey(b []byte) (Key, error) {
	var id recipe.ID
	if len(b) <= 1+len(id) {
		return Key{}, fmt.Errorf("%w: malformed holding key %q", ErrInvalidName, b)
	}
	copy(id[:], b[1:])
	k := HoldingKey(id, string(b[1+len(id):]))
	return k, k.Validate()
}

// Hold stores this node's region's holding of recipe id with timestamp ts,
// unless a live one is already stored (then it returns nil). It returns
// the record it stored, for replication.
func (t *Txn) Hold(id recipe.ID, ts int64) (*Record, error) {
	k := HoldingKey(id, t.ns.region)
	old, err := t.Get(k)
	switch {
	case errors.Is(err, ErrNotFound):
	case err != nil:
		return nil, err
	case old.Live():
		return nil, nil
	}
	r := &Record{Key: k, Timestamp: ts, Region: t.ns.region}
	applied, err := t.Apply(r)
	if err != nil || !applied {
		return nil, err
	}
	return r, nil
}

// Hold records that this node's region holds every chunk of recipe id;
// see Txn.Hold.
func (ns *Namespace) Hold(ctx context.Context, id recipe.ID) (*Record, error) {
	var rec *Record
	err := ns.Update(ctx, func(t *Txn) error {
		var err error
		rec, err = t.Hold(id, ns.Now())
		return err
	})
	return rec, err
}

// Holds reports whether this node's region has a live holding of recipe
// id. O(1): one key read.
func (ns *Namespace) Holds(ctx context.Context, id recipe.ID) (bool, error) {
	r, err := ns.Get(ctx, HoldingKey(id, ns.region))
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return r.Live(), err
}

// Holders returns the regions with a live holding of recipe id, sorted;
// nil if none. Cost: a prefix scan of at most one key per region that ever
// held the recipe, no other I/O; none when the record cache has the
// answer (see recordCache: a holding written since drops it).
func (ns *Namespace) Holders(ctx context.Context, id recipe.ID) ([]string, error) {
	if id.IsZero() {
		return nil, nil
	}
	var gen uint64
	if ns.cache != nil {
		if out, ok := ns.cache.holders(id); ok {
			return out, nil
		}
		gen = ns.cache.generation()
	}
	var out []string
	err := ns.kv.Scan(ctx, holdingPrefix(id), nil, func(key, val []byte) (bool, error) {
		r, err := UnmarshalRecord(key, val)
		if err != nil {
			return false, err
		}
		if r.Live() {
			out = append(out, r.Holder)
		}
		return true, nil
	})
	slices.Sort(out) // keys sort by region already; cheap insurance
	if err == nil && ns.cache != nil {
		ns.cache.putHolders(id, slices.Clone(out), gen)
	}
	return out, err
}

// ExpireHoldings tombstones the live holdings of recipes not in live (the
// recipes live objects name, as LiveRecipes returns) written before the
// timestamp before (unix nanoseconds), and returns how many. A holding
// newer than before is kept even if its recipe looks dead: its object
// record may not have arrived yet (GC passes the start of its live scan
// minus its grace period). Any region may tombstone any region's holding
// of a dead recipe, so the holdings of a region that left for good do not
// stay forever. Cost: a scan of every holding.
func (ns *Namespace) ExpireHoldings(ctx context.Context, live []recipe.ID, before int64) (int, error) {
	n, err := ns.expireDead(ctx, KindHolding, live, before)
	if n > 0 {
		ns.log.Info("expired holdings of dead recipes", zap.Int("holdings", n))
	}
	return n, err
}

// expireDead tombstones the live records of kind (holdings or profiles:
// keyed by recipe in Held) whose recipe is not in live and that were
// written before the timestamp before; see ExpireHoldings.
func (ns *Namespace) expireDead(ctx context.Context, kind Kind, live []recipe.ID, before int64) (int, error) {
	alive := make(map[recipe.ID]struct{}, len(live))
	for _, id := range live {
		alive[id] = struct{}{}
	}
	total := 0
	err := ns.scanBatches(ctx, kind, func(r *Record) bool {
		_, ok := alive[r.Held]
		return !ok && r.Live() && r.Timestamp < before
	}, func(batch []Key) error {
		n := 0
		err := ns.Update(ctx, func(t *Txn) error {
			n = 0
			for _, k := range batch {
				r, err := t.Get(k)
				if errors.Is(err, ErrNotFound) {
					continue
				}
				if err != nil {
					return err
				}
				if !r.Live() || r.Timestamp >= before {
					continue // rewritten since the scan
				}
				if _, err := t.Apply(&Record{Key: k, Timestamp: ns.Now(), Region: ns.region, Deleted: true}); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		total += n
		return err
	})
	return total, err
}
