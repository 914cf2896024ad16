package delivery

import (
	"context"
	"errors"
	"fmt"

	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/alarm/dc09"
)

type dc09Sender struct {
	ep Endpoint
	c  *dc09.Client
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

// Supervision events travel as Contact ID 350 "communication trouble"
// (new event when a path or device goes offline, restore when it is back),
// events of protocols without a Contact ID form as 140 "general alarm".
const (
	cidCommTrouble  = "350"
	cidGeneralAlarm = "140"
)

// dc09Payload turns an event into DC-09 id and data for endpoint ep.
func dc09Payload(ev alarm.Event, ep Endpoint) (acct, id, data string, err error) {
	acct, q, code, group, zone := ep.Account, "1", cidGeneralAlarm, "00", "000"
	var e error
	switch {
	case ev.ContactID != nil:
		c := ev.ContactID
		if acct == "" {
			acct = c.Account
		}
		q, code, group, zone = c.Qualifier, c.Code, c.Group, c.Zone
	case ev.Supervision != nil:
		code = cidCommTrouble
		if ev.Supervision.State == "online" {
			q = "3"
		}
	}
	if acct == "" && ev.ContactID == nil {
		// The gateway's own events (supervision, other protocols) carry no
		// account: they go under the endpoint's, or 0000 when it sets none.
		acct = "0000"
	}
	if acct == "" {
		return "", "", "", fmt.Errorf("delivery: dc09: event %s has no account and the endpoint sets none", ev.ID)
	}
	if ep.Format == dc09.IDSIADCS {
		if data, e = dc09.SIADCSData(acct, q, code, group, zone); e == nil {
			return acct, dc09.IDSIADCS, data, nil
		}
		// No SIA code for this event: ADM-CID carries every Contact ID code.
	}
	data, err = dc09.ADMCIDData(acct, q, code, group, zone)
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
	_, err = s.c.SendAs(ctx, acct, id, data, ext)
	if errors.Is(err, dc09.ErrDUH) {
		// §5.5.3: the receiver cannot process this message; resending it
		// unchanged will not help.
		return alarm.Permanent(err)
	}
	return err
}

func (s *dc09Sender) Probe(ctx context.Context) error {
	_, err := s.c.Null(ctx)
	return err
}

func (s *dc09Sender) Close() error { return s.c.Close() }
