package replica

import (
	"bytes"
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"github.com/nitro-cloud/nitro/node/internal/namespace"
	"github.com/nitro-cloud/nitro/node/internal/peer"
	"go.uber.org/zap"
)

// slowMerge is the node's namespace whose Apply first runs before: a
// record merge that is slow (a busy disk) while GC runs meanwhile.
type slowMerge struct {
	Namespace
	before func()
}

func (s *slowMerge) Apply(ctx context.Context, rec *namespace.Record) (bool, error) {
	s.before()
	return s.Namespace.Apply(ctx, rec)
}

// TestApplyKeepsRecipeThroughGC (issue 9, hole e): a record pushed by a
// peer names a recipe this node already stores, fresh enough not to be
// re-stamped, but dead here; GC runs, at the least grace, between the
// recipe's store and the record's merge. The recipe and its chunks must
// survive.
func TestApplyKeepsRecipeThroughGC(t *testing.T) {
	ctx := t.Context()
	st, err := chunkstore.Open(chunkstore.Config{Dir: t.TempDir(), NoSync: true, TouchAfter: 500 * time.Millisecond}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ns, err := namespace.New(namespace.Config{Region: "b"}, st.Records(), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 300<<10)
	rand.Read(data)
	// An earlier copy of the content here, no longer named by anything.
	rc, id, err := st.Write(ctx, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	rec := &namespace.Record{Key: namespace.ObjectKey("acct", "images", "x"), Timestamp: ns.Now(), Region: "a",
		Recipe: id, Size: rc.Size, ETag: rc.ETag()}
	val, err := rec.MarshalValue()
	if err != nil {
		t.Fatal(err)
	}
	enc, err := rc.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var gcErr error
	slow := &slowMerge{Namespace: ns, before: func() {
		time.Sleep(2200 * time.Millisecond) // past the grace, in whole seconds of stamps
		_, gcErr = st.GC(ctx, ns.LiveRecipes, time.Second)
	}}
	cl, err := peer.NewClient(peer.ClientConfig{Secret: secret, Region: "b"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(Config{Region: "b", Interval: -1}, slow, st, func() []Peer { return nil }, cl, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	n, err := r.ApplyRecords(ctx, "a", []peer.WireRecord{{Key: rec.Key.Bytes(), Value: val, Recipe: enc}})
	if err != nil || n != 1 || gcErr != nil {
		t.Fatalf("apply: %d %v; gc: %v", n, err, gcErr)
	}
	if _, err := st.Recipe(ctx, id); err != nil {
		t.Fatalf("recipe of a merged record: %v", err)
	}
	rep, err := st.Fsck(ctx, []recipe.ID{id}, false)
	if err != nil || !rep.OK() {
		t.Fatalf("fsck: %v: %d chunks missing", err, len(rep.Missing[id]))
	}
}
