package peer

// Chunk summaries (issue 13: no have round trip when the holdings are
// already known). GET /peer/v1/summary?have=GEN answers this node's
// summary of the chunks its store holds (node/internal/summary: a Bloom
// filter), authenticated and MACed like every answer. Its body is the
// summary's generation (8 bytes, big-endian) and, unless the generation
// is the one the caller has, the encoded summary; so an unchanged summary
// costs a round trip and 8 bytes. 503 when this node has no summary (off,
// or not built yet).
//
// GET /peer/v1/summary/delta?have=GEN answers the same, or only what
// changed: the generation (8 bytes), then one byte, 'U' (unchanged:
// nothing follows), 'D' (the chunk IDs added since generation GEN, 32
// bytes each, to add to that summary) or 'F' (the encoded summary). The
// node answers 'D' when the summary only grew since GEN and the IDs are
// smaller than the whole (summary.Local.Delta). A node from before deltas
// answers 404; the caller then asks /peer/v1/summary.

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

// MaxSummaryBytes bounds an encoded summary on the wire
// (summary.MaxBytes).
const MaxSummaryBytes = 32 << 20

// SummarySource is this node's chunk summary; *summary.Local implements
// it.
type SummarySource interface {
	// Encoded returns the summary's generation and encoding; generation
	// 0 when there is none yet.
	Encoded() (uint64, []byte, error)
	// Delta returns the generation and the chunks added since generation
	// have, ok false when the whole summary is to be sent instead.
	Delta(have uint64) (gen uint64, ids []recipe.ChunkID, ok bool)
}

// Summary delta answer kinds (the byte after the generation).
const (
	summaryUnchanged = 'U'
	summaryDelta     = 'D'
	summaryFull      = 'F'
)

// haveParam parses the have query parameter (absent: 0).
func haveParam(r *http.Request) (uint64, error) {
	v := r.URL.Query().Get("have")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, badRequest{fmt.Errorf("have %q: %w", v, err)}
	}
	return n, nil
}

func (s *Server) summaryDelta(w http.ResponseWriter, r *http.Request) {
	have, err := haveParam(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var hdr [9]byte
	gen, ids, ok := s.cfg.Summary.Delta(have)
	if ok {
		w.Header().Set("Content-Type", "application/octet-stream")
		binary.BigEndian.PutUint64(hdr[:], gen)
		hdr[8] = summaryDelta
		if len(ids) == 0 {
			hdr[8] = summaryUnchanged
		}
		w.Write(hdr[:])
		for i := range ids {
			w.Write(ids[i][:])
		}
		return
	}
	gen, data, ok := s.encodedSummary(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	binary.BigEndian.PutUint64(hdr[:], gen)
	hdr[8] = summaryFull
	w.Write(hdr[:])
	w.Write(data)
}

// encodedSummary returns this node's summary and its generation, or
// answers the failure (503 when there is none yet, or it is too large)
// and returns false.
func (s *Server) encodedSummary(w http.ResponseWriter, r *http.Request) (uint64, []byte, bool) {
	gen, data, err := s.cfg.Summary.Encoded()
	if err != nil {
		s.fail(w, r, err)
		return 0, nil, false
	}
	if gen == 0 || len(data) > MaxSummaryBytes {
		s.fail(w, r, errUnavailable)
		return 0, nil, false
	}
	return gen, data, true
}

func (s *Server) summary(w http.ResponseWriter, r *http.Request) {
	have, err := haveParam(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	gen, data, ok := s.encodedSummary(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	var hdr [8]byte
	binary.BigEndian.PutUint64(hdr[:], gen)
	w.Write(hdr[:])
	if gen != have {
		w.Write(data)
	}
}

// Summary asks the peer at base for its chunk summary, sending have, the
// generation the caller holds (0: none). It returns the peer's generation
// and its encoding, or a nil encoding when have is the peer's generation
// (unchanged: not resent). A peer without a summary answers a 503
// *StatusError.
func (c *Client) Summary(ctx context.Context, base string, have uint64) (uint64, []byte, error) {
	q := url.Values{"have": {strconv.FormatUint(have, 10)}}
	resp, err := c.do(ctx, http.MethodGet, base, "/peer/v1/summary?"+q.Encode(), nil, "")
	if err != nil {
		return 0, nil, err
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8+MaxSummaryBytes+1))
	if err == nil {
		err = finish(resp)
	} else {
		resp.Body.Close()
	}
	if err != nil {
		return 0, nil, fmt.Errorf("peer: summary: %w", err)
	}
	if len(b) < 8 || len(b) > 8+MaxSummaryBytes {
		return 0, nil, fmt.Errorf("peer: summary: %d-byte answer", len(b))
	}
	gen := binary.BigEndian.Uint64(b)
	if len(b) == 8 {
		if gen != have {
			return 0, nil, fmt.Errorf("peer: summary: generation %d without its summary (have %d)", gen, have)
		}
		return gen, nil, nil
	}
	return gen, b[8:], nil
}

// SummaryDelta asks the peer at base for what changed in its chunk
// summary since generation have (0: none held): it returns the peer's
// generation and either the whole encoding (full), or the chunk IDs added
// since have (delta; none, with gen equal to have: unchanged). A peer
// without a summary answers a 503 *StatusError, one from before deltas a
// 404 one (ask Summary).
func (c *Client) SummaryDelta(ctx context.Context, base string, have uint64) (gen uint64, full []byte, delta []recipe.ChunkID, err error) {
	q := url.Values{"have": {strconv.FormatUint(have, 10)}}
	resp, err := c.do(ctx, http.MethodGet, base, "/peer/v1/summary/delta?"+q.Encode(), nil, "")
	if err != nil {
		return 0, nil, nil, fmt.Errorf("peer: summary delta: %w", err)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 9+MaxSummaryBytes+1))
	if err == nil {
		err = finish(resp)
	} else {
		resp.Body.Close()
	}
	if err != nil {
		return 0, nil, nil, fmt.Errorf("peer: summary delta: %w", err)
	}
	if len(b) < 9 || len(b) > 9+MaxSummaryBytes {
		return 0, nil, nil, fmt.Errorf("peer: summary delta: %d-byte answer", len(b))
	}
	gen, kind, body := binary.BigEndian.Uint64(b), b[8], b[9:]
	switch {
	case kind == summaryUnchanged && len(body) == 0 && gen == have:
		return gen, nil, nil, nil
	case kind == summaryFull && len(body) > 0:
		return gen, body, nil, nil
	case kind == summaryDelta && len(body) > 0 && len(body)%len(recipe.ChunkID{}) == 0:
		delta = make([]recipe.ChunkID, len(body)/len(recipe.ChunkID{}))
		for i := range delta {
			copy(delta[i][:], body[i*len(recipe.ChunkID{}):])
		}
		return gen, nil, delta, nil
	}
	return 0, nil, nil, fmt.Errorf("peer: summary delta: bad answer (kind %q, %d bytes, generation %d, have %d)", kind, len(body), gen, have)
}
