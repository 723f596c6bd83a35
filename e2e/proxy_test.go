package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// exchange is one request through the recorder and its answer.
type exchange struct {
	Start    time.Duration // since the recorder started
	Elapsed  time.Duration // until the response body was written
	Method   string
	Path     string // path and query as sent
	ReqHdr   http.Header
	Chunked  bool  // request had Transfer-Encoding: chunked
	ReqLen   int64 // request Content-Length, -1 if unknown
	ReqBytes int64 // request body bytes actually read
	Status   int
	RespHdr  http.Header
	RespLen  int64 // response body bytes written
}

// recorder is a reverse proxy that records what a client (Glance) sends to
// a Swift-compatible server and how it answers. X-Storage-Url in auth
// answers is rewritten to point back at the recorder, so everything after
// authentication goes through it too.
type recorder struct {
	URL    string // http://127.0.0.1:PORT, what the client is given
	target *url.URL
	t0     time.Time
	srv    *http.Server

	mu  sync.Mutex
	log []exchange
}

// newRecorder starts a recorder in front of target (http://host:port) on a
// free loopback port; it is closed when t ends.
func newRecorder(t testing.TB, target string) *recorder {
	t.Helper()
	return newRecorderOn(t, "127.0.0.1:0", target)
}

// newRecorderOn is newRecorder listening on addr (host:port), e.g. the
// address a Keystone catalog endpoint names.
func newRecorderOn(t testing.TB, addr, target string) *recorder {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{URL: "http://" + l.Addr().String(), target: u, t0: time.Now()}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Host = pr.In.Host // the server sees the recorder's address
		},
		ModifyResponse: func(resp *http.Response) error {
			if su := resp.Header.Get("X-Storage-Url"); su != "" {
				resp.Header.Set("X-Storage-Url", strings.Replace(su, u.Host, strings.TrimPrefix(r.URL, "http://"), 1))
			}
			return nil
		},
		FlushInterval: -1,
		ErrorLog:      nil,
	}
	r.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		e := exchange{
			Start:  time.Since(r.t0),
			Method: req.Method,
			Path:   req.URL.RequestURI(),
			ReqHdr: req.Header.Clone(),
			ReqLen: req.ContentLength,
		}
		for _, te := range req.TransferEncoding {
			if te == "chunked" {
				e.Chunked = true
			}
		}
		cb := &countingBody{rc: req.Body}
		req.Body = cb
		cw := &countingWriter{ResponseWriter: w}
		rp.ServeHTTP(cw, req)
		e.Elapsed = time.Since(r.t0) - e.Start
		e.ReqBytes = cb.n.Load()
		e.Status = cw.status
		e.RespHdr = w.Header().Clone()
		e.RespLen = cw.n
		r.mu.Lock()
		r.log = append(r.log, e)
		r.mu.Unlock()
	})}
	go r.srv.Serve(l)
	t.Cleanup(func() { r.srv.Close() })
	return r
}

// Mark returns the number of exchanges so far; since(mark) returns those
// after it.
func (r *recorder) Mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.log)
}

func (r *recorder) Since(mark int) []exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]exchange(nil), r.log[mark:]...)
}

// All returns every exchange so far.
func (r *recorder) All() []exchange { return r.Since(0) }

type countingBody struct {
	rc io.ReadCloser
	n  atomic.Int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.rc.Read(p)
	c.n.Add(int64(n))
	return n, err
}
func (c *countingBody) Close() error { return c.rc.Close() }

type countingWriter struct {
	http.ResponseWriter
	status int
	n      int64
}

func (w *countingWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}

func (w *countingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// format renders an exchange as one trace line: time, method, path, the
// request headers that matter to Swift semantics, → status and the answer
// headers that matter.
func (e exchange) format(ids *idNames) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%7.2fs %-6s %s", e.Start.Seconds(), e.Method, ids.replace(e.Path))
	var req []string
	if e.Chunked {
		req = append(req, "TE:chunked")
	} else if e.ReqLen > 0 || (e.ReqLen == 0 && e.Method == http.MethodPut) {
		req = append(req, fmt.Sprintf("CL:%d", e.ReqLen))
	}
	if e.ReqBytes > 0 && (e.Chunked || e.ReqBytes != e.ReqLen) {
		req = append(req, fmt.Sprintf("body:%d", e.ReqBytes))
	}
	for _, h := range []string{"X-Auth-User", "X-Object-Manifest", "Range", "Etag", "Content-Type"} {
		if v := e.ReqHdr.Get(h); v != "" {
			req = append(req, h+":"+ids.replace(v))
		}
	}
	if len(req) > 0 {
		fmt.Fprintf(&b, " [%s]", strings.Join(req, " "))
	}
	fmt.Fprintf(&b, " -> %d", e.Status)
	var resp []string
	for _, h := range []string{"Etag", "X-Object-Manifest", "X-Static-Large-Object", "X-Storage-Url"} {
		if v := e.RespHdr.Get(h); v != "" {
			resp = append(resp, h+":"+ids.replace(v))
		}
	}
	if e.RespLen > 0 {
		resp = append(resp, fmt.Sprintf("body:%d", e.RespLen))
	}
	if len(resp) > 0 {
		fmt.Fprintf(&b, " [%s]", strings.Join(resp, " "))
	}
	fmt.Fprintf(&b, " (%.2fs)", e.Elapsed.Seconds())
	return b.String()
}

// idNames replaces image UUIDs with short names (<img1>, <img2>) in
// traces.
type idNames struct {
	mu    sync.Mutex
	names map[string]string
}

var uuidRE = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

func (n *idNames) set(id, name string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.names == nil {
		n.names = map[string]string{}
	}
	n.names[id] = name
}

func (n *idNames) replace(s string) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return uuidRE.ReplaceAllStringFunc(s, func(id string) string {
		if name, ok := n.names[id]; ok {
			return name
		}
		return id
	})
}

// writeTrace writes exchanges as trace lines to path, and returns them.
func writeTrace(t testing.TB, path string, xs []exchange, ids *idNames) []string {
	t.Helper()
	lines := make([]string, len(xs))
	for i, e := range xs {
		lines[i] = e.format(ids)
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return lines
}

// summarize collapses runs of similar lines (segment PUTs, segment
// DELETEs) for t.Log: the first two and the last of a run of more than
// four lines with the same method and path shape.
func summarize(lines []string) string {
	shape := regexp.MustCompile(`-\d{5}\b.*`)
	key := func(l string) string {
		f := strings.Fields(l)
		if len(f) < 3 {
			return l
		}
		return f[1] + " " + shape.ReplaceAllString(f[2], "-NNNNN")
	}
	var out []string
	for i := 0; i < len(lines); {
		j := i
		for j < len(lines) && key(lines[j]) == key(lines[i]) {
			j++
		}
		if j-i > 4 && strings.Contains(key(lines[i]), "-NNNNN") {
			out = append(out, lines[i], lines[i+1], fmt.Sprintf("          ... %d more like these ...", j-i-3), lines[j-1])
		} else {
			out = append(out, lines[i:j]...)
		}
		i = j
	}
	return strings.Join(out, "\n")
}
