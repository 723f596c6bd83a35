package summary

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/nitro-cloud/nitro/chunkstore/recipe"
)

// Target is a peer whose summary Replicas keeps.
type Target struct {
	// Key identifies the summarized store: the peer's shared store
	// identity (nodes of a region sharing a Swift store share one
	// summary), else the node's name.
	Key string
	// URL is the peer listener's base URL.
	URL string
}

// Answer is a peer's answer to a summary fetch.
type Answer struct {
	// Gen is the peer's generation.
	Gen uint64
	// Full is the whole encoded summary (Local.Encoded), or nil.
	Full []byte
	// Delta, when Full is nil, is what the peer added since the
	// generation asked about (Local.Delta); none and Gen equal to it:
	// unchanged.
	Delta []recipe.ChunkID
}

// FetchFunc asks the peer at url for its summary, sending have, the
// generation held (0: none): the whole summary, or a delta against have.
type FetchFunc func(ctx context.Context, url string, have uint64) (Answer, error)

// RemoteStats describes one peer's summary for status and metrics.
type RemoteStats struct {
	Key        string    `json:"key"`
	Generation uint64    `json:"generation"`
	Bytes      int       `json:"bytes"`
	Fetched    time.Time `json:"fetched"` // last answer (changed or not)
	Error      string    `json:"error,omitempty"`
	// Wholes and Deltas count the answers that sent the whole summary
	// and those that sent the chunks added since (changed ones only).
	Wholes uint64 `json:"wholes"`
	Deltas uint64 `json:"deltas"`
}

// Replicas keeps the peers' summaries, each fetched again Interval after
// its last answer (an unchanged one costs a round trip and a few bytes).
// Safe for concurrent use.
type Replicas struct {
	fetch    FetchFunc
	interval time.Duration
	now      func() time.Time
	log      *zap.Logger
	mu       sync.Mutex
	m        map[string]*replica
}

type replica struct {
	r              *Remote
	fetched        time.Time // last attempt
	err            error
	wholes, deltas uint64
}

// NewReplicas returns an empty set of summaries fetched with fetch every
// interval (0: 30 s); now is the clock (nil: time.Now).
func NewReplicas(fetch FetchFunc, interval time.Duration, now func() time.Time, log *zap.Logger) *Replicas {
	if interval <= 0 {
		interval = 30 * time.Second
	}
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &Replicas{fetch: fetch, interval: interval, now: now, log: log.Named("summary"), m: map[string]*replica{}}
}

// Get returns the summary of store key, nil if none was fetched.
func (rs *Replicas) Get(key string) *Remote {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if e := rs.m[key]; e != nil {
		return e.r
	}
	return nil
}

// Refresh fetches the summaries of targets not asked for an interval (or
// never), one per Key, one at a time; a failed fetch keeps the summary
// held and is retried after an interval. Summaries of keys no longer in
// targets are dropped.
func (rs *Replicas) Refresh(ctx context.Context, targets []Target) {
	now := rs.now()
	keys := map[string]bool{}
	var due []Target
	rs.mu.Lock()
	for _, t := range targets {
		if keys[t.Key] {
			continue
		}
		keys[t.Key] = true
		if e := rs.m[t.Key]; e == nil || now.Sub(e.fetched) >= rs.interval {
			due = append(due, t)
		}
	}
	for k := range rs.m {
		if !keys[k] {
			delete(rs.m, k)
		}
	}
	rs.mu.Unlock()
	for _, t := range due {
		if ctx.Err() != nil {
			return
		}
		rs.mu.Lock()
		var have uint64
		var cur *Remote
		if e := rs.m[t.Key]; e != nil && e.r != nil {
			cur, have = e.r, e.r.Generation
		}
		rs.mu.Unlock()
		ans, err := rs.fetch(ctx, t.URL, have)
		var r *Remote
		whole := false
		switch {
		case err != nil:
		case ans.Full != nil:
			r, err = Decode(ans.Gen, ans.Full)
			whole = true
		case ans.Gen == have && len(ans.Delta) == 0: // unchanged
		case cur == nil:
			err = fmt.Errorf("summary: a delta to generation %d without a summary to apply it to", ans.Gen)
		default:
			r, err = cur.Apply(ans.Gen, ans.Delta)
		}
		rs.mu.Lock()
		e := rs.m[t.Key]
		if e == nil {
			e = &replica{}
			rs.m[t.Key] = e
		}
		e.fetched, e.err = rs.now(), err
		if r != nil {
			e.r = r
			if whole {
				e.wholes++
			} else {
				e.deltas++
			}
		}
		rs.mu.Unlock()
		if err != nil {
			rs.log.Debug("summary fetch", zap.String("store", t.Key), zap.String("url", t.URL), zap.Error(err))
		}
	}
}

// Run refreshes the summaries of targets() every few seconds (a new peer
// gets its summary at once; the others every interval) until ctx ends.
func (rs *Replicas) Run(ctx context.Context, targets func() []Target) {
	tick := time.NewTicker(min(rs.interval, 5*time.Second))
	defer tick.Stop()
	for {
		rs.Refresh(ctx, targets())
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Stats returns the description of every summary held or asked for, by
// Key.
func (rs *Replicas) Stats() []RemoteStats {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	out := make([]RemoteStats, 0, len(rs.m))
	for k, e := range rs.m {
		st := RemoteStats{Key: k, Fetched: e.fetched, Wholes: e.wholes, Deltas: e.deltas}
		if e.r != nil {
			st.Generation, st.Bytes = e.r.Generation, e.r.Bytes
		}
		if e.err != nil {
			st.Error = e.err.Error()
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b RemoteStats) int { return strings.Compare(a.Key, b.Key) })
	return out
}
