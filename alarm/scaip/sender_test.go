package scaip

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
)

// fakeARC answers each MESSAGE with status and then, like an ARC, with a
// MESSAGE of its own carrying <mrs> (snus in turn; -1 = no answer).
type fakeARC struct {
	mu      sync.Mutex
	replies *Replies
	status  int
	snus    []int
	got     []Request
	wg      sync.WaitGroup
}

func (a *fakeARC) SendMessage(ctx context.Context, m OutMessage) (int, error) {
	r, err := ParseRequest(m.Body)
	if err != nil {
		return 400, nil
	}
	a.mu.Lock()
	a.got = append(a.got, r)
	snu := 0
	if len(a.snus) > 0 {
		snu, a.snus = a.snus[0], a.snus[1:]
	}
	a.mu.Unlock()
	if a.status != 0 {
		return a.status, nil
	}
	if snu >= 0 {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			time.Sleep(time.Millisecond) // the answer comes after the 200
			b, _ := Response{Ref: r.Ref, Snu: snu}.Marshal()
			a.replies.Deliver(b)
		}()
	}
	return 200, nil
}

func newSender(arc *fakeARC) *Sender {
	arc.replies = &Replies{}
	return &Sender{Client: arc, Replies: arc.replies, Target: Target{To: "sip:arc@127.0.0.1", From: "sip:gw@127.0.0.1"},
		ReplyTimeout: 200 * time.Millisecond, HoldWait: time.Millisecond}
}

func TestSenderAnswers(t *testing.T) {
	ev := alarm.Event{ID: "0a44fec103ad138803953476a900fb6e", ControllerID: "1234", StatusCode: "1130"}
	for _, tc := range []struct {
		name   string
		arc    *fakeARC
		want   error // nil, ErrRefused, or errAny
		frames int
	}{
		{"accepted", &fakeARC{snus: []int{0}}, nil, 1},
		{"hold, then accepted (resent, same ref)", &fakeARC{snus: []int{4, 4, 0}}, nil, 3},
		{"invalid format: final", &fakeARC{snus: []int{2}}, ErrRefused, 1},
		{"busy: retry later", &fakeARC{snus: []int{6}}, errAny, 1},
		{"no answer", &fakeARC{snus: []int{-1}}, errAny, 1},
		{"SIP 503", &fakeARC{status: 503}, errAny, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			arc := tc.arc
			err := newSender(arc).Send(context.Background(), ev)
			arc.wg.Wait()
			switch {
			case tc.want == nil && err != nil:
				t.Fatal(err)
			case tc.want == ErrRefused && (!errors.Is(err, ErrRefused) || !alarm.IsPermanent(err)):
				t.Fatalf("%v, want ErrRefused marked permanent", err)
			case tc.want == errAny && (err == nil || alarm.IsPermanent(err)):
				t.Fatalf("%v, want a retryable error", err)
			}
			if len(arc.got) != tc.frames {
				t.Fatalf("%d MESSAGEs, want %d", len(arc.got), tc.frames)
			}
			for _, r := range arc.got {
				if r.Ref != "0a44fec103ad1388" || r.Cid != "1234" || r.Stc != "1130" {
					t.Errorf("request %+v", r)
				}
			}
		})
	}
}

var errAny = errors.New("any")

func TestSenderProbe(t *testing.T) {
	arc := &fakeARC{}
	s := newSender(arc)
	if err := s.Probe(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(arc.got) != 1 || arc.got[0].Type() != TypeHeartbeat {
		t.Fatalf("%+v", arc.got)
	}
	arc.snus = []int{-1}
	if err := s.Probe(context.Background()); err == nil {
		t.Fatal("probe without answer succeeded")
	}
	arc.wg.Wait()
}

func TestInbound(t *testing.T) {
	q := &sliceQueue{}
	var mu sync.Mutex
	var answers []string
	done := make(chan struct{}, 4)
	in := &Inbound{
		Replies: &Replies{},
		Handler: func(_ context.Context, domain string) *Handler {
			if domain != "d" {
				return nil
			}
			return &Handler{Queue: q, Mre: 1, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		},
		Reply: func(_ context.Context, domain, to string, body []byte) error {
			mu.Lock()
			answers = append(answers, to+" "+string(body))
			mu.Unlock()
			done <- struct{}{}
			return nil
		},
	}
	ctx := context.Background()
	if code := in.HandleMessage(ctx, "d", "4612345678", "application/scaip+xml", []byte(fallAlarm)); code != 200 {
		t.Fatalf("status %d", code)
	}
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("no answer sent")
	}
	in.Wait()
	if len(q.evs) != 1 || len(answers) != 1 || !strings.HasPrefix(answers[0], "4612345678 ") || !strings.Contains(answers[0], "<snu>0</snu>") {
		t.Fatalf("queued %d, answers %q", len(q.evs), answers)
	}
	if code := in.HandleMessage(ctx, "d", "x", "text/plain", []byte("hi")); code != 415 {
		t.Errorf("text/plain: %d", code)
	}
	if code := in.HandleMessage(ctx, "other", "x", ContentType, []byte(fallAlarm)); code != 404 {
		t.Errorf("domain without SCAIP: %d", code)
	}
	// An <mrs> for a request of ours reaches the waiting sender.
	ch, stop := in.Replies.wait("R1")
	defer stop()
	b, _ := Response{Ref: "R1", Snu: 0}.Marshal()
	if code := in.HandleMessage(ctx, "d", "arc", ContentType, b); code != 200 {
		t.Fatalf("mrs: %d", code)
	}
	select {
	case r := <-ch:
		if r.Ref != "R1" {
			t.Fatalf("%+v", r)
		}
	default:
		t.Fatal("mrs not delivered")
	}
}
