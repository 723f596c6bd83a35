package membership

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// maxMeta is memberlist's limit on node metadata, in bytes.
const maxMeta = memberlist.MetaMaxSize

// meta is the node metadata gossiped by every member.
type meta struct {
	Region  string `json:"region"`
	Node    string `json:"node"`
	PeerURL string `json:"peer_url"`
	// Store is Config.Store; absent from older nodes' metadata (then "").
	Store string `json:"store,omitempty"`
}

func metaJSON(node, region, peerURL, store string) []byte {
	b, _ := json.Marshal(meta{Region: region, Node: node, PeerURL: peerURL, Store: store})
	return b
}

// rttAlpha is the weight of a new probe in the RTT EWMA.
const rttAlpha = 0.25

// delegate implements memberlist's Delegate, EventDelegate and PingDelegate
// for one Membership. Every method is called on memberlist's goroutines and
// must not block: they take d.mu for a map update and enqueue events
// without waiting (see eventQueue).
type delegate struct {
	mu      sync.Mutex
	meta    []byte                 // this node's metadata; guarded by mu
	peerURL string                 // this node's peer URL; guarded by mu
	members map[string]*memberInfo // by node name, including dead ones
	queue   *eventQueue
	self    string
}

type memberInfo struct {
	Member
	rttSamples int
}

var (
	_ memberlist.Delegate      = (*delegate)(nil)
	_ memberlist.EventDelegate = (*delegate)(nil)
	_ memberlist.PingDelegate  = (*delegate)(nil)
)

// NodeMeta implements memberlist.Delegate.
func (d *delegate) NodeMeta(limit int) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.meta) > limit {
		return nil // validated in New; cannot happen
	}
	return append([]byte(nil), d.meta...)
}

// NotifyMsg implements memberlist.Delegate; Nitro sends no user messages.
func (d *delegate) NotifyMsg([]byte) {}

// GetBroadcasts implements memberlist.Delegate; Nitro has none.
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }

// LocalState implements memberlist.Delegate; Nitro has no push-pull state
// (namespace anti-entropy runs over the peer protocol).
func (d *delegate) LocalState(join bool) []byte { return nil }

// MergeRemoteState implements memberlist.Delegate.
func (d *delegate) MergeRemoteState(buf []byte, join bool) {}

// NotifyJoin implements memberlist.EventDelegate.
func (d *delegate) NotifyJoin(n *memberlist.Node) { d.event(EventJoin, n) }

// NotifyLeave implements memberlist.EventDelegate (a left or dead node).
func (d *delegate) NotifyLeave(n *memberlist.Node) { d.event(EventLeave, n) }

// NotifyUpdate implements memberlist.EventDelegate (new metadata).
func (d *delegate) NotifyUpdate(n *memberlist.Node) { d.event(EventUpdate, n) }

func (d *delegate) event(t EventType, n *memberlist.Node) {
	d.mu.Lock()
	mi := d.members[n.Name]
	if mi == nil {
		mi = &memberInfo{}
		d.members[n.Name] = mi
	}
	mi.Name = n.Name
	mi.Addr = n.Address()
	// memberlist passes the Node as it was gossiped; its State field is not
	// kept current, so the event type decides.
	mi.State = StateAlive
	if t == EventLeave {
		mi.State = StateDead
	}
	mi.Local = n.Name == d.self
	var m meta
	if json.Unmarshal(n.Meta, &m) == nil {
		mi.Region, mi.PeerURL, mi.Store = m.Region, m.PeerURL, m.Store
	}
	mi.Since = time.Now()
	ev := Event{Type: t, Member: mi.Member}
	d.mu.Unlock()
	d.queue.push(ev)
}

// AckPayload implements memberlist.PingDelegate; the payload is empty.
func (d *delegate) AckPayload() []byte { return nil }

// NotifyPingComplete implements memberlist.PingDelegate: it folds rtt into
// the member's EWMA.
func (d *delegate) NotifyPingComplete(other *memberlist.Node, rtt time.Duration, payload []byte) {
	if rtt <= 0 {
		rtt = time.Microsecond // loopback can be below the clock's resolution
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	mi := d.members[other.Name]
	if mi == nil {
		return
	}
	if mi.rttSamples == 0 {
		mi.RTT = rtt
	} else {
		mi.RTT = time.Duration(rttAlpha*float64(rtt) + (1-rttAlpha)*float64(mi.RTT))
	}
	mi.rttSamples++
}

// eventQueue is a bounded FIFO of events that never blocks its producer:
// when full it drops the oldest event and counts it.
type eventQueue struct {
	mu      sync.Mutex
	buf     []Event
	cap     int
	dropped uint64
	signal  chan struct{} // capacity 1: "there is something to read"
}

func newEventQueue(capacity int) *eventQueue {
	return &eventQueue{cap: capacity, signal: make(chan struct{}, 1)}
}

func (q *eventQueue) push(ev Event) {
	q.mu.Lock()
	if len(q.buf) >= q.cap {
		q.buf = q.buf[1:]
		q.dropped++
	}
	q.buf = append(q.buf, ev)
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// drain returns the queued events and empties the queue.
func (q *eventQueue) drain() []Event {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.buf
	q.buf = nil
	return out
}

func (q *eventQueue) droppedCount() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.dropped
}
