package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/pprof"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore"
	"github.com/nitro-cloud/nitro/node/internal/namespace"
)

// The ops listener (cfg.OpsListen) serves the operator's endpoints, without
// authentication, so it must stay on a host-local address:
//
//	GET  /healthz          200 "OK" while the store answers, else 503
//	GET  /metrics          Prometheus text format (see writeMetrics)
//	GET  /stats            JSON Stats
//	POST /gc[?grace=DUR]   run a GC now (grace a Go duration, default
//	                       gc.grace); JSON GCResult; 400 if grace is
//	                       below 2×store.touch_after
//	GET  /debug/pprof/...  net/http/pprof's profiles (heap, goroutine,
//	                       profile?seconds=N, trace, ...)
func (n *Node) opsHandler() http.Handler {
	mux := http.NewServeMux()
	// Registered here, not on http.DefaultServeMux (importing
	// net/http/pprof also registers there, which nothing serves).
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if _, err := n.ns.Get(r.Context(), healthKey); err != nil && !isNotFound(err) {
			http.Error(w, "store: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "OK")
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		st, err := n.Stats(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		n.writeMetrics(w, st)
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		st, err := n.Stats(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, http.StatusOK, st)
	})
	mux.HandleFunc("POST /gc", func(w http.ResponseWriter, r *http.Request) {
		var grace time.Duration
		if s := r.URL.Query().Get("grace"); s != "" {
			d, err := time.ParseDuration(s)
			if err != nil || d <= 0 {
				http.Error(w, fmt.Sprintf("grace %q: want a positive Go duration", s), http.StatusBadRequest)
				return
			}
			grace = d
		}
		res, err := n.GC(r.Context(), grace)
		switch {
		case errors.Is(err, chunkstore.ErrGrace):
			http.Error(w, err.Error(), http.StatusBadRequest)
		case err != nil:
			http.Error(w, err.Error(), http.StatusInternalServerError)
		default:
			writeJSON(w, http.StatusOK, res)
		}
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// Stats is a snapshot of the node's store and counters, as GET /stats
// returns it.
type Stats struct {
	// Chunks, StoredBytes and Recipes are what the store holds
	// (chunkstore.Stats): StoredBytes is the compressed size of the chunks
	// in bytes, the number that shrinks when GC frees chunks.
	Chunks      int64 `json:"chunks"`
	StoredBytes int64 `json:"stored_bytes"`
	Recipes     int64 `json:"recipes"`
	// DiskBytes is the size of the data dir's files in bytes (includes
	// Badger's not yet collected garbage).
	DiskBytes int64 `json:"disk_bytes"`
	// Counters of the object service since the node started.
	BytesIn     int64 `json:"bytes_in"`
	BytesOut    int64 `json:"bytes_out"`
	ObjectsPut  int64 `json:"objects_put"`
	ChunkRefs   int64 `json:"chunk_refs_written"`
	PutsAborted int64 `json:"puts_aborted"`
	Deletes     int64 `json:"objects_deleted"`
	// LastGC is the last successful collection (zero: none yet).
	LastGC GCResult `json:"last_gc"`
}

// Stats returns a snapshot of the store's size and the node's counters.
// Cost: a key-only scan of the chunks and recipes and a walk of the data
// dir.
func (n *Node) Stats(ctx context.Context) (Stats, error) {
	cs, err := n.store.Stats(ctx)
	if err != nil {
		return Stats{}, err
	}
	m := n.svc.Metrics()
	st := Stats{
		Chunks: cs.Chunks, StoredBytes: cs.StoredBytes, Recipes: cs.Recipes,
		DiskBytes: dirSize(n.cfg.DataDir),
		BytesIn:   m.BytesIn.Load(), BytesOut: m.BytesOut.Load(), ObjectsPut: m.ObjectsPut.Load(),
		ChunkRefs: m.ChunkRefs.Load(), PutsAborted: m.PutsAborted.Load(), Deletes: m.Deletes.Load(),
	}
	n.gcMu.Lock()
	st.LastGC = n.lastGC
	n.gcMu.Unlock()
	return st, nil
}

func dirSize(dir string) int64 {
	var total int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				total += fi.Size()
			}
		}
		return nil
	})
	return total
}

