package glanceshim_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	glanceshim "github.com/nitro-cloud/nitro/glance-shim"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// hc sends one request and returns status, headers and body.
func hc(t *testing.T, method, url string, hdr map[string]string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func login(t *testing.T, base, user, key string) (token, storage string) {
	t.Helper()
	st, h, _ := hc(t, "GET", base+"/auth/v1.0", map[string]string{"X-Auth-User": user, "X-Auth-Key": key}, nil)
	if st != 200 {
		t.Fatalf("login %s: %d", user, st)
	}
	return h.Get("X-Auth-Token"), h.Get("X-Storage-Url")
}

// TestACL: tempauth's rules for non-admins, other accounts, reseller
// admins and anonymous requests.
func TestACL(t *testing.T) {
	ts := startServer(t, testConfig(), nil)
	admin, su := login(t, ts.URL, "test:tester", "testing")
	reader, _ := login(t, ts.URL, "test:reader", "reading")
	reseller, _ := login(t, ts.URL, "test:reseller", "selling")
	other, otherURL := login(t, ts.URL, "other:admin", "secret")
	A := map[string]string{"X-Auth-Token": admin}
	R := map[string]string{"X-Auth-Token": reader}
	S := map[string]string{"X-Auth-Token": reseller}
	O := map[string]string{"X-Auth-Token": other}
	with := func(h map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range h {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	steps := []struct {
		what   string
		method string
		url    string
		hdr    map[string]string
		body   []byte
		status int
	}{
		{"admin creates private", "PUT", su + "/private", A, nil, 201},
		{"admin creates shared", "PUT", su + "/shared", with(A, "X-Container-Read", "test:reader, other:admin", "X-Container-Write", "other:admin"), nil, 201},
		{"admin creates wild", "PUT", su + "/wild", with(A, "X-Container-Read", "*:*", "X-Container-Write", "other:*,*:admin"), nil, 201},
		{"admin creates public", "PUT", su + "/public", with(A, "X-Container-Read", ".r:*"), nil, 201},
		{"admin creates listable", "PUT", su + "/listable", with(A, "X-Container-Read", ".r:*,.rlistings"), nil, 201},
		{"admin puts", "PUT", su + "/private/o", A, []byte("p"), 201},
		{"admin puts shared", "PUT", su + "/shared/o", A, []byte("s"), 201},
		{"admin puts public", "PUT", su + "/public/o", A, []byte("pub"), 201},
		{"admin puts listable", "PUT", su + "/listable/o", A, []byte("l"), 201},
		{"reader: account HEAD", "HEAD", su, R, nil, 403},
		{"reader: account GET", "GET", su, R, nil, 403},
		{"reader: private container", "GET", su + "/private", R, nil, 403},
		{"reader: private object", "GET", su + "/private/o", R, nil, 403},
		{"reader: missing container", "GET", su + "/nope/o", R, nil, 403},
		{"reader: shared listing", "GET", su + "/shared", R, nil, 200},
		{"reader: shared HEAD", "HEAD", su + "/shared", R, nil, 204},
		{"reader: shared object", "GET", su + "/shared/o", R, nil, 200},
		{"reader: shared PUT", "PUT", su + "/shared/r", R, []byte("x"), 403},
		{"reader: shared DELETE", "DELETE", su + "/shared/o", R, nil, 403},
		{"reader: container PUT", "PUT", su + "/mine", R, nil, 403},
		{"reader: container POST", "POST", su + "/shared", with(R, "X-Container-Read", "*:*"), nil, 403},
		{"other: account", "HEAD", su, O, nil, 403},
		{"other: private", "GET", su + "/private/o", O, nil, 403},
		{"other: shared read", "GET", su + "/shared/o", O, nil, 200},
		{"other: shared write (other:admin)", "PUT", su + "/shared/fromother", O, []byte("o"), 201},
		{"other: wildcards name no tempauth user (write)", "PUT", su + "/wild/o", O, []byte("o"), 403},
		{"reader: wildcards name no tempauth user (read)", "GET", su + "/wild", R, nil, 403},
		{"other: shared delete", "DELETE", su + "/shared/fromother", O, nil, 204},
		{"reseller: foreign account", "HEAD", otherURL, S, nil, 204},
		{"reseller: own account", "GET", su + "/private/o", S, nil, 200},
		{"admin: foreign account", "HEAD", otherURL, A, nil, 403},
		{"anonymous: private", "GET", su + "/private/o", nil, nil, 401},
		{"anonymous: public object", "GET", su + "/public/o", nil, nil, 200},
		{"anonymous: public listing", "GET", su + "/public", nil, nil, 401},
		{"anonymous: public PUT", "PUT", su + "/public/x", nil, []byte("x"), 401},
		{"anonymous: listable listing", "GET", su + "/listable", nil, nil, 200},
		{"anonymous: account", "GET", su, nil, nil, 401},
		{"reader: ACL hidden", "HEAD", su + "/shared", R, nil, 204},
	}
	for _, s := range steps {
		st, h, body := hc(t, s.method, s.url, s.hdr, s.body)
		if st != s.status {
			t.Errorf("%s: %s %s = %d, want %d (%s)", s.what, s.method, s.url, st, s.status, body)
		}
		if s.what == "reader: ACL hidden" && h.Get("X-Container-Read") != "" {
			t.Errorf("non-owner sees X-Container-Read %q", h.Get("X-Container-Read"))
		}
	}
	if _, h, _ := hc(t, "HEAD", su+"/shared", A, nil); h.Get("X-Container-Read") != "test:reader,other:admin" { // stored cleaned, as Swift's clean_acl
		t.Errorf("owner sees X-Container-Read %q", h.Get("X-Container-Read"))
	}
	// POST removes an ACL.
	if st, _, _ := hc(t, "POST", su+"/shared", with(A, "X-Remove-Container-Read", "x"), nil); st != 204 {
		t.Fatalf("POST remove ACL: %d", st)
	}
	if st, _, _ := hc(t, "GET", su+"/shared/o", R, nil); st != 403 {
		t.Errorf("after ACL removal: %d", st)
	}
}

func TestTokenExpiry(t *testing.T) {
	cfg := testConfig()
	cfg.TokenTTL = time.Second
	ts := startServer(t, cfg, nil)
	st, h, _ := hc(t, "GET", ts.URL+"/auth/v1.0", map[string]string{"X-Auth-User": "test:tester", "X-Auth-Key": "testing"}, nil)
	if st != 200 || h.Get("X-Auth-Token-Expires") != "0" && h.Get("X-Auth-Token-Expires") != "1" {
		t.Fatalf("login: %d, expires %q", st, h.Get("X-Auth-Token-Expires"))
	}
	tok, su := h.Get("X-Auth-Token"), h.Get("X-Storage-Url")
	if !strings.HasPrefix(tok, "AUTH_tk") || len(tok) != len("AUTH_tk")+64 {
		t.Errorf("token %q", tok)
	}
	if st, _, _ := hc(t, "HEAD", su, map[string]string{"X-Auth-Token": tok}, nil); st != 204 {
		t.Fatalf("fresh token: %d", st)
	}
	time.Sleep(1100 * time.Millisecond)
	if st, _, _ := hc(t, "HEAD", su, map[string]string{"X-Auth-Token": tok}, nil); st != 401 {
		t.Errorf("expired token: %d, want 401", st)
	}
	tok2, _ := login(t, ts.URL, "test:tester", "testing")
	if tok2 == tok {
		t.Error("expired token reissued")
	}
}

func TestTempAuthBounded(t *testing.T) {
	a, err := glanceshim.NewTempAuth(glanceshim.TempAuthConfig{
		Accounts:  []glanceshim.Account{{Name: "a", Users: []glanceshim.User{{Name: "u", Key: "k", Admin: true}, {Name: "v", Key: "k"}}}},
		TokenTTL:  time.Millisecond,
		MaxTokens: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	var last glanceshim.Token
	for i := 0; i < 100; i++ {
		user := "a:u"
		if i%2 == 1 {
			user = "a:v"
		}
		if last, err = a.Login(t.Context(), user, "k"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Authenticate(t.Context(), last.ID); err != nil && time.Now().Before(last.Expires) {
		t.Errorf("newest token rejected: %v", err)
	}
	if _, err := a.Login(t.Context(), "a:u", "wrong"); !errors.Is(err, glanceshim.ErrUnauthorized) {
		t.Errorf("bad key: %v", err)
	}
	for _, bad := range []glanceshim.Account{{Name: "a:b"}, {Name: "a", Users: []glanceshim.User{{Name: "u"}}}} {
		if _, err := glanceshim.NewTempAuth(glanceshim.TempAuthConfig{Accounts: []glanceshim.Account{bad}}); err == nil {
			t.Errorf("NewTempAuth accepted %+v", bad)
		}
	}
	if _, err := glanceshim.New(glanceshim.Config{}, newMemBackend(), nil, nil); err == nil {
		t.Error("New without users nor Authenticator succeeded")
	}
}

func TestStorageURLOverride(t *testing.T) {
	cfg := testConfig()
	cfg.StorageURL = "https://swift.example.com:8443/"
	ts := startServer(t, cfg, nil)
	_, su := login(t, ts.URL, "test:tester", "testing")
	if su != "https://swift.example.com:8443/v1/AUTH_test" {
		t.Errorf("X-Storage-Url %q", su)
	}
}

func TestHealthcheckDisableFile(t *testing.T) {
	cfg := testConfig()
	cfg.DisableFile = filepath.Join(t.TempDir(), "disabled")
	ts := startServer(t, cfg, nil)
	if st, _, b := hc(t, "GET", ts.URL+"/healthcheck", nil, nil); st != 200 || string(b) != "OK" {
		t.Errorf("healthcheck: %d %q", st, b)
	}
	if err := os.WriteFile(cfg.DisableFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if st, _, b := hc(t, "GET", ts.URL+"/healthcheck", nil, nil); st != 503 || string(b) != "DISABLED BY FILE" {
		t.Errorf("disabled healthcheck: %d %q", st, b)
	}
}

// TestReadFailureAborts: a Backend read that fails midway (a corrupt
// chunk) must truncate the response, never complete it silently.
func TestReadFailureAborts(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	ts := startServer(t, testConfig(), zap.New(core))
	tok, su := login(t, ts.URL, "test:tester", "testing")
	A := map[string]string{"X-Auth-Token": tok}
	hc(t, "PUT", su+"/c", A, nil)
	data := bytes.Repeat([]byte("x"), 1<<20)
	hc(t, "PUT", su+"/c/seg-1", A, data)
	hc(t, "PUT", su+"/c/seg-2", A, data)
	hc(t, "PUT", su+"/c/obj", A, data)
	hc(t, "PUT", su+"/c/dlo", map[string]string{"X-Auth-Token": tok, "X-Object-Manifest": "c/seg-"}, []byte{})
	ts.backend.mu.Lock()
	ts.backend.failRead = 300000
	ts.backend.mu.Unlock()
	for _, tc := range []struct{ path, rng string }{{"/c/obj", ""}, {"/c/obj", "bytes=10-"}, {"/c/dlo", ""}} {
		req, _ := http.NewRequest("GET", su+tc.path, nil)
		req.Header.Set("X-Auth-Token", tok)
		if tc.rng != "" {
			req.Header.Set("Range", tc.rng)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err == nil {
			t.Errorf("GET %s %s: read %d bytes without error, status %d", tc.path, tc.rng, n, resp.StatusCode)
		}
	}
	if logs.FilterMessage("aborting response mid-body").Len() == 0 {
		t.Error("abort not logged")
	}
}

// TestLogHygiene: keys and tokens never reach the log; every request has
// an access line with its trans id.
func TestLogHygiene(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	ts := startServer(t, testConfig(), zap.New(core))
	tok, su := login(t, ts.URL, "test:tester", "testing")
	hc(t, "GET", ts.URL+"/auth/v1.0", map[string]string{"X-Auth-User": "test:tester", "X-Auth-Key": "wrong-key"}, nil)
	hc(t, "HEAD", su+"/nope", map[string]string{"X-Auth-Token": tok}, nil)
	hc(t, "HEAD", su+"/nope", map[string]string{"X-Auth-Token": tok + "bad"}, nil)
	_, h, _ := hc(t, "GET", su, map[string]string{"X-Auth-Token": tok}, nil)
	access := logs.FilterMessage("access").All()
	if len(access) != 5 {
		t.Errorf("%d access lines, want 5", len(access))
	}
	found := false
	for _, e := range logs.All() {
		for k, v := range e.ContextMap() {
			s, _ := v.(string)
			if strings.Contains(s, "testing") || strings.Contains(s, "wrong-key") || strings.Contains(s, tok[7:20]) {
				t.Errorf("secret in log field %s: %q", k, s)
			}
			if k == "trans_id" && s == h.Get("X-Trans-Id") {
				found = true
			}
		}
		if strings.Contains(e.Message, "testing") {
			t.Errorf("secret in log message %q", e.Message)
		}
	}
	if !found {
		t.Error("trans id of the last request not logged")
	}
}

func TestAccountPost(t *testing.T) {
	ts := startServer(t, testConfig(), nil)
	tok, su := login(t, ts.URL, "test:tester", "testing")
	if st, _, _ := hc(t, "POST", su, map[string]string{"X-Auth-Token": tok, "X-Account-Meta-Owner": "glance"}, nil); st != 204 {
		t.Fatalf("POST account: %d", st)
	}
	if _, h, _ := hc(t, "HEAD", su, map[string]string{"X-Auth-Token": tok}, nil); h.Get("X-Account-Meta-Owner") != "glance" {
		t.Errorf("account meta %v", h)
	}
	if st, _, _ := hc(t, "PUT", su, map[string]string{"X-Auth-Token": tok}, nil); st != 405 {
		t.Errorf("PUT account: %d, want 405", st)
	}
	if st, _, _ := hc(t, "PATCH", su+"/c/o", map[string]string{"X-Auth-Token": tok}, nil); st != 405 {
		t.Errorf("PATCH object: %d, want 405", st)
	}
	if st, _, _ := hc(t, "GET", ts.URL+"/v2/x", nil, nil); st != 404 {
		t.Errorf("GET /v2/x: %d, want 404", st)
	}
}
