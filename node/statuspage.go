package node

// The status page: GET / on the ops listener (host-local and read-only
// like the rest of it) renders the same Status as GET /status, as HTML
// with inline SVG from html/template, and reloads itself every few
// seconds. No JavaScript, no assets, nothing to build.

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nitro-cloud/nitro/node/internal/namespace"
)

// ImageStatus is where one object's content lives: per region, the share
// of its distinct chunks held there.
type ImageStatus struct {
	Account   string `json:"account"`
	Container string `json:"container"`
	Object    string `json:"object"`
	Bytes     int64  `json:"bytes"`
	// Chunks is the number of distinct chunks of its recipe.
	Chunks  int           `json:"chunks"`
	Regions []RegionShare `json:"regions"`
	// Placing is true while an eager-placement copy of it into this
	// region runs or waits.
	Placing bool `json:"placing"`
}

// RegionShare is one region's part of an object.
type RegionShare struct {
	Region string `json:"region"`
	// Share is the fraction (0..1) of the object's distinct chunks the
	// region holds: this region's from its store, a peer's from its answer
	// to a have request; -1: unknown (the region did not answer).
	Share float64 `json:"share"`
	// Holding is whether the region recorded that it holds every chunk
	// (namespace holdings, replicated).
	Holding bool `json:"holding"`
}

const (
	// pageImages is how many objects the page shows.
	pageImages = 20
	// maxImages bounds GET /status?images=N.
	maxImages = 200
	// sharesTimeout bounds the have requests of one status.
	sharesTimeout = 3 * time.Second
	// pageRefresh is the page's reload period.
	pageRefresh = 3 * time.Second
)

// images returns where the first limit live objects (key order) with
// content live. Cost per object: a recipe read, a local lookup of its
// chunks and, in a cluster, one have request per live peer region.
func (n *Node) images(ctx context.Context, limit int, st *Status) ([]ImageStatus, error) {
	out := []ImageStatus{}
	if limit <= 0 {
		return out, nil
	}
	var recs []*namespace.Record
	err := n.ns.Scan(ctx, namespace.KindObject, namespace.Key{}, func(r *namespace.Record) (bool, error) {
		if r.Live() && !r.Recipe.IsZero() {
			recs = append(recs, r)
		}
		return len(recs) < limit, ctx.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("status: objects: %w", err)
	}
	regions := []string{n.cfg.Region}
	placing := map[string]bool{}
	if c := st.Cluster; c != nil {
		for _, m := range c.Members {
			if !slices.Contains(regions, m.Region) {
				regions = append(regions, m.Region)
			}
		}
		for _, p := range c.Placing {
			placing[p.Object] = true
		}
	}
	slices.Sort(regions)
	for _, r := range recs {
		rc, err := n.store.Recipe(ctx, r.Recipe)
		if err != nil {
			continue // collected meanwhile, or a region that never had it
		}
		ids := rc.Unique()
		im := ImageStatus{Account: r.Account, Container: r.Container, Object: r.Object, Bytes: r.Size, Chunks: len(ids),
			Placing: placing[r.Account+"/"+r.Container+"/"+r.Object]}
		holders, _ := n.ns.Holders(ctx, r.Recipe)
		shares := map[string]float64{}
		if has, err := n.store.Has(ctx, ids); err == nil && len(ids) > 0 {
			k := 0
			for _, h := range has {
				if h {
					k++
				}
			}
			shares[n.cfg.Region] = float64(k) / float64(len(ids))
		}
		if n.cluster != nil {
			sctx, cancel := context.WithTimeout(ctx, sharesTimeout)
			for reg, s := range n.cluster.fetch.Shares(sctx, rc) {
				shares[reg] = s
			}
			cancel()
		}
		for _, reg := range regions {
			s, ok := shares[reg]
			if !ok {
				s = -1
			}
			im.Regions = append(im.Regions, RegionShare{Region: reg, Share: s, Holding: slices.Contains(holders, reg)})
		}
		out = append(out, im)
	}
	return out, nil
}

// statusWithImages is Status plus Images of the first limit objects.
func (n *Node) statusWithImages(ctx context.Context, limit int) (*Status, error) {
	st, err := n.Status(ctx)
	if err != nil {
		return nil, err
	}
	if limit > 0 {
		if st.Images, err = n.images(ctx, min(limit, maxImages), st); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// imagesParam parses GET /status's images=N (absent: 0).
func imagesParam(r *http.Request) (int, error) {
	s := r.URL.Query().Get("images")
	if s == "" {
		return 0, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("images %q: want a count from 0 to %d", s, maxImages)
	}
	return v, nil
}

// servePage renders the status page.
func (n *Node) servePage(w http.ResponseWriter, r *http.Request) {
	st, err := n.statusWithImages(r.Context(), pageImages)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := pageTmpl.Execute(&buf, newPageView(st, time.Now())); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:")
	_, _ = w.Write(buf.Bytes())
}

//go:embed statuspage.html
var pageHTML string

var pageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"bytes":   humanBytes,
	"pct":     func(f float64) string { return fmt.Sprintf("%.0f%%", 100*f) },
	"secs":    humanSecs,
	"rate":    humanRate,
	"ratio":   func(f float64) string { return fmt.Sprintf("%.2f×", f) },
	"when":    func(t time.Time) string { return t.UTC().Format("15:04:05") },
	"width":   func(f float64) string { return fmt.Sprintf("%.1f", 100*math.Max(0, math.Min(1, f))) },
	"refresh": func() int { return int(pageRefresh / time.Second) },
}).Parse(pageHTML))

