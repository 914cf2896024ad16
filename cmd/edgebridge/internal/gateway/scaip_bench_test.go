package gateway

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/alarm/delivery"
	"github.com/edgebridge/edgebridge/alarm/scaip"
	"github.com/edgebridge/edgebridge/engine"
	"github.com/edgebridge/edgebridge/internal/testkit"
	"github.com/edgebridge/edgebridge/store"
)

// peerEngine is a second SIP engine on loopback playing the far end (an
// ARC or an alarm unit): handle gets each MESSAGE body and may return an
// answer, sent back as a MESSAGE of its own once the 200 is out.
func peerEngine(b *testing.B, domain string, handle func(body []byte) []byte) *engine.Engine {
	b.Helper()
	lo, hi := testkit.PortRange(b, 10)
	var e atomic.Pointer[engine.Engine] // set once built; read by the handler
	var wg sync.WaitGroup
	h := func(ctx context.Context, dom, from, ct string, body []byte) int {
		ans := handle(body)
		if ans == nil {
			return 200
		}
		to, _ := engine.MessageReplyURI(ctx)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = e.Load().SendMessage(ctx, engine.OutMessage{To: to, From: "peer", ContentType: scaip.ContentType, Body: ans})
		}()
		return 200
	}
	pe, err := engine.New(engine.Config{SIPAddr: "127.0.0.1:0", Domain: domain, RTPPortMin: lo, RTPPortMax: hi},
		engine.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))), engine.WithMessageHandler(h))
	if err != nil {
		b.Fatal(err)
	}
	e.Store(pe)
	if err := pe.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { pe.Close(); wg.Wait() })
	return pe
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	if len(lat) == 0 {
		return
	}
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkSCAIPSendToARC: one event to an ARC over SCAIP on loopback, as
// delivery sends it: MESSAGE <mrq> → 200, the ARC's MESSAGE <mrs> snu 0 →
// 200, Send returns. The time per op is the delivery round trip.
func BenchmarkSCAIPSendToARC(b *testing.B) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	arc := peerEngine(b, "arc.test", func(body []byte) []byte {
		req, err := scaip.ParseRequest(body)
		if err != nil {
			b.Errorf("ARC got a bad <mrq>: %v", err)
			return nil
		}
		ans, _ := scaip.Response{Ref: req.Ref, Snu: scaip.SnuOK}.Marshal()
		return ans
	})
	g := &Gateway{log: log}
	engOpt, _ := g.scaipOptions()
	lo, hi := testkit.PortRange(b, 10)
	gw, err := engine.New(engine.Config{SIPAddr: "127.0.0.1:0", Domain: "local", RTPPortMin: lo, RTPPortMax: hi}, engine.WithLogger(log), engOpt)
	if err != nil {
		b.Fatal(err)
	}
	g.eng = gw
	if err := gw.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer func() { gw.Close(); g.scaip.in.Wait() }()
	s, err := delivery.SCAIPFactory(scaipClient{g}, g.scaip.replies, "", log)(delivery.Endpoint{Protocol: "scaip", URL: "sip:arc@" + arc.Addr()})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ev := contactIDEvent("bench" + strconv.Itoa(i))
		t0 := time.Now()
		if err := s.Send(ctx, ev); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	reportPercentiles(b, lat)
}

// BenchmarkSCAIPUnitToAnswer: an alarm unit's <mrq> MESSAGE to the gateway
// until the unit holds the <mrs>: 200, the event mapped and written to the
// delivery queue in bbolt (fsync, like a kissoff), then the gateway's
// MESSAGE with the <mrs> and the unit's 200.
func BenchmarkSCAIPUnitToAnswer(b *testing.B) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := store.Open(filepath.Join(b.TempDir(), "eb.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	// Delivery is not started: events stay queued, so the figure is the
	// unit's side alone (the ARC side is the other benchmark).
	dl := delivery.New(db, func(ev alarm.Event) ([]delivery.Route, error) {
		r, err := delivery.CallbackRoute(ev.Domain, "units", "http://127.0.0.1:9", nil, nil, 0)
		return []delivery.Route{r}, err
	}, delivery.WithLogger(log))
	answers := make(chan []byte, 1)
	unit := peerEngine(b, "unit.test", func(body []byte) []byte {
		answers <- body
		return nil
	})
	in := &scaip.Inbound{Replies: &scaip.Replies{}, Log: log,
		Handler: func(_ context.Context, domain string) *scaip.Handler { return &scaip.Handler{Queue: dl, Log: log} }}
	var gwp atomic.Pointer[engine.Engine]
	in.Reply = func(ctx context.Context, domain, from string, body []byte) error {
		to, _ := engine.MessageReplyURI(ctx)
		_, err := gwp.Load().SendMessage(ctx, engine.OutMessage{To: to, ContentType: scaip.ContentType, Body: body})
		return err
	}
	lo, hi := testkit.PortRange(b, 10)
	gw, err := engine.New(engine.Config{SIPAddr: "127.0.0.1:0", Domain: "local", RTPPortMin: lo, RTPPortMax: hi},
		engine.WithLogger(log), engine.WithMessageHandler(in.HandleMessage))
	if err != nil {
		b.Fatal(err)
	}
	gwp.Store(gw)
	if err := gw.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer func() { gw.Close(); in.Wait() }()
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ref := "u" + strconv.Itoa(i)
		body, _ := scaip.Request{Ref: ref, Ver: "01.00", Mty: scaip.TypeAlarm, Cid: "4711", Dty: "0005"}.Marshal()
		t0 := time.Now()
		code, err := unit.SendMessage(ctx, engine.OutMessage{To: "sip:scaip@" + gw.Addr(), From: "4711", ContentType: scaip.ContentType, Body: body})
		if err != nil || code != 200 {
			b.Fatalf("unit MESSAGE: %d %v", code, err)
		}
		resp, err := scaip.ParseResponse(<-answers)
		if err != nil || resp.Ref != ref || resp.Snu != scaip.SnuOK {
			b.Fatalf("unit got %+v %v, want snu 0 for %s", resp, err, ref)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	reportPercentiles(b, lat)
}
