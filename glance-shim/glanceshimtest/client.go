// Package glanceshimtest is the conformance suite of Nitro's Swift API:
// client-facing table tests that every server exposing the glance-shim
// front end must pass, whatever its Backend (restic's "backend test
// suite every backend must pass"). The glanceshim package runs it over an
// in-memory test double; the node runs it over the real store.
//
// The suite talks HTTP only (net/http and raw TCP for the malformed
// requests), so it imports nothing of the server.
package glanceshimtest

import (
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// client is a minimal Swift client over net/http that keeps paths as
// written (no cleaning, "%2F" preserved).
type client struct {
	t       testing.TB
	base    string // http://host:port
	storage string // X-Storage-Url
	token   string
	hc      *http.Client
}

// response is a fully read response.
type response struct {
	*http.Response
	body []byte
}

func newClient(t testing.TB, base, user, key string) *client {
	t.Helper()
	c := &client{t: t, base: strings.TrimSuffix(base, "/"), hc: &http.Client{
		Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
	r := c.raw("GET", c.base+"/auth/v1.0", map[string]string{"X-Auth-User": user, "X-Auth-Key": key}, nil)
	if r.StatusCode != 200 {
		t.Fatalf("auth as %s: %d %s", user, r.StatusCode, r.body)
	}
	c.token = r.Header.Get("X-Auth-Token")
	c.storage = r.Header.Get("X-Storage-Url")
	if c.token == "" || c.storage == "" {
		t.Fatalf("auth: no token or storage url: %v", r.Header)
	}
	return c
}

// raw sends a request to an absolute URL with exactly the given headers.
func (c *client) raw(method, url string, hdr map[string]string, body []byte) *response {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, url, err)
	}
	for k, v := range hdr {
		if k == "Transfer-Encoding" && v == "chunked" {
			req.ContentLength = -1
			req.Body = io.NopCloser(bytes.NewReader(body))
			continue
		}
		if k == "Content-Length" {
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return &response{Response: resp, body: b}
}

// do sends an authenticated request to storage URL + path (path escaped
// as it must go on the wire, starting with '/' or empty).
func (c *client) do(method, path string, hdr map[string]string, body []byte) *response {
	c.t.Helper()
	h := map[string]string{"X-Auth-Token": c.token}
	for k, v := range hdr {
		h[k] = v
	}
	return c.raw(method, c.storage+path, h, body)
}

// want fails the test unless r has status.
func want(t testing.TB, r *response, status int, what string) {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("%s: %s %s: got %d, want %d; body %q", what, r.Request.Method, r.Request.URL.EscapedPath(), r.StatusCode, status, truncate(r.body))
	}
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}

// uniq returns a name unique to this run: prefix + random hex.
func uniq(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func md5hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// mkContainer creates a fresh container and removes it (and its objects)
// when the test ends.
func (c *client) mkContainer(t testing.TB, prefix string) string {
	t.Helper()
	name := uniq(prefix)
	want(t, c.do("PUT", "/"+escape(name), nil, nil), 201, "create container")
	t.Cleanup(func() { c.purge(name) })
	return name
}

// purge deletes every object of container and the container.
func (c *client) purge(container string) {
	for i := 0; i < 100; i++ {
		r := c.do("GET", "/"+escape(container)+"?format=plain", nil, nil)
		if r.StatusCode != 200 {
			break
		}
		for _, n := range strings.Split(strings.TrimSpace(string(r.body)), "\n") {
			if n != "" {
				c.do("DELETE", "/"+escape(container)+"/"+escape(n), nil, nil)
			}
		}
	}
	c.do("DELETE", "/"+escape(container), nil, nil)
}

// escape percent-encodes an object name for a URL path, keeping '/'.
func escape(s string) string {
	const hexd = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' ||
			strings.IndexByte("-_.~/", ch) >= 0 {
			b.WriteByte(ch)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexd[ch>>4])
		b.WriteByte(hexd[ch&15])
	}
	return b.String()
}
