package peer

import (
	"net/http"
	"sync"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
	"go.uber.org/zap"
)

// Trimming running chunk streams (POST /peer/v1/skip). A receiver that
// asked two holders for the same chunk (package fetch: a hedge, when the
// first holder missed a frame's deadline) keeps the first copy that
// arrives; the other holder's stream would still send its copy, and on a
// WAN a hedged window is hundreds of chunks. With a skip request the
// receiver names the chunks it has: each of its running streams from this
// server that has not started on one of them sends a skipped frame (no
// data) in its place. A stream checks before it reads each chunk, so what
// it had read and written already (at most the frame in progress and what
// the socket buffers hold) still crosses once more.
//
// Streams are the caller's own: a skip request reaches only the streams
// of the region and node its signed headers name (X-Nitro-Region,
// X-Nitro-Node). A chunk is in at most one stream of a node at a time
// (package fetch fetches a missing chunk once per node), so naming the
// chunks names the stream; the request needs no handle of the stream,
// which striped streams (several connections per batch) would make a
// list.

// sendStream is a running chunk stream's state shared with skip
// requests.
type sendStream struct {
	ids []recipe.ChunkID
	mu  sync.Mutex
	// pos is the index of the first chunk the stream has not started.
	pos int
	// at maps the IDs at or after pos to their indexes (built on the
	// first skip request; nil before); skip the indexes to leave out.
	at   map[recipe.ChunkID][]int
	skip map[int]bool
}

// next reports whether chunk i (the stream's next) is to be left out,
// and marks it started; s.ids[i] is next.
func (s *sendStream) next(i int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pos = i + 1
	return s.skip[i]
}

// trim marks the unstarted chunks among ids to be left out and returns
// how many were newly marked.
func (s *sendStream) trim(ids []recipe.ChunkID) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.at == nil {
		s.at = make(map[recipe.ChunkID][]int, len(s.ids)-s.pos)
		for i := s.pos; i < len(s.ids); i++ {
			s.at[s.ids[i]] = append(s.at[s.ids[i]], i)
		}
		s.skip = map[int]bool{}
	}
	n := 0
	for _, id := range ids {
		for _, i := range s.at[id] {
			if i >= s.pos && !s.skip[i] {
				s.skip[i] = true
				n++
			}
		}
	}
	return n
}

// callerKey identifies the node a request came from: its region and node
// as signed.
type callerKey struct{ region, node string }

// sending is the running chunk streams by the node they go to. Safe for
// concurrent use.
type sending struct {
	mu sync.Mutex
	m  map[callerKey]map[*sendStream]struct{}
}

// add registers a stream of ids to k and returns it with its removal.
func (sd *sending) add(k callerKey, ids []recipe.ChunkID) (*sendStream, func()) {
	s := &sendStream{ids: ids}
	sd.mu.Lock()
	defer sd.mu.Unlock()
	if sd.m == nil {
		sd.m = map[callerKey]map[*sendStream]struct{}{}
	}
	if sd.m[k] == nil {
		sd.m[k] = map[*sendStream]struct{}{}
	}
	sd.m[k][s] = struct{}{}
	return s, func() {
		sd.mu.Lock()
		defer sd.mu.Unlock()
		delete(sd.m[k], s)
		if len(sd.m[k]) == 0 {
			delete(sd.m, k)
		}
	}
}

// trim leaves ids out of k's running streams; it returns how many chunks
// will be left out.
func (sd *sending) trim(k callerKey, ids []recipe.ChunkID) int {
	sd.mu.Lock()
	streams := make([]*sendStream, 0, len(sd.m[k]))
	for s := range sd.m[k] {
		streams = append(streams, s)
	}
	sd.mu.Unlock()
	n := 0
	for _, s := range streams {
		n += s.trim(ids)
	}
	return n
}

// skipChunks serves POST /peer/v1/skip: body chunk IDs (32 bytes each);
// answer {"skipped": n}, the chunks the caller's running streams will
// leave out.
func (s *Server) skipChunks(w http.ResponseWriter, r *http.Request) {
	ids, err := decodeIDs(r.Body)
	if err != nil {
		s.fail(w, r, badRequest{err})
		return
	}
	k := callerOf(r)
	n := s.sending.trim(k, ids)
	s.log.Debug("chunk stream trimmed", zap.String("to", k.region), zap.String("node", k.node),
		zap.Int("asked", len(ids)), zap.Int("skipped", n))
	writeJSON(w, map[string]int{"skipped": n})
}
