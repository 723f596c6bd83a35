package glanceshim_test

import (
	"net/http/httptest"
	"testing"
	"time"

	glanceshim "github.com/nitro-cloud/nitro/glance-shim"
	"github.com/nitro-cloud/nitro/glance-shim/glanceshimtest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

// testConfig has an admin, a non-admin and a reseller admin in "test",
// and an admin in "other".
func testConfig() glanceshim.Config {
	return glanceshim.Config{
		Accounts: []glanceshim.Account{
			{Name: "test", Users: []glanceshim.User{
				{Name: "tester", Key: "testing", Admin: true},
				{Name: "reader", Key: "reading"},
				{Name: "reseller", Key: "selling", ResellerAdmin: true},
			}},
			{Name: "other", Users: []glanceshim.User{{Name: "admin", Key: "secret", Admin: true}}},
		},
	}
}

type testServer struct {
	*httptest.Server
	backend *memBackend
	shim    *glanceshim.Server
}

func startServer(t testing.TB, cfg glanceshim.Config, log *zap.Logger) *testServer {
	t.Helper()
	b := newMemBackend()
	if log == nil {
		log = zap.NewNop()
	}
	s, err := glanceshim.New(cfg, b, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(s.Handler())
	ts.Config.ReadHeaderTimeout = 10 * time.Second
	ts.Start()
	t.Cleanup(ts.Close)
	return &testServer{Server: ts, backend: b, shim: s}
}

// TestConformance runs the client-facing suite over the in-memory test
// double.
func TestConformance(t *testing.T) {
	glanceshimtest.Run(t, func(t *testing.T) (string, string, string) {
		ts := startServer(t, testConfig(), zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
		return ts.URL, "test:tester", "testing"
	})
}
