package delivery

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchLatency measures, one event at a time, the time from Enqueue (which
// includes the fsync) to the moment the sender holds the ARC's
// acknowledgement, and reports p50/p99 in milliseconds.
func benchLatency(b *testing.B, route Route) {
	acks := make(chan time.Time, 1)
	opts := append(fastOpts(), func(o *options) {
		o.onAck = func(string, time.Duration) { acks <- time.Now() }
	})
	d := New(openDB(b), fixed(route), opts...)
	start(b, d)
	lat := make([]time.Duration, 0, b.N)
	enq := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ev := cidEvent("1234", i)
		t0 := time.Now()
		if err := d.Enqueue(b.Context(), ev); err != nil {
			b.Fatal(err)
		}
		enq = append(enq, time.Since(t0))
		select {
		case t1 := <-acks:
			lat = append(lat, t1.Sub(t0))
		case <-time.After(10 * time.Second):
			b.Fatalf("event %d not acknowledged", i)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	slices.Sort(enq)
	q := func(v []time.Duration, p float64) float64 {
		return float64(v[min(len(v)-1, int(p*float64(len(v))))].Microseconds()) / 1000
	}
	b.ReportMetric(q(lat, 0.50), "p50-ms")
	b.ReportMetric(q(lat, 0.99), "p99-ms")
	b.ReportMetric(q(enq, 0.50), "enqueue-p50-ms") // the durable write, before the kissoff
	b.ReportMetric(0, "ns/op")                     // the per-op time is the latency itself; the quantiles say more
}

func BenchmarkEnqueueToAckHTTP(b *testing.B) {
	arc := newHTTPARC(b)
	route, _ := CallbackRoute("bench", "ab1", arc.srv.URL, []RestAuth{{Type: "HS256", Secret: "bench-secret-of-32-bytes-or-more-0"}}, nil, 2000)
	benchLatency(b, route)
}

func BenchmarkEnqueueToAckDC09TCP(b *testing.B) {
	arc := newDC09ARC(b, "127.0.0.1:0", nil)
	benchLatency(b, Route{Name: "arc", Primary: Endpoint{Protocol: ProtoDC09, URL: arc.addr, Transport: "tcp"}})
}

func BenchmarkEnqueueToAckDC09UDPAES(b *testing.B) {
	key := make([]byte, 32)
	arc := newDC09ARC(b, "127.0.0.1:0", key)
	benchLatency(b, Route{Name: "arc", Primary: Endpoint{Protocol: ProtoDC09, URL: arc.addr, Transport: "udp", Key: key}})
}

// BenchmarkQueueThroughput pushes b.N events from 8 concurrent callers
// (calls on several lines) through the queue to an HTTP ARC and reports
// events per second from the first Enqueue to the last acknowledgement.
func BenchmarkQueueThroughput(b *testing.B) {
	arc := newHTTPARC(b)
	route, _ := CallbackRoute("bench", "ab1", arc.srv.URL, nil, nil, 2000)
	var acked atomic.Int64
	done := make(chan struct{})
	n := int64(b.N)
	opts := append(fastOpts(), func(o *options) {
		o.onAck = func(string, time.Duration) {
			if acked.Add(1) == n {
				close(done)
			}
		}
	})
	d := New(openDB(b), fixed(route), opts...)
	start(b, d)
	b.ResetTimer()
	t0 := time.Now()
	var wg sync.WaitGroup
	const callers = 8
	for c := 0; c < callers; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c; i < b.N; i += callers {
				if err := d.Enqueue(b.Context(), cidEvent(fmt.Sprint(1000+c), i)); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	enq := time.Since(t0)
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		b.Fatalf("%d of %d acknowledged", acked.Load(), n)
	}
	el := time.Since(t0)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "events/s")
	b.ReportMetric(float64(b.N)/enq.Seconds(), "enqueued/s")
}
