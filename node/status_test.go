package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
)

// TestStatusSingleRegion: a node without a cluster answers GET /status
// with its store and objects (before, `nitro status` needed
// cluster.peer_listen), and every JSON key is snake_case.
func TestStatusSingleRegion(t *testing.T) {
	r := startNode(t, testConfig(t))
	c := login(t, r.base(), "test:tester", "testing")
	c.must(201, "PUT", "/c", nil, nil)
	data := randomBytes(t, 300<<10)
	c.must(201, "PUT", "/c/a", nil, bytes.NewReader(data))
	c.must(201, "PUT", "/c/b", nil, bytes.NewReader(data)) // deduplicated
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := QueryStatus(ctx, "http://"+r.OpsAddr())
	if err != nil {
		t.Fatal(err)
	}
	if st.Cluster != nil || st.Region != r.Config().Region || st.Version.Version == "" {
		t.Errorf("status: %+v", st)
	}
	if o := st.Objects; o.Accounts != 1 || o.Containers != 1 || o.Objects != 2 || o.PlainBytes != 2*int64(len(data)) {
		t.Errorf("objects %+v, want 1 account, 1 container, 2 objects of %d B", o, 2*len(data))
	}
	if s := st.Store; s.Chunks == 0 || s.StoredBytes == 0 || s.StoredBytes > int64(len(data))+4096 || s.Recipes != 1 {
		t.Errorf("store %+v: want the chunks of one copy of %d B and one recipe", s, len(data))
	}
	if st.SinceStart.ObjectsPut != 2 || st.SinceStart.BytesIn != 2*int64(len(data)) {
		t.Errorf("since start %+v", st.SinceStart)
	}
	raw := httpGet(t, "http://"+r.OpsAddr()+"/status")
	checkSnakeCase(t, raw)
}

// checkSnakeCase fails t for any JSON object key of doc that is not
// snake_case.
func checkSnakeCase(t *testing.T, doc string) {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		t.Fatal(err)
	}
	snake := regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if !snake.MatchString(k) && !strings.HasPrefix(path, ".cluster.chunks_") {
					t.Errorf("key %s%s is not snake_case", path+".", k)
				}
				walk(path+"."+k, x)
			}
		case []any:
			for _, x := range v {
				walk(path+"[]", x)
			}
		}
	}
	walk("", v)
}

