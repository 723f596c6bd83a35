package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore"
	"github.com/nitro-cloud/nitro/node/internal/namespace"
)

// The ops listener (cfg.OpsListen) serves the operator's endpoints, without
// authentication, so it must stay on a host-local address:
//
//	GET  /healthz          200 "OK" while the store answers, else 503
//	GET  /metrics          Prometheus exposition (metrics.go, METRICS.md)
//	GET  /stats            JSON Stats
//	POST /gc[?grace=DUR]   run a GC now (grace a Go duration, default
//	                       gc.grace); JSON GCResult; 400 if grace is
//	                       below 2×store.touch_after
//	GET  /status, /fsck    see addOpsRoutes (opsroutes.go)
//	GET, DELETE /profile   boot profiles: see addProfileRoutes (profile.go)
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
	mux.Handle("GET /metrics", n.metrics.handler())
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
	n.addOpsRoutes(mux)
	n.addProfileRoutes(mux)
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
	// DiskBytes is the disk space the data dir's files use in bytes: their
	// allocated blocks, as du(1) counts them, not their apparent sizes
	// (Badger's files are sparse and preallocated), without the ballast
	// file; includes Badger's not yet collected garbage.
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
// Cost: the store's incremental counts (no walk of the keys) and a stat of
// the data dir's files.
func (n *Node) Stats(ctx context.Context) (Stats, error) {
	cs, err := n.store.Stats(ctx)
	if err != nil {
		return Stats{}, err
	}
	m := n.svc.Metrics()
	st := Stats{
		Chunks: cs.Chunks, StoredBytes: cs.StoredBytes, Recipes: cs.Recipes,
		DiskBytes: n.store.DiskUsage(),
		BytesIn:   m.BytesIn.Load(), BytesOut: m.BytesOut.Load(), ObjectsPut: m.ObjectsPut.Load(),
		ChunkRefs: m.ChunkRefs.Load(), PutsAborted: m.PutsAborted.Load(), Deletes: m.Deletes.Load(),
	}
	if g := n.lastGCSnap.Load(); g != nil { // not gcMu: a running GC would block the status
		st.LastGC = *g
	}
	return st, nil
}

// knownMethods bounds the label values of the method label.
var knownMethods = []string{"GET", "HEAD", "PUT", "POST", "DELETE", "COPY", "OPTIONS"}

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
