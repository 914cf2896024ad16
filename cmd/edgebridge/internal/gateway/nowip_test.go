package gateway

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/alarm/alarmtest"
	"github.com/edgebridge/edgebridge/alarm/dc09"
	"github.com/edgebridge/edgebridge/alarm/nowip"
	"github.com/edgebridge/edgebridge/engine"
	"github.com/edgebridge/edgebridge/internal/testkit"
)

// groupSchemeDocs: a warden call system (group-scheme controller 00000042,
// registered under its controllerId) serving unit 0007, whose number at the
// ARC is 01632960007; a nowipcontroller bridge takes the ARC's calls to the
// scheme's numbers.
func groupSchemeDocs() map[string]map[string]string {
	return map[string]map[string]string{
		"device": {
			"00000042":      `{"deviceId":"00000042","domain":"local","authType":"deviceid","deviceType":"groupScheme"}`,
			"00000042:0007": `{"deviceId":"00000042:0007","domain":"local","authType":"deviceid","deviceType":"alarmUnit","deviceCLI":"01632960007"}`,
		},
		"alarmbridge":    {"scheme": `{"id":"scheme","name":"sheltered housing","protocol":"nowipcontroller","protocolMode":"dtmf","destinationMatch":"^(0163296|00000042)"}`},
		"trustednetwork": {"lan": `{"network":"127.0.0.1/32"}`}, // the ARC and the controller
	}
}

// registerController registers controller 00000042 with g from loopback,
// its Contact at the SIPp already listening on port.
func registerController(t *testing.T, g *Gateway, port int) {
	t.Helper()
	wd := t.TempDir()
	reg := testkit.StartSIPp(t, wd, false, g.eng.Addr(), "-sf", testkit.SIPpScenario(t, wd, "register_contact.xml",
		"CONTACT_PORT", strconv.Itoa(port)), "-s", "00000042", "-m", "1")
	if err := reg.Wait(10 * time.Second); err != nil {
		t.Fatalf("controller did not register: %v\n%s", err, reg.Report())
	}
	testkit.WaitFor(t, "the controller's binding", 5*time.Second, func() bool {
		b, err := g.db.Bindings(time.Now())
		return err == nil && len(b) == 1
	})
}

// The ARC calls a unit of a group scheme back: its call to the unit's
// number (a provisioned unit's deviceCLI, or the 12-digit BS 8521 identity)
// reaches the registration of the unit's controller with the unit's
// identity 000000420007 as the Request-URI user, is answered once the
// controller answers and bridged (a tone from the ARC comes back from the
// controller, SIPp echoing). A unit whose controller is not registered is
// refused 404 before any answer.
func TestNOWIPControllerTakesTheARCsCallBack(t *testing.T) {
	for _, number := range []string{"01632960007", "000000420007"} {
		t.Run(number, func(t *testing.T) {
			g := startGateway(t, groupSchemeDocs())
			wd := t.TempDir()
			ctrl := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "uas_answer.xml"), "-m", "1", "-rtp_echo")
			registerController(t, g, ctrl.Port)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			arc := arcEngine(t, ctx)
			call, err := arc.Dial(ctx, engine.DialOptions{To: "sip:" + number + "@" + g.eng.Addr(), From: "arc"})
			if err != nil {
				t.Fatalf("call back not answered: %v\n%s", err, ctrl.Report())
			}
			if !toneComesBack(t, ctx, call.Session(), 1000) {
				t.Fatalf("the ARC's tone did not come back through the controller\n%s", ctrl.Report())
			}
			call.Hangup()
			if err := ctrl.Wait(10 * time.Second); err != nil {
				t.Fatalf("controller's leg not cleared after the ARC hung up: %v\n%s", err, ctrl.Report())
			}
			if rx := ctrl.Received(); len(rx) == 0 || !strings.Contains(rx[0], "INVITE sip:000000420007@127.0.0.1:"+strconv.Itoa(ctrl.Port)) {
				t.Fatalf("the controller's INVITE is not for unit 000000420007 at its Contact:\n%s", strings.Join(rx, "\n"))
			}
		})
	}
	t.Run("controller not registered", func(t *testing.T) {
		g := startGateway(t, groupSchemeDocs())
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := arcEngine(t, ctx).Dial(ctx, engine.DialOptions{To: "sip:01632960007@" + g.eng.Addr(), From: "arc"})
		var de *engine.DialError
		if !errors.As(err, &de) || de.Code != 404 {
			t.Fatalf("call back without the controller: %v, want 404 before the answer", err)
		}
	})
}

