package replica

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"github.com/nitro-cloud/nitro/node/internal/namespace"
	"github.com/nitro-cloud/nitro/node/internal/peer"
	"go.uber.org/zap"
)

var secret = []byte("replica-test-secret-0123456789")

type node struct {
	region string
	store  *chunkstore.Store
	ns     *namespace.Namespace
	rep    *Replicator
	hs     *httptest.Server
	cut    atomic.Bool // partitioned from everyone
}

type cluster []*node

func (c cluster) peersOf(me *node) func() []Peer {
	return func() []Peer {
		var out []Peer
		for _, n := range c {
			if n != me {
				out = append(out, Peer{Region: n.region, URL: n.hs.URL})
			}
		}
		return out
	}
}

func newCluster(t *testing.T, regions ...string) cluster {
	t.Helper()
	c := make(cluster, len(regions))
	for i, r := range regions {
		n := &node{region: r}
		st, err := chunkstore.Open(chunkstore.Config{Dir: t.TempDir(), NoSync: true}, zap.NewNop())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		n.store = st
		n.ns, err = namespace.New(namespace.Config{Region: r}, st.Records(), zap.NewNop())
		if err != nil {
			t.Fatal(err)
		}
		c[i] = n
	}
	for _, n := range c {
		cl, err := peer.NewClient(peer.ClientConfig{Secret: secret, Region: n.region})
		if err != nil {
			t.Fatal(err)
		}
		n.rep, err = New(Config{Region: n.region, Timeout: time.Second, Interval: -1}, n.ns, n.store, c.peersOf(n), cl, zap.NewNop())
		if err != nil {
			t.Fatal(err)
		}
		srv, err := peer.NewServer(peer.ServerConfig{Secret: secret, Region: n.region,
			Block: func(from string) bool {
				if n.cut.Load() {
					return true
				}
				for _, m := range c {
					if m.region == from && m.cut.Load() {
						return true
					}
				}
				return false
			}}, n.store, n.rep, nil, zap.NewNop())
		if err != nil {
			t.Fatal(err)
		}
		n.hs = httptest.NewServer(srv)
		t.Cleanup(n.hs.Close)
	}
	return c
}

