package peer

// Chunk summaries (issue 13: no have round trip when the holdings are
// already known). GET /peer/v1/summary?have=GEN answers this node's
// summary of the chunks its store holds (node/internal/summary: a Bloom
// filter), authenticated and MACed like every answer. Its body is the
// summary's generation (8 bytes, big-endian) and, unless the generation
// is the one the caller has, the encoded summary; so an unchanged summary
// costs a round trip and 8 bytes. 503 when this node has no summary (off,
// or not built yet).

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
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
}

func (s *Server) summary(w http.ResponseWriter, r *http.Request) {
	var have uint64
	if v := r.URL.Query().Get("have"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			s.fail(w, r, badRequest{fmt.Errorf("have %q: %w", v, err)})
			return
		}
		have = n
	}
	gen, data, err := s.cfg.Summary.Encoded()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if gen == 0 || len(data) > MaxSummaryBytes {
		s.fail(w, r, errUnavailable)
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
