package peer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nitro-cloud/nitro/chunkstore"
	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"go.uber.org/zap"
)

// ChunkStore is what the server needs of the chunk store.
// *chunkstore.Store implements it.
type ChunkStore interface {
	// StoredSizes returns the stored (wire) size of each chunk, or a
	// value <= 0 for a chunk not stored; it must not read chunk values.
	StoredSizes(ctx context.Context, ids []recipe.ChunkID) ([]int64, error)
	// GetStored returns the verified stored form; an error for an absent
	// or corrupt chunk.
	GetStored(ctx context.Context, id recipe.ChunkID) (chunkstore.Stored, error)
}

// RecordStore is what the server needs of the replicated namespace; the
// replica package implements it.
type RecordStore interface {
	// ApplyRecords merges records pushed by region from and returns how
	// many were newer than what this node had. An error wrapping
	// ErrInvalid (a malformed record) is answered 400, others 500.
	ApplyRecords(ctx context.Context, from string, recs []WireRecord) (int, error)
	// Digest returns the anti-entropy digest of this node's records.
	Digest(ctx context.Context) (*Digest, error)
	// RecordsIn calls fn for each record in the given digest buckets.
	RecordsIn(ctx context.Context, buckets []int, fn func(WireRecord) error) error
}

// Operator answers the operator commands over the peer listener; nil
// handlers answer 404.
type Operator interface {
	Status(ctx context.Context) (any, error)
	Plan(ctx context.Context, object string) (any, error)
	// Place asks this node to copy object "account/container/object" here
	// in the background (eager placement); it must not block on the copy.
	Place(ctx context.Context, object string) error
}

// ChunkObtainer is the owner's side of the obtain request (issue 12: one
// WAN transfer per missing chunk however many nodes of a region read it);
// *fetch.Fetcher implements it.
type ChunkObtainer interface {
	// Obtain makes ids local (plain: their plain sizes), fetching the
	// missing ones once, and calls fn for each in request order as soon as
	// it is stored, with nil or why it could not be obtained.
	Obtain(ctx context.Context, ids []recipe.ChunkID, plain []uint32, fn func(i int, err error) error) error
}

// ServerConfig configures a Server.
type ServerConfig struct {
	// Secret is the cluster secret. Required (>= 16 bytes).
	Secret []byte
	// Region is this node's region (for logs).
	Region string
	// MaxStreams bounds concurrent chunk streams; 0 means 16.
	MaxStreams int
	// RateLimit, if not nil, returns the rate in bytes/s at which chunk
	// streams to the given region are paced; <= 0 means unlimited. All
	// streams to one region share that rate (one emulated link). For
	// emulating WAN links in tests.
	RateLimit func(toRegion string) float64
	// Block, if not nil, makes the server refuse (503) every request from
	// the regions for which it returns true: a network partition for
	// tests.
	Block func(fromRegion string) bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Obtain serves POST /peer/v1/obtain, to nodes of this server's
	// Region only (403 for others); nil answers 503.
	Obtain ChunkObtainer
	// Summary serves GET /peer/v1/summary (summary.go); nil answers 503.
	Summary SummarySource
}

// Server serves the peer protocol. Safe for concurrent use.
type Server struct {
	cfg     ServerConfig
	chunks  ChunkStore
	records RecordStore
	op      Operator
	log     *zap.Logger
	streams chan struct{}
	sent    counters
	mux     *http.ServeMux
	replay  *replayCache
	links   links // emulated links by destination region (RateLimit)
	// sending: the running chunk streams, for skip requests (skip.go).
	sending sending
	skipped counters // chunks left out on request, per requesting region
}

