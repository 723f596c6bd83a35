package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// TestSwiftDiffWire: what issue 11 item 6 asks of the connection itself,
// below net/http's client (which always speaks HTTP/1.1 and sends a body
// at once): an HTTP/1.0 client's "Connection: keep-alive" is honoured
// (the answer says keep-alive and a second request on the connection is
// served), and "Expect: 100-continue" gets its interim 100 before the
// client sends the body, but not when the request is refused unread.
func TestSwiftDiffWire(t *testing.T) { runWire(t, wireCases) }

var wireCases = []wireCase{
	{
		Name:  "http/1.0 keep-alive honoured",
		Setup: withObj(),
		Probe: onWire(func(w *wire, names *strings.Replacer) ([]string, error) {
			var saw []string
			for i := range 2 {
				if err := w.send("GET", names.Replace("/{c}/o"), "HTTP/1.0", map[string]string{"Connection": "keep-alive"}); err != nil {
					return append(saw, fmt.Sprintf("request %d: write failed", i+1)), nil
				}
				resp, err := w.read("GET")
				if err != nil {
					return append(saw, fmt.Sprintf("request %d: no answer (%s)", i+1, errKind(err))), nil
				}
				saw = append(saw, fmt.Sprintf("request %d: %d Connection=%q Content-Length=%s", i+1, resp.StatusCode,
					strings.ToLower(resp.Header.Get("Connection")), resp.Header.Get("Content-Length")))
			}
			return saw, nil
		}),
	},
	{
		Name:  "http/1.0 without keep-alive closes",
		Setup: withObj(),
		Probe: onWire(func(w *wire, names *strings.Replacer) ([]string, error) {
			if err := w.send("GET", names.Replace("/{c}/o"), "HTTP/1.0", nil); err != nil {
				return nil, err
			}
			resp, err := w.read("GET")
			if err != nil {
				return nil, err
			}
			// The server must close: the next read ends (EOF), no more bytes.
			_, eof := w.br.ReadByte()
			return []string{fmt.Sprintf("%d", resp.StatusCode), "then: " + errKind(eof)}, nil
		}),
	},
	{
		Name:  "expect 100-continue",
		Setup: withObj(),
		Probe: onWire(func(w *wire, names *strings.Replacer) ([]string, error) {
			body := "expected body"
			if err := w.send("PUT", names.Replace("/{c}/e"), "HTTP/1.1", map[string]string{
				"Expect": "100-continue", "Content-Length": fmt.Sprint(len(body)), "Content-Type": "text/plain"}); err != nil {
				return nil, err
			}
			saw := []string{"interim: " + w.interim(10*time.Second)}
			if _, err := io.WriteString(w.conn, body); err != nil {
				return nil, err
			}
			resp, err := w.read("PUT")
			if err != nil {
				return nil, err
			}
			saw = append(saw, fmt.Sprintf("final: %d Etag=%s", resp.StatusCode, resp.Header.Get("Etag")))
			// The connection serves the next request.
			if err := w.send("GET", names.Replace("/{c}/e"), "HTTP/1.1", nil); err != nil {
				return nil, err
			}
			if resp, err = w.read("GET"); err != nil {
				return append(saw, "next: "+errKind(err)), nil
			}
			b, _ := io.ReadAll(resp.Body)
			return append(saw, fmt.Sprintf("next: %d %q", resp.StatusCode, b)), nil
		}),
	},
	{
		Name:  "expect 100-continue refused unread",
		Setup: withObj(),
		Probe: onWire(func(w *wire, names *strings.Replacer) ([]string, error) {
			w.token = "AUTH_tk00000000000000000000000000000000"
			if err := w.send("PUT", names.Replace("/{c}/e"), "HTTP/1.1", map[string]string{
				"Expect": "100-continue", "Content-Length": "4"}); err != nil {
				return nil, err
			}
			resp, err := w.read("PUT")
			if err != nil {
				return nil, err
			}
			// No "100 Continue" came first (w.read would have skipped it:
			// http.ReadResponse returns interim answers, checked here).
			return []string{fmt.Sprintf("final: %d", resp.StatusCode)}, nil
		}),
	},
}

// onWire makes a case's probe of f over a fresh raw connection to the
// system, closed when f returns.
func onWire(f func(w *wire, names *strings.Replacer) ([]string, error)) func(*diffSystem, *strings.Replacer) ([]string, error) {
	return func(sys *diffSystem, names *strings.Replacer) ([]string, error) {
		w, err := dialWire(sys)
		if err != nil {
			return nil, err
		}
		defer w.conn.Close()
		return f(w, names)
	}
}

// wire is one raw HTTP connection to a system, as its user tester.
type wire struct {
	conn        net.Conn
	br          *bufio.Reader
	host, token string
	path        string // the account's path, "/v1/AUTH_test"
}

func dialWire(sys *diffSystem) (*wire, error) {
	u := sys.users["tester"]
	host := strings.TrimPrefix(sys.Base, "http://")
	conn, err := net.DialTimeout("tcp", host, 10*time.Second)
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	return &wire{conn: conn, br: bufio.NewReader(conn), host: host, token: u.token, path: strings.TrimPrefix(u.storage, sys.Base)}, nil
}

// send writes a request line and headers (no body) for path under the
// account.
func (w *wire) send(method, path, proto string, hdr map[string]string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s%s %s\r\nHost: %s\r\nX-Auth-Token: %s\r\n", method, w.path, path, proto, w.host, w.token)
	for k, v := range hdr {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	b.WriteString("\r\n")
	_, err := io.WriteString(w.conn, b.String())
	return err
}

// read reads a final response (its body too); an interim 1xx answer is
// an error.
func (w *wire) read(method string) (*http.Response, error) {
	resp, err := http.ReadResponse(w.br, &http.Request{Method: method})
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 == 1 {
		return nil, fmt.Errorf("unexpected interim %d", resp.StatusCode)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body = io.NopCloser(strings.NewReader(string(b)))
	return resp, err
}

// interim waits up to d for an interim answer and returns its status
// ("100"), or "none" if nothing came.
func (w *wire) interim(d time.Duration) string {
	w.conn.SetReadDeadline(time.Now().Add(d))
	defer w.conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	resp, err := http.ReadResponse(w.br, &http.Request{Method: "PUT"})
	if err != nil {
		return "none (" + errKind(err) + ")"
	}
	return fmt.Sprint(resp.StatusCode)
}

// errKind names an error the same way for both systems: EOF, timeout or
// other.
func errKind(err error) string {
	var ne net.Error
	switch {
	case err == nil:
		return "more bytes"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "EOF"
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	return "error"
}
