package unitsim

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/alarm/bs8521"
	"github.com/edgebridge/edgebridge/alarm/contactid"
	"github.com/edgebridge/edgebridge/alarm/tt92"
)

// EventHelp says what --event takes for each protocol, for the -h of the
// commands that play units.
var EventHelp = `--event by protocol (without it, the protocol's standard alarm message):
  contactid  ACCT,Q,CODE,GROUP,ZONE          default 1234,1,130,01,015 (burglary, zone 15)
  bs8521     CONTROLLER,UNIT,EVENT,LOCATION  default 12345678,0001,019,01 (personal trigger)
  tt92       the 24-key frame                default D#1020461234567800000047 (alarm of unit 461234567800)
  ttnew      the 24-key frame                default D#1020461234567800000047
--mode sdmf (tt92, ttnew) sends the frame in single tones (STMF) in the audio.`

// SayFunc prints one line of a unit's account; at is its time since the start.
type SayFunc func(at time.Duration, format string, a ...any)

// Unit is one alarm unit: what it sends, and how it plays a call.
type Unit struct {
	Describe string // for the first line of the account
	From     string // default From user: the account or identity
	// Play runs the call on ch: at turns the unit's millisecond offsets into
	// times of the account, sayAt and say print its lines. It returns nil
	// only once the protocol's acknowledgement was heard.
	Play func(ctx context.Context, ch alarm.Channel, at func(ms int64) time.Duration, sayAt SayFunc, say func(string, ...any)) error
}

// Defaults are the standard alarm messages of each protocol.
var Defaults = map[string]string{
	"contactid": "1234,1,130,01,015",
	"bs8521":    "12345678,0001,019,01",
	"tt92":      "D#1020461234567800000047",
	"ttnew":     "D#1020461234567800000047",
}

// New builds the unit of protocol (contactid, bs8521, tt92, ttnew) in mode
// (dtmf or sdmf) sending event (already defaulted from Defaults).
func New(protocol, mode, event string) (Unit, error) {
	switch protocol {
	case "contactid":
		return contactIDUnit(event)
	case "bs8521":
		return bs8521Unit(event)
	case "tt92", "ttnew":
		return tt92Unit(protocol, mode, event)
	}
	return Unit{}, fmt.Errorf("--protocol %q: want contactid, bs8521, tt92 or ttnew", protocol)
}

func contactIDUnit(event string) (Unit, error) {
	f := strings.Split(event, ",")
	if len(f) != 5 {
		return Unit{}, fmt.Errorf("--event %q: want ACCT,Q,CODE,GROUP,ZONE (5 fields)", event)
	}
	msg, err := contactid.Build(f[0], "18", f[1], f[2], f[3], f[4])
	if err != nil {
		return Unit{}, fmt.Errorf("--event %q: %w", event, err)
	}
	panel, err := contactid.NewPanel(contactid.PanelConfig{})
	if err != nil {
		return Unit{}, err
	}
	u := Unit{
		Describe: fmt.Sprintf("Contact ID message %s (account %s, event %s%s, group %s, zone %s)", msg.Raw, msg.Account, msg.Qualifier, msg.Code, msg.Group, msg.Zone),
		From:     msg.Account,
	}
	u.Play = func(ctx context.Context, ch alarm.Channel, at func(int64) time.Duration, sayAt SayFunc, say func(string, ...any)) error {
		rep, err := panel.Send(ctx, ch, []contactid.Message{msg})
		if rep.HandshakeMs >= 0 {
			sayAt(at(rep.HandshakeMs), "handshake heard (%d ms after the answer)", rep.HandshakeMs)
		} else {
			say("no handshake heard")
		}
		for _, m := range rep.Messages {
			for i, s := range m.StartMs {
				sayAt(at(s), "sent %s (attempt %d)", m.Raw, i+1)
			}
			if m.Acked {
				sayAt(at(m.KissoffMs), "kissoff heard, %d ms after the last digit (%d ms of 1400 Hz)", m.KissoffMs-m.LastMs, m.KissoffLen)
			} else if len(m.StartMs) > 0 {
				say("no kissoff for %s after %d attempts", m.Raw, m.Attempts)
			}
		}
		if rep.HungUp {
			say("receiver hung up")
		}
		if err != nil {
			return err
		}
		for _, m := range rep.Messages {
			if !m.Acked {
				return fmt.Errorf("message %s not acknowledged", m.Raw)
			}
		}
		return nil
	}
	return u, nil
}