// NewServer returns a peer protocol server over chunks and records (either
// may be nil: its endpoints then answer 503) and op (may be nil).
func NewServer(cfg ServerConfig, chunks ChunkStore, records RecordStore, op Operator, log *zap.Logger) (*Server, error) {
	if len(cfg.Secret) < 16 {
		return nil, errors.New("peer: cluster secret must have at least 16 bytes")
	}
	if cfg.MaxStreams <= 0 {
		cfg.MaxStreams = 16
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if log == nil {
		log = zap.NewNop()
	}
	s := &Server{cfg: cfg, chunks: chunks, records: records, op: op, log: log.Named("peer"),
		streams: make(chan struct{}, cfg.MaxStreams), mux: http.NewServeMux(), replay: newReplayCache(ReplayCacheSize)}
	hasRecords, hasChunks, hasOp := records != nil, chunks != nil, op != nil
	s.mux.HandleFunc("POST /peer/v1/records", s.needs(hasRecords, s.pushRecords))
	s.mux.HandleFunc("GET /peer/v1/records/digest", s.needs(hasRecords, s.digest))
	s.mux.HandleFunc("POST /peer/v1/records/fetch", s.needs(hasRecords, s.fetchRecords))
	s.mux.HandleFunc("POST /peer/v1/have", s.needs(hasChunks, s.have))
	s.mux.HandleFunc("POST /peer/v1/chunks", s.needs(hasChunks, s.chunkStream))
	s.mux.HandleFunc("POST /peer/v1/skip", s.needs(hasChunks, s.skipChunks))
	s.mux.HandleFunc("POST /peer/v1/obtain", s.needs(hasChunks && cfg.Obtain != nil, s.obtain))
	s.mux.HandleFunc("GET /peer/v1/summary", s.needs(cfg.Summary != nil, s.summary))
	s.mux.HandleFunc("GET /peer/v1/summary/delta", s.needs(cfg.Summary != nil, s.summaryDelta))
	s.mux.HandleFunc("GET /peer/v1/status", s.needs(hasOp, s.status))
	s.mux.HandleFunc("GET /peer/v1/plan", s.needs(hasOp, s.plan))
	s.mux.HandleFunc("POST /peer/v1/place", s.needs(hasOp, s.place))
	return s, nil
}

// needs is h when this node has the service h uses (ok), else a handler
// that answers 503 (errUnavailable) to every request.
func (s *Server) needs(ok bool, h http.HandlerFunc) http.HandlerFunc {
	if ok {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) { s.fail(w, r, errUnavailable) }
}

// SentStats returns the stored chunk bytes sent, per requesting region.
func (s *Server) SentStats() map[string]LinkCounters { return s.sent.snapshot() }

// SkippedStats returns the chunks of streams left out at the receiver's
// request (POST /skip), per requesting region, with their stored bytes
// (the bytes that did not cross).
func (s *Server) SkippedStats() map[string]LinkCounters { return s.skipped.snapshot() }

type ctxKey struct{}

// ServeHTTP authenticates every request and dispatches it: the headers'
// MAC and date first, then that the nonce is new, then the body (read
// whole, at most MaxRecordBytes) against its signed digest; only then is
// the nonce remembered and the request served. A 2xx answer's body is
// framed and MACed (segWriter) with a key bound to the request's nonce.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := s.cfg.Now()
	sg, date, err := verifyHeaders(r, s.cfg.Secret, now)
	if err == nil && s.replay.seenBefore(sg.nonce) {
		err = authError{"replayed nonce"}
	}
	if err != nil {
		s.refuse(w, r, err)
		return
	}
	if s.cfg.Block != nil && s.cfg.Block(sg.region) {
		http.Error(w, "partitioned", http.StatusServiceUnavailable)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxRecordBytes+1))
	if err != nil {
		http.Error(w, "reading the body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if len(body) > MaxRecordBytes {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	if err := checkBody(sg, body); err != nil {
		s.refuse(w, r, err)
		return
	}
	if err := s.replay.add(sg.nonce, date, now); err != nil {
		if errors.Is(err, errReplayFull) {
			s.log.Warn("peer replay cache full", zap.String("from", sg.region))
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		s.refuse(w, r, err)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	rw := &respWriter{ResponseWriter: w, secret: s.cfg.Secret, nonce: sg.nonce}
	s.mux.ServeHTTP(rw, r.WithContext(context.WithValue(r.Context(), ctxKey{}, callerKey{sg.region, sg.node})))
	rw.finish()
}

// refuse answers 401 to a request that failed authentication and logs
// why (never the MAC or the secret).
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Warn("refused unauthenticated peer request", zap.String("remote", r.RemoteAddr),
		zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.String("reason", err.Error()))
	http.Error(w, "unauthorized", http.StatusUnauthorized)
}

// respWriter frames and MACs a 2xx answer's body; other answers pass
// through as they are (the client reads only a short error text from
// them).
type respWriter struct {
	http.ResponseWriter
	secret []byte
	nonce  string
	wrote  bool
	seg    *segWriter // nil: not framed
}

func (w *respWriter) WriteHeader(code int) {
	if w.wrote {
		return
	}
	w.wrote = true
	if code/100 == 2 {
		h := w.Header()
		h.Del("Content-Length") // the framing adds bytes
		h.Set(hdrBody, bodyV2)
		w.seg = newSegWriter(w.ResponseWriter, respKey(w.secret, w.nonce, code))
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *respWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.seg == nil {
		return w.ResponseWriter.Write(p)
	}
	return w.seg.Write(p)
}

// Flush sends the buffered data as a segment and flushes the connection.
func (w *respWriter) Flush() {
	if w.seg != nil {
		_ = w.seg.emit(0)
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *respWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// finish ends the answer: a framed body gets its final segment.
func (w *respWriter) finish() {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.seg != nil {
		_ = w.seg.emit(segFinal)
	}
}

// caller returns the region a request came from, as signed.
func caller(r *http.Request) string { return callerOf(r).region }

// callerOf returns the region and node a request came from, as signed.
func callerOf(r *http.Request) callerKey { k, _ := r.Context().Value(ctxKey{}).(callerKey); return k }

// fail is the server's one error-to-status table, and where failures are
// logged.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := http.StatusInternalServerError
	var bad badRequest
	switch {
	case errors.As(err, &bad), errors.Is(err, ErrInvalid):
		code = http.StatusBadRequest
	case errors.Is(err, errForbidden):
		code = http.StatusForbidden
	case errors.Is(err, errUnavailable), errors.Is(err, ErrBusy):
		code = http.StatusServiceUnavailable
	case errors.Is(err, chunkstore.ErrNotFound), errors.Is(err, ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, context.Canceled):
		code = 499 // client went away; nobody reads the answer
	}
	s.log.Warn("peer request failed", zap.String("from", caller(r)), zap.String("path", r.URL.Path),
		zap.Int("status", code), zap.Error(err))
	http.Error(w, err.Error(), code)
}

type badRequest struct{ error }

// ErrInvalid is wrapped by a RecordStore's or an Operator's errors for a
// malformed request (a record with an empty or unparsable key, a bad
// value); the server answers 400.
var ErrInvalid = errors.New("peer: invalid request")

var errUnavailable = errors.New("peer: service not available on this node")

var errForbidden = errors.New("peer: not allowed")

// ErrBusy is wrapped by an Operator's errors when it cannot take more work
// now; the server answers 503.
var ErrBusy = errors.New("peer: busy")

// ErrNotFound is wrapped by an Operator's errors for an absent object; the
// server answers 404.
var ErrNotFound = errors.New("peer: not found")

func (s *Server) pushRecords(w http.ResponseWriter, r *http.Request) {
	var recs []WireRecord
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxRecordBytes))
	for {
		var wr WireRecord
		if err := dec.Decode(&wr); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			s.fail(w, r, badRequest{fmt.Errorf("records: %w", err)})
			return
		}
		recs = append(recs, wr)
	}
	n, err := s.records.ApplyRecords(r.Context(), caller(r), recs)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, map[string]int{"received": len(recs), "applied": n})
}