// writeMetrics writes the Prometheus text exposition format by hand.
func (n *Node) writeMetrics(w http.ResponseWriter, st Stats) {
	metric := func(name, typ, help string, v int64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s %d\n", name, help, name, typ, name, v)
	}
	fmt.Fprintf(w, "# HELP nitro_http_requests_total Swift API requests by method and status code.\n# TYPE nitro_http_requests_total counter\n")
	for _, c := range n.reqs.snapshot() {
		fmt.Fprintf(w, "nitro_http_requests_total{method=%q,code=\"%d\"} %d\n", c.method, c.code, c.n)
	}
	m := n.svc.Metrics()
	metric("nitro_object_bytes_in_total", "counter", "Object body bytes stored by committed PUTs.", st.BytesIn)
	metric("nitro_object_bytes_out_total", "counter", "Object bytes returned by GETs.", st.BytesOut)
	metric("nitro_objects_put_total", "counter", "Object PUTs committed.", st.ObjectsPut)
	metric("nitro_objects_deleted_total", "counter", "Object DELETEs committed.", st.Deletes)
	metric("nitro_object_puts_aborted_total", "counter", "Object PUTs that committed nothing (body error, ETag mismatch).", st.PutsAborted)
	metric("nitro_chunk_refs_written_total", "counter", "Chunk references of committed PUTs (new and deduplicated chunks).", st.ChunkRefs)
	metric("nitro_replication_errors_total", "counter", "Replicate calls that failed.", m.ReplErrors.Load())
	metric("nitro_store_chunks", "gauge", "Chunks in the store.", st.Chunks)
	metric("nitro_store_stored_bytes", "gauge", "Stored (compressed) bytes of the chunks in the store.", st.StoredBytes)
	metric("nitro_store_recipes", "gauge", "Recipes in the store.", st.Recipes)
	metric("nitro_store_disk_bytes", "gauge", "Bytes of the data directory's files.", st.DiskBytes)
	metric("nitro_gc_last_chunks_removed", "gauge", "Chunks removed by the last GC.", int64(st.LastGC.ChunksRemoved))
	metric("nitro_gc_last_bytes_removed", "gauge", "Stored bytes removed by the last GC.", st.LastGC.BytesRemoved)
	metric("nitro_gc_last_success_timestamp_seconds", "gauge", "Unix time of the last successful GC (0: none).", unixOrZero(st.LastGC.Start))
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// requestCounters counts Swift API requests by method and status.
type requestCounters struct {
	mu sync.Mutex
	n  map[reqKey]int64
}

type reqKey struct {
	method string
	code   int
}

type reqCount struct {
	reqKey
	n int64
}

func newRequestCounters() *requestCounters { return &requestCounters{n: map[reqKey]int64{}} }

// knownMethods bounds the label values of the method label.
var knownMethods = []string{"GET", "HEAD", "PUT", "POST", "DELETE", "COPY", "OPTIONS"}

// wrap counts every request h serves.
func (c *requestCounters) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			m := r.Method
			if !slices.Contains(knownMethods, m) {
				m = "OTHER"
			}
			code := sw.code
			if code == 0 {
				code = http.StatusOK
			}
			if p := recover(); p != nil {
				if code == http.StatusOK && !sw.wrote {
					code = 499
				}
				c.add(m, code)
				panic(p)
			}
			c.add(m, code)
		}()
		h.ServeHTTP(sw, r)
	})
}

func (c *requestCounters) add(method string, code int) {
	c.mu.Lock()
	c.n[reqKey{method, code}]++
	c.mu.Unlock()
}

func (c *requestCounters) snapshot() []reqCount {
	c.mu.Lock()
	out := make([]reqCount, 0, len(c.n))
	for k, v := range c.n {
		out = append(out, reqCount{k, v})
	}
	c.mu.Unlock()
	slices.SortFunc(out, func(a, b reqCount) int {
		if d := strings.Compare(a.method, b.method); d != 0 {
			return d
		}
		return a.code - b.code
	})
	return out
}

// statusWriter records the status code; Unwrap keeps
// http.ResponseController (Flush, deadlines) working through it.
type statusWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush implements http.Flusher for handlers that assert it directly.
func (w *statusWriter) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

// healthKey is read by /healthz to prove the store answers; it never
// exists.
var healthKey = namespace.AccountKey(".healthz")

func isNotFound(err error) bool { return errors.Is(err, namespace.ErrNotFound) }
