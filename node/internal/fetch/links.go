package fetch

import (
	"sort"
	"sync"
	"time"
)

// Link is a prior estimate of the link from a region to this one.
type Link struct {
	// Bandwidth in bytes/s; 0 means Config.DefaultBandwidth.
	Bandwidth float64
	// RTT of the link; used until membership has measured one.
	RTT time.Duration
	// CostPerByte is the egress price per byte (any currency); 0: free.
	CostPerByte float64
}

// LinkEstimate is the current estimate of one source region's link.
type LinkEstimate struct {
	Region      string
	Bandwidth   float64       // bytes/s
	Prior       float64       // bytes/s, the configured prior
	RTT         time.Duration // from membership when measured, else prior
	PriorRTT    time.Duration // the configured prior (0: none)
	Samples     int           // throughput observations folded in
	BytesIn     int64         // stored bytes received from this region
	LastUpdated time.Time
}

const bwAlpha = 0.3

// links holds the per-region throughput EWMAs. Safe for concurrent use.
type links struct {
	mu    sync.Mutex
	prior map[string]Link
	def   float64
	est   map[string]*LinkEstimate
	ratio float64 // EWMA of stored/plain bytes
}

func (l *links) get(region string) LinkEstimate {
	l.mu.Lock()
	defer l.mu.Unlock()
	return *l.entry(region)
}

func (l *links) entry(region string) *LinkEstimate {
	e := l.est[region]
	if e == nil {
		p := l.prior[region]
		bw := p.Bandwidth
		if bw <= 0 {
			bw = l.def
		}
		e = &LinkEstimate{Region: region, Bandwidth: bw, Prior: bw, RTT: p.RTT, PriorRTT: p.RTT}
		l.est[region] = e
	}
	return e
}

// observe folds a throughput sample (bytes in d) into region's estimate.
func (l *links) observe(region string, bytes int64, d time.Duration) {
	if bytes < 64<<10 || d <= 0 {
		return
	}
	l.set(region, float64(bytes)/d.Seconds(), false)
}

// set folds rate into the estimate, or replaces it when force.
func (l *links) set(region string, rate float64, force bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entry(region)
	if force || e.Samples == 0 {
		e.Bandwidth = rate
	} else {
		e.Bandwidth = bwAlpha*rate + (1-bwAlpha)*e.Bandwidth
	}
	e.Samples++
	e.LastUpdated = time.Now()
}

func (l *links) received(region string, stored, plain int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entry(region).BytesIn += stored
	if plain > 0 {
		r := float64(stored) / float64(plain)
		l.ratio = 0.05*r + 0.95*l.ratio
	}
}

func (l *links) compression() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ratio
}

func (l *links) all() []LinkEstimate {
	l.mu.Lock()
	defer l.mu.Unlock()
	for r := range l.prior {
		l.entry(r)
	}
	out := make([]LinkEstimate, 0, len(l.est))
	for _, e := range l.est {
		out = append(out, *e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Region < out[j].Region })
	return out
}