// The ARC's NOW-IP command (type 2) to a unit's number is relayed to the
// unit through its controller (Request-URI user 000000420007, body
// unchanged); the ARC's MESSAGE is answered 200 once the controller has
// acknowledged the command with type A. A command for a number that is no
// unit is answered 404.
func TestNOWIPCommandReachesTheUnit(t *testing.T) {
	g := startGateway(t, groupSchemeDocs())
	wd := t.TempDir()
	repl := []string{"UNIT", "000000420007", "ATM_DATA", "20025"}
	ctrl := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "nowip_controller_cmd.xml", repl...), "-m", "1")
	registerController(t, g, ctrl.Port)
	arc := testkit.StartSIPp(t, wd, false, g.eng.Addr(), "-sf", testkit.SIPpScenario(t, wd, "nowip_arc_cmd.xml",
		"ATM_DATA", "20025", "CODE", "200"), "-s", "01632960007", "-m", "1")
	if err := arc.Wait(20 * time.Second); err != nil {
		t.Fatalf("ARC: %v\n%s\ncontroller:\n%s", err, arc.Report(), ctrl.Logs("*messages.log"))
	}
	if err := ctrl.Wait(10 * time.Second); err != nil {
		t.Fatalf("controller: %v\n%s", err, ctrl.Report())
	}
	wd = t.TempDir()
	nobody := testkit.StartSIPp(t, wd, false, g.eng.Addr(), "-sf", testkit.SIPpScenario(t, wd, "nowip_arc_cmd.xml",
		"ATM_DATA", "20025", "CODE", "404"), "-s", "5559", "-m", "1")
	if err := nobody.Wait(10 * time.Second); err != nil {
		t.Fatalf("command to no unit: %v\n%s", err, nobody.Report())
	}
}

// arcEngine is a SIP user agent playing the ARC.
func arcEngine(t *testing.T, ctx context.Context) *engine.Engine {
	t.Helper()
	lo, hi := testkit.PortRange(t, 100)
	arc, err := engine.New(engine.Config{SIPAddr: "127.0.0.1:0", Domain: "arc", RTPPortMin: lo, RTPPortMax: hi},
		engine.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	if err := arc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { arc.Close() })
	return arc
}

// FuzzNOWIPMessage: no MESSAGE body crashes the gateway's NOW-IP handler
// (called outside a SIP transaction, so the called number is empty, which
// the nowip bridge "units" takes: alarms and heartbeats are mapped and
// queued or refused, commands relayed or refused); what it cannot read is
// answered 400, and every answer is a SIP final status.
func FuzzNOWIPMessage(f *testing.F) {
	f.Add([]byte(`<ATM><ver>1</ver><type>1</type><data>010200000042000701907101</data><time>20261207120000</time></ATM>`))
	f.Add([]byte(`<ATM><type>0</type><data>000000420007</data></ATM>`))
	f.Add([]byte(`<ATM><type>2</type><data>20025</data></ATM>`))
	f.Add([]byte(`<ATM><type>A</type><data>20025</data></ATM>`))
	f.Add([]byte(`<ATM><type>1</type><data>01`))
	docs := groupSchemeDocs()
	docs["alarmbridge"]["units"] = `{"id":"units","name":"units","protocol":"nowip","protocolMode":"dtmf","destinationMatch":"^$"}`
	g := startGateway(f, docs)
	f.Fuzz(func(t *testing.T, body []byte) {
		code := g.nowipMessage(context.Background(), "local", "00000042", body)
		if code < 200 || code > 699 {
			t.Fatalf("status %d", code)
		}
		if _, err := nowip.Parse(body); err != nil && code != 400 {
			t.Fatalf("unreadable body answered %d, want 400: %q", code, body)
		}
	})
}

