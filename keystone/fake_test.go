package keystone

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeKeystone is a stand-in for Keystone's /v3/auth/tokens, used ONLY for
// fault injection that the real Keystone cannot be made to do on demand:
// slow answers, 5xx, being down, counting validation requests under 200
// concurrent clients, and tokens that expire within a test. Everything
// else is tested against Debian's real Keystone (e2e/keystone_auth_test.go).
// It speaks the same wire format: POST issues the service token in
// X-Subject-Token, GET validates X-Subject-Token under X-Auth-Token and
// answers 200 with {"token": {...}} or 404.
type fakeKeystone struct {
	t  testing.TB
	ts *httptest.Server

	mu       sync.Mutex
	tokens   map[string]fakeToken // valid subject tokens
	svcTTL   time.Duration        // lifetime of issued service tokens
	svcToken string               // the current service token
	issued   int                  // service tokens issued

	validations atomic.Int64 // GET /v3/auth/tokens requests
	delay       atomic.Int64 // nanoseconds to sleep before answering a GET
	status      atomic.Int64 // if non-zero, every GET answers this status
	release     chan struct{}
	now         func() time.Time // the clock tokens expire by (tests move it)
}

type fakeToken struct {
	userID, userName, projectID, projectName string
	roles                                    []string
	expires                                  time.Time
}

func newFakeKeystone(t testing.TB) *fakeKeystone {
	f := &fakeKeystone{t: t, tokens: map[string]fakeToken{}, svcTTL: time.Hour, now: time.Now}
	f.ts = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.ts.Close)
	return f
}

func (f *fakeKeystone) url() string { return f.ts.URL + "/v3" }

func (f *fakeKeystone) add(token string, tok fakeToken) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens[token] = tok
}

func (f *fakeKeystone) revoke(token string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.tokens, token)
}

func (f *fakeKeystone) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/v3/auth/tokens" && r.Method == http.MethodPost:
		var body struct {
			Auth struct {
				Identity struct {
					Password struct {
						User struct{ Name, Password string }
					}
				}
			}
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		if body.Auth.Identity.Password.User.Password != "svcpass" {
			http.Error(w, `{"error":{"code":401}}`, http.StatusUnauthorized)
			return
		}
		f.mu.Lock()
		f.issued++
		f.svcToken = "svc-" + strings.Repeat("s", f.issued)
		tok, exp := f.svcToken, f.now().Add(f.svcTTL)
		f.mu.Unlock()
		w.Header().Set("X-Subject-Token", tok)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{"token": map[string]any{
			"expires_at": exp.UTC().Format("2006-01-02T15:04:05.000000Z"),
			"user":       map[string]any{"id": "nitro-id", "name": "nitro", "domain": map[string]string{"id": "default", "name": "Default"}},
			"project":    map[string]any{"id": "service-id", "name": "service", "domain": map[string]string{"id": "default", "name": "Default"}},
			"roles":      []map[string]string{{"id": "r1", "name": "admin"}},
		}})
	case r.URL.Path == "/v3/auth/tokens" && r.Method == http.MethodGet:
		f.validations.Add(1)
		if d := f.delay.Load(); d > 0 {
			select { // a slow Keystone; ends early when the client gives up
			case <-time.After(time.Duration(d)):
			case <-r.Context().Done():
				return
			}
		}
		if f.release != nil {
			<-f.release
		}
		if s := f.status.Load(); s != 0 {
			http.Error(w, "{}", int(s))
			return
		}
		f.mu.Lock()
		svcOK := r.Header.Get("X-Auth-Token") == f.svcToken && f.svcToken != ""
		tok, ok := f.tokens[r.Header.Get("X-Subject-Token")]
		f.mu.Unlock()
		if !svcOK {
			http.Error(w, `{"error":{"code":401}}`, http.StatusUnauthorized)
			return
		}
		if !ok || !f.now().Before(tok.expires) {
			http.Error(w, `{"error":{"code":404,"message":"Could not find token"}}`, http.StatusNotFound)
			return
		}
		roles := []map[string]string{}
		for _, ro := range tok.roles {
			roles = append(roles, map[string]string{"id": ro + "-id", "name": ro})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"token": map[string]any{
			"expires_at": tok.expires.UTC().Format("2006-01-02T15:04:05.000000Z"),
			"user":       map[string]any{"id": tok.userID, "name": tok.userName, "domain": map[string]string{"id": "default", "name": "Default"}},
			"project":    map[string]any{"id": tok.projectID, "name": tok.projectName, "domain": map[string]string{"id": "default", "name": "Default"}},
			"roles":      roles,
		}})
	default:
		http.NotFound(w, r)
	}
}
