package glanceshim_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	glanceshim "github.com/nitro-cloud/nitro/glance-shim"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestAuthFailureReason: every refused login or token is logged at Info
// (visible at the production level) with its reason, and never with the
// key or the token.
func TestAuthFailureReason(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	cfg := testConfig()
	cfg.TokenTTL = time.Second
	ts := startServer(t, cfg, zap.New(core))
	tok, su := login(t, ts.URL, "test:tester", "testing")
	for _, tc := range []struct {
		name   string
		do     func() int
		reason string
	}{
		{"unknown user", func() int {
			st, _, _ := hc(t, "GET", ts.URL+"/auth/v1.0", map[string]string{"X-Auth-User": "test:nobody", "X-Auth-Key": "key-of-nobody"}, nil)
			return st
		}, `login of "test:nobody": unknown user`},
		{"wrong key", func() int {
			st, _, _ := hc(t, "GET", ts.URL+"/auth/v1.0", map[string]string{"X-Auth-User": "test:tester", "X-Auth-Key": "wrong-key"}, nil)
			return st
		}, `login of "test:tester": wrong key`},
		{"no credentials", func() int {
			st, _, _ := hc(t, "GET", ts.URL+"/auth/v1.0", nil, nil)
			return st
		}, "login without credentials"},
		{"unknown token", func() int {
			st, _, _ := hc(t, "HEAD", su, map[string]string{"X-Auth-Token": "AUTH_tkforged0123456789"}, nil)
			return st
		}, "unknown token"},
		{"expired token", func() int {
			time.Sleep(1100 * time.Millisecond)
			st, _, _ := hc(t, "HEAD", su, map[string]string{"X-Auth-Token": tok}, nil)
			return st
		}, `token of "test:tester" expired`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs.TakeAll()
			if st := tc.do(); st != 401 {
				t.Fatalf("status %d, want 401", st)
			}
			var found bool
			for _, e := range logs.FilterMessage("request failed").All() {
				if e.Level == zapcore.InfoLevel && strings.Contains(e.ContextMap()["error"].(string), tc.reason) {
					found = true
				}
			}
			if !found {
				t.Errorf("no Info line with %q in %v", tc.reason, logs.All())
			}
		})
	}
	for _, e := range logs.All() {
		b, _ := json.Marshal(e.ContextMap())
		for _, secret := range []string{"testing", "wrong-key", "key-of-nobody", tok[7:], "forged0123"} {
			if strings.Contains(string(b)+e.Message, secret) {
				t.Errorf("secret %q logged: %s %s", secret, e.Message, b)
			}
		}
	}
}

// TestSetAccounts: a reload adds and removes users; unchanged users keep
// their tokens, removed ones and ones whose key changed lose them.
func TestSetAccounts(t *testing.T) {
	ts := startServer(t, testConfig(), nil)
	keep, su := login(t, ts.URL, "test:tester", "testing")
	gone, _ := login(t, ts.URL, "other:admin", "secret")
	rekeyed, _ := login(t, ts.URL, "test:reader", "reading")
	cfg := testConfig()
	cfg.Accounts[0].Users[1].Key = "new-reading-key"
	cfg.Accounts[1] = glanceshim.Account{Name: "new", Users: []glanceshim.User{{Name: "admin", Key: "fresh", Admin: true}}}
	// Logins race the reload (go test -race checks the locking).
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 200; i++ {
			select {
			case <-stop:
				return
			default:
			}
			resp, err := http.Get(ts.URL + "/info")
			if err == nil {
				resp.Body.Close()
			}
			req, _ := http.NewRequest("GET", ts.URL+"/auth/v1.0", nil)
			req.Header.Set("X-Auth-User", "test:tester")
			req.Header.Set("X-Auth-Key", "testing")
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}
	}()
	revoked, err := ts.shim.SetAccounts(cfg.Accounts)
	close(stop)
	<-done
	if err != nil || revoked != 2 {
		t.Fatalf("SetAccounts: revoked %d, %v; want 2, nil", revoked, err)
	}
	for _, tc := range []struct {
		tok  string
		want int
	}{{keep, 204}, {gone, 401}, {rekeyed, 401}} {
		if st, _, _ := hc(t, "HEAD", su, map[string]string{"X-Auth-Token": tc.tok}, nil); st != tc.want {
			t.Errorf("token after reload: %d, want %d", st, tc.want)
		}
	}
	login(t, ts.URL, "new:admin", "fresh")
	login(t, ts.URL, "test:reader", "new-reading-key")
	if st, _, _ := hc(t, "GET", ts.URL+"/auth/v1.0", map[string]string{"X-Auth-User": "other:admin", "X-Auth-Key": "secret"}, nil); st != 401 {
		t.Errorf("removed user logs in: %d", st)
	}
	// A bad configuration changes nothing.
	if _, err := ts.shim.SetAccounts([]glanceshim.Account{{Name: "a/b"}}); err == nil {
		t.Error("bad account accepted")
	}
	login(t, ts.URL, "new:admin", "fresh")
	// With an Authenticator of the caller's there is nothing to reload.
	s, err := glanceshim.New(testConfig(), newMemBackend(), denyAll{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetAccounts(nil); !errors.Is(err, glanceshim.ErrNoTempAuth) {
		t.Errorf("SetAccounts with an external authenticator: %v", err)
	}
}

type denyAll struct{}

func (denyAll) Authenticate(_ context.Context, _ string) (glanceshim.Identity, error) {
	return glanceshim.Identity{}, glanceshim.ErrUnauthorized
}

// TestInfoNitroVersion: /info keeps Swift's version under "swift" and
// reports the build under "nitro".
func TestInfoNitroVersion(t *testing.T) {
	ts := startServer(t, testConfig(), nil)
	st, _, body := hc(t, "GET", ts.URL+"/info", nil, nil)
	if st != 200 {
		t.Fatalf("/info: %d", st)
	}
	var info struct {
		Swift struct{ Version string } `json:"swift"`
		Nitro struct {
			Version   string `json:"version"`
			GoVersion string `json:"go_version"`
		} `json:"nitro"`
	}
	if err := json.Unmarshal(body, &info); err != nil {
		t.Fatal(err)
	}
	if info.Swift.Version != glanceshim.SwiftVersion || info.Nitro.Version == "" || info.Nitro.GoVersion == "" {
		t.Errorf("/info: %s", body)
	}
}
