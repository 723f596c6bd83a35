package e2e

// Reliability campaign item (e): the peer protocol against an attacker on
// the path between two real `nitro serve` regions. Region a serves its
// peer listener over TLS; region b's peer URL points at a capturing proxy
// (the attacker's vantage point: plaintext, as behind a TLS-terminating
// load balancer), through which a pushes its records to b. The captured
// signed pushes are re-sent verbatim (replay), with a forged tombstone as
// the body (tamper), signed with a wrong secret and with the old v1
// scheme; plain HTTP goes to a's TLS peer listener. Every attempt must be
// refused and every object must survive in both regions.
//
// The reduced campaign (go test) runs 2 rounds (one object each); with
// NITRO_RELIABILITY_FULL=1 it runs 20.

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nitro-cloud/nitro/internal/testenv"
	"github.com/nitro-cloud/nitro/internal/testpki"
)

const peerSecret = "e2e-peer-reliability-secret-0123456789"

// peerNodeConfig is a region of the campaign that joins the gossip
// addresses join, with extra cluster keys (lines indented by two spaces).
func peerNodeConfig(region, join, extra string) string {
	return nodeConfig{
		Comment: "e2e peer reliability node", Region: region, Node: region + "-node",
		Cluster: &clusterConfig{Peers: join, Secret: peerSecret, AntiEntropy: "2s", Extra: extra},
	}.template()
}

// capturedReq is one request as the capturing proxy saw it.
type capturedReq struct {
	Method, Path string
	Header       http.Header
	Body         []byte
}

// captureProxy forwards HTTP to a target set after it starts (the region
// behind it gets its port when it starts) and keeps every record push.
type captureProxy struct {
	URL    string
	target atomic.Pointer[url.URL]
	mu     sync.Mutex
	pushes []capturedReq
}

func newCaptureProxy(t *testing.T) *captureProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &captureProxy{URL: "http://" + l.Addr().String()}
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(p.target.Load())
	}, FlushInterval: -1, ErrorLog: log.New(io.Discard, "", 0)}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.target.Load() == nil {
			http.Error(w, "no target yet", http.StatusBadGateway)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if r.Method == http.MethodPost && r.URL.Path == "/peer/v1/records" {
			p.mu.Lock()
			p.pushes = append(p.pushes, capturedReq{r.Method, r.URL.RequestURI(), r.Header.Clone(), body})
			p.mu.Unlock()
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		rp.ServeHTTP(w, r)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return p
}

// pushWith returns the last captured record push with a record whose key
// contains s.
func (p *captureProxy) pushWith(s string) (capturedReq, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.pushes) - 1; i >= 0; i-- {
		dec := json.NewDecoder(bytes.NewReader(p.pushes[i].Body))
		for dec.More() {
			var wr struct {
				K []byte `json:"k"`
			}
			if dec.Decode(&wr) != nil {
				break
			}
			if bytes.Contains(wr.K, []byte(s)) {
				return p.pushes[i], true
			}
		}
	}
	return capturedReq{}, false
}

