package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/alarm/contactid"
	"github.com/edgebridge/edgebridge/engine"
	"github.com/edgebridge/edgebridge/internal/testkit"
)

// alarmGateway is an engine whose every call goes to a Contact ID receiver,
// as serve wires an alarmbridge; it records the events it acknowledged.
// Like the store's queue it keeps one event per id: a panel that missed a
// kissoff on a loaded machine repeats its message, which is the same event.
func alarmGateway(t *testing.T, dtmf string, opts ...engine.Option) (*engine.Engine, func() []alarm.Event) {
	t.Helper()
	rx, err := contactid.NewReceiver(contactid.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var events []alarm.Event
	q := alarm.QueueFunc(func(ctx context.Context, ev alarm.Event) error {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range events {
			if e.ID == ev.ID {
				return nil
			}
		}
		events = append(events, ev)
		return nil
	})
	h := engine.CallHandlerFunc(func(ctx context.Context, c *engine.Call) {
		if err := c.Answer(); err != nil {
			t.Errorf("answer: %v", err)
			return
		}
		_, _ = rx.Receive(ctx, c.Session(), alarm.Call{ID: c.ID, Domain: c.Domain, Caller: c.Caller, Called: c.Called}, q)
	})
	re, _ := engine.CompileMatch("/^555/")
	lo, hi := testkit.PortRange(t, 200)
	e, err := engine.New(engine.Config{SIPAddr: "127.0.0.1:0", Domain: "gw.test", RTPPortMin: lo, RTPPortMax: hi},
		append(opts, engine.WithRoutes(engine.RouteSourceFunc(func(string) []engine.Route {
			return []engine.Route{{Name: "alarmbridge/cid", Match: re, Handler: h, DTMF: dtmf, DataMode: true}}
		})))...)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e, func() []alarm.Event {
		mu.Lock()
		defer mu.Unlock()
		return append([]alarm.Event(nil), events...)
	}
}

func TestSimulateGetsKissoff(t *testing.T) {
	for _, mode := range []string{"2833", "inaudio"} {
		t.Run(mode, func(t *testing.T) {
			// As in the README demo: the panel is a deviceid device (its
			// account), which may call the alarmbridge from anywhere.
			dir := engine.NewStaticDirectory()
			dir.PutDevice("gw.test", engine.Device{DeviceID: "1234", AuthType: "deviceid"})
			e, events := alarmGateway(t, mode, engine.WithDirectory(dir))
			var out, errb bytes.Buffer
			code := run([]string{"simulate", "--to", "sip:5551@" + e.Addr(), "--event", "1234,1,130,01,015", "--dtmf", mode}, &out, &errb)
			if code != 0 {
				t.Fatalf("exit %d\n%s%s", code, out.String(), errb.String())
			}
			for _, want := range []string{"answered after", "handshake heard", "sent 123418113001015E (attempt 1)", "kissoff heard", "exit 0"} {
				if !strings.Contains(out.String(), want) {
					t.Fatalf("output lacks %q:\n%s", want, out.String())
				}
			}
			t.Log(out.String())
			evs := events()
			if len(evs) != 1 || evs[0].ContactID == nil || evs[0].ContactID.Code != "130" || evs[0].ContactID.Zone != "015" || evs[0].Raw != "123418113001015E" {
				t.Fatalf("receiver acknowledged %+v, want the one burglary event", evs)
			}
		})
	}
}

func TestSimulateFailsWithoutKissoff(t *testing.T) {
	var out, errb bytes.Buffer
	// Nothing listens there: no answer, no kissoff, exit 1.
	code := run([]string{"simulate", "--to", "sip:5551@127.0.0.1:9", "--calls", "1", "--timeout", "3s"}, &out, &errb)
	if code != 1 || !strings.Contains(out.String(), "FAILED") {
		t.Fatalf("exit %d, want 1 with FAILED:\n%s%s", code, out.String(), errb.String())
	}
	for _, args := range [][]string{
		{"simulate"},
		{"simulate", "--to", "sip:1@h", "--event", "1234,1,130"},
		{"simulate", "--to", "sip:1@h", "--dtmf", "sms"},
		{"simulate", "--to", "sip:1@h", "--protocol", "sia"},
		{"simulate", "--to", "sip:1@h", "--register"},
		{"simulate", "--bogus"},
	} {
		out.Reset()
		errb.Reset()
		if code := run(args, &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2 (usage)\n%s", args, code, errb.String())
		}
	}
}

// TestSimulateRegistersAndAuthenticates: the gateway trusts nothing, so the
// simulated unit registers with digest and answers the INVITE's challenge.
func TestSimulateRegistersAndAuthenticates(t *testing.T) {
	dir := engine.NewStaticDirectory()
	ha1, _ := engine.HA1("MD5", "unit7", "gw.test", "pw7")
	dir.PutDevice("gw.test", engine.Device{DeviceID: "unit7", AuthType: "credentials", HA1: ha1})
	e, events := alarmGateway(t, "2833", engine.WithDirectory(dir))
	var out, errb bytes.Buffer
	code := run([]string{"simulate", "--to", "sip:5559@" + e.Addr(), "--event", "4321,3,602,00,000",
		"--register", "--user", "unit7", "--password", "pw7"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "registered unit7") || len(e.Bindings("gw.test", "unit7")) != 0 {
		t.Fatalf("want a registration that is removed on exit; output:\n%s\nbindings %v", out.String(), e.Bindings("gw.test", "unit7"))
	}
	if evs := events(); len(evs) != 1 || evs[0].ContactID.Code != "602" || evs[0].ContactID.Qualifier != "3" {
		t.Fatalf("events %+v, want the periodic test restore", evs)
	}
	var wrong bytes.Buffer
	if code := run([]string{"simulate", "--to", "sip:5559@" + e.Addr(), "--register", "--user", "unit7", "--password", "bad", "--calls", "1"}, &wrong, &errb); code != 1 {
		t.Fatalf("wrong password: exit %d, want 1\n%s", code, wrong.String())
	}
}
