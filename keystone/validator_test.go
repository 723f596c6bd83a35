package keystone

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	glanceshim "github.com/nitro-cloud/nitro/glance-shim"
)

// clock is a test clock shared by the Validator and the fake Keystone.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type fixture struct {
	f    *fakeKeystone
	v    *Validator
	c    *clock
	logs *observer.ObservedLogs
}

func newFixture(t testing.TB, mod func(*Config)) *fixture {
	f := newFakeKeystone(t)
	c := &clock{t: time.Now()}
	f.now = c.Now
	cfg := Config{AuthURL: f.url(), Username: "nitro", Password: "svcpass", ProjectName: "service",
		Timeout: 5 * time.Second, CacheTTL: time.Minute, InvalidCacheTTL: 10 * time.Second, CacheSize: 100}
	if mod != nil {
		mod(&cfg)
	}
	core, logs := observer.New(zapcore.DebugLevel)
	v, err := New(cfg, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	v.now = c.Now
	return &fixture{f: f, v: v, c: c, logs: logs}
}

const demoToken = "gAAAAABdemo-token-0123456789abcdef"

func (x *fixture) addDemo(token string, ttl time.Duration) {
	x.f.add(token, fakeToken{userID: "u-demo", userName: "demo", projectID: "p-demo", projectName: "demo",
		roles: []string{"member", "reader"}, expires: x.c.Now().Add(ttl)})
}

func TestValidateAndCache(t *testing.T) {
	x := newFixture(t, nil)
	x.addDemo(demoToken, time.Hour)
	id, err := x.v.Authenticate(context.Background(), demoToken)
	if err != nil {
		t.Fatal(err)
	}
	ks := id.Keystone
	if ks == nil || ks.UserID != "u-demo" || ks.UserName != "demo" || ks.ProjectID != "p-demo" || ks.ProjectName != "demo" ||
		ks.UserDomainID != "default" || ks.ProjectDomainID != "default" || !slices.Equal(ks.Roles, []string{"member", "reader"}) {
		t.Fatalf("identity %+v / %+v", id, ks)
	}
	if id.Account != "AUTH_p-demo" || id.User != "demo:demo" {
		t.Errorf("account %q user %q", id.Account, id.User)
	}
	for range 5 {
		if _, err := x.v.Authenticate(context.Background(), demoToken); err != nil {
			t.Fatal(err)
		}
	}
	if n := x.f.validations.Load(); n != 1 {
		t.Errorf("%d validation requests for one token, want 1", n)
	}
}

// TestBadTokens: unknown (404 from Keystone) → 401 and cached as invalid
// for InvalidCacheTTL; malformed and oversized → 401 without a request.
func TestBadTokens(t *testing.T) {
	x := newFixture(t, nil)
	for _, tok := range []string{"", "has space", "ctl\x01", "\xff\xfe", strings.Repeat("a", MaxTokenLen+1)} {
		if _, err := x.v.Authenticate(context.Background(), tok); !errors.Is(err, glanceshim.ErrUnauthorized) {
			t.Errorf("token %.20q: %v, want ErrUnauthorized", tok, err)
		}
	}
	if n := x.f.validations.Load(); n != 0 {
		t.Errorf("%d requests for malformed tokens, want 0", n)
	}
	for range 3 {
		if _, err := x.v.Authenticate(context.Background(), "unknown-token"); !errors.Is(err, glanceshim.ErrUnauthorized) {
			t.Fatalf("unknown token: %v", err)
		}
	}
	if n := x.f.validations.Load(); n != 1 {
		t.Errorf("%d requests for an unknown token asked 3 times, want 1 (cached invalid)", n)
	}
	x.addDemo("unknown-token", time.Hour) // becomes valid in Keystone
	x.c.Advance(11 * time.Second)         // past InvalidCacheTTL
	if _, err := x.v.Authenticate(context.Background(), "unknown-token"); err != nil {
		t.Errorf("after invalid_cache_ttl: %v, want valid", err)
	}
}

// TestRevokedAfterTTL: a revoked token keeps working from the cache until
// cache_ttl passes, then is 401.
func TestRevokedAfterTTL(t *testing.T) {
	x := newFixture(t, nil)
	x.addDemo(demoToken, time.Hour)
	if _, err := x.v.Authenticate(context.Background(), demoToken); err != nil {
		t.Fatal(err)
	}
	x.f.revoke(demoToken)
	x.c.Advance(30 * time.Second)
	if _, err := x.v.Authenticate(context.Background(), demoToken); err != nil {
		t.Errorf("revoked, within cache_ttl: %v (cached: still valid)", err)
	}
	x.c.Advance(31 * time.Second)
	if _, err := x.v.Authenticate(context.Background(), demoToken); !errors.Is(err, glanceshim.ErrUnauthorized) {
		t.Errorf("revoked, after cache_ttl: %v, want ErrUnauthorized", err)
	}
}

// TestExpiredToken: the cache never outlives the token's own expiry.
func TestExpiredToken(t *testing.T) {
	x := newFixture(t, nil)
	x.addDemo(demoToken, 10*time.Second) // expires before cache_ttl (1m)
	if _, err := x.v.Authenticate(context.Background(), demoToken); err != nil {
		t.Fatal(err)
	}
	x.c.Advance(11 * time.Second)
	if _, err := x.v.Authenticate(context.Background(), demoToken); !errors.Is(err, glanceshim.ErrUnauthorized) {
		t.Errorf("expired token: %v, want ErrUnauthorized", err)
	}
}

// TestKeystoneDown: Keystone unreachable, slow or failing → ErrUnavailable
// (503) for an uncached token, never an identity; a clear log line
// without the token.
func TestKeystoneDown(t *testing.T) {
	t.Run("down", func(t *testing.T) {
		x := newFixture(t, nil)
		x.f.ts.Close()
		_, err := x.v.Authenticate(context.Background(), demoToken)
		if !errors.Is(err, glanceshim.ErrUnavailable) {
			t.Fatalf("down: %v, want ErrUnavailable", err)
		}
		if n := x.logs.FilterMessageSnippet("keystone unreachable").Len(); n == 0 {
			t.Error("no 'keystone unreachable' log line")
		}
		// An outage logs at Error once per 10 s, the rest at Debug.
		for range 3 {
			_, _ = x.v.Authenticate(context.Background(), "another-token")
		}
		lines := x.logs.FilterMessageSnippet("keystone unreachable")
		if errs := lines.FilterLevelExact(zapcore.ErrorLevel).Len(); errs != 1 || lines.Len() != 4 {
			t.Errorf("%d outage lines, %d at Error; want 4 and 1", lines.Len(), errs)
		}
		x.c.Advance(11 * time.Second)
		_, _ = x.v.Authenticate(context.Background(), "another-token")
		if errs := x.logs.FilterMessageSnippet("keystone unreachable").FilterLevelExact(zapcore.ErrorLevel).Len(); errs != 2 {
			t.Errorf("%d outage lines at Error after 11 s, want 2", errs)
		}
		checkLogs(t, x.logs, demoToken, "svcpass")
	})
	t.Run("slow", func(t *testing.T) {
		x := newFixture(t, func(c *Config) { c.Timeout = 200 * time.Millisecond })
		x.addDemo(demoToken, time.Hour)
		if _, err := x.v.Authenticate(context.Background(), "warm-up"); !errors.Is(err, glanceshim.ErrUnauthorized) {
			t.Fatal(err) // gets the service token while Keystone is fast
		}
		x.f.delay.Store(int64(10 * time.Second))
		start := time.Now()
		_, err := x.v.Authenticate(context.Background(), demoToken)
		if !errors.Is(err, glanceshim.ErrUnavailable) {
			t.Fatalf("slow: %v, want ErrUnavailable", err)
		}
		// Not a speed target: only that the timeout, not Keystone's
		// 10 s answer, ended the wait.
		if d := time.Since(start); d > 8*time.Second {
			t.Errorf("answered after %v: the 200ms timeout was not applied", d)
		}
	})
	t.Run("5xx", func(t *testing.T) {
		x := newFixture(t, nil)
		x.addDemo(demoToken, time.Hour)
		x.f.status.Store(500)
		for range 2 {
			if _, err := x.v.Authenticate(context.Background(), demoToken); !errors.Is(err, glanceshim.ErrUnavailable) {
				t.Fatalf("500: %v, want ErrUnavailable", err)
			}
		}
		if n := x.f.validations.Load(); n != 2 {
			t.Errorf("%d requests: a 5xx must not be cached", n)
		}
		x.f.status.Store(0)
		if _, err := x.v.Authenticate(context.Background(), demoToken); err != nil {
			t.Errorf("after recovery: %v", err)
		}
	})
	t.Run("bad service password", func(t *testing.T) {
		x := newFixture(t, func(c *Config) { c.Password = "wrong-service-password" })
		x.addDemo(demoToken, time.Hour)
		if _, err := x.v.Authenticate(context.Background(), demoToken); !errors.Is(err, glanceshim.ErrUnavailable) {
			t.Fatalf("bad service password: %v, want ErrUnavailable", err)
		}
		checkLogs(t, x.logs, demoToken, "wrong-service-password")
	})
}

// TestConcurrentNewToken: 200 concurrent clients with one new token cause
// exactly one validation request.
func TestConcurrentNewToken(t *testing.T) {
	x := newFixture(t, nil)
	x.addDemo(demoToken, time.Hour)
	if _, err := x.v.Authenticate(context.Background(), "warm-up"); !errors.Is(err, glanceshim.ErrUnauthorized) {
		t.Fatal(err)
	}
	before := x.f.validations.Load()
	x.f.delay.Store(int64(50 * time.Millisecond)) // keep the one request in flight while the others arrive
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	start := make(chan struct{})
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := x.v.Authenticate(context.Background(), demoToken)
			errs <- err
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := x.f.validations.Load() - before; n != 1 {
		t.Errorf("%d Keystone requests for one new token under 200 clients, want 1", n)
	}
}

// TestCallerGivesUp: a caller whose context ends stops waiting; the
// validation still completes for the others and is cached.
func TestCallerGivesUp(t *testing.T) {
	x := newFixture(t, nil)
	x.addDemo(demoToken, time.Hour)
	x.f.delay.Store(int64(300 * time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := x.v.Authenticate(ctx, demoToken); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("gave up: %v", err)
	}
	x.f.delay.Store(0)
	if _, err := x.v.Authenticate(context.Background(), demoToken); err != nil {
		t.Fatal(err)
	}
	if n := x.f.validations.Load(); n > 2 {
		t.Errorf("%d requests", n)
	}
}

// TestServiceTokenRenewal: Nitro's own token is renewed before it expires,
// and re-issued when Keystone stops accepting it (401).
func TestServiceTokenRenewal(t *testing.T) {
	x := newFixture(t, nil)
	x.f.svcTTL = 10 * time.Minute
	x.addDemo(demoToken, 24*time.Hour)
	x.addDemo("second-token", 24*time.Hour)
	x.addDemo("third-token", 24*time.Hour)
	if _, err := x.v.Authenticate(context.Background(), demoToken); err != nil {
		t.Fatal(err)
	}
	x.c.Advance(9 * time.Minute) // 1 min left < renewBefore
	if _, err := x.v.Authenticate(context.Background(), "second-token"); err != nil {
		t.Fatal(err)
	}
	x.f.mu.Lock()
	issued := x.f.issued
	x.f.svcToken = "forgotten" // Keystone no longer accepts Nitro's token
	x.f.mu.Unlock()
	if issued != 2 {
		t.Errorf("%d service tokens issued, want 2 (renewed before expiry)", issued)
	}
	if _, err := x.v.Authenticate(context.Background(), "third-token"); err != nil {
		t.Fatalf("after Keystone dropped the service token: %v (want a re-authentication)", err)
	}
	checkLogs(t, x.logs, demoToken, "svcpass")
}

// TestCacheBounded: the cache holds at most CacheSize entries.
func TestCacheBounded(t *testing.T) {
	x := newFixture(t, func(c *Config) { c.CacheSize = 10 })
	for i := range 50 {
		_, _ = x.v.Authenticate(context.Background(), "tok-"+strings.Repeat("x", i+1))
	}
	if n := x.v.cache.Len(); n > 10 {
		t.Errorf("cache holds %d entries, want <= 10", n)
	}
}

// checkLogs fails t if a secret appears in any logged message or field.
func checkLogs(t *testing.T, logs *observer.ObservedLogs, secrets ...string) {
	t.Helper()
	for _, e := range logs.All() {
		texts := []string{e.Message}
		for k, v := range e.ContextMap() {
			texts = append(texts, k+"="+strings.TrimSpace(toString(v)))
		}
		for _, s := range texts {
			for _, sec := range secrets {
				if strings.Contains(s, sec) {
					t.Errorf("secret %q in log: %s", sec, s)
				}
			}
		}
	}
}

func toString(v any) string { return fmt.Sprint(v) }
