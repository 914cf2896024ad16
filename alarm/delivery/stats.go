package delivery

import (
	"fmt"
	"io"
	"sort"
	"sync/atomic"
	"time"
)

// LatencyBuckets are the upper bounds of the enqueue-to-acknowledgement
// latency histogram (Prometheus "le" buckets).
var LatencyBuckets = []time.Duration{
	time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond,
	20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond, time.Second, 5 * time.Second, 30 * time.Second, time.Minute,
	10 * time.Minute, time.Hour,
}

type histogram struct {
	counts [16]atomic.Uint64 // len(LatencyBuckets)+1, the last is +Inf
	sumNs  atomic.Uint64
	n      atomic.Uint64
}

func (h *histogram) observe(d time.Duration) {
	i := sort.Search(len(LatencyBuckets), func(i int) bool { return d <= LatencyBuckets[i] })
	h.counts[i].Add(1)
	h.sumNs.Add(uint64(max(d, 0)))
	h.n.Add(1)
}

type counters struct {
	received, duplicates, delivered, failed, retries, failovers, supervision atomic.Uint64
	lat                                                                      histogram
}

// Stats is a snapshot of delivery for /metrics.
type Stats struct {
	Received    uint64 // events accepted into a queue (one per destination)
	Duplicates  uint64 // enqueues refused as already queued or delivered
	Delivered   uint64 // acknowledged by a destination
	Failed      uint64 // moved to the dead letters (kept, counted, never dropped)
	Retries     uint64 // failed attempts that will be retried
	Failovers   uint64 // deliveries that went over the backup endpoint
	Supervision uint64 // supervision events raised by destination monitoring
	Queued      uint64 // waiting now, all destinations
	Dead        uint64 // dead letters now, all destinations

	// Latency from Enqueue to the destination's acknowledgement:
	// LatencyCounts[i] counts deliveries with latency <= LatencyBuckets[i]
	// (not cumulative); the last element counts the rest.
	LatencyCounts []uint64
	LatencySum    time.Duration
	LatencyN      uint64

	Destinations []DestStats
}

// DestStats is one destination's state.
type DestStats struct {
	Name      string
	Queued    uint64
	Dead      uint64
	Delivered uint64
	PrimaryUp bool
	BackupUp  bool // false when there is no backup
	HasBackup bool
	// The last failure of each path (kept after it came back up).
	PrimaryError, BackupError string
}

// Quantile estimates the q-quantile (0..1) of the latency from the
// histogram: the upper bound of the bucket it falls in.
func (s Stats) Quantile(q float64) time.Duration {
	if s.LatencyN == 0 {
		return 0
	}
	want := uint64(q*float64(s.LatencyN) + 0.5)
	var acc uint64
	for i, c := range s.LatencyCounts {
		acc += c
		if acc >= want && i < len(LatencyBuckets) {
			return LatencyBuckets[i]
		}
	}
	return LatencyBuckets[len(LatencyBuckets)-1]
}

// WritePrometheus writes s in the Prometheus text format.
func (s Stats) WritePrometheus(w io.Writer) error {
	var err error
	p := func(format string, a ...any) {
		if err == nil {
			_, err = fmt.Fprintf(w, format, a...)
		}
	}
	for _, c := range []struct {
		name, help string
		v          uint64
	}{
		{"edgebridge_alarm_events_received_total", "Alarm events accepted into a delivery queue.", s.Received},
		{"edgebridge_alarm_events_duplicate_total", "Alarm events refused as already queued or delivered.", s.Duplicates},
		{"edgebridge_alarm_events_delivered_total", "Alarm events acknowledged by their destination.", s.Delivered},
		{"edgebridge_alarm_events_failed_total", "Alarm events moved to the dead letters.", s.Failed},
		{"edgebridge_alarm_delivery_retries_total", "Failed delivery attempts that will be retried.", s.Retries},
		{"edgebridge_alarm_delivery_failovers_total", "Deliveries over the backup endpoint.", s.Failovers},
		{"edgebridge_alarm_supervision_events_total", "Path changes raised by destination monitoring.", s.Supervision},
	} {
		p("# HELP %s %s\n# TYPE %s counter\n%s %d\n", c.name, c.help, c.name, c.name, c.v)
	}
	p("# HELP edgebridge_alarm_events_queued Alarm events waiting for delivery.\n# TYPE edgebridge_alarm_events_queued gauge\n")
	p("edgebridge_alarm_events_queued %d\n", s.Queued)
	p("# HELP edgebridge_alarm_events_dead Alarm events in the dead letters.\n# TYPE edgebridge_alarm_events_dead gauge\n")
	p("edgebridge_alarm_events_dead %d\n", s.Dead)
	for _, d := range s.Destinations {
		p("edgebridge_alarm_destination_queued{destination=%q} %d\n", d.Name, d.Queued)
		p("edgebridge_alarm_destination_up{destination=%q,path=\"primary\"} %d\n", d.Name, b2i(d.PrimaryUp))
		if d.HasBackup {
			p("edgebridge_alarm_destination_up{destination=%q,path=\"backup\"} %d\n", d.Name, b2i(d.BackupUp))
		}
	}
	const h = "edgebridge_alarm_delivery_latency_seconds"
	p("# HELP %s Time from enqueue to the destination's acknowledgement.\n# TYPE %s histogram\n", h, h)
	var acc uint64
	for i, c := range s.LatencyCounts {
		acc += c
		le := "+Inf"
		if i < len(LatencyBuckets) {
			le = fmt.Sprint(LatencyBuckets[i].Seconds())
		}
		p("%s_bucket{le=%q} %d\n", h, le, acc)
	}
	p("%s_sum %g\n%s_count %d\n", h, s.LatencySum.Seconds(), h, s.LatencyN)
	return err
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