// send sends method path with header and body to base and returns the
// status, or 0 and the error text when the exchange failed.
func send(c *http.Client, base, method, path string, header http.Header, body []byte) (int, string) {
	req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	if header != nil {
		req.Header = header.Clone()
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// signV2 signs a request the way the peer protocol's v2 does (see
// node/internal/peer/doc.go), with secret; an attacker's own signer.
func signV2(secret, method, path, region string, body []byte) http.Header {
	var nb [16]byte
	rand.Read(nb[:])
	sum := sha256.Sum256(body)
	date, nonce, bsum := strconv.FormatInt(time.Now().Unix(), 10), hex.EncodeToString(nb[:]), hex.EncodeToString(sum[:])
	m := hmac.New(sha256.New, []byte(secret))
	for _, f := range []string{"nitro-peer-v2 request", method, path, date, region, "attacker", nonce, bsum} {
		m.Write([]byte(f + "\n"))
	}
	h := http.Header{}
	h.Set("X-Nitro-Date", date)
	h.Set("X-Nitro-Region", region)
	h.Set("X-Nitro-Node", "attacker")
	h.Set("X-Nitro-Nonce", nonce)
	h.Set("X-Nitro-Content-Sha256", bsum)
	h.Set("Authorization", "Nitro-v2 "+hex.EncodeToString(m.Sum(nil)))
	return h
}

// signV1 signs with the retired v1 scheme (no nonce, no body digest).
func signV1(secret, method, path, region string) http.Header {
	date := strconv.FormatInt(time.Now().Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	for _, f := range []string{method, path, date, region, "attacker"} {
		m.Write([]byte(f + "\n"))
	}
	h := http.Header{}
	h.Set("X-Nitro-Date", date)
	h.Set("X-Nitro-Region", region)
	h.Set("X-Nitro-Node", "attacker")
	h.Set("Authorization", "Nitro "+hex.EncodeToString(m.Sum(nil)))
	return h
}

// forgeTombstones turns every object record of an NDJSON record push into
// a deletion far in the future, as the incident's attacker did.
func forgeTombstones(t *testing.T, push []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	dec := json.NewDecoder(bytes.NewReader(push))
	for dec.More() {
		var wr struct {
			K []byte `json:"k"`
			V []byte `json:"v"`
		}
		if err := dec.Decode(&wr); err != nil {
			t.Fatalf("captured push: %v", err)
		}
		var val map[string]any
		if err := json.Unmarshal(wr.V, &val); err != nil {
			t.Fatalf("captured record value: %v", err)
		}
		ts, _ := val["ts"].(float64)
		val["ts"] = int64(ts) + int64(365*24*time.Hour)
		val["deleted"] = true
		delete(val, "recipe")
		wr.V, _ = json.Marshal(val)
		b, _ := json.Marshal(wr)
		out.Write(append(b, '\n'))
	}
	return out.Bytes()
}

func TestReliabilityPeerAttacks(t *testing.T) {
	testenv.Short(t)
	rounds := 2
	if os.Getenv("NITRO_RELIABILITY_FULL") == "1" {
		rounds = 20
	}
	ca := testpki.New(t, "e2e-peer")
	aCert, aKey := ca.Issue(t, "region-a", "127.0.0.1", "localhost")
	a := startNitro(t, peerNodeConfig("a", "", fmt.Sprintf(
		"  tls_cert_file: %s\n  tls_key_file: %s\n  tls_ca_file: %s\n", aCert, aKey, ca.CertFile)))
	proxy := newCaptureProxy(t)
	b := startNitro(t, peerNodeConfig("b", a.gossipAddr(), fmt.Sprintf(
		"  peer_url: %s\n  tls_ca_file: %s\n", proxy.URL, ca.CertFile)))
	bPeer := fmt.Sprintf("http://127.0.0.1:%d", b.Ports["peer"])
	bu, _ := url.Parse(bPeer)
	proxy.target.Store(bu)
	aPeer := fmt.Sprintf("127.0.0.1:%d", a.Ports["peer"])

	deadline := time.Now().Add(60 * time.Second)
	for a.status(t).alivePeers() != 1 || b.status(t).alivePeers() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the regions did not see each other within 60 s")
		}
		time.Sleep(500 * time.Millisecond)
	}

	plain := &http.Client{Timeout: 30 * time.Second}
	// The test's own v2 signer is right: a harmless request signed with
	// the cluster secret is served, so the refusals below are the
	// server's doing.
	if code, msg := send(plain, bPeer, "GET", "/peer/v1/records/digest", signV2(peerSecret, "GET", "/peer/v1/records/digest", "a", nil), nil); code != 200 {
		t.Fatalf("control: a correctly signed digest request: %d %s", code, msg)
	}
	// Region a's peer listener speaks only TLS, and that works for a
	// client that trusts the CA.
	tc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	if code, msg := send(tc, "https://"+aPeer, "GET", "/peer/v1/records/digest", signV2(peerSecret, "GET", "/peer/v1/records/digest", "b", nil), nil); code != 200 {
		t.Fatalf("control: digest from a over TLS: %d %s", code, msg)
	}

	sa := mustLogin(t, a.URL)
	sb := mustLogin(t, b.URL)
	sa.must(t, 201, "PUT", "/peer-e2e", nil)
	objects := map[string][]byte{}
	for round := range rounds {
		name := fmt.Sprintf("obj-%02d", round)
		body := make([]byte, 256<<10)
		rand.Read(body)
		objects[name] = body
		sa.must(t, 201, "PUT", "/peer-e2e/"+name, body)
		waitUntil(t, 30*time.Second, name+" replicated to b", func() bool {
			return sb.status(t, "HEAD", "/peer-e2e/"+name, nil) == 200
		})
		push, ok := proxy.pushWith(name)
		if !ok {
			t.Fatalf("round %d: no record push naming %s went through the proxy", round, name)
		}
		forged := forgeTombstones(t, push.Body)
		attacks := []struct {
			name   string
			base   string
			client *http.Client
			header http.Header
			body   []byte
		}{
			{"replay verbatim", bPeer, plain, push.Header, push.Body},
			{"forged tombstone body", bPeer, plain, push.Header, forged},
			{"wrong secret", bPeer, plain, signV2("not-the-cluster-secret-0123456789", "POST", push.Path, "a", forged), forged},
			{"v1 scheme", bPeer, plain, signV1(peerSecret, "POST", push.Path, "a"), forged},
		}
		for _, at := range attacks {
			if code, msg := send(at.client, at.base, "POST", push.Path, at.header, at.body); code != http.StatusUnauthorized {
				t.Errorf("round %d: %s: %d %q, want 401", round, at.name, code, msg)
			}
		}
		// Plain HTTP to a's TLS peer listener.
		if code, msg := send(plain, "http://"+aPeer, "POST", push.Path, push.Header, forged); code/100 == 2 {
			t.Errorf("round %d: plain HTTP to the TLS peer listener: %d %q", round, code, msg)
		} else if round == 0 {
			t.Logf("plain HTTP to the TLS peer listener: %d %q", code, msg)
		}
	}

	// Let anti-entropy run a few rounds: nothing forged may surface.
	time.Sleep(5 * time.Second)
	for name, want := range objects {
		for region, s := range map[string]*swiftClient{"a": sa, "b": sb} {
			got := s.must(t, 200, "GET", "/peer-e2e/"+name, nil)
			if !bytes.Equal(got, want) {
				t.Errorf("%s at %s: bytes differ", name, region)
			}
		}
	}
	blog, _ := os.ReadFile(b.Log)
	refused := strings.Count(string(blog), "refused unauthenticated peer request")
	t.Logf("RELIABILITY peer_attacks rounds=%d objects_intact_both_regions=%d refusals_logged=%d", rounds, len(objects), refused)
	if refused < 4*rounds {
		t.Errorf("b logged %d refusals, want at least %d", refused, 4*rounds)
	}
}

func waitUntil(t *testing.T, d time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
