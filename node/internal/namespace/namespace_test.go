package namespace

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"go.uber.org/zap"
)

// memKV is an in-memory KV with serialized transactions; it lets these
// tests pin the namespace's logic independent of Badger (the node's tests
// run the same code over the real chunkstore.Records).
type memKV struct {
	mu       sync.Mutex
	m        map[string][]byte
	watchers []func(keys [][]byte)
}

// OnWrite is chunkstore.Records.OnWrite: the record cache is on in these
// tests too.
func (kv *memKV) OnWrite(fn func(keys [][]byte)) {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	kv.watchers = append(kv.watchers, fn)
}

func newMemKV() *memKV { return &memKV{m: map[string][]byte{}} }

func (kv *memKV) Get(_ context.Context, key []byte) ([]byte, error) {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	v, ok := kv.m[string(key)]
	if !ok {
		return nil, chunkstore.ErrNotFound
	}
	return slices.Clone(v), nil
}

type memTxn struct {
	kv     *memKV
	writes map[string][]byte // nil value: delete
}

func (t *memTxn) Get(key []byte) ([]byte, error) {
	if v, ok := t.writes[string(key)]; ok {
		if v == nil {
			return nil, chunkstore.ErrNotFound
		}
		return slices.Clone(v), nil
	}
	v, ok := t.kv.m[string(key)]
	if !ok {
		return nil, chunkstore.ErrNotFound
	}
	return slices.Clone(v), nil
}

func (t *memTxn) Set(key, val []byte) error {
	t.writes[string(key)] = append([]byte{}, val...)
	return nil
}

func (t *memTxn) Delete(key []byte) error { t.writes[string(key)] = nil; return nil }

