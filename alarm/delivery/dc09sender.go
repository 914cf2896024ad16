package delivery

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/alarm/dc09"
)

type dc09Sender struct {
	ep      Endpoint
	c       *dc09.Client
	nullSeq atomic.Int64 // NULLs sent: they take the even sequence numbers
}

func newDC09Sender(ep Endpoint) (*dc09Sender, error) {
	if err := ep.validate(); err != nil {
		return nil, err
	}
	line := ep.Line
	if line == "" {
		line = "0"
	}
	acct := ep.Account
	if acct == "" {
		acct = "0000" // NULL messages when the events carry their own account
	}
	return &dc09Sender{ep: ep, c: &dc09.Client{
		Network: ep.Transport, Addr: ep.URL, Account: acct, Receiver: ep.Receiver, Line: line,
		Key: ep.Key, Timeout: ep.Timeout, Stamp: true,
	}}, nil
}

// dc09Seq is the DC-09 sequence number of the event at queue position n.
// The queue position is stored with the event, so a retransmission keeps its
// number, also after a restart, and the receiver recognises the repeat
// (§5.4.3); the next event takes the next number. Events take the odd
// numbers 0001..9997 and NULL link tests the even ones, so a NULL never
// carries the number of an event a receiver is about to see.
func dc09Seq(n uint64) int {
	return int((n-1)%(dc09.MaxSeq/2))*2 + 1
}

// siaCode is the SIA DC-03 event code of an event that is not Contact ID,
// and of its restore.
type siaCode struct{ event, restore string }

// SIA codes of the events that are not Contact ID. They travel as SIA-DCS
// "#ACCT|Nri<area>/<code><zone>" under the device's account (see
// dc09Account), whatever format the endpoint asks for, since ADM-CID cannot
// carry them without turning them into a different Contact ID event.
//
//	protocol     event                              code (restore)  area  zone
//	bs8521       010 fixed trigger, 019 personal    QA              0     location (2 digits)
//	bs8521       021 fall                           MA              0     location
//	bs8521       058 periodic test                  RP              0     location
//	bs8521       other event codes                  UA              0     location
//	tt92, ttnew  every call                         QA              0     call code (1 digit)
//	scaip        alarm (no stc)                     QA              0     -
//	scaip        status stc                         UA              0     -
//	supervision  device heartbeat lost / back       YS (YK)         0     -
//	supervision  delivery path down / up            YC (YK)         0     -
//	supervision  alarm from an unknown account      UA              0     -   (under that account)
//	other        anything else                      UA              0     -
var siaCodes = map[string]siaCode{
	"bs8521/010": {"QA", ""}, "bs8521/019": {"QA", ""}, "bs8521/021": {"MA", ""}, "bs8521/058": {"RP", ""},
	"scaip/alarm":                {"QA", ""},
	"supervision/heartbeat":      {"YS", "YK"},
	"supervision/destination":    {"YC", "YK"},
	"supervision/unknownaccount": {"UA", ""},
	"tt92":                       {"QA", ""},
	"ttnew":                      {"QA", ""},
}

// siaFor picks the SIA code and zone of a non-Contact-ID event.
func siaFor(ev alarm.Event) (code, zone string) {
	key, restore := string(ev.Protocol), false
	switch {
	case ev.BS8521 != nil:
		key, zone = "bs8521/"+ev.BS8521.Event, ev.BS8521.Location
	case ev.Protocol == alarm.ProtoSCAIP && ev.StatusCode == "":
		key = "scaip/alarm"
	case ev.Protocol == alarm.ProtoTT92 || ev.Protocol == "ttnew":
		if n := len(ev.StatusCode); n > 0 {
			zone = ev.StatusCode[n-1:]
		}
	case ev.Supervision != nil:
		key, restore = "supervision/"+ev.Supervision.Kind, ev.Supervision.State == "online"
		if ev.Supervision.Kind != "heartbeat" && ev.Supervision.Kind != "unknownaccount" {
			key = "supervision/destination"
		}
	}
	c, ok := siaCodes[key]
	if !ok {
		c = siaCode{"UA", ""}
	}
	if restore && c.restore != "" {
		return c.restore, digitsOnly(zone)
	}
	return c.event, digitsOnly(zone)
}

func digitsOnly(s string) string {
	for _, c := range s {
		if c < '0' || c > '9' {
			return ""
		}
	}
	return s
}

// dc09Account is the account an event travels under: the endpoint's, else
// the Contact ID account, else the first of the provisioned device id, the
// controller id and the device id that DC-09 can carry (3 to 16 hex
// digits), else 0000 (the gateway's own events).
func dc09Account(ev alarm.Event, ep Endpoint) string {
	if ep.Account != "" {
		return ep.Account
	}
	if ev.ContactID != nil {
		return ev.ContactID.Account
	}
	for _, a := range []string{ev.DeviceKey, ev.ControllerID, ev.DeviceID} {
		if isHexLen(a, 3, 16) {
			return a
		}
	}
	return "0000"
}

// dc09Payload turns an event into DC-09 id and data for endpoint ep.
func dc09Payload(ev alarm.Event, ep Endpoint) (acct, id, data string, err error) {
	acct = dc09Account(ev, ep)
	c := ev.ContactID
	if c == nil {
		code, zone := siaFor(ev)
		data, err = dc09.SIAData(acct, "0", code, zone)
		return acct, dc09.IDSIADCS, data, err
	}
	if ep.Format == dc09.IDSIADCS {
		if data, err := dc09.SIADCSData(acct, c.Qualifier, c.Code, c.Group, c.Zone); err == nil {
			return acct, dc09.IDSIADCS, data, nil
		}
		// No SIA code for this event: ADM-CID carries every Contact ID code.
	}
	data, err = dc09.ADMCIDData(acct, c.Qualifier, c.Code, c.Group, c.Zone)
	return acct, dc09.IDADMCID, data, err
}

func (s *dc09Sender) Send(ctx context.Context, ev alarm.Event) error {
	acct, id, data, err := dc09Payload(ev, s.ep)
	if err != nil {
		return alarm.Permanent(err)
	}
	var ext []string
	if s.ep.EventIDExt {
		// Gateway extension: the event id as extended data "[I<id>]", the
		// idempotency key for receivers that understand it.
		ext = []string{"I" + ev.ID}
	}
	if n, ok := queuePosition(ctx); ok {
		_, err = s.c.SendSeq(ctx, dc09Seq(n), acct, id, data, ext)
	} else {
		_, err = s.c.SendAs(ctx, acct, id, data, ext)
	}
	if errors.Is(err, dc09.ErrDUH) {
		// §5.5.3: the receiver cannot process this message; resending it
		// unchanged will not help.
		return alarm.Permanent(err)
	}
	return err
}

func (s *dc09Sender) Probe(ctx context.Context) error {
	seq := (s.nullSeq.Add(1)-1)%(dc09.MaxSeq/2)*2 + 2 // 0002..9998
	_, err := s.c.NullSeq(ctx, int(seq))
	return err
}

func (s *dc09Sender) Close() error { return s.c.Close() }