func bs8521Unit(event string) (Unit, error) {
	f := strings.Split(event, ",")
	if len(f) != 4 {
		return Unit{}, fmt.Errorf("--event %q: want CONTROLLER,UNIT,EVENT,LOCATION (4 fields) for bs8521", event)
	}
	// System type 1, speech mode 1, conformance 01, priority 1, status 00:
	// the values of the units the receiver was built against.
	msg, err := bs8521.Build("1", "1", "01", f[0], f[1], f[2], f[3], "1", "00")
	if err != nil {
		return Unit{}, fmt.Errorf("--event %q: %w", event, err)
	}
	unit := bs8521.NewUnit(bs8521.UnitConfig{})
	u := Unit{
		Describe: fmt.Sprintf("BS 8521 message %s (controller %s, unit %s, event %s, location %s)", msg.Raw, msg.Controller, msg.Unit, msg.Event, msg.Location),
		From:     msg.Controller,
	}
	u.Play = func(ctx context.Context, ch alarm.Channel, at func(int64) time.Duration, sayAt SayFunc, say func(string, ...any)) error {
		rep, err := unit.Send(ctx, ch, []bs8521.Message{msg})
		for _, m := range rep.Messages {
			if m.Attempts > 0 {
				sayAt(at(m.LastMs), "sent %s (attempt %d)", m.Raw, m.Attempts)
			}
			for _, late := range m.LateAcks {
				say("acknowledge started %d ms after the last key, outside the unit's %d ms: ignored", late, bs8521.DefaultUnitAckWait.Milliseconds())
			}
			if m.Acked {
				sayAt(at(m.AckMs), "acknowledge heard, %d ms after the last key (the unit waits %d ms)", m.AckStartMs-m.LastMs, bs8521.DefaultUnitAckWait.Milliseconds())
			}
		}
		say("data requests heard: %d", rep.Requests)
		if err != nil {
			return err
		}
		for _, m := range rep.Messages {
			if !m.Acked {
				return fmt.Errorf("message %s not acknowledged", m.Raw)
			}
		}
		return nil
	}
	return u, nil
}

func tt92Unit(protocol, mode, event string) (Unit, error) {
	fr, err := tt92.Parse(event)
	if err != nil {
		return Unit{}, fmt.Errorf("--event %q: %w (want the 24-key frame D#TRGCIIIIIIIIIIIIPPPPKK)", event, err)
	}
	v := tt92.TT92
	if protocol == "ttnew" {
		v = tt92.TTnew
	}
	unit := tt92.NewUnit(tt92.UnitConfig{Variant: v, Mode: mode})
	u := Unit{
		Describe: fmt.Sprintf("%s frame %s (identity %s, call code %s), %s", strings.ToUpper(protocol), fr.Raw, fr.Identity, fr.CallCode, mode),
		From:     fr.Identity,
	}
	u.Play = func(ctx context.Context, ch alarm.Channel, at func(int64) time.Duration, sayAt SayFunc, say func(string, ...any)) error {
		rep, err := unit.Send(ctx, ch, []string{fr.Raw})
		if rep.Attempts[0] > 0 {
			sayAt(at(rep.LastMs[0]), "sent %s (attempt %d)", fr.Raw, rep.Attempts[0])
		}
		for _, late := range rep.LateAcks[0] {
			say("acknowledge (%s) ended %d ms after the last key, outside the unit's %d ms: ignored", v.Ack, late, tt92.DefaultUnitAckWait.Milliseconds())
		}
		if rep.Acked[0] {
			sayAt(at(rep.AckMs[0]), "acknowledge (%s) heard, ended %d ms after the last key (the unit waits %d ms)", v.Ack, rep.AckMs[0]-rep.LastMs[0], tt92.DefaultUnitAckWait.Milliseconds())
		}
		if rep.Cleared {
			say("clear-down (%s) heard", tt92.Clear)
		}
		say("prompts (%s) heard: %d", v.Prompt, rep.Prompts)
		if err != nil {
			return err
		}
		if !rep.Acked[0] {
			return fmt.Errorf("frame %s not acknowledged", fr.Raw)
		}
		return nil
	}
	return u, nil
}