// pageView is the template's model: the Status and the geometry of its
// drawings, computed here so that the template only places them.
type pageView struct {
	S          *Status
	Now        time.Time
	Dedup      float64
	Regions    []regionView
	Links      []linkView
	MapW, MapH int
	Transfers  []transferView
	Members    []MemberStatus
}

type regionView struct {
	Name, State, Color string
	X, Y               float64
	Nodes              []string
	Alive              int // nodes alive
	Self               bool
}

type linkView struct {
	From, To            string
	X1, Y1, X2, Y2      float64
	LX, LY              float64 // label position
	Bandwidth, Prior    float64
	RTT, PriorRTT       float64
	Color               string
	Samples             int
	Received            int64
	Ratio               float64 // estimate / prior
	HasPrior, HasSample bool
}

type transferView struct {
	T                 TransferStatus
	State             string
	W, H              int
	PlotX, PlotY      int // plot origin (left, bottom)
	PlotW, PlotH      int
	PlotR, TickY      int // plot's right edge; baseline of the time labels
	Series            []seriesView
	PredX, LowX, NowX float64
	BoundAtPlan       bool   // the lines are too close for two labels
	PlanAnchor        string // the plan label's side: "start" (right of its line) or "end"
	XMax              float64
	YMaxLabel         string
	XTicks            []tickView
}

type seriesView struct {
	Region, Color, Points string
	// PlanX2, PlanY2: the end of the plan's line for the source (from
	// the origin to its planned bytes at its planned finish).
	PlanX2, PlanY2 float64
	Bytes, Planned int64
	PlannedSeconds float64
	Failed         bool
}

type tickView struct {
	X     float64
	Label string
}

var palette = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"}

func stateColor(s string) string {
	switch s {
	case "alive":
		return "#2e7d32"
	case "suspect":
		return "#f9a825"
	case "":
		return "#9e9e9e"
	default:
		return "#c62828"
	}
}

// stateRank orders member states from best to worst.
func stateRank(s string) int {
	switch s {
	case "alive":
		return 0
	case "suspect":
		return 1
	case "left":
		return 2
	default:
		return 3
	}
}

