package gateway

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/alarm/alarmtest"
	"github.com/edgebridge/edgebridge/alarm/bs8521"
	"github.com/edgebridge/edgebridge/alarm/contactid"
	"github.com/edgebridge/edgebridge/alarm/dc09"
	"github.com/edgebridge/edgebridge/alarm/tt92"
)

// TestEveryAnalogueProtocolOnTheFXSLine: each analogue protocol's unit
// simulator (the one `edgebridge simulate` plays over SIP) goes off hook on
// the simulated FXS line, hears dial tone, dials the bridge's number and
// runs its protocol in band (a line has no RFC 4733): handshake or prompts,
// message, acknowledgement. The ARC gets the event exactly once.
func TestEveryAnalogueProtocolOnTheFXSLine(t *testing.T) {
	bsMsg, err := bs8521.Build("1", "1", "01", "12345678", "0001", "019", "01", "1", "00")
	if err != nil {
		t.Fatal(err)
	}
	cidMsg, err := contactid.Build("1234", "18", "1", "130", "01", "015")
	if err != nil {
		t.Fatal(err)
	}
	const ttFrame = "D#1020461234567800000047"
	bsUnit := func(ctx context.Context, ch alarm.Channel) error {
		rep, err := bs8521.NewUnit(bs8521.UnitConfig{}).Send(ctx, ch, []bs8521.Message{bsMsg})
		if err == nil && (len(rep.Messages) != 1 || !rep.Messages[0].Acked) {
			err = fmt.Errorf("report %+v: want one acknowledged message", rep)
		}
		return err
	}
	cidUnit := func(ctx context.Context, ch alarm.Channel) error {
		panel, err := contactid.NewPanel(contactid.PanelConfig{})
		if err != nil {
			return err
		}
		rep, err := panel.Send(ctx, ch, []contactid.Message{cidMsg})
		if err == nil && (len(rep.Messages) != 1 || !rep.Messages[0].Acked) {
			err = fmt.Errorf("report %+v: want one kissed-off message", rep)
		}
		return err
	}
	ttUnit := func(v tt92.Variant, mode string) func(context.Context, alarm.Channel) error {
		return func(ctx context.Context, ch alarm.Channel) error {
			rep, err := tt92.NewUnit(tt92.UnitConfig{Variant: v, Mode: mode}).Send(ctx, ch, []string{ttFrame})
			if err == nil && !rep.Acked[0] {
				err = fmt.Errorf("report %+v: frame not acknowledged", rep)
			}
			return err
		}
	}
	for _, c := range []struct {
		name, protocol, mode, fxsNumber string
		unit                            func(context.Context, alarm.Channel) error
		id, data                        string
	}{
		{"bs8521", "bs8521", "dtmf", "", bsUnit, dc09.IDSIADCS, "#12345678|Nri0/QA01"},
		{"tt92 dtmf", "tt92", "dtmf", "", ttUnit(tt92.TT92, "dtmf"), dc09.IDSIADCS, "#461234567800|Nri0/QA0"},
		{"tt92 sdmf", "tt92", "sdmf", "", ttUnit(tt92.TT92, "sdmf"), dc09.IDSIADCS, "#461234567800|Nri0/QA0"},
		{"ttnew", "ttnew", "dtmf", "", ttUnit(tt92.TTnew, "dtmf"), dc09.IDSIADCS, "#461234567800|Nri0/QA0"},
		{"multiprotocol contactid unit", "multiprotocol", "dtmf", "", cidUnit, dc09.IDADMCID, "#1234|1130 01 015"},
		{"multiprotocol bs8521 unit", "multiprotocol", "dtmf", "", bsUnit, dc09.IDSIADCS, "#12345678|Nri0/QA01"},
		// The unit on the line calls from the line's number (--fxs-number):
		// the device of that deviceCLI names its protocol.
		{"deviceProvisioned bs8521 unit", "deviceProvisioned", "dtmf", "0701234567", bsUnit, dc09.IDSIADCS, "#12345678|Nri0/QA01"},
	} {
		t.Run(c.name, func(t *testing.T) {
			arc := alarmtest.StartARC(t, "127.0.0.1:0")
			g := startGatewayWith(t, t.TempDir(), map[string]map[string]string{
				"device": {
					"1234":         `{"deviceId":"1234","domain":"local","authType":"deviceid"}`,
					"12345678":     `{"deviceId":"12345678","domain":"local","authType":"deviceid","deviceCLI":"0701234567","serviceData":{"alarmBridge":{"alarmProtocol":"bs8521"}}}`,
					"461234567800": `{"deviceId":"461234567800","domain":"local","authType":"deviceid"}`,
				},
				"alarmeventmapper": {"arc": `{"id":"arc","name":"ARC","alarmHandling":"drop","targetEndpoint":{"protocol":"dc09","destAddr":"dc09://` + arc.Addr + `?transport=tcp"}}`},
				"alarmbridge": {"line": fmt.Sprintf(`{"id":"line","name":"line","protocol":%q,"protocolMode":%q,"destinationMatch":"^5552$","alarmEventMapperId":"arc"}`,
					c.protocol, c.mode)},
			}, func(cfg *Config) { cfg.FXSNumber = c.fxsNumber })
			unit := fxsUnitDials(t, g, "5552#")
			ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
			defer cancel()
			if err := c.unit(ctx, unit); err != nil {
				t.Fatalf("unit on the FXS line: %v", err)
			}
			unit.hangUp()
			got := arc.Wait(1, 10*time.Second)
			for deadline := time.Now().Add(5 * time.Second); len(g.QueuedAlarms()) > 0 && time.Now().Before(deadline); {
				time.Sleep(20 * time.Millisecond)
			}
			if q := g.QueuedAlarms(); len(q) != 0 {
				t.Fatalf("still queued after the ARC acknowledged: %+v", q)
			}
			got = arc.Wait(len(got), 0)
			if len(got) != 1 || got[0].ID != c.id || got[0].Data != c.data {
				t.Fatalf("ARC got %+v, want exactly one %s %q", got, c.id, c.data)
			}
			if r := g.RecentAlarms(5); len(r) != 1 {
				t.Fatalf("console recent alarms = %+v, want the one event", r)
			}
		})
	}
}
