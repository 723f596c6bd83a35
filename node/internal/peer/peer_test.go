package peer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

var secret = []byte("test-cluster-secret-0123456789")

func openStore(t *testing.T) *chunkstore.Store {
	t.Helper()
	s, err := chunkstore.Open(chunkstore.Config{Dir: t.TempDir(), NoSync: true}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// corruptStore serves one chunk as corrupt, as a store whose disk flipped
// a bit would.
type corruptStore struct {
	ChunkStore
	bad recipe.ChunkID
}

func (c corruptStore) GetStored(ctx context.Context, id recipe.ChunkID) (chunkstore.Stored, error) {
	if id == c.bad {
		return chunkstore.Stored{}, &chunkstore.CorruptChunkError{ID: id}
	}
	return c.ChunkStore.GetStored(ctx, id)
}

type fakeRecords struct {
	mu   sync.Mutex
	got  []WireRecord
	from string
}

func (f *fakeRecords) ApplyRecords(ctx context.Context, from string, recs []WireRecord) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.from = from
	f.got = append(f.got, recs...)
	return len(recs), nil
}

func (f *fakeRecords) Digest(ctx context.Context) (*Digest, error) {
	var d Digest
	d[3][0] = 7
	return &d, nil
}

func (f *fakeRecords) RecordsIn(ctx context.Context, buckets []int, fn func(WireRecord) error) error {
	for _, b := range buckets {
		if err := fn(WireRecord{Key: []byte{byte(b)}, Value: []byte("v")}); err != nil {
			return err
		}
	}
	return nil
}

func chunkData(i, n int) []byte {
	b := make([]byte, n)
	x := uint32(i*7919 + 1)
	for j := range b {
		x = x*1664525 + 1013904223
		b[j] = byte(x >> 24)
	}
	return b
}

func setup(t *testing.T, cfg ServerConfig, log *zap.Logger) (*httptest.Server, *Server, *chunkstore.Store, []recipe.ChunkID, *fakeRecords) {
	t.Helper()
	ctx := t.Context()
	st := openStore(t)
	var ids []recipe.ChunkID
	for i := range 5 {
		id, err := st.Put(ctx, chunkData(i, 40000+i))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	cfg.Secret = secret
	recs := &fakeRecords{}
	srv, err := NewServer(cfg, corruptStore{st, ids[3]}, recs, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return hs, srv, st, ids, recs
}

func client(t *testing.T, region string, sec []byte) *Client {
	c, err := NewClient(ClientConfig{Secret: sec, Region: region, Node: region + "-1"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestHaveAndChunkStream(t *testing.T) {
	ctx := t.Context()
	hs, srv, src, ids, _ := setup(t, ServerConfig{Region: "a"}, nil)
	c := client(t, "b", secret)
	absent := recipe.Sum([]byte("absent"))
	q := append(append([]recipe.ChunkID{}, ids...), absent)
	sizes, err := c.Have(ctx, hs.URL, q)
	if err != nil || len(sizes) != len(q) || sizes[len(q)-1] != -1 {
		t.Fatalf("Have = %v %v", sizes, err)
	}
	for i, id := range ids { // the stored (wire) size of each held chunk
		st, err := src.GetStored(ctx, id)
		if err != nil || sizes[i] != int64(len(st.Data)) {
			t.Fatalf("Have: chunk %d: size %d, stored %d (%v)", i, sizes[i], len(st.Data), err)
		}
	}

	dst := openStore(t)
	var held, notHeld []recipe.ChunkID
	var bytesGot int64
	err = c.FetchChunks(ctx, hs.URL, "a", q, func(id recipe.ChunkID, st chunkstore.Stored, err error) error {
		if errors.Is(err, ErrNotHeld) {
			notHeld = append(notHeld, id)
			return nil
		}
		bytesGot += int64(len(st.Data))
		held = append(held, id)
		return dst.PutStored(ctx, id, st)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(held) != 4 || len(notHeld) != 2 || notHeld[0] != ids[3] || notHeld[1] != absent {
		t.Fatalf("held %d, not held %v", len(held), notHeld)
	}
	for i, id := range ids {
		if i == 3 {
			continue
		}
		if got, err := dst.Get(ctx, id); err != nil || !bytes.Equal(got, chunkData(i, 40000+i)) {
			t.Fatalf("chunk %d after transfer: %v", i, err)
		}
	}
	if s := srv.SentStats()["b"]; s.Chunks != 4 || s.Bytes != bytesGot {
		t.Fatalf("server counted %+v, client got %d bytes", s, bytesGot)
	}
	if r := c.ReceivedStats()["a"]; r.Chunks != 4 || r.Bytes != bytesGot {
		t.Fatalf("client counted %+v, want %d bytes", r, bytesGot)
	}
}

func TestReceiverRejectsTamperedChunk(t *testing.T) {
	ctx := t.Context()
	src, dst := openStore(t), openStore(t)
	id, _ := src.Put(ctx, chunkData(1, 5000))
	st, _ := src.GetStored(ctx, id)
	st.Data[len(st.Data)/2] ^= 1
	if err := dst.PutStored(ctx, id, st); err == nil {
		t.Fatal("tampered chunk stored")
	}
}

func TestUnauthenticatedRefused(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	hs, _, _, ids, recs := setup(t, ServerConfig{Region: "a"}, zap.New(core))
	ctx := t.Context()

	// No credentials at all.
	for _, path := range []string{"/peer/v1/have", "/peer/v1/chunks", "/peer/v1/records", "/peer/v1/skip"} {
		resp, err := http.Post(hs.URL+path, "application/octet-stream", bytes.NewReader(encodeIDs(ids)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s without secret: %d", path, resp.StatusCode)
		}
	}
	for _, path := range []string{"/peer/v1/summary?have=0", "/peer/v1/summary/delta?have=0"} {
		resp, err := http.Get(hs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s without secret: %d", path, resp.StatusCode)
		}
	}
	// Wrong secret.
	bad := client(t, "b", []byte("not-the-cluster-secret!!"))
	if _, err := bad.Have(ctx, hs.URL, ids); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("wrong secret: %v", err)
	}
	// Stale date.
	stale, _ := NewClient(ClientConfig{Secret: secret, Region: "b", Now: func() time.Time { return time.Now().Add(-10 * time.Minute) }})
	if _, err := stale.Have(ctx, hs.URL, ids); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("stale date: %v", err)
	}
	// Tampered path: a MAC for /have replayed on /chunks.
	req, _ := http.NewRequest("POST", hs.URL+"/peer/v1/have", bytes.NewReader(encodeIDs(ids)))
	sign(req, secret, "b", "n", encodeIDs(ids), time.Now())
	req2, _ := http.NewRequest("POST", hs.URL+"/peer/v1/chunks", bytes.NewReader(encodeIDs(ids)))
	req2.Header = req.Header.Clone()
	resp, err := http.DefaultClient.Do(req2)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("replayed MAC on other path: %d", resp.StatusCode)
	}
	if len(recs.got) != 0 {
		t.Fatal("records applied without auth")
	}
	if n := logs.FilterMessage("refused unauthenticated peer request").Len(); n != 9 {
		t.Fatalf("%d refusals logged, want 9", n)
	}
}

func TestRecordsEndpoints(t *testing.T) {
	ctx := t.Context()
	hs, _, _, _, recs := setup(t, ServerConfig{Region: "a"}, nil)
	c := client(t, "b", secret)
	n, err := c.PushRecords(ctx, hs.URL, []WireRecord{{Key: []byte("k1"), Value: []byte("v1")}, {Key: []byte("k2"), Value: []byte{0, 1}}})
	if err != nil || n != 2 || recs.from != "b" || string(recs.got[1].Value) != "\x00\x01" {
		t.Fatalf("push: %d %v %+v", n, err, recs)
	}
	d, err := c.Digest(ctx, hs.URL)
	if err != nil || d[3][0] != 7 {
		t.Fatalf("digest: %v", err)
	}
	var got []int
	if err := c.Records(ctx, hs.URL, []int{5, 9}, func(wr WireRecord) error { got = append(got, int(wr.Key[0])); return nil }); err != nil || fmt.Sprint(got) != "[5 9]" {
		t.Fatalf("records: %v %v", got, err)
	}
}

func TestRateLimitAndBlock(t *testing.T) {
	ctx := t.Context()
	const rate = 400 << 10 // bytes/s
	hs, _, _, ids, _ := setup(t, ServerConfig{Region: "a",
		RateLimit: func(r string) float64 { return rate },
		Block:     func(r string) bool { return r == "c" }}, nil)
	c := client(t, "b", secret)
	start := time.Now()
	var n int64
	err := c.FetchChunks(ctx, hs.URL, "a", ids, func(id recipe.ChunkID, st chunkstore.Stored, err error) error {
		n += int64(len(st.Data)) + frameHeader
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	want := time.Duration(float64(n) / rate * float64(time.Second))
	if el < want*8/10 || el > want*2 {
		t.Fatalf("%d bytes in %v at %d B/s, want about %v", n, el, rate, want)
	}
	blocked := client(t, "c", secret)
	var se *StatusError
	if _, err := blocked.Have(ctx, hs.URL, ids); !errors.As(err, &se) || se.Code != 503 {
		t.Fatalf("blocked region: %v", err)
	}
}

// TestWarmOpensIdleConnections: Warm leaves n connections in the pool, and
// the next requests reuse them instead of dialling.
func TestWarmOpensIdleConnections(t *testing.T) {
	srv, err := NewServer(ServerConfig{Secret: secret, Region: "a"}, openStore(t), nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	dials := 0
	hs := httptest.NewUnstartedServer(srv)
	hs.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			mu.Lock()
			dials++
			mu.Unlock()
		}
	}
	hs.Start()
	defer hs.Close()
	c, err := NewClient(ClientConfig{Secret: secret, Region: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Warm(t.Context(), hs.URL, 2); err != nil {
		t.Fatal(err)
	}
	// A request that finds a connection freed before its own dial is
	// done uses it; the dial still completes into the pool.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n := dials
		mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections opened, want 2", n)
		}
	}
	// Two concurrent requests now find the two warm connections.
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if _, err := c.Have(t.Context(), hs.URL, []recipe.ChunkID{{1}}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if dials != 2 {
		t.Fatalf("%d connections after two more requests, want the 2 warm ones reused", dials)
	}
}

// TestMissingServiceAnswers503: an endpoint whose service the node lacks
// (records, chunks, the operator or Obtain nil in NewServer) answers 503,
// and one whose service it has does not, even for a malformed request.
func TestMissingServiceAnswers503(t *testing.T) {
	ctx := t.Context()
	id := recipe.ChunkID{1}
	chunksOnly, err := NewServer(ServerConfig{Secret: secret, Region: "a"}, openStore(t), nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	nothing, err := NewServer(ServerConfig{Secret: secret, Region: "a"}, nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := client(t, "a", secret)
	calls := []struct {
		name string
		call func(base string) error
	}{
		{"have", func(base string) error { _, err := c.Have(ctx, base, []recipe.ChunkID{id}); return err }},
		{"chunks", func(base string) error {
			return c.FetchChunks(ctx, base, "a", []recipe.ChunkID{id}, func(recipe.ChunkID, chunkstore.Stored, error) error { return nil })
		}},
		{"skip", func(base string) error { _, err := c.Skip(ctx, base, []recipe.ChunkID{id}); return err }},
		{"obtain", func(base string) error {
			return c.Obtain(ctx, base, []recipe.ChunkID{id}, []uint32{1}, func(recipe.ChunkID, chunkstore.Stored, error) error { return nil })
		}},
		{"records", func(base string) error { _, err := c.PushRecords(ctx, base, nil); return err }},
		{"digest", func(base string) error { _, err := c.Digest(ctx, base); return err }},
		{"fetch", func(base string) error {
			return c.Records(ctx, base, []int{0}, func(WireRecord) error { return nil })
		}},
		{"status", func(base string) error { var v any; return c.Status(ctx, base, &v) }},
		{"plan", func(base string) error { var v any; return c.Plan(ctx, base, "a/c/o", &v) }},
		{"place", func(base string) error { return c.Place(ctx, base, "a/c/o") }},
	}
	for _, tc := range []struct {
		name  string
		srv   *Server
		avail map[string]bool // endpoints whose service the server has
	}{
		{"chunks only", chunksOnly, map[string]bool{"have": true, "chunks": true, "skip": true}},
		{"nothing", nothing, nil},
	} {
		hs := httptest.NewServer(tc.srv)
		for _, call := range calls {
			err := call.call(hs.URL)
			var se *StatusError
			got503 := errors.As(err, &se) && se.Code == http.StatusServiceUnavailable
			if got503 == tc.avail[call.name] {
				t.Errorf("%s: %s: %v (want 503: %v)", tc.name, call.name, err, !tc.avail[call.name])
			}
		}
		hs.Close()
	}
}

// TestSkipTrimsRunningStream: a skip request leaves the named chunks out
// of the asking node's running stream where the server has not started
// on them (a skipped frame, no data, in their place); it reaches no other
// node's stream, and none that starts later.
func TestSkipTrimsRunningStream(t *testing.T) {
	ctx := t.Context()
	const rate = 200 << 10 // bytes/s: about 0.2 s a chunk
	hs, srv, src, ids, _ := setup(t, ServerConfig{Region: "a", RateLimit: func(string) float64 { return rate }}, nil)
	c := client(t, "b", secret)
	other, _ := NewClient(ClientConfig{Secret: secret, Region: "b", Node: "b-2"})
	var got []string
	var skipAns []int
	err := c.FetchChunks(ctx, hs.URL, "a", ids, func(id recipe.ChunkID, st chunkstore.Stored, err error) error {
		switch {
		case errors.Is(err, ErrSkipped):
			var se *SkippedError
			if !errors.As(err, &se) || se.ID != id || !se.Skipped() || len(st.Data) != 0 {
				t.Errorf("skipped frame: %v, %d bytes", err, len(st.Data))
			}
			got = append(got, "skipped")
		case errors.Is(err, ErrNotHeld):
			got = append(got, "not held")
		case err != nil:
			return err
		default:
			got = append(got, "ok")
		}
		if id == ids[0] {
			// The server is on chunk 1 now (paced): 2 and 4 are to come.
			// Another node of the region, and another region, trim
			// nothing of this node's stream.
			for _, cl := range []*Client{other, client(t, "c", secret), c} {
				n, err := cl.Skip(ctx, hs.URL, []recipe.ChunkID{ids[0], ids[2], ids[4]})
				if err != nil {
					return err
				}
				skipAns = append(skipAns, n)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[ok ok skipped not held skipped]" || fmt.Sprint(skipAns) != "[0 0 2]" {
		t.Fatalf("frames %v, skip answers %v", got, skipAns)
	}
	var want int64
	for _, i := range []int{2, 4} {
		st, _ := src.GetStored(ctx, ids[i])
		want += int64(len(st.Data))
	}
	if k, s := srv.SkippedStats()["b"], srv.SentStats()["b"]; k.Chunks != 2 || k.Bytes != want || s.Chunks != 2 {
		t.Fatalf("server counted %+v skipped (want 2, %d B), %+v sent", k, want, s)
	}
	// The stream has ended: nothing is left to skip, and a new stream of
	// the same chunks is whole.
	if n, err := c.Skip(ctx, hs.URL, ids); err != nil || n != 0 {
		t.Fatalf("skip after the stream: %d, %v", n, err)
	}
	n := 0
	if err := c.FetchChunks(ctx, hs.URL, "a", ids[:3], func(id recipe.ChunkID, st chunkstore.Stored, err error) error {
		if err == nil {
			n++
		}
		return err
	}); err != nil || n != 3 {
		t.Fatalf("new stream: %d chunks, %v", n, err)
	}
}