// TestLiveFsck: GET /fsck checks the store while the node serves (the
// offline fsck cannot open the data dir then), finds a chunk missing, and
// changes nothing.
func TestLiveFsck(t *testing.T) {
	cfg := testConfig(t)
	r := startNode(t, cfg)
	c := login(t, r.base(), "test:tester", "testing")
	c.must(201, "PUT", "/c", nil, nil)
	c.must(201, "PUT", "/c/o", nil, bytes.NewReader(randomBytes(t, 200<<10)))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := OfflineFsck(ctx, cfg, false, zap.NewNop()); err == nil {
		t.Fatal("offline fsck opened the data dir of a running node")
	}
	rep, err := QueryFsck(ctx, "http://"+r.OpsAddr())
	if err != nil || !rep.OK() || rep.ChunksChecked == 0 || rep.RecipesChecked != 1 {
		t.Fatalf("live fsck of a healthy store: %+v, %v", rep, err)
	}
	// Drop one chunk of the live object from the running store.
	live, err := r.ns.LiveRecipes(ctx)
	if err != nil || len(live) != 1 {
		t.Fatalf("live recipes %v, %v", live, err)
	}
	rec, err := r.store.Recipe(ctx, live[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := r.store.Drop(ctx, rec.Unique()[0]); err != nil {
		t.Fatal(err)
	}
	for range 2 { // read-only: a second run finds the same chunk again
		rep, err = QueryFsck(ctx, "http://"+r.OpsAddr())
		if err != nil || rep.OK() || len(rep.Missing[live[0]]) != 1 || rep.Repaired != 0 {
			t.Fatalf("live fsck of a dropped chunk: %+v, %v", rep, err)
		}
	}
}

// TestReload: Reload applies swift.accounts and log.level while the node
// serves, reports the settings that need a restart, and refuses an
// invalid configuration without changing anything.
func TestReload(t *testing.T) {
	cfg := testConfig(t)
	r := startNode(t, cfg)
	old := login(t, r.base(), "test:tester", "testing")
	level := zap.NewAtomicLevelAt(zap.WarnLevel)

	next := r.Config()
	next.Swift.Accounts = append(slices.Clone(next.Swift.Accounts), AccountConfig{Name: "glance",
		Users: []UserConfig{{Name: "glance", Key: "new-key", Roles: []string{RoleAdmin}}}})
	next.Log.Level = "debug"
	next.GC.Grace = time.Hour // needs a restart
	res, err := r.Reload(next, &level)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(res.Applied)
	if !slices.Equal(res.Applied, []string{"log.level", "swift.accounts"}) || !slices.Equal(res.Restart, []string{"gc.grace"}) {
		t.Errorf("reload: %+v", res)
	}
	if level.Level() != zap.DebugLevel {
		t.Errorf("level %v after reload, want debug", level.Level())
	}
	login(t, r.base(), "glance:glance", "new-key")
	old.must(204, "HEAD", "", nil, nil) // unchanged user keeps its token
	if got := r.Config(); got.GC.Grace != cfg.GC.Grace || len(got.Swift.Accounts) != len(next.Swift.Accounts) {
		t.Errorf("running config after reload: grace %v, %d accounts", got.GC.Grace, len(got.Swift.Accounts))
	}

	bad := next
	bad.Swift.Accounts = nil
	bad.Log.Level = "loud"
	if _, err := r.Reload(bad, &level); err == nil || !strings.Contains(err.Error(), "log.level") {
		t.Errorf("invalid config: %v", err)
	}
	if level.Level() != zap.DebugLevel {
		t.Error("invalid config changed the level")
	}
	login(t, r.base(), "glance:glance", "new-key")
	resp, err := http.Get(r.base() + "/healthcheck")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthcheck after reloads: %v", err)
	}
	resp.Body.Close()
}

func TestOpsURL(t *testing.T) {
	for _, tc := range []struct{ listen, want, err string }{
		{"127.0.0.1:8081", "http://127.0.0.1:8081", ""},
		{":8081", "http://127.0.0.1:8081", ""},
		{"0.0.0.0:8081", "http://127.0.0.1:8081", ""},
		{"[::]:8081", "http://[::1]:8081", ""},
		{"[::1]:8081", "http://[::1]:8081", ""},
		{"", "", "ops_listen is off"},
	} {
		got, err := OpsURL(Config{OpsListen: tc.listen})
		if got != tc.want || (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("OpsURL(%q) = %q, %v; want %q, %q", tc.listen, got, err, tc.want, tc.err)
		}
	}
}

// TestRegionsOf: the status groups nodes by region, several per region,
// with this node alive in its own region and dead nodes counted apart.
func TestRegionsOf(t *testing.T) {
	for _, tc := range []struct {
		name    string
		members []MemberStatus
		want    string
	}{
		{"alone", nil, "r1[r1-a*:alive]1"},
		{"two regions of two nodes", []MemberStatus{
			{Name: "r2-b", Region: "r2", State: "dead"}, {Name: "r1-b", Region: "r1", State: "alive"},
			{Name: "r2-a", Region: "r2", State: "alive"}},
			"r1[r1-a*:alive r1-b:alive]2 r2[r2-a:alive r2-b:dead]1"},
		{"self listed among members", []MemberStatus{{Name: "r1-a", Region: "r1", State: "alive"}}, "r1[r1-a*:alive]1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var parts []string
			for _, r := range regionsOf("r1", "r1-a", tc.members) {
				var ns []string
				for _, n := range r.Nodes {
					s := n.Name
					if n.Local {
						s += "*"
					}
					ns = append(ns, s+":"+n.State)
				}
				parts = append(parts, fmt.Sprintf("%s[%s]%d", r.Region, strings.Join(ns, " "), r.AliveNodes))
			}
			if got := strings.Join(parts, " "); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}