// heartbeatClock is heartbeat supervision's clock, moved by the test.
type heartbeatClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *heartbeatClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *heartbeatClock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// nowipHeartbeat is a NOW-IP unit (SIPp, as user) sending one heartbeat
// <ATM> (type 0, data its 12-digit identity) to g's bridge number nowip;
// it must be answered 200 and acknowledged with type A.
func nowipHeartbeat(t *testing.T, g *Gateway, user, identity, tm string) {
	t.Helper()
	wd := t.TempDir()
	repl := []string{"UNIT", user, "TYPE", "0", "ATM_DATA", identity, "BODY_EXTRA", "", "TIME", tm, "CODE", "200", "PAUSE_MS", "300"}
	unit := testkit.StartSIPp(t, wd, false, g.eng.Addr(), "-sf", testkit.SIPpScenario(t, wd, "nowip_unit.xml", repl...),
		"-oocsf", testkit.SIPpScenario(t, wd, "nowip_unit_ooc.xml", repl...), "-s", "nowip", "-m", "1")
	if err := unit.Wait(15 * time.Second); err != nil {
		t.Fatalf("heartbeat %s: %v\n%s", tm, err, unit.Report())
	}
	acked := false
	for _, m := range unit.Received() {
		acked = acked || strings.Contains(m, "<type>A</type><data>"+identity+"</data>")
	}
	if !acked || strings.Contains(unit.Logs("*errors.log"), "Failed regexp") {
		t.Fatalf("heartbeat %s not acknowledged:\n%s", tm, strings.Join(unit.Received(), "\n"))
	}
}

// TestNOWIPHeartbeatLapseReachesTheARC: a NOW-IP unit with a heartbeat
// interval of 5 minutes heartbeats (SIPp, type 0, acknowledged). On the
// supervision's injected clock nothing reaches the ARC while its next
// heartbeat is not yet due; once it is overdue the ARC gets one
// supervision event (DC-09 SIA YS under the unit's account) and the
// device shows offline, however often supervision checks; its next
// heartbeat brings the restore (YK) and online.
func TestNOWIPHeartbeatLapseReachesTheARC(t *testing.T) {
	arc := alarmtest.StartARC(t, "127.0.0.1:0")
	clock := &heartbeatClock{now: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)}
	g := startGatewayWith(t, t.TempDir(), map[string]map[string]string{
		"device": {"00000043": `{"deviceId":"00000043","domain":"local","authType":"deviceid","serviceData":{"alarmBridge":{"heartbeatInterval":300000}}}`},
		"alarmeventmapper": {"arc": `{"id":"arc","name":"ARC","alarmHandling":"drop","targetEndpoint":{"protocol":"dc09","destAddr":"dc09://` +
			arc.Addr + `?transport=tcp"}}`},
		"alarmbridge":    {"nowip": `{"id":"nowip","name":"NOW-IP units","protocol":"nowip","protocolMode":"dtmf","destinationMatch":"^nowip$","alarmEventMapperId":"arc"}`},
		"trustednetwork": {"lan": `{"network":"127.0.0.1/32"}`},
	}, func(c *Config) { c.now = clock.Now })
	ctx := context.Background()
	status := func() string {
		st, _, err := g.sup.Status("local", "00000043")
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	nowipHeartbeat(t, g, "unit43", "000000430001", "20261207120000")
	if st := status(); st != "online" {
		t.Fatalf("after its heartbeat the unit is %s, want online", st)
	}
	clock.add(299 * time.Second) // due in a second
	if err := g.sup.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if got := arc.Wait(1, 500*time.Millisecond); len(got) != 0 || status() != "online" {
		t.Fatalf("heartbeat not yet due: ARC got %+v, unit %s; want nothing, online", got, status())
	}
	clock.add(2 * time.Second) // a second overdue
	for range 3 {
		if err := g.sup.Check(ctx); err != nil {
			t.Fatal(err)
		}
	}
	got := arc.Wait(1, 10*time.Second)
	if len(got) != 1 || got[0].ID != dc09.IDSIADCS || !strings.HasPrefix(got[0].Data, "#00000043|") || !strings.Contains(got[0].Data, "YS") {
		t.Fatalf("ARC got %+v, want one SIA-DCS YS for account 00000043", got)
	}
	if st := status(); st != "offline" {
		t.Fatalf("overdue unit is %s, want offline", st)
	}
	if got := arc.Wait(2, 500*time.Millisecond); len(got) != 1 {
		t.Fatalf("ARC got %d events after three checks, want the one YS", len(got))
	}
	clock.add(time.Minute)
	nowipHeartbeat(t, g, "unit43", "000000430001", "20261207120600")
	got = arc.Wait(2, 10*time.Second)
	if len(got) != 2 || !strings.Contains(got[1].Data, "YK") || status() != "online" {
		t.Fatalf("after the unit heartbeats again: ARC got %+v, unit %s; want the YK restore, online", got, status())
	}
}
