package multi

import (
	"context"
	"testing"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/alarm/alarmtest"
	"github.com/edgebridge/edgebridge/alarm/bs8521"
	"github.com/edgebridge/edgebridge/alarm/contactid"
	"github.com/edgebridge/edgebridge/alarm/tt92"
)

func run(t *testing.T, b alarm.AlarmBridge, unit func(ctx context.Context, ch alarm.Channel) error) alarm.Outcome {
	t.Helper()
	r, err := ForBridge(b, alarmtest.Discard)
	if err != nil {
		t.Fatal(err)
	}
	out, err, uerr := alarmtest.RunCall(alarmtest.Options{}, r, alarm.Call{ID: "c", Domain: "d"}, &alarmtest.Queue{}, unit)
	if err != nil {
		t.Fatal(err)
	}
	if uerr != nil {
		t.Fatalf("unit: %v (outcome %+v)", uerr, out)
	}
	return out
}

func TestMultiprotocolHearsEach(t *testing.T) {
	cid, _ := contactid.Build("1234", "18", "1", "130", "01", "015")
	bs, _ := bs8521.Build("1", "1", "01", "12345678", "0001", "021", "01", "1", "00")
	panel := func(ctx context.Context, ch alarm.Channel) error {
		p, _ := contactid.NewPanel(contactid.PanelConfig{})
		_, err := p.Send(ctx, ch, []contactid.Message{cid})
		return err
	}
	unit := func(ctx context.Context, ch alarm.Channel) error {
		_, err := bs8521.NewUnit(bs8521.UnitConfig{}).Send(ctx, ch, []bs8521.Message{bs})
		return err
	}
	const ttFrame = "D#1020461234567800000047"
	ttUnit := func(ctx context.Context, ch alarm.Channel) error {
		_, err := tt92.NewUnit(tt92.UnitConfig{}).Send(ctx, ch, []string{ttFrame})
		return err
	}
	for _, tc := range []struct {
		name     string
		b        alarm.AlarmBridge
		far      func(context.Context, alarm.Channel) error
		raw      string
		protocol alarm.Protocol
	}{
		{"Contact ID panel", alarm.AlarmBridge{Protocol: "multiprotocol"}, panel, cid.Raw, alarm.ProtoContactID},
		{"BS 8521 unit", alarm.AlarmBridge{Protocol: "multiprotocol"}, unit, bs.Raw, alarm.ProtoBS8521},
		{"BS 8521 unit, fallback first", alarm.AlarmBridge{Protocol: "multiprotocol", FallbackAlarmProtocol: "bs8521"}, unit, bs.Raw, alarm.ProtoBS8521},
		{"Contact ID panel after BS 8521 requests", alarm.AlarmBridge{Protocol: "multiprotocol", FallbackAlarmProtocol: "bs8521"}, panel, cid.Raw, alarm.ProtoContactID},
		{"bs8521 bridge", alarm.AlarmBridge{Protocol: "bs8521", DataRequestInterval: 2000}, unit, bs.Raw, alarm.ProtoBS8521},
		{"contactid bridge", alarm.AlarmBridge{Protocol: "contactid"}, panel, cid.Raw, alarm.ProtoContactID},
		{"tt92 bridge", alarm.AlarmBridge{Protocol: "tt92", ProtocolMode: "dtmf"}, ttUnit, ttFrame, alarm.ProtoTT92},
		{"tt92 bridge, sdmf", alarm.AlarmBridge{Protocol: "tt92", ProtocolMode: "sdmf"}, func(ctx context.Context, ch alarm.Channel) error {
			_, err := tt92.NewUnit(tt92.UnitConfig{Mode: "sdmf"}).Send(ctx, ch, []string{ttFrame})
			return err
		}, ttFrame, alarm.ProtoTT92},
		{"multiprotocol, tt92 fallback", alarm.AlarmBridge{Protocol: "multiprotocol", FallbackAlarmProtocol: "tt92"}, ttUnit, ttFrame, alarm.ProtoTT92},
		{"Contact ID panel, tt92 fallback", alarm.AlarmBridge{Protocol: "multiprotocol", FallbackAlarmProtocol: "tt92"}, panel, cid.Raw, alarm.ProtoContactID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := run(t, tc.b, tc.far)
			if len(out.Events) != 1 || out.Events[0].Raw != tc.raw || out.Events[0].Protocol != tc.protocol {
				t.Fatalf("outcome %+v", out)
			}
		})
	}
}

func TestForBridgeRejectsNonAudio(t *testing.T) {
	for _, p := range []string{"scaip", "api", "voicecall", "nowip", ""} {
		if _, err := ForBridge(alarm.AlarmBridge{ID: "x", Protocol: p}, alarmtest.Discard); err == nil {
			t.Errorf("protocol %q accepted", p)
		}
	}
	if _, err := ForBridge(alarm.AlarmBridge{ID: "x", Protocol: "tt92", ProtocolMode: "fsk"}, alarmtest.Discard); err == nil {
		t.Error("tt92 protocolMode fsk accepted")
	}
}
