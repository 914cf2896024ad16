package metrics

import (
	"bufio"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Registry holds metrics and collectors; it is an http.Handler for /metrics.
type Registry struct {
	mu         sync.Mutex
	metrics    []metric
	names      map[string]bool
	collectors []Collector
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{names: map[string]bool{}} }

type metric interface {
	desc() (name, help, typ string)
	write(w *Writer)
}

// Collector writes samples it reads at scrape time (from Stats() of other
// components), so those components need not know about metrics.
type Collector interface {
	Collect(w *Writer)
}

// CollectorFunc adapts a function to Collector.
type CollectorFunc func(w *Writer)

func (f CollectorFunc) Collect(w *Writer) { f(w) }

func (r *Registry) add(m metric) {
	name, _, _ := m.desc()
	if !validName(name) {
		panic("metrics: invalid metric name " + strconv.Quote(name))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.names[name] {
		panic("metrics: registered twice: " + name)
	}
	r.names[name] = true
	r.metrics = append(r.metrics, m)
}

// Register adds a collector.
func (r *Registry) Register(c Collector) {
	r.mu.Lock()
	r.collectors = append(r.collectors, c)
	r.mu.Unlock()
}

// Counter only goes up. Safe for concurrent use; Add does not allocate.
type Counter struct {
	name, help string
	v          atomic.Uint64
}

// NewCounter registers a counter; name should end in _total.
func (r *Registry) NewCounter(name, help string) *Counter {
	c := &Counter{name: name, help: help}
	r.add(c)
	return c
}

func (c *Counter) Inc()          { c.v.Add(1) }
func (c *Counter) Add(n uint64)  { c.v.Add(n) }
func (c *Counter) Value() uint64 { return c.v.Load() }
func (c *Counter) desc() (string, string, string) {
	return c.name, c.help, "counter"
}
func (c *Counter) write(w *Writer) { w.Sample(c.name, nil, float64(c.v.Load())) }

// Gauge goes up and down.
type Gauge struct {
	name, help string
	bits       atomic.Uint64
}

// NewGauge registers a gauge.
func (r *Registry) NewGauge(name, help string) *Gauge {
	g := &Gauge{name: name, help: help}
	r.add(g)
	return g
}

func (g *Gauge) Set(v float64)  { g.bits.Store(math.Float64bits(v)) }
func (g *Gauge) Value() float64 { return math.Float64frombits(g.bits.Load()) }
func (g *Gauge) Add(d float64)  { addFloat(&g.bits, d) }

// addFloat adds d to the float64 whose bits are in bits, without a lock.
func addFloat(bits *atomic.Uint64, d float64) {
	for {
		old := bits.Load()
		if bits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+d)) {
			return
		}
	}
}
func (g *Gauge) desc() (string, string, string) { return g.name, g.help, "gauge" }
func (g *Gauge) write(w *Writer)                { w.Sample(g.name, nil, g.Value()) }

// Histogram counts observations into fixed upper bounds (le buckets).
type Histogram struct {
	name, help string
	bounds     []float64
	counts     []atomic.Uint64 // per bucket, not cumulative; last is +Inf
	count      atomic.Uint64
	sumBits    atomic.Uint64
}

// NewHistogram registers a histogram with increasing upper bounds.
func (r *Registry) NewHistogram(name, help string, bounds []float64) *Histogram {
	if !sort.Float64sAreSorted(bounds) {
		panic("metrics: histogram bounds not increasing: " + name)
	}
	h := &Histogram{name: name, help: help, bounds: bounds, counts: make([]atomic.Uint64, len(bounds)+1)}
	r.add(h)
	return h
}

// Observe records v. It does not allocate.
func (h *Histogram) Observe(v float64) {
	i := sort.SearchFloat64s(h.bounds, v) // first bound >= v: le is inclusive
	h.counts[i].Add(1)
	h.count.Add(1)
	addFloat(&h.sumBits, v)
}

// ObserveDuration records d in seconds.
func (h *Histogram) ObserveDuration(d time.Duration) { h.Observe(d.Seconds()) }

// Count is the number of observations.
func (h *Histogram) Count() uint64 { return h.count.Load() }

func (h *Histogram) desc() (string, string, string) { return h.name, h.help, "histogram" }
func (h *Histogram) write(w *Writer) {
	var cum uint64
	for i, b := range h.bounds {
		cum += h.counts[i].Load()
		w.Sample(h.name+"_bucket", []string{"le", formatFloat(b)}, float64(cum))
	}
	cum += h.counts[len(h.bounds)].Load()
	w.Sample(h.name+"_bucket", []string{"le", "+Inf"}, float64(cum))
	w.Sample(h.name+"_sum", nil, math.Float64frombits(h.sumBits.Load()))
	w.Sample(h.name+"_count", nil, float64(cum))
}

// Writer writes one scrape. Collectors call Family once per metric name
// (HELP and TYPE) and then Sample for each of its series.
type Writer struct {
	b    *bufio.Writer
	seen map[string]bool
}

// Family writes the HELP and TYPE lines of a metric (once per scrape).
func (w *Writer) Family(name, help, typ string) {
	if w.seen[name] {
		return
	}
	w.seen[name] = true
	fmt.Fprintf(w.b, "# HELP %s %s\n# TYPE %s %s\n", name, escapeHelp(help), name, typ)
}

// Sample writes one line: name{k="v",...} value. labels alternate key, value.
func (w *Writer) Sample(name string, labels []string, v float64) {
	w.b.WriteString(name)
	if len(labels) > 0 {
		w.b.WriteByte('{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				w.b.WriteByte(',')
			}
			w.b.WriteString(labels[i])
			w.b.WriteString(`="`)
			w.b.WriteString(escapeLabel(labels[i+1]))
			w.b.WriteByte('"')
		}
		w.b.WriteByte('}')
	}
	w.b.WriteByte(' ')
	w.b.WriteString(formatFloat(v))
	w.b.WriteByte('\n')
}

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// Label values escape backslash, double quote and newline; HELP escapes
// backslash and newline (exposition format 0.0.4).
var (
	labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)

func escapeLabel(s string) string { return labelEscaper.Replace(s) }
func escapeHelp(s string) string  { return helpEscaper.Replace(s) }

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if !(c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// ContentType is the exposition format's media type.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// ServeHTTP writes every metric, then every collector's samples.
func (r *Registry) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		rw.Header().Set("Allow", "GET, HEAD")
		http.Error(rw, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	rw.Header().Set("Content-Type", ContentType)
	bw := bufio.NewWriter(rw)
	r.WriteTo(bw)
	bw.Flush()
}

// WriteTo writes one scrape to b.
func (r *Registry) WriteTo(b *bufio.Writer) {
	r.mu.Lock()
	ms := append([]metric(nil), r.metrics...)
	cs := append([]Collector(nil), r.collectors...)
	r.mu.Unlock()
	w := &Writer{b: b, seen: map[string]bool{}}
	for _, m := range ms {
		name, help, typ := m.desc()
		w.Family(name, help, typ)
		m.write(w)
	}
	for _, c := range cs {
		c.Collect(w)
	}
}