func newPageView(st *Status, now time.Time) *pageView {
	v := &pageView{S: st, Now: now, MapW: 660, MapH: 250}
	stored := st.Store.StoredBytes
	v.Dedup = dedupRatio(st.Objects.PlainBytes, stored)
	c := st.Cluster
	if c == nil {
		v.Regions = []regionView{{Name: st.Region, State: "alive", Color: stateColor("alive"), X: 100, Y: float64(v.MapH) / 2, Nodes: []string{st.Node}, Alive: 1, Self: true}}
		v.Members = []MemberStatus{{Name: st.Node, Region: st.Region, State: "alive"}}
		return v
	}
	v.Members = slices.Clone(c.Members)
	if !slices.ContainsFunc(v.Members, func(m MemberStatus) bool { return m.Name == st.Node }) {
		v.Members = append(v.Members, MemberStatus{Name: st.Node, Region: st.Region, PeerURL: c.PeerURL, State: "alive"})
	}
	slices.SortFunc(v.Members, func(a, b MemberStatus) int {
		return strings.Compare(a.Region+"/"+a.Name, b.Region+"/"+b.Name)
	})
	byRegion := map[string]*regionView{}
	var names []string
	for _, m := range v.Members {
		r := byRegion[m.Region]
		if r == nil {
			r = &regionView{Name: m.Region, State: m.State, Self: m.Region == st.Region}
			byRegion[m.Region] = r
			names = append(names, m.Region)
		}
		r.Nodes = append(r.Nodes, m.Name)
		if m.State == "alive" {
			r.Alive++
		}
		// A region is as good as its best node (any alive node serves it).
		if stateRank(m.State) < stateRank(r.State) {
			r.State = m.State
		}
	}
	for _, l := range c.Links {
		if byRegion[l.Region] == nil {
			byRegion[l.Region] = &regionView{Name: l.Region}
			names = append(names, l.Region)
		}
	}
	if byRegion[st.Region] == nil {
		byRegion[st.Region] = &regionView{Name: st.Region, State: "alive", Self: true, Nodes: []string{st.Node}, Alive: 1}
		names = append(names, st.Region)
	}
	// This region on the left, the others in a column on the right (on
	// a slight arc), so that every link runs right to left.
	others := slices.DeleteFunc(slices.Clone(names), func(s string) bool { return s == st.Region })
	slices.Sort(others)
	self := byRegion[st.Region]
	self.X, self.Y = 100, float64(v.MapH)/2
	for i, name := range others {
		r := byRegion[name]
		f := 0.5
		if len(others) > 1 {
			f = float64(i) / float64(len(others)-1)
		}
		r.Y = 44 + (float64(v.MapH)-88)*f
		r.X = 500 + 40*math.Sin(math.Pi*f)
	}
	for _, name := range append([]string{st.Region}, others...) {
		r := byRegion[name]
		r.Color = stateColor(r.State)
		v.Regions = append(v.Regions, *r)
	}
	for _, l := range c.Links {
		from := byRegion[l.Region]
		lv := linkView{From: l.Region, To: st.Region, X1: from.X, Y1: from.Y, X2: self.X, Y2: self.Y,
			Bandwidth: l.BandwidthBytesPerSecond, Prior: l.PriorBandwidthBytesPerSecond, RTT: l.RTTSeconds, PriorRTT: l.PriorRTTSeconds,
			Samples: l.Samples, Received: l.ReceivedBytes, HasPrior: l.PriorBandwidthBytesPerSecond > 0, HasSample: l.Samples > 0}
		// Shorten the line to the circles' edges.
		dx, dy := lv.X2-lv.X1, lv.Y2-lv.Y1
		d := math.Hypot(dx, dy)
		if d > 80 {
			lv.X1, lv.Y1 = lv.X1+dx/d*38, lv.Y1+dy/d*38
			lv.X2, lv.Y2 = lv.X2-dx/d*38, lv.Y2-dy/d*38
		}
		// The label in a box on the line's middle.
		lv.LX, lv.LY = (lv.X1+lv.X2)/2+10, (lv.Y1+lv.Y2)/2-3
		lv.Color = "#607d8b"
		if lv.HasPrior {
			lv.Ratio = lv.Bandwidth / lv.Prior
			switch {
			case !lv.HasSample:
				lv.Color = "#607d8b"
			case lv.Ratio >= 0.8:
				lv.Color = "#2e7d32"
			case lv.Ratio >= 0.4:
				lv.Color = "#f9a825"
			default:
				lv.Color = "#c62828"
			}
		}
		if from.State != "alive" && from.State != "" {
			lv.Color = "#c62828"
		}
		v.Links = append(v.Links, lv)
	}
	for _, t := range c.Transfers {
		v.Transfers = append(v.Transfers, newTransferView(t))
	}
	return v
}