func (s *Server) digest(w http.ResponseWriter, r *http.Request) {
	d, err := s.records.Digest(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	for i := range d {
		w.Write(d[i][:])
	}
}

func (s *Server) fetchRecords(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Buckets []int `json:"buckets"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
		s.fail(w, r, badRequest{err})
		return
	}
	for _, b := range req.Buckets {
		if b < 0 || b >= DigestBuckets {
			s.fail(w, r, badRequest{fmt.Errorf("bucket %d", b)})
			return
		}
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	err := s.records.RecordsIn(r.Context(), req.Buckets, func(wr WireRecord) error { return enc.Encode(wr) })
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		// The status is sent: abort the answer so that the client sees
		// a stream without its final segment, not a complete one.
		s.log.Warn("records stream failed", zap.String("to", caller(r)), zap.Error(err))
		panic(http.ErrAbortHandler)
	}
}

func (s *Server) have(w http.ResponseWriter, r *http.Request) {
	ids, err := decodeIDs(r.Body)
	if err != nil {
		s.fail(w, r, badRequest{err})
		return
	}
	sizes, err := s.chunks.StoredSizes(r.Context(), ids)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(encodeSizes(sizes))
}

func (s *Server) chunkStream(w http.ResponseWriter, r *http.Request) {
	ids, err := decodeIDs(r.Body)
	if err != nil {
		s.fail(w, r, badRequest{err})
		return
	}
	ctx := r.Context()
	// Registered before the wait for a stream slot: a skip request may
	// come while the stream waits.
	stream, done := s.sending.add(callerOf(r), ids)
	defer done()
	select {
	case s.streams <- struct{}{}:
		defer func() { <-s.streams }()
	case <-ctx.Done():
		return
	}
	from := caller(r)
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	var out interface{ Write([]byte) (int, error) } = w
	if s.cfg.RateLimit != nil {
		if rate := s.cfg.RateLimit(from); rate > 0 {
			out = &pacer{ctx: ctx, w: w, rate: rate, link: s.links.get(from)}
		}
	}
	for i, id := range ids {
		if stream.next(i) {
			// The receiver has it from elsewhere (skip.go).
			if sz, err := s.chunks.StoredSizes(ctx, ids[i:i+1]); err == nil && sz[0] > 0 {
				s.skipped.add(from, 1, sz[0])
			} else {
				s.skipped.add(from, 1, 0)
			}
			if err := writeSkipped(out, id); err != nil {
				panic(http.ErrAbortHandler) // the client went away
			}
			continue
		}
		st, err := s.chunks.GetStored(ctx, id)
		var p *chunkstore.Stored
		switch {
		case err == nil:
			p = &st
		case ctx.Err() != nil:
			panic(http.ErrAbortHandler) // the client went away
		default:
			var ce *chunkstore.CorruptChunkError
			if errors.As(err, &ce) {
				s.log.Error("corrupt chunk not served", zap.String("chunk", id.String()), zap.String("to", from), zap.Error(err))
			} else if !errors.Is(err, chunkstore.ErrNotFound) {
				s.log.Warn("chunk not served", zap.String("chunk", id.Short()), zap.Error(err))
			}
		}
		if p != nil {
			// Counted before the write, so that a client that has the
			// frame finds it counted (a failed write aborts the stream).
			s.sent.add(from, 1, int64(len(p.Data)))
		}
		if err := writeFrame(out, id, p); err != nil {
			panic(http.ErrAbortHandler) // the client went away
		}
		_ = rc.Flush()
	}
}

// obtain serves a node of this region that asks this node, the owner of
// ids, to make them local and send them (ChunkObtainer). Frames as for
// /chunks, each written once its chunk is stored here; a chunk that could
// not be obtained is a not-held frame. No stream slot is taken: the
// request mostly waits for this node's own fetch.
func (s *Server) obtain(w http.ResponseWriter, r *http.Request) {
	from := caller(r)
	if from != s.cfg.Region {
		s.fail(w, r, fmt.Errorf("%w: obtain from region %q: only nodes of region %q may ask", errForbidden, from, s.cfg.Region))
		return
	}
	ids, plain, err := decodeWants(r.Body)
	if err != nil {
		s.fail(w, r, badRequest{err})
		return
	}
	ctx := r.Context()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	err = s.cfg.Obtain.Obtain(ctx, ids, plain, func(i int, oerr error) error {
		var p *chunkstore.Stored
		if oerr == nil {
			st, err := s.chunks.GetStored(ctx, ids[i])
			switch {
			case err == nil:
				p = &st
				s.sent.add(from, 1, int64(len(st.Data)))
			case ctx.Err() != nil:
				return ctx.Err()
			default:
				s.log.Warn("obtained chunk not served", zap.String("chunk", ids[i].Short()), zap.Error(err))
			}
		}
		if err := writeFrame(w, ids[i], p); err != nil {
			return err
		}
		_ = rc.Flush()
		return nil
	})
	if err != nil {
		s.log.Warn("obtain stream ended early", zap.String("to", from), zap.Error(err))
		panic(http.ErrAbortHandler) // the client sees a stream without its final segment
	}
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	v, err := s.op.Status(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, v)
}

// opObject returns the ?object=ACCOUNT/CONTAINER/OBJECT of an operator
// request, or answers the request (400 for a malformed name) and returns
// false.
func (s *Server) opObject(w http.ResponseWriter, r *http.Request) (string, bool) {
	obj := r.URL.Query().Get("object")
	if strings.Count(obj, "/") < 2 {
		s.fail(w, r, badRequest{errors.New("object must be ACCOUNT/CONTAINER/OBJECT")})
		return "", false
	}
	return obj, true
}

func (s *Server) plan(w http.ResponseWriter, r *http.Request) {
	obj, ok := s.opObject(w, r)
	if !ok {
		return
	}
	v, err := s.op.Plan(r.Context(), obj)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, v)
}

func (s *Server) place(w http.ResponseWriter, r *http.Request) {
	obj, ok := s.opObject(w, r)
	if !ok {
		return
	}
	if err := s.op.Place(r.Context(), obj); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.Write(append(b, '\n'))
}