// put writes an object at n (content, recipe, record) and replicates it.
func (n *node) put(t *testing.T, container, object string, data []byte) *namespace.Record {
	t.Helper()
	ctx := t.Context()
	rc, id, err := n.store.Write(ctx, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	rec := &namespace.Record{Key: namespace.ObjectKey("acct", container, object), Timestamp: n.ns.Now(),
		Region: n.region, Recipe: id, Size: rc.Size, ETag: rc.ETag()}
	if _, err := n.ns.Apply(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := n.rep.Replicate(ctx, *rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

func (n *node) del(t *testing.T, container, object string) {
	t.Helper()
	rec := &namespace.Record{Key: namespace.ObjectKey("acct", container, object), Timestamp: n.ns.Now(),
		Region: n.region, Deleted: true}
	if _, err := n.ns.Apply(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	if err := n.rep.Replicate(t.Context(), *rec); err != nil {
		t.Fatal(err)
	}
}

func digest(t *testing.T, n *node) peer.Digest {
	d, err := n.rep.Digest(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return *d
}

func TestPushReachesEveryPeerWithRecipe(t *testing.T) {
	c := newCluster(t, "a", "b", "c")
	rec := c[0].put(t, "images", "cirros", bytes.Repeat([]byte("x"), 100000))
	for _, n := range c[1:] {
		got, err := n.ns.GetLive(t.Context(), rec.Key)
		if err != nil || got.Recipe != rec.Recipe || got.Region != "a" {
			t.Fatalf("%s: %+v %v", n.region, got, err)
		}
		if _, err := n.store.Recipe(t.Context(), rec.Recipe); err != nil {
			t.Fatalf("%s lacks the recipe: %v", n.region, err)
		}
	}
	if d := digest(t, c[0]); d != digest(t, c[1]) || d != digest(t, c[2]) {
		t.Fatal("digests differ after push")
	}
	if s := c[0].rep.Stats(); s.Pushed != 2 || s.PushFailures != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestPartitionHealConverges(t *testing.T) {
	c := newCluster(t, "a", "b", "c")
	ctx := t.Context()
	c[0].put(t, "images", "before", []byte("before the partition"))
	c[2].cut.Store(true)
	c[0].put(t, "images", "during-a", []byte("written at a while c is cut off"))
	c[2].put(t, "images", "during-c", []byte("written at c while cut off"))
	c[1].del(t, "images", "before")
	if _, err := c[2].ns.GetLive(ctx, namespace.ObjectKey("acct", "images", "during-a")); !errors.Is(err, namespace.ErrNotFound) {
		t.Fatal("c saw a write across the partition")
	}
	if c[0].rep.Stats().PushFailures == 0 {
		t.Fatal("no push failure counted")
	}
	// A round during the partition cannot converge.
	if err := c[2].rep.Round(ctx); err == nil {
		t.Fatal("round across a partition succeeded")
	}
	c[2].cut.Store(false)
	for _, n := range c {
		if err := n.rep.Round(ctx); err != nil {
			t.Fatal(err)
		}
	}
	d := digest(t, c[0])
	for _, n := range c {
		if digest(t, n) != d {
			t.Fatalf("%s did not converge", n.region)
		}
		if _, err := n.ns.GetLive(ctx, namespace.ObjectKey("acct", "images", "during-c")); err != nil {
			t.Fatalf("%s lacks c's write: %v", n.region, err)
		}
		if _, err := n.ns.GetLive(ctx, namespace.ObjectKey("acct", "images", "during-a")); err != nil {
			t.Fatalf("%s lacks a's write: %v", n.region, err)
		}
		if r, err := n.ns.Get(ctx, namespace.ObjectKey("acct", "images", "before")); err != nil || !r.Deleted {
			t.Fatalf("%s: the delete was lost: %+v %v", n.region, r, err)
		}
	}
}

func TestLWWTieBreakByRegion(t *testing.T) {
	c := newCluster(t, "a", "b")
	ctx := t.Context()
	k := namespace.ContainerKey("acct", "shared")
	ts := time.Now().UnixNano()
	for _, n := range c {
		rec := &namespace.Record{Key: k, Timestamp: ts, Region: n.region, Meta: map[string]string{"by": n.region}}
		n.ns.Apply(ctx, rec)
	}
	for _, n := range c {
		if err := n.rep.Round(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range c {
		r, _ := n.ns.Get(ctx, k)
		if r.Region != "b" {
			t.Fatalf("%s kept %s's write; the greater region wins a tie", n.region, r.Region)
		}
	}
}

func TestOldTombstonesNotResurrected(t *testing.T) {
	c := newCluster(t, "a", "b")
	ctx := t.Context()
	old := time.Now().Add(-8 * 24 * time.Hour).UnixNano() // beyond the 7-day reclaim age
	tomb := &namespace.Record{Key: namespace.ObjectKey("acct", "x", "gone"), Timestamp: old, Region: "a", Deleted: true}
	c[0].ns.Apply(ctx, tomb)
	// Not in a's digest, not pulled by b, not stored when pushed.
	if digest(t, c[0]) != (peer.Digest{}) {
		t.Fatal("old tombstone in the digest")
	}
	c[1].rep.Round(ctx)
	c[0].rep.Replicate(ctx, *tomb)
	if _, err := c[1].ns.Get(ctx, tomb.Key); !errors.Is(err, namespace.ErrNotFound) {
		t.Fatalf("old tombstone stored at b: %v", err)
	}
	if c[1].rep.Stats().IgnoredOldTombstones != 1 {
		t.Fatal("not counted")
	}
	// But where b holds an older live record, the old tombstone still wins.
	live := &namespace.Record{Key: tomb.Key, Timestamp: old - 1, Region: "b", Recipe: recipe.ID{1}, Size: 1}
	c[1].ns.Apply(ctx, live)
	c[0].rep.Replicate(ctx, *tomb)
	if r, _ := c[1].ns.Get(ctx, tomb.Key); !r.Deleted {
		t.Fatal("old tombstone did not delete an older live record")
	}
}

func TestRunTriggeredRound(t *testing.T) {
	c := newCluster(t, "a", "b")
	c[1].cut.Store(true)
	c[0].put(t, "images", "late", []byte("late"))
	c[1].cut.Store(false)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go c[1].rep.Run(ctx)
	c[1].rep.Trigger()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := c[1].ns.GetLive(t.Context(), namespace.ObjectKey("acct", "images", "late")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("triggered round did not catch up")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
