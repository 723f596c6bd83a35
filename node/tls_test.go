package node

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nitro-cloud/nitro/internal/testpki"
	"github.com/nitro-cloud/nitro/node/internal/namespace"
	"github.com/nitro-cloud/nitro/node/internal/peer"
	"go.uber.org/zap"
)

// httpsClient trusts ca and presents certFile (if not "").
func httpsClient(t *testing.T, ca *testpki.CA, certFile, keyFile string) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = ca.ClientConfig(t, certFile, keyFile)
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// plainGet GETs url over plain HTTP and returns the status (0 when the
// connection failed) and the start of the body.
func plainGet(url string) (int, string) {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	return resp.StatusCode, string(b)
}

func TestSwiftTLS(t *testing.T) {
	ca := testpki.New(t, "swift")
	cert, key := ca.Issue(t, "swift", "127.0.0.1", "localhost")
	cfg := testConfig(t)
	cfg.Swift.TLSCertFile, cfg.Swift.TLSKeyFile = cert, key
	n := startNode(t, cfg)
	base := "https://" + n.SwiftAddr()

	hc := httpsClient(t, ca, "", "")
	req, _ := http.NewRequest("GET", base+"/auth/v1.0", nil)
	req.Header.Set("X-Auth-User", "test:tester")
	req.Header.Set("X-Auth-Key", "testing")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("X-Storage-Url"), "https://") {
		t.Fatalf("auth over TLS: %s, storage URL %q", resp.Status, resp.Header.Get("X-Storage-Url"))
	}
	put, _ := http.NewRequest("PUT", resp.Header.Get("X-Storage-Url")+"/c", nil)
	put.Header.Set("X-Auth-Token", resp.Header.Get("X-Auth-Token"))
	if r, err := hc.Do(put); err != nil || r.StatusCode != 201 {
		t.Fatalf("PUT container over TLS: %v %v", r, err)
	}

	// Plain HTTP to the TLS port is refused, not served.
	if code, body := plainGet("http://" + n.SwiftAddr() + "/healthcheck"); code/100 == 2 {
		t.Fatalf("plain HTTP to the TLS Swift listener: %d %q", code, body)
	} else {
		t.Logf("plain HTTP to the TLS Swift listener: %d %q", code, body)
	}
	// A client that does not trust the CA fails the handshake.
	if _, err := http.Get(base + "/healthcheck"); err == nil {
		t.Fatal("untrusted certificate accepted by a default client")
	}
}

func TestTLSConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"swift cert without key", func(c *Config) { c.Swift.TLSCertFile = "x.pem" }, "swift.tls_cert_file"},
		{"cluster key without cert", func(c *Config) {
			c.Cluster = ClusterConfig{PeerListen: "127.0.0.1:0", Secret: clusterSecret, TLSKeyFile: "k.pem"}
		}, "cluster.tls_cert_file"},
		{"client auth without CA", func(c *Config) {
			c.Cluster = ClusterConfig{PeerListen: "127.0.0.1:0", Secret: clusterSecret, TLSCertFile: "c", TLSKeyFile: "k", TLSClientAuth: true}
		}, "cluster.tls_client_auth"},
		{"http peer_url with TLS", func(c *Config) {
			c.Cluster = ClusterConfig{PeerListen: "127.0.0.1:0", Secret: clusterSecret, TLSCertFile: "c", TLSKeyFile: "k", PeerURL: "http://x:1"}
		}, "cluster.peer_url"},
		{"tls without peer_listen", func(c *Config) { c.Cluster = ClusterConfig{TLSCAFile: "ca.pem"} }, "cluster.peer_listen"},
	} {
		cfg := testConfig(t)
		tc.edit(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error naming %s", tc.name, err, tc.want)
		}
	}
	cfg := testConfig(t)
	cfg.Swift.TLSCertFile, cfg.Swift.TLSKeyFile = "/nonexistent/c.pem", "/nonexistent/k.pem"
	if _, err := New(cfg, zap.NewNop()); err == nil || !strings.Contains(err.Error(), "swift.tls_cert_file") {
		t.Fatalf("missing certificate files: %v", err)
	}
}

// tlsRegion is regionConfig with the peer listener on mutual TLS.
func tlsRegion(t *testing.T, ca *testpki.CA, region string, join []string) Config {
	cfg := regionConfig(t, region, join)
	cfg.Cluster.EmulateLinkMbit = nil
	cfg.Cluster.TLSCertFile, cfg.Cluster.TLSKeyFile = ca.Issue(t, region, "127.0.0.1", "localhost")
	cfg.Cluster.TLSCAFile = ca.CertFile
	cfg.Cluster.TLSClientAuth = true
	return cfg
}