func (t *memTxn) Scan(prefix []byte, fn func(key, val []byte) (bool, error)) error {
	var keys []string
	for k := range t.kv.m {
		if _, ok := t.writes[k]; !ok && bytes.HasPrefix([]byte(k), prefix) {
			keys = append(keys, k)
		}
	}
	for k, v := range t.writes {
		if v != nil && bytes.HasPrefix([]byte(k), prefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		v, _ := t.Get([]byte(k))
		ok, err := fn([]byte(k), v)
		if err != nil || !ok {
			return err
		}
	}
	return nil
}

func (kv *memKV) Update(_ context.Context, fn func(tx chunkstore.RecordTxn) error) error {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	t := &memTxn{kv: kv, writes: map[string][]byte{}}
	err := fn(t)
	if err == nil {
		for k, v := range t.writes {
			if v == nil {
				delete(kv.m, k)
			} else {
				kv.m[k] = v
			}
		}
	}
	var keys [][]byte
	for k := range t.writes {
		keys = append(keys, []byte(k))
	}
	for _, w := range kv.watchers {
		w(keys)
	}
	return err
}

func (kv *memKV) Scan(ctx context.Context, prefix, start []byte, fn func(key, val []byte) (bool, error)) error {
	kv.mu.Lock()
	var keys []string
	for k := range kv.m {
		if bytes.HasPrefix([]byte(k), prefix) && (start == nil || k >= string(start)) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	vals := make([][]byte, len(keys))
	for i, k := range keys {
		vals[i] = slices.Clone(kv.m[k])
	}
	kv.mu.Unlock()
	for i, k := range keys {
		ok, err := fn([]byte(k), vals[i])
		if err != nil || !ok {
			return err
		}
	}
	return nil
}

func newNS(t *testing.T, region string, now func() time.Time) (*Namespace, *memKV) {
	t.Helper()
	kv := newMemKV()
	ns, err := New(Config{Region: region, Now: now}, kv, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	return ns, kv
}

func TestKeyRoundTripAndOrder(t *testing.T) {
	keys := []Key{
		AccountKey("AUTH_test"),
		ContainerKey("AUTH_test", "glance"),
		ObjectKey("AUTH_test", "glance", "a/b//c"),
		ObjectKey("AUTH_t", "x", "é"),
	}
	for _, k := range keys {
		got, err := ParseKey(k.Bytes())
		if err != nil || got != k {
			t.Errorf("ParseKey(%q) = %v, %v; want %v", k.Bytes(), got, err, k)
		}
	}
	// Objects of container "a" sort before those of "a-b" and "ab",
	// whatever their names: the NUL separator sorts first.
	names := []Key{ObjectKey("A", "a", "zzz"), ObjectKey("A", "a-b", "a"), ObjectKey("A", "ab", "a")}
	for i := 1; i < len(names); i++ {
		if bytes.Compare(names[i-1].Bytes(), names[i].Bytes()) >= 0 {
			t.Errorf("%v sorts after %v", names[i-1], names[i])
		}
	}
	for _, bad := range []Key{ObjectKey("A", "c", "a\x00b"), ContainerKey("A", ""), AccountKey("\xff"), {Kind: 'z', Account: "A"}} {
		if err := bad.Validate(); !errors.Is(err, ErrInvalidName) {
			t.Errorf("%q: Validate = %v, want ErrInvalidName", bad.Bytes(), err)
		}
	}
}

func TestClockMonotonic(t *testing.T) {
	fixed := time.Unix(1000, 0)
	ns, _ := newNS(t, "r1", func() time.Time { return fixed })
	a, b := ns.Now(), ns.Now()
	if a != fixed.UnixNano() || b != a+1 {
		t.Fatalf("Now = %d, %d; want %d, %d", a, b, fixed.UnixNano(), fixed.UnixNano()+1)
	}
	fixed = fixed.Add(-time.Hour) // clock stepped back
	if c := ns.Now(); c != b+1 {
		t.Fatalf("after a step back Now = %d, want %d", c, b+1)
	}
}

func TestApplyLastWriterWins(t *testing.T) {
	ctx := context.Background()
	ns, _ := newNS(t, "r1", nil)
	k := ObjectKey("A", "c", "o")
	rec := func(ts int64, region string, deleted bool, size int64) *Record {
		return &Record{Key: k, Timestamp: ts, Region: region, Deleted: deleted, Size: size, Recipe: recipe.ID{byte(ts)}}
	}
	steps := []struct {
		rec     *Record
		applied bool
		size    int64 // of the winner afterwards
		objects int64 // container stats afterwards
	}{
		{rec(10, "r1", false, 5), true, 5, 1},
		{rec(10, "r1", false, 3), false, 5, 1},  // same (ts, region), smaller value: loses (two nodes of r1)
		{rec(10, "r1", false, 7), true, 7, 1},   // same (ts, region), greater value: wins everywhere
		{rec(10, "r1", false, 7), false, 7, 1},  // the same record: no-op
		{rec(9, "r9", false, 7), false, 7, 1},   // older
		{rec(10, "r2", false, 7), true, 7, 1},   // tie broken by region
		{rec(11, "r0", true, 0), true, 0, 0},    // tombstone
		{rec(10, "r3", false, 9), false, 0, 0},  // older than the tombstone
		{rec(12, "r0", false, 3), true, 3, 1},   // resurrect
		{rec(12, "r0", false, 3), false, 3, 1},  // idempotent
		{rec(13, "r0", false, 4), true, 4, 1},   // overwrite
		{rec(14, "r0", true, 0), true, 0, 0},    // delete
		{rec(15, "r0", true, 0), true, 0, 0},    // delete a tombstone
		{rec(16, "r0", false, 11), true, 11, 1}, // recreate
	}
	for i, s := range steps {
		applied, err := ns.Apply(ctx, s.rec)
		if err != nil || applied != s.applied {
			t.Fatalf("step %d: Apply = %v, %v; want %v", i, applied, err, s.applied)
		}
		st, err := ns.ContainerStats(ctx, "A", "c")
		if err != nil {
			t.Fatal(err)
		}
		if st.Objects != s.objects || st.Bytes != s.size {
			t.Fatalf("step %d: stats %+v, want %d objects, %d bytes", i, st, s.objects, s.size)
		}
	}
}

// TestApplyOrderIndependent: replicas that receive the same records in
// any order end up with the same records and stats.
func TestApplyOrderIndependent(t *testing.T) {
	ctx := context.Background()
	var recs []*Record
	for i := range 30 {
		recs = append(recs, &Record{
			Key:       ObjectKey("A", "c", fmt.Sprintf("o%d", i%7)),
			Timestamp: int64(100 + i%11), Region: fmt.Sprintf("r%d", i%3),
			Deleted: i%5 == 0, Size: int64(i), Recipe: recipe.ID{byte(i + 1)},
		})
	}
	dump := func(ns *Namespace, kv *memKV) string {
		st, _ := ns.ContainerStats(ctx, "A", "c")
		keys := make([]string, 0, len(kv.m))
		for k := range kv.m {
			if k[0] != byte(kindStats) && k[0] != byte(kindWriteMark) {
				keys = append(keys, k) // stats deltas have random names: compared as st
			}
		}
		sort.Strings(keys)
		var b bytes.Buffer
		for _, k := range keys {
			fmt.Fprintf(&b, "%q=%s\n", k, kv.m[k])
		}
		fmt.Fprintf(&b, "%+v", st)
		return b.String()
	}
	var want string
	for perm := range 5 {
		ns, kv := newNS(t, "rX", nil)
		order := slices.Clone(recs)
		for i := range order { // deterministic shuffle
			j := (i*7 + perm*13) % len(order)
			order[i], order[j] = order[j], order[i]
		}
		for _, r := range order {
			if _, err := ns.Apply(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		got := dump(ns, kv)
		if perm == 0 {
			want = got
		} else if got != want {
			t.Fatalf("order %d diverged:\n%s\nwant\n%s", perm, got, want)
		}
	}
}

func TestListing(t *testing.T) {
	ctx := context.Background()
	ns, _ := newNS(t, "r1", nil)
	names := []string{"a", "a/1", "a/2", "a/b/1", "b", "b/x", "c", "c/", "d\u00e9", "dz"}
	for _, n := range names {
		if _, err := ns.Apply(ctx, &Record{Key: ObjectKey("A", "c", n), Timestamp: ns.Now(), Region: "r1"}); err != nil {
			t.Fatal(err)
		}
	}
	// A tombstone and another container's objects stay out.
	ns.Apply(ctx, &Record{Key: ObjectKey("A", "c", "a/3"), Timestamp: ns.Now(), Region: "r1", Deleted: true})
	ns.Apply(ctx, &Record{Key: ObjectKey("A", "c2", "a"), Timestamp: ns.Now(), Region: "r1"})
	ns.Apply(ctx, &Record{Key: ObjectKey("A", "c-", "a"), Timestamp: ns.Now(), Region: "r1"})

	checkList(t, ns, []listCase{
		{ListOptions{}, "a a/1 a/2 a/b/1 b b/x c c/ dz dé"},
		{ListOptions{Limit: 3}, "a a/1 a/2"},
		{ListOptions{Marker: "a/2"}, "a/b/1 b b/x c c/ dz dé"},
		{ListOptions{Marker: "a/2", EndMarker: "c"}, "a/b/1 b b/x"},
		{ListOptions{Prefix: "a/"}, "a/1 a/2 a/b/1"},
		{ListOptions{Prefix: "a/", Delimiter: "/"}, "a/1 a/2 [a/b/]"},
		{ListOptions{Delimiter: "/"}, "a [a/] b [b/] c [c/] dz dé"},
		{ListOptions{Delimiter: "/", Limit: 2}, "a [a/]"},
		{ListOptions{Delimiter: "/", Marker: "a/"}, "b [b/] c [c/] dz dé"},
		{ListOptions{Reverse: true}, "dé dz c/ c b/x b a/b/1 a/2 a/1 a"},
		{ListOptions{Reverse: true, Limit: 2, Marker: "c/"}, "c b/x"},
		{ListOptions{Reverse: true, EndMarker: "c"}, "dé dz c/"},
		{ListOptions{Reverse: true, Delimiter: "/", Prefix: "a"}, "[a/] a"},
		{ListOptions{Prefix: "zz"}, ""},
		{ListOptions{Prefix: "d"}, "dz dé"},
	})
}

// listCase is one List call on container A/c and its entries, names
// joined by spaces, subdirs in brackets.
type listCase struct {
	opts ListOptions
	want string
}

// checkList runs each case's List on container A/c of ns.
func checkList(t *testing.T, ns *Namespace, tests []listCase) {
	t.Helper()
	ctx := context.Background()
	for _, tt := range tests {
		got, err := ns.List(ctx, ContainerKey("A", "c"), tt.opts)
		if err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, e := range got {
			if e.Subdir != "" {
				s = append(s, "["+e.Subdir+"]")
			} else {
				s = append(s, e.Name)
			}
		}
		if g := join(s); g != tt.want {
			t.Errorf("List(%+v) = %q, want %q", tt.opts, g, tt.want)
		}
	}
}

func join(s []string) string {
	var b bytes.Buffer
	for i, x := range s {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(x)
	}
	return b.String()
}

func TestPurgeAndLiveRecipes(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_000_000, 0)
	ns, kv := newNS(t, "r1", func() time.Time { return now })
	old := now.Add(-8 * 24 * time.Hour).UnixNano()
	for i := range 1200 { // more than one purge batch
		r := &Record{Key: ObjectKey("A", "c", fmt.Sprintf("o%05d", i)), Timestamp: old, Region: "r1", Recipe: recipe.ID{byte(i % 3)}, Size: 1}
		if i%2 == 0 {
			r.Deleted = true
			r.Recipe = recipe.ID{}
		}
		if i%4 == 1 {
			r.Recipe = recipe.ID{9}
		}
		ns.Apply(ctx, r)
	}
	ns.Apply(ctx, &Record{Key: ObjectKey("A", "c", "fresh"), Timestamp: now.UnixNano(), Region: "r1", Deleted: true})
	ns.Apply(ctx, &Record{Key: ContainerKey("A", "gone"), Timestamp: old, Region: "r1", Deleted: true})
	live, err := ns.LiveRecipes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(live, func(a, b recipe.ID) int { return bytes.Compare(a[:], b[:]) })
	if len(live) != 3 || live[0] != (recipe.ID{1}) || live[1] != (recipe.ID{2}) || live[2] != (recipe.ID{9}) {
		t.Fatalf("LiveRecipes = %v", live)
	}
	n, err := ns.PurgeTombstones(ctx)
	if err != nil || n != 601 {
		t.Fatalf("PurgeTombstones = %d, %v; want 601", n, err)
	}
	if _, err := ns.Get(ctx, ObjectKey("A", "c", "fresh")); err != nil {
		t.Fatalf("fresh tombstone purged: %v", err)
	}
	if _, err := ns.Get(ctx, ObjectKey("A", "c", "o00000")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("old tombstone kept: %v", err)
	}
	if st, _ := ns.ContainerStats(ctx, "A", "c"); st.Objects != 600 || st.Bytes != 600 {
		t.Fatalf("stats after purge %+v", st)
	}
	records := 0
	for k := range kv.m {
		if k[0] != byte(kindStats) && k[0] != byte(kindWriteMark) {
			records++
		}
	}
	if records != 600+1 { // live objects, fresh tombstone
		t.Fatalf("%d records left", records)
	}
}

func TestRecordEncoding(t *testing.T) {
	r := &Record{
		Key: ObjectKey("AUTH_x", "glance", "img-00001"), Timestamp: 1700000000123456789, Region: "eu",
		Recipe: recipe.ID{1, 2, 3}, Size: 42, ETag: "d41d8cd98f00b204e9800998ecf8427e",
		ContentType: "application/octet-stream", Meta: map[string]string{"mtime": "1"},
		Headers: map[string]string{"Content-Encoding": "gzip"}, Manifest: "glance/img-",
	}
	v, err := r.MarshalValue()
	if err != nil {
		t.Fatal(err)
	}
	got, err := UnmarshalRecord(r.Key.Bytes(), v)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(*got) != fmt.Sprint(*r) {
		t.Fatalf("round trip:\n%+v\n%+v", got, r)
	}
	if _, err := UnmarshalRecord(r.Key.Bytes(), []byte(`{"v":2}`)); err == nil {
		t.Fatal("unknown version accepted")
	}
}

// statsKeys counts the stats keys (base and deltas) and write marks of
// container A/c in kv.
func statsKeys(kv *memKV, container string) (deltas int, base, mark bool) {
	b := string(statsKey("A", container))
	for k := range kv.m {
		switch {
		case k == b:
			base = true
		case strings.HasPrefix(k, b+"\x00"):
			deltas++
		case k == string(writeMarkKey("A", container)):
			mark = true
		}
	}
	return deltas, base, mark
}

// TestStatsDeltasFold: every object write adds a stats delta; deltas are
// folded into the base after foldAt commits by this process, or when a
// read finds foldAt of them (written before a restart), and the totals
// stay exact throughout. Containers whose names extend another's ("c",
// "c2", "c\x01") keep separate stats.
func TestStatsDeltasFold(t *testing.T) {
	ctx := context.Background()
	ns, kv := newNS(t, "r1", nil)
	want := map[string]Stats{}
	live := map[Key]int64{}
	apply := func(ns *Namespace, container, object string, deleted bool, size int64) {
		t.Helper()
		k := ObjectKey("A", container, object)
		r := &Record{Key: k, Timestamp: ns.Now(), Region: "r1", Deleted: deleted, Size: size, Recipe: recipe.ID{1}}
		if _, err := ns.Apply(ctx, r); err != nil {
			t.Fatal(err)
		}
		s := want[container]
		if old, ok := live[k]; ok {
			s.Objects--
			s.Bytes -= old
			delete(live, k)
		}
		if !deleted {
			s.Objects++
			s.Bytes += size
			live[k] = size
		}
		s.Modified = max(s.Modified, r.Timestamp)
		want[container] = s
	}
	check := func(ns *Namespace, step string) {
		t.Helper()
		for c, w := range want {
			got, err := ns.ContainerStats(ctx, "A", c)
			if err != nil || got != w {
				t.Fatalf("%s: stats of %q = %+v, %v; want %+v", step, c, got, err, w)
			}
		}
	}
	for i := range 1000 {
		c := []string{"c", "c", "c", "c2", "c\x01"}[i%5]
		apply(ns, c, fmt.Sprintf("o%d", i%97), i%7 == 3, int64(i))
		if i%61 == 0 {
			check(ns, fmt.Sprintf("write %d", i))
		}
	}
	check(ns, "after the writes")
	if d, base, mark := statsKeys(kv, "c"); d >= foldAt || !base || !mark {
		t.Fatalf("c: %d deltas, base %v, mark %v; want < %d deltas, a base and a mark", d, base, mark, foldAt)
	}

	// Restarts: fresh namespaces that never reach foldAt commits each
	// leave the deltas; the first read that finds foldAt folds them.
	for range 3 {
		ns2, err := New(Config{Region: "r1"}, kv, zap.NewNop())
		if err != nil {
			t.Fatal(err)
		}
		for i := range foldAt - 1 {
			apply(ns2, "c", fmt.Sprintf("p%d", i), false, 1)
		}
	}
	if d, _, _ := statsKeys(kv, "c"); d < 3*(foldAt-1) {
		t.Fatalf("%d deltas after the restarts", d)
	}
	check(ns, "before the read that folds")
	if d, _, _ := statsKeys(kv, "c"); d != 0 {
		t.Fatalf("%d deltas left after a read found %d", d, 3*(foldAt-1))
	}
	check(ns, "after the fold")
}

// TestPurgeDropsStats: purging the tombstone of an empty container removes
// its stats base, deltas and write mark; a container that still holds
// objects keeps its stats.
func TestPurgeDropsStats(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_000_000, 0)
	ns, kv := newNS(t, "r1", func() time.Time { return now })
	old := now.Add(-8 * 24 * time.Hour).UnixNano()
	for i, c := range []string{"gone", "kept"} {
		for j := range 3 {
			k := ObjectKey("A", c, fmt.Sprint(j))
			ns.Apply(ctx, &Record{Key: k, Timestamp: old + int64(j), Region: "r1", Size: 5, Recipe: recipe.ID{1}})
			if i == 0 || j > 0 { // kept keeps object 0
				ns.Apply(ctx, &Record{Key: k, Timestamp: old + 10, Region: "r1", Deleted: true})
			}
		}
		ns.Apply(ctx, &Record{Key: ContainerKey("A", c), Timestamp: old + 20, Region: "r1", Deleted: true})
	}
	if _, err := ns.PurgeTombstones(ctx); err != nil {
		t.Fatal(err)
	}
	if d, base, mark := statsKeys(kv, "gone"); d != 0 || base || mark {
		t.Fatalf("gone: %d deltas, base %v, mark %v left", d, base, mark)
	}
	if st, err := ns.ContainerStats(ctx, "A", "kept"); err != nil || st.Objects != 1 || st.Bytes != 5 {
		t.Fatalf("kept: %+v, %v", st, err)
	}
}

// TestNewerSameTimeSameRegion: two nodes of one region that write one key
// at the same nanosecond keep the same record everywhere (the greater
// encoded value), and a record is never newer than itself.
func TestNewerSameTimeSameRegion(t *testing.T) {
	k := ObjectKey("AUTH_a", "c", "o")
	x := &Record{Key: k, Timestamp: 100, Region: "r1", ETag: "aaaa", Size: 1}
	y := &Record{Key: k, Timestamp: 100, Region: "r1", ETag: "bbbb", Size: 1}
	for _, tc := range []struct {
		name     string
		r, old   *Record
		newer    bool
		symmetry bool // old.Newer(r) must be the opposite
	}{
		{"later time", &Record{Key: k, Timestamp: 101, Region: "a"}, x, true, true},
		{"greater region", &Record{Key: k, Timestamp: 100, Region: "r2"}, x, true, true},
		{"same time and region, greater value", y, x, true, true},
		{"same time and region, smaller value", x, y, false, true},
		{"itself", x, x.Clone(), false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.r.Newer(tc.old); got != tc.newer {
				t.Fatalf("Newer = %v, want %v", got, tc.newer)
			}
			if tc.symmetry && tc.old.Newer(tc.r) == tc.newer {
				t.Fatal("both records win over each other, or neither does")
			}
		})
	}
}
