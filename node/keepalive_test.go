package node

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// rawConn is one client TCP connection to the node on which the test
// writes requests byte for byte and parses the responses itself, so that
// it sees the exact framing (what qemu's libcurl sees on its keep-alive
// connections).
type rawConn struct {
	t    *testing.T
	c    net.Conn
	br   *bufio.Reader
	host string
	path string // the object's escaped path
	tok  string
}

func dialRaw(t *testing.T, storageURL, object, token string) *rawConn {
	t.Helper()
	u, err := url.Parse(storageURL + object)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, br: bufio.NewReader(c), host: u.Host, path: u.EscapedPath(), tok: token}
}

// send writes one request with the extra header lines and body.
func (r *rawConn) send(method string, extra []string, body string) {
	r.t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nX-Auth-Token: %s\r\n", method, r.path, r.host, r.tok)
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	if body != "" {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n" + body)
	if _, err := io.WriteString(r.c, b.String()); err != nil {
		r.t.Fatalf("%s: write: %v", method, err)
	}
}

// recv reads one response to method, whose body must be framed by an
// exact Content-Length (never chunked, never delimited by a close), and
// returns it with its body.
func (r *rawConn) recv(method string) (*http.Response, []byte) {
	r.t.Helper()
	r.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(r.br, &http.Request{Method: method})
	if err != nil {
		r.t.Fatalf("%s: reading the response: %v", method, err)
	}
	if len(resp.TransferEncoding) > 0 || (resp.ContentLength < 0 && method != "HEAD" && resp.StatusCode != 304) {
		r.t.Fatalf("%s: %s framed by %v / Content-Length %d, want an exact Content-Length", method, resp.Status, resp.TransferEncoding, resp.ContentLength)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatalf("%s: body: %v", method, err)
	}
	return resp, body
}

// quiet checks that nothing more arrives within d (no stray body bytes)
// and, when closed, that the server then closes the connection.
func (r *rawConn) quiet(d time.Duration, closed bool) {
	r.t.Helper()
	r.c.SetReadDeadline(time.Now().Add(d))
	var one [1]byte
	n, err := r.br.Read(one[:])
	var ne net.Error
	switch {
	case n > 0:
		r.t.Fatalf("stray byte %q after the response", one[0])
	case closed && err != io.EOF:
		r.t.Fatalf("after Connection: close: %v, want EOF (the server closes)", err)
	case !closed && !(errors.As(err, &ne) && ne.Timeout()):
		r.t.Fatalf("keep-alive connection: %v, want it open", err)
	}
}

// TestKeepAliveRangeFraming drives the Range requests a network block
// device (qemu's curl driver) sends over raw keep-alive connections and
// checks every response's framing, including idle pauses longer than
// swift.read_header_timeout (the connection must survive them), past
// swift.idle_timeout (the server closes only between responses, with a
// clean FIN), Connection: close, pipelining, HEAD, 304, 416, and a GET
// that carries a body.
func TestKeepAliveRangeFraming(t *testing.T) {
	cfg := testConfig(t)
	cfg.Swift.ReadHeaderTimeout = 500 * time.Millisecond
	cfg.Swift.IdleTimeout = 3 * time.Second
	r := startNode(t, cfg)
	c := login(t, r.base(), "test:tester", "testing")
	c.must(201, "PUT", "/ka", nil, nil)
	const size = 3<<20 + 123
	data := randomBytes(t, size)
	resp, _ := c.must(201, "PUT", "/ka/disk", nil, bytes.NewReader(data))
	etag := resp.Header.Get("Etag")

	type step struct {
		name   string
		method string
		hdr    []string
		body   string
		status int
		lo, hi int64 // expected body: data[lo:hi]
		cr     string
		pause  time.Duration // before the request
	}
	rng := func(a, b int64) string { return fmt.Sprintf("Range: bytes=%d-%d", a, b) }
	steps := []step{
		{name: "first 64 KiB", method: "GET", hdr: []string{rng(0, 65535)}, status: 206, lo: 0, hi: 65536, cr: fmt.Sprintf("bytes 0-65535/%d", size)},
		{name: "middle 4 KiB", method: "GET", hdr: []string{rng(1<<20+7, 1<<20+7+4095)}, status: 206, lo: 1<<20 + 7, hi: 1<<20 + 7 + 4096},
		{name: "end beyond size", method: "GET", hdr: []string{rng(size-100, size+5000)}, status: 206, lo: size - 100, hi: size, cr: fmt.Sprintf("bytes %d-%d/%d", size-100, size-1, size)},
		{name: "suffix", method: "GET", hdr: []string{"Range: bytes=-300"}, status: 206, lo: size - 300, hi: size},
		{name: "open end", method: "GET", hdr: []string{fmt.Sprintf("Range: bytes=%d-", size-10)}, status: 206, lo: size - 10, hi: size},
		{name: "HEAD with Range: a plain HEAD, as Swift's", method: "HEAD", hdr: []string{rng(0, 99)}, status: 200},
		{name: "unsatisfiable", method: "GET", hdr: []string{fmt.Sprintf("Range: bytes=%d-", size)}, status: 416, cr: fmt.Sprintf("bytes */%d", size), lo: -1},
		{name: "304", method: "GET", hdr: []string{rng(0, 99), "If-None-Match: " + etag}, status: 304},
		{name: "two ranges: multipart/byteranges", method: "GET", hdr: []string{"Range: bytes=0-0,5-9"}, status: 206, lo: -1},
		{name: "GET with a body", method: "GET", hdr: []string{rng(10, 19)}, body: "ignored body", status: 206, lo: 10, hi: 20},
		{name: "after a pause past read_header_timeout", method: "GET", hdr: []string{rng(5000, 70535)}, status: 206, lo: 5000, hi: 70536, pause: time.Second},
		{name: "again after a pause", method: "GET", hdr: []string{rng(2<<20, 2<<20+65535)}, status: 206, lo: 2 << 20, hi: 2<<20 + 65536, pause: time.Second},
	}
	check := func(st step, resp *http.Response, body []byte) {
		t.Helper()
		if resp.StatusCode != st.status {
			t.Fatalf("%s: %s, want %d: %.200s", st.name, resp.Status, st.status, body)
		}
		if st.cr != "" && resp.Header.Get("Content-Range") != st.cr {
			t.Fatalf("%s: Content-Range %q, want %q", st.name, resp.Header.Get("Content-Range"), st.cr)
		}
		switch {
		case st.method == "HEAD" || st.status == 304:
			if len(body) != 0 {
				t.Fatalf("%s: %d body bytes", st.name, len(body))
			}
		case st.lo >= 0:
			if int64(len(body)) != st.hi-st.lo || !bytes.Equal(body, data[st.lo:st.hi]) || resp.ContentLength != st.hi-st.lo {
				t.Fatalf("%s: %d bytes (Content-Length %d), want data[%d:%d]", st.name, len(body), resp.ContentLength, st.lo, st.hi)
			}
		}
		if st.method == "HEAD" && resp.ContentLength != size {
			t.Fatalf("%s: Content-Length %d, want %d", st.name, resp.ContentLength, size)
		}
	}

	rc := dialRaw(t, c.storageURL, "/ka/disk", c.token)
	for _, st := range steps {
		time.Sleep(st.pause)
		rc.send(st.method, st.hdr, st.body)
		resp, body := rc.recv(st.method)
		check(st, resp, body)
		if resp.Close {
			t.Fatalf("%s: the server asks to close a keep-alive connection", st.name)
		}
	}
	rc.quiet(200*time.Millisecond, false)

	// Pipelined: three requests written at once, answered in order.
	for _, i := range []int{0, 1, 2} {
		rc.send(steps[i].method, steps[i].hdr, "")
	}
	for _, i := range []int{0, 1, 2} {
		resp, body := rc.recv(steps[i].method)
		check(steps[i], resp, body)
	}

	// Idle past idle_timeout: the server closes the connection cleanly
	// (EOF, no partial response); a new connection carries on.
	rc.quiet(cfg.Swift.IdleTimeout+2*time.Second, true)
	rc = dialRaw(t, c.storageURL, "/ka/disk", c.token)

	// Connection: close: the response says so and the server closes
	// right after the body.
	rc.send("GET", []string{rng(100, 199), "Connection: close"}, "")
	resp, body := rc.recv("GET")
	check(step{name: "Connection: close", method: "GET", status: 206, lo: 100, hi: 200}, resp, body)
	if !resp.Close {
		t.Fatal("Connection: close: the response does not say Connection: close")
	}
	rc.quiet(5*time.Second, true)

	// HTTP/1.0 without keep-alive: closed after the response too.
	rc = dialRaw(t, c.storageURL, "/ka/disk", c.token)
	fmt.Fprintf(rc.c, "GET %s HTTP/1.0\r\nHost: %s\r\nX-Auth-Token: %s\r\nRange: bytes=0-9\r\n\r\n", rc.path, rc.host, rc.tok)
	resp, body = rc.recv("GET")
	check(step{name: "HTTP/1.0", method: "GET", status: 206, lo: 0, hi: 10}, resp, body)
	rc.quiet(5*time.Second, true)
}

// TestKeepAliveManyRanges sends many sequential Range GETs on one raw
// connection (NITRO_KEEPALIVE_REQUESTS, default 500) with the sizes a
// block device asks for, and checks every response's framing and bytes.
func TestKeepAliveManyRanges(t *testing.T) {
	n := 500
	if v := os.Getenv("NITRO_KEEPALIVE_REQUESTS"); v != "" {
		fmt.Sscan(v, &n)
	}
	r := startNode(t, testConfig(t))
	c := login(t, r.base(), "test:tester", "testing")
	c.must(201, "PUT", "/ka", nil, nil)
	const size = 8 << 20
	data := randomBytes(t, size)
	c.must(201, "PUT", "/ka/disk", nil, bytes.NewReader(data))
	rc := dialRaw(t, c.storageURL, "/ka/disk", c.token)
	lens := []int64{512, 4096, 65536, 131072, 2 << 20}
	seed := uint64(15)
	for i := range n {
		seed = seed*6364136223846793005 + 1442695040888963407
		l := lens[i%len(lens)]
		off := int64(seed>>20) % (size - l + 1)
		if i%7 == 0 {
			off &^= 511 // sector-aligned, as a block device mostly is
		}
		rc.send("GET", []string{fmt.Sprintf("Range: bytes=%d-%d", off, off+l-1)}, "")
		resp, body := rc.recv("GET")
		if resp.StatusCode != 206 || int64(len(body)) != l || !bytes.Equal(body, data[off:off+l]) {
			t.Fatalf("request %d [%d,+%d): %s, %d bytes", i, off, l, resp.Status, len(body))
		}
	}
	rc.quiet(200*time.Millisecond, false)
}

// TestDisableKeepAlive: with swift.disable_keep_alive every response says
// Connection: close, is framed by its Content-Length, and the server
// closes the connection after it.
func TestDisableKeepAlive(t *testing.T) {
	cfg := testConfig(t)
	cfg.Swift.DisableKeepAlive = true
	r := startNode(t, cfg)
	c := login(t, r.base(), "test:tester", "testing")
	c.must(201, "PUT", "/ka", nil, nil)
	data := randomBytes(t, 200<<10)
	c.must(201, "PUT", "/ka/disk", nil, bytes.NewReader(data))
	for _, method := range []string{"GET", "HEAD"} {
		rc := dialRaw(t, c.storageURL, "/ka/disk", c.token)
		rc.send(method, []string{"Range: bytes=1000-70535"}, "")
		resp, body := rc.recv(method)
		status, length := 206, int64(69536)
		if method == "HEAD" { // Swift answers a HEAD with Range as a plain HEAD
			status, length = 200, int64(len(data))
		}
		if resp.StatusCode != status || resp.ContentLength != length || !resp.Close {
			t.Fatalf("%s: %s, Content-Length %d, Close %v", method, resp.Status, resp.ContentLength, resp.Close)
		}
		if method == "GET" && !bytes.Equal(body, data[1000:70536]) {
			t.Fatalf("GET: wrong bytes")
		}
		rc.quiet(5*time.Second, true)
	}
}