// TestPeerMutualTLS: two regions whose peer listeners serve mutual TLS
// replicate a write and fetch its chunks; plain HTTP, a client without a
// certificate and one with a certificate of another CA are refused.
func TestPeerMutualTLS(t *testing.T) {
	ca := testpki.New(t, "cluster")
	a := startNode(t, tlsRegion(t, ca, "a", nil))
	b := startNode(t, tlsRegion(t, ca, "b", []string{a.cluster.ml.Addr()}))
	tc := &tcluster{t: t, nodes: map[string]*running{"a": a, "b": b}}
	tc.waitPeers(1)
	if !strings.HasPrefix(a.cluster.url, "https://") {
		t.Fatalf("peer URL %q, want https://", a.cluster.url)
	}

	body := randomBytes(t, 1<<20)
	cl := tc.client("a")
	cl.must(201, "PUT", "/images", nil, nil)
	cl.must(201, "PUT", "/images/obj", nil, bytes.NewReader(body))
	tc.recipeOf("b", "images", "obj") // the synchronous push reached b
	if got, _ := tc.get("b", "/images/obj"); !bytes.Equal(got, body) {
		t.Fatal("object read at b differs")
	}
	if tc.sentFromTo("a", "b") == 0 {
		t.Fatal("no chunk bytes crossed from a to b")
	}

	peerURL := a.cluster.url
	hostport := strings.TrimPrefix(peerURL, "https://")
	if code, body := plainGet("http://" + hostport + "/peer/v1/status"); code/100 == 2 {
		t.Fatalf("plain HTTP to the TLS peer listener: %d %q", code, body)
	}
	other := testpki.New(t, "intruder")
	oc, ok := other.Issue(t, "intruder", "127.0.0.1")
	for _, c := range []struct {
		name string
		tls  *tls.Config
	}{
		{"no client certificate", ca.ClientConfig(t, "", "")},
		{"certificate of another CA", func() *tls.Config {
			cfg := ca.ClientConfig(t, "", "")
			foreign := other.ClientConfig(t, oc, ok).Certificates[0]
			// Present it whatever CAs the server asks for.
			cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &foreign, nil }
			return cfg
		}()},
	} {
		pc, err := peer.NewClient(peer.ClientConfig{Secret: []byte(clusterSecret), Region: "b", Node: "x", TLS: c.tls})
		if err != nil {
			t.Fatal(err)
		}
		var st ClusterStatus
		err = pc.Status(t.Context(), peerURL, &st)
		if err == nil {
			t.Fatalf("%s: status served", c.name)
		}
		t.Logf("%s: %v", c.name, err)
	}
	// The operator commands reach the node with its own config.
	opCfg := a.Config()
	opCfg.Cluster.PeerURL = peerURL // the config's peer_listen has port 0
	pcl, url, err := peerClient(opCfg)
	if err != nil {
		t.Fatal(err)
	}
	var st ClusterStatus
	if err := pcl.Status(t.Context(), url, &st); err != nil || len(st.Members) == 0 {
		t.Fatalf("cluster status over mutual TLS with the operator's peer client: %+v %v", st, err)
	}
}

// TestPeerMalformedRequests: a signed record push with a malformed record
// is a 400 with a short body (an empty key was a 500), and nothing of the
// batch is applied; malformed operator requests are 4xx too.
func TestPeerMalformedRequests(t *testing.T) {
	a := startNode(t, regionConfig(t, "a", nil))
	pc, err := peer.NewClient(peer.ClientConfig{Secret: []byte(clusterSecret), Region: "b", Node: "b-1"})
	if err != nil {
		t.Fatal(err)
	}
	good := peer.WireRecord{Key: namespace.ObjectKey("AUTH_test", "c", "o").Bytes(), Value: []byte(`{"v":1,"ts":1,"region":"b"}`)}
	for _, tc := range []struct {
		name string
		rec  peer.WireRecord
	}{
		{"empty key", peer.WireRecord{Value: good.Value}},
		{"unparsable key", peer.WireRecord{Key: []byte("\xff\xfe"), Value: good.Value}},
		{"value not JSON", peer.WireRecord{Key: good.Key, Value: []byte("{")}},
		{"unknown encoding", peer.WireRecord{Key: good.Key, Value: []byte(`{"v":9,"ts":1,"region":"b"}`)}},
		{"no timestamp", peer.WireRecord{Key: good.Key, Value: []byte(`{"v":1,"region":"b"}`)}},
		{"bad recipe", peer.WireRecord{Key: good.Key, Value: good.Value, Recipe: []byte("junk")}},
	} {
		_, err := pc.PushRecords(t.Context(), a.cluster.url, []peer.WireRecord{tc.rec})
		var se *peer.StatusError
		if !errors.As(err, &se) || se.Code != http.StatusBadRequest || len(se.Detail) > 300 {
			t.Errorf("%s: %v, want 400", tc.name, err)
		}
	}
	if _, err := a.ns.Get(t.Context(), namespace.ObjectKey("AUTH_test", "c", "o")); err == nil {
		t.Fatal("a record of a refused batch was applied")
	}

	// The operator endpoints: bad object names are 4xx.
	for _, tc := range []struct {
		object string
		want   int
	}{
		{"AUTH_test/c", 400},
		{"AUTH_test/c/\x00bad", 400},
		{"AUTH_test/c/absent", 404},
	} {
		var v any
		err := pc.Plan(t.Context(), a.cluster.url, tc.object, &v)
		var se *peer.StatusError
		if !errors.As(err, &se) || se.Code != tc.want {
			t.Errorf("plan %q: %v, want %d", tc.object, err, tc.want)
		}
	}
}