func newTransferView(t TransferStatus) transferView {
	tv := transferView{T: t, State: "finished", W: 560, H: 170, PlotX: 56, PlotY: 140, PlotW: 480, PlotH: 120, PlotR: 536, TickY: 155}
	if t.Running() {
		tv.State = "running"
	} else if t.FailedChunks > 0 {
		tv.State = "failed"
	}
	tv.XMax = math.Max(math.Max(t.ElapsedSeconds, t.PredictedSeconds), 0.001) * 1.08
	for _, s := range t.Sources {
		tv.XMax = math.Max(tv.XMax, s.PlannedSeconds*1.08)
	}
	var ymax int64 = 1
	for _, s := range t.Sources {
		ymax = max(ymax, s.Bytes, s.PlannedBytes)
	}
	x := func(sec float64) float64 { return float64(tv.PlotX) + sec/tv.XMax*float64(tv.PlotW) }
	y := func(b int64) float64 { return float64(tv.PlotY) - float64(b)/float64(ymax)*float64(tv.PlotH) }
	for i, s := range t.Sources {
		var pts strings.Builder
		fmt.Fprintf(&pts, "%.1f,%.1f", x(0), y(0))
		for _, p := range s.Points {
			fmt.Fprintf(&pts, " %.1f,%.1f", x(p.Seconds), y(p.Bytes))
		}
		if t.Running() && len(s.Points) > 0 { // flat to now
			fmt.Fprintf(&pts, " %.1f,%.1f", x(t.ElapsedSeconds), y(s.Bytes))
		}
		tv.Series = append(tv.Series, seriesView{Region: s.Region, Color: palette[i%len(palette)], Points: pts.String(),
			PlanX2: x(s.PlannedSeconds), PlanY2: y(s.PlannedBytes), PlannedSeconds: s.PlannedSeconds,
			Bytes: s.Bytes, Planned: s.PlannedBytes, Failed: s.Failed})
	}
	tv.PredX, tv.LowX, tv.NowX = x(t.PredictedSeconds), x(t.LowerBoundSeconds), x(t.ElapsedSeconds)
	tv.BoundAtPlan = math.Abs(tv.PredX-tv.LowX) < 40
	tv.PlanAnchor = "start"
	if tv.PredX > float64(tv.W)-80 {
		tv.PlanAnchor = "end"
	}
	tv.YMaxLabel = humanBytes(ymax)
	step := niceStep(tv.XMax / 5)
	for s := 0.0; s <= tv.XMax; s += step {
		tv.XTicks = append(tv.XTicks, tickView{X: x(s), Label: humanSecs(s)})
	}
	return tv
}

// niceStep rounds x up to 1, 2 or 5 times a power of ten.
func niceStep(x float64) float64 {
	if x <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= x {
			return m * p
		}
	}
	return 10 * p
}

func humanBytes(b int64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%d B", b)
	}
	div, exp := int64(unit), 0
	for n := b / unit; n >= unit && exp < 5; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(b)/float64(div), "KMGTPE"[exp])
}

func humanSecs(s float64) string {
	switch {
	case s == 0:
		return "0"
	case s < 1:
		return fmt.Sprintf("%.0f ms", s*1000)
	case s < 120:
		return fmt.Sprintf("%.1f s", s)
	case s < 7200:
		return fmt.Sprintf("%.0f min", s/60)
	default:
		return fmt.Sprintf("%.1f h", s/3600)
	}
}

// humanRate shows bytes/s as Mbit/s, the unit links are configured in.
func humanRate(bps float64) string {
	return fmt.Sprintf("%.1f Mbit/s", bps*8/1e6)
}
