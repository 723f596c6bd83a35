package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// stalledPUT opens a connection to addr, sends an object PUT's headers and
// the first sent bytes of its body (declared 4×sent long, or chunked), and
// then sends nothing more. The caller closes the connection.
func stalledPUT(t testing.TB, addr, path, token string, chunked bool, sent int) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "PUT %s HTTP/1.1\r\nHost: %s\r\nX-Auth-Token: %s\r\n", path, addr, token)
	if chunked {
		fmt.Fprintf(&b, "Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n", sent, strings.Repeat("s", sent))
	} else {
		fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", 4*sent, strings.Repeat("s", sent))
	}
	if _, err := io.WriteString(c, b.String()); err != nil {
		c.Close()
		t.Fatal(err)
	}
	return c
}

// stalledResponse reads the response to a stalled request within wait and
// then requires the server to close the connection; it returns the status
// code and body.
func stalledResponse(t testing.TB, c net.Conn, wait time.Duration) (int, string) {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(wait)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no response to a stalled PUT within %v: %v", wait, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("response body: %v", err)
	}
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("connection still open after %d (read: %v)", resp.StatusCode, err)
	}
	return resp.StatusCode, string(body)
}

// TestStalledUploadGets408 is issue 9 item 4: a PUT whose body stops
// arriving gets Swift's 408 after client_timeout, with the connection
// closed and nothing committed, whether its length is declared or chunked.
func TestStalledUploadGets408(t *testing.T) {
	cfg := testConfig(t)
	cfg.Swift.ClientTimeout = time.Second
	n := startNode(t, cfg)
	c := login(t, n.base(), "test:tester", "testing")
	c.must(201, "PUT", "/c", nil, nil)
	prefix := strings.TrimPrefix(c.storageURL, n.base())
	for _, chunked := range []bool{false, true} {
		name := fmt.Sprintf("chunked=%v", chunked)
		start := time.Now()
		conn := stalledPUT(t, n.SwiftAddr(), prefix+"/c/"+name, c.token, chunked, 300<<10)
		code, body := stalledResponse(t, conn, 60*time.Second)
		conn.Close()
		if code != http.StatusRequestTimeout || !strings.Contains(body, "Request Timeout") {
			t.Errorf("%s: %d %q, want 408 Request Timeout", name, code, body)
		}
		if d := time.Since(start); d < 800*time.Millisecond {
			t.Errorf("%s: 408 after %v, before client_timeout", name, d)
		}
		c.must(404, "HEAD", "/c/"+name, nil, nil)
	}
	if _, b := c.must(http.StatusNoContent, "GET", "/c", nil, nil); len(b) != 0 {
		t.Errorf("listing after stalled PUTs: %q", b)
	}
	st, err := n.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Recipes != 0 || st.ObjectsPut != 0 || st.PutsAborted < 2 {
		t.Errorf("stats after stalled PUTs: recipes %d, objects put %d, aborted %d", st.Recipes, st.ObjectsPut, st.PutsAborted)
	}
	// The node still serves.
	data := randomBytes(t, 1<<20)
	c.must(201, "PUT", "/c/ok", nil, strings.NewReader(string(data)))
}

// TestStalledUploadsHoldSlots: stalled uploads hold upload slots
// (swift.max_uploads) only until client_timeout; a PUT beyond the limit
// waits for a slot and succeeds, and one that cannot get a slot within
// swift.upload_wait gets 503 with Retry-After.
func TestStalledUploadsHoldSlots(t *testing.T) {
	cases := []struct {
		name          string
		clientTimeout time.Duration
		uploadWait    time.Duration
		want          int
	}{
		{"waits for a slot", time.Second, time.Minute, http.StatusCreated},
		{"503 after upload_wait", time.Minute, 500 * time.Millisecond, http.StatusServiceUnavailable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.Swift.ClientTimeout = tc.clientTimeout
			cfg.Swift.MaxUploads = 4
			cfg.Swift.UploadWait = tc.uploadWait
			n := startNode(t, cfg)
			c := login(t, n.base(), "test:tester", "testing")
			c.must(201, "PUT", "/c", nil, nil)
			prefix := strings.TrimPrefix(c.storageURL, n.base())
			var conns []net.Conn
			for i := range 12 {
				conns = append(conns, stalledPUT(t, n.SwiftAddr(), fmt.Sprintf("%s/c/stalled-%d", prefix, i), c.token, i%2 == 1, 64<<10))
			}
			defer func() {
				for _, conn := range conns {
					conn.Close()
				}
			}()
			time.Sleep(200 * time.Millisecond) // let them take the slots
			resp, b := c.do("PUT", "/c/normal", nil, strings.NewReader("hello"))
			if resp.StatusCode != tc.want {
				t.Fatalf("normal PUT: %s %q, want %d", resp.Status, b, tc.want)
			}
			if tc.want == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
				t.Errorf("503 without Retry-After")
			}
		})
	}
}
