package namespace

// Boot profiles: which chunks of a recipe the first reads touched.
//
// A profile record (KindProfile) lists ref indices of recipe Held in the
// order reads first touched them (VMThunder's boot-time prefetching): when
// a VM boots from an image, the first reads after the image's creation are
// the ones the next boot will make, so another region that starts reading
// the image can fetch those chunks first, in that order, in one planned
// transfer. Its key is "p" + the 32 bytes of the recipe ID: one profile per
// content, whichever object names it and whichever region recorded it.
// Profiles are replicated and merged by last writer wins like every other
// record; a tombstone (ClearProfile) clears one, and the next reads record
// a new one.
//
// Profiles are advisory: a prefetch that follows a stale or foreign profile
// only moves chunks early; every read still verifies what it reads.

import (
	"context"
	"fmt"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"go.uber.org/zap"
)

// ProfileKey returns the key of the boot profile of recipe id.
func ProfileKey(id recipe.ID) Key { return Key{Kind: KindProfile, Held: id} }

func (k Key) validateProfile() error {
	if k.Account != "" || k.Container != "" || k.Object != "" || k.Holder != "" {
		return fmt.Errorf("%w: profile key with a name or region", ErrInvalidName)
	}
	if k.Held.IsZero() {
		return fmt.Errorf("%w: profile key without a recipe", ErrInvalidName)
	}
	return nil
}

func profileBytes(id recipe.ID) []byte {
	return append([]byte{byte(KindProfile)}, id[:]...)
}

func parseProfileKey(b []byte) (Key, error) {
	var id recipe.ID
	if len(b) != 1+len(id) {
		return Key{}, fmt.Errorf("%w: malformed profile key %q", ErrInvalidName, b)
	}
	copy(id[:], b[1:])
	k := ProfileKey(id)
	return k, k.Validate()
}

// Profile returns the live boot profile of recipe id, or ErrNotFound
// (wrapped) if there is none or it was cleared. O(1): one key read.
func (ns *Namespace) Profile(ctx context.Context, id recipe.ID) (*Record, error) {
	r, err := ns.Get(ctx, ProfileKey(id))
	if err != nil {
		return nil, err
	}
	if !r.Live() {
		return nil, fmt.Errorf("%w: %v (cleared)", ErrNotFound, r.Key)
	}
	return r, nil
}

// PutProfile stores refs (ref indices of recipe id in first-touch order)
// as id's boot profile, stamped now by this region, and returns the record
// for replication; nil if a newer record (a clear, or another region's
// profile) won.
func (ns *Namespace) PutProfile(ctx context.Context, id recipe.ID, refs []int32) (*Record, error) {
	r := &Record{Key: ProfileKey(id), Timestamp: ns.Now(), Region: ns.region, Profile: refs}
	var applied bool
	err := ns.Update(ctx, func(t *Txn) error {
		var err error
		applied, err = t.Apply(r)
		return err
	})
	if err != nil || !applied {
		return nil, err
	}
	return r, nil
}

// ClearProfile tombstones the boot profile of recipe id and returns the
// tombstone for replication; ErrNotFound (wrapped) if there is no live
// profile.
func (ns *Namespace) ClearProfile(ctx context.Context, id recipe.ID) (*Record, error) {
	tomb := &Record{Key: ProfileKey(id), Region: ns.region, Deleted: true}
	err := ns.Update(ctx, func(t *Txn) error {
		cur, err := t.Get(tomb.Key)
		if err != nil {
			return err
		}
		if !cur.Live() {
			return fmt.Errorf("%w: %v (cleared)", ErrNotFound, tomb.Key)
		}
		tomb.Timestamp = max(ns.Now(), cur.Timestamp+1)
		_, err = t.Apply(tomb)
		return err
	})
	if err != nil {
		return nil, err
	}
	return tomb, nil
}

// ExpireProfiles tombstones the live profiles of recipes not in live (as
// LiveRecipes returns) written before the timestamp before (unix
// nanoseconds), and returns how many; see ExpireHoldings, whose rules it
// follows. Cost: a scan of every profile.
func (ns *Namespace) ExpireProfiles(ctx context.Context, live []recipe.ID, before int64) (int, error) {
	n, err := ns.expireDead(ctx, KindProfile, live, before)
	if n > 0 {
		ns.log.Info("expired boot profiles of dead recipes", zap.Int("profiles", n))
	}
	return n, err
}
