package peer

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// captured is one request as it crossed the wire.
type captured struct {
	method, url string
	header      http.Header
	body        []byte
}

// send re-sends c, with body instead of its own when body is not nil, as
// an attacker on the path would; it returns the status.
func (c captured) send(t *testing.T, body []byte) int {
	t.Helper()
	if body == nil {
		body = c.body
	}
	req, err := http.NewRequest(c.method, c.url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = c.header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// tap is a RoundTripper on the client's path that records every request;
// with drop set it does not deliver them (an interceptor that holds the
// request back to alter it).
type tap struct {
	mu   sync.Mutex
	reqs []captured
	drop bool
}

var errDropped = errors.New("dropped by the tap")

func (tp *tap) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
		req.Body.Close()
	}
	tp.mu.Lock()
	tp.reqs = append(tp.reqs, captured{method: req.Method, url: req.URL.String(), header: req.Header.Clone(), body: body})
	tp.mu.Unlock()
	if tp.drop {
		return nil, errDropped
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	return http.DefaultTransport.RoundTrip(req)
}

func (tp *tap) last(t *testing.T) captured {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	if len(tp.reqs) == 0 {
		t.Fatal("nothing captured")
	}
	return tp.reqs[len(tp.reqs)-1]
}

func tapClient(t *testing.T, tp *tap) *Client {
	c, err := NewClient(ClientConfig{Secret: secret, Region: "b", Node: "b-1", HTTP: &http.Client{Transport: tp}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func tombstone() []byte {
	b, _ := json.Marshal(WireRecord{Key: []byte("forged"), Value: []byte(`{"v":1,"ts":99999999999,"region":"b","deleted":true}`)})
	return append(b, '\n')
}

// TestReplayRefused: a captured signed record push, re-sent verbatim within
// the clock window, is refused (401) and applies nothing.
func TestReplayRefused(t *testing.T) {
	hs, _, _, _, recs := setup(t, ServerConfig{Region: "a"}, nil)
	tp := &tap{}
	c := tapClient(t, tp)
	if _, err := c.PushRecords(t.Context(), hs.URL, nil); err != nil { // the empty push of the incident
		t.Fatal(err)
	}
	if _, err := c.PushRecords(t.Context(), hs.URL, []WireRecord{{Key: []byte("k"), Value: []byte("v")}}); err != nil {
		t.Fatal(err)
	}
	if code := tp.last(t).send(t, nil); code != http.StatusUnauthorized {
		t.Fatalf("replayed push: %d, want 401", code)
	}
	if code := tp.reqs[0].send(t, nil); code != http.StatusUnauthorized {
		t.Fatalf("replayed empty push: %d, want 401", code)
	}
	if len(recs.got) != 1 {
		t.Fatalf("%d records applied, want 1", len(recs.got))
	}
}

// TestTamperedBodyRefused: an interceptor holds back a signed record push
// and sends its headers with a forged tombstone as the body: 401. The
// untouched original still goes through afterwards, so the 401 is the
// body's doing, not the nonce's.
func TestTamperedBodyRefused(t *testing.T) {
	hs, _, _, _, recs := setup(t, ServerConfig{Region: "a"}, nil)
	tp := &tap{drop: true}
	c := tapClient(t, tp)
	if _, err := c.PushRecords(t.Context(), hs.URL, nil); !errors.Is(err, errDropped) {
		t.Fatalf("push through a dropping tap: %v", err)
	}
	orig := tp.last(t)
	for _, body := range [][]byte{tombstone(), append(append([]byte{}, orig.body...), tombstone()...)} {
		if code := orig.send(t, body); code != http.StatusUnauthorized {
			t.Fatalf("tampered body %q: %d, want 401", body, code)
		}
	}
	if len(recs.got) != 0 {
		t.Fatalf("forged records applied: %+v", recs.got)
	}
	if code := orig.send(t, nil); code != http.StatusOK {
		t.Fatalf("untouched original after the tampered ones: %d, want 200", code)
	}
}

// TestTamperedHeadersRefused: every signed header matters.
func TestTamperedHeadersRefused(t *testing.T) {
	hs, _, _, _, _ := setup(t, ServerConfig{Region: "a"}, nil)
	tp := &tap{drop: true}
	c := tapClient(t, tp)
	c.PushRecords(t.Context(), hs.URL, nil)
	orig := tp.last(t)
	for _, h := range []string{hdrDate, hdrRegion, hdrNode, hdrNonce, hdrBodySum} {
		mod := orig
		mod.header = orig.header.Clone()
		v := mod.header.Get(h)
		switch h {
		case hdrDate:
			n, _ := strconv.ParseInt(v, 10, 64)
			v = strconv.FormatInt(n-1, 10)
		case hdrNonce, hdrBodySum:
			v = strings.Repeat("0", len(v))
		default:
			v += "x"
		}
		mod.header.Set(h, v)
		if code := mod.send(t, nil); code != http.StatusUnauthorized {
			t.Errorf("changed %s: %d, want 401", h, code)
		}
	}
	mod := orig
	mod.url += "?x=1"
	if code := mod.send(t, nil); code != http.StatusUnauthorized {
		t.Errorf("changed query: %d, want 401", code)
	}
}

// TestOldSchemeRefused: a request signed with the v1 scheme (no nonce, no
// body digest) is refused even with the right secret.
func TestOldSchemeRefused(t *testing.T) {
	hs, _, _, _, recs := setup(t, ServerConfig{Region: "a"}, nil)
	req, _ := http.NewRequest("POST", hs.URL+"/peer/v1/records", bytes.NewReader(tombstone()))
	date := strconv.FormatInt(time.Now().Unix(), 10)
	m := hmac.New(sha256.New, secret)
	for _, s := range []string{"POST", "/peer/v1/records", date, "b", "b-1"} {
		m.Write([]byte(s + "\n"))
	}
	req.Header.Set("X-Nitro-Date", date)
	req.Header.Set("X-Nitro-Region", "b")
	req.Header.Set("X-Nitro-Node", "b-1")
	req.Header.Set("Authorization", "Nitro "+hex.EncodeToString(m.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || len(recs.got) != 0 {
		t.Fatalf("v1 request: %d, %d records applied", resp.StatusCode, len(recs.got))
	}
}

// mitm is a proxy between a client and the server that rewrites answers.
func mitm(t *testing.T, target string, rewrite func(path string, body []byte) []byte) string {
	u, _ := url.Parse(target)
	var mu sync.Mutex
	ps := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out, _ := http.NewRequest(r.Method, u.String()+r.URL.RequestURI(), r.Body)
		out.Header = r.Header.Clone()
		resp, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), 502)
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		mu.Lock()
		b = rewrite(r.URL.Path, b)
		mu.Unlock()
		for k, v := range resp.Header {
			if k != "Content-Length" {
				w.Header()[k] = v
			}
		}
		w.WriteHeader(resp.StatusCode)
		w.Write(b)
	}))
	t.Cleanup(ps.Close)
	return ps.URL
}

// TestResponseTamperDetected: answers altered on the path (a flipped
// byte, a truncated stream, an answer of another request) fail the
// client's check instead of being believed.
func TestResponseTamperDetected(t *testing.T) {
	hs, _, _, ids, _ := setup(t, ServerConfig{Region: "a"}, nil)
	c := client(t, "b", secret)
	ctx := t.Context()
	var saved []byte
	cases := []struct {
		name    string
		rewrite func(path string, b []byte) []byte
		call    func(base string) error
	}{
		{"flipped byte in digest", func(p string, b []byte) []byte { b[len(b)/2] ^= 1; return b },
			func(base string) error { _, err := c.Digest(ctx, base); return err }},
		{"flipped byte in have", func(p string, b []byte) []byte { b[len(b)/2] ^= 1; return b },
			func(base string) error { _, err := c.Have(ctx, base, ids); return err }},
		{"truncated record stream", func(p string, b []byte) []byte { return b[:bytes.IndexByte(b, '\n')+1] },
			func(base string) error {
				return c.Records(ctx, base, []int{1, 2, 3}, func(WireRecord) error { return nil })
			}},
		{"forged record stream", func(p string, b []byte) []byte { return tombstone() },
			func(base string) error {
				return c.Records(ctx, base, []int{1}, func(wr WireRecord) error {
					return fmt.Errorf("forged record believed: %s", wr.Key)
				})
			}},
		{"answer of an earlier request", func(p string, b []byte) []byte {
			if saved == nil {
				saved = bytes.Clone(b)
				return b
			}
			return saved
		}, func(base string) error {
			if _, err := c.Digest(ctx, base); err != nil { // the first passes and is saved
				return fmt.Errorf("first digest: %v", err)
			}
			_, err := c.Digest(ctx, base)
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			saved = nil
			base := mitm(t, hs.URL, tc.rewrite)
			if err := tc.call(base); !errors.Is(err, ErrResponseAuth) {
				t.Fatalf("got %v, want ErrResponseAuth", err)
			}
		})
	}
	// The untouched path works.
	if _, err := c.Digest(ctx, mitm(t, hs.URL, func(p string, b []byte) []byte { return b })); err != nil {
		t.Fatal(err)
	}
}

// TestReplayCache covers the cache's bounds: a nonce is refused while its
// date is inside the window, forgotten after, and a full cache refuses.
func TestReplayCache(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	c := newReplayCache(2)
	n1, n2, n3 := newNonce(), newNonce(), newNonce()
	if err := c.add(n1, now, now); err != nil {
		t.Fatal(err)
	}
	if err := c.add(n1, now, now.Add(MaxSkew)); err == nil {
		t.Fatal("nonce accepted twice inside the window")
	}
	if err := c.add(n2, now, now); err != nil {
		t.Fatal(err)
	}
	if err := c.add(n3, now, now); !errors.Is(err, errReplayFull) {
		t.Fatalf("full cache: %v", err)
	}
	later := now.Add(MaxSkew + 2*time.Second)
	if err := c.add(n3, later, later); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if c.seenBefore(n1) {
		t.Fatal("expired nonce still remembered")
	}
}

// TestMalformedRequests: bad input to each endpoint is a 4xx with a short
// body, never a 5xx.
func TestMalformedRequests(t *testing.T) {
	hs, _, _, _, _ := setup(t, ServerConfig{Region: "a"}, nil)
	for _, tc := range []struct {
		method, path string
		body         string
		want         int
	}{
		{"POST", "/peer/v1/have", "short", 400},
		{"POST", "/peer/v1/chunks", strings.Repeat("x", 33), 400},
		{"POST", "/peer/v1/records", "{not json", 400},
		{"POST", "/peer/v1/records/fetch", "{", 400},
		{"POST", "/peer/v1/records/fetch", `{"buckets":[256]}`, 400},
		{"POST", "/peer/v1/records/fetch", `{"buckets":[-1]}`, 400},
		{"GET", "/peer/v1/nothing", "", 404},
		{"PUT", "/peer/v1/records", "", 405},
	} {
		req, _ := http.NewRequest(tc.method, hs.URL+tc.path, strings.NewReader(tc.body))
		sign(req, secret, "b", "b-1", []byte(tc.body), time.Now())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want || len(b) > 512 {
			t.Errorf("%s %s %q: %d %q, want %d", tc.method, tc.path, tc.body, resp.StatusCode, b, tc.want)
		}
	}
}

// BenchmarkChunkStreamMAC measures the framing and MAC of a response body
// in both directions, per byte of payload.
func BenchmarkChunkStreamMAC(b *testing.B) {
	key := respKey(secret, newNonce(), 200)
	payload := chunkData(1, 64<<10)
	var wire bytes.Buffer
	b.SetBytes(int64(len(payload)) * 16)
	for b.Loop() {
		wire.Reset()
		w := newSegWriter(&wire, key)
		for range 16 {
			w.Write(payload)
		}
		w.emit(segFinal)
		if _, err := io.Copy(io.Discard, newSegReader(&wire, key)); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSegReaderRejects: malformed framing is ErrResponseAuth, without
// allocating what a forged length asks for.
func TestSegReaderRejects(t *testing.T) {
	key := respKey(secret, newNonce(), 200)
	var good bytes.Buffer
	w := newSegWriter(&good, key)
	w.Write([]byte("hello"))
	w.emit(segFinal)
	ok := good.Bytes()
	for _, tc := range []struct {
		name string
		wire []byte
	}{
		{"empty", nil},
		{"huge length", append([]byte{0, 0xff, 0xff, 0xff, 0xff}, ok[segHeader:]...)},
		{"unknown flag", append([]byte{4}, ok[1:]...)},
		{"no final segment", func() []byte {
			var b bytes.Buffer
			w := newSegWriter(&b, key)
			w.Write([]byte("hello"))
			w.emit(0)
			return b.Bytes()
		}()},
		{"trailing data", append(bytes.Clone(ok), 'x')},
		{"other key", func() []byte {
			var b bytes.Buffer
			w := newSegWriter(&b, respKey(secret, newNonce(), 200))
			w.Write([]byte("hello"))
			w.emit(segFinal)
			return b.Bytes()
		}()},
		{"other status", func() []byte {
			var b bytes.Buffer
			w := newSegWriter(&b, respKey(secret, "x", 202))
			w.emit(segFinal)
			return b.Bytes()
		}()},
	} {
		if _, err := io.ReadAll(newSegReader(bytes.NewReader(tc.wire), key)); !errors.Is(err, ErrResponseAuth) {
			t.Errorf("%s: %v, want ErrResponseAuth", tc.name, err)
		}
	}
	if b, err := io.ReadAll(newSegReader(bytes.NewReader(ok), key)); err != nil || string(b) != "hello" {
		t.Fatalf("good stream: %q %v", b, err)
	}
}
