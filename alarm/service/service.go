package service

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
)

// Service runs alarm calls end to end on the alarm side: the engine (or the
// FXS line) answers, cmd calls Run with the Channel, and Run returns what to
// do with the call next. It does not hang up or bridge itself; the caller
// owns the call.
type Service struct {
	Router *Router
	// Queue takes mapped events durably (the delivery service). Run wraps
	// it with heartbeat supervision when Supervisor is set.
	Queue      alarm.Queue
	Supervisor *Supervisor
	// NewReceiver gives the receiver for an alarmbridge (multi.ForBridge).
	NewReceiver func(b alarm.AlarmBridge) (alarm.Receiver, error)
	Log         *slog.Logger
	// OnUnknown sees each alarm event refused because no provisioned
	// device matches its account (the console lists them); may be nil.
	OnUnknown func(ev alarm.Event)
	// Now is the clock of the unknown-account reports; nil is time.Now.
	Now func() time.Time

	unknown unknownAccounts
}

// CallResult says how an alarm call ended on the alarm side.
type CallResult struct {
	Outcome alarm.Outcome
	Events  []alarm.Event // as queued: mapped, in order
	// Voice is where to bridge the call now ("" = clear down): the mapped
	// voice destination of the last event that asked for one (or 606
	// listen-in), or the mapper's unknownAlarmEventVoiceDestination when
	// nothing could be decoded.
	Voice string
}

// Route picks the alarmbridge for a called number (see Router.Route).
func (s *Service) Route(domain, called string) (*alarm.AlarmBridge, error) {
	return s.Router.Route(domain, called)
}

// BridgeFor returns the domain's first alarmbridge of a protocol whose
// destinationMatch fits called (e.g. "scaip" for alarm units that send SIP
// MESSAGEs rather than call, called being the MESSAGE's Request-URI user),
// or nil.
func (s *Service) BridgeFor(domain, protocol, called string) (*alarm.AlarmBridge, error) {
	bridges, err := s.Router.Prov.AlarmBridges(domain)
	if err != nil {
		return nil, err
	}
	for i := range bridges {
		if bridges[i].Protocol != protocol {
			continue
		}
		if re, err := alarm.CompileMatch(bridges[i].DestinationMatch); err == nil && re.MatchString(called) {
			return &bridges[i], nil
		}
	}
	return nil, nil
}

// QueueFor is the queue for events heard through bridge b outside a call
// (SCAIP MESSAGEs): mapped like a call's events, counted as heartbeats.
func (s *Service) QueueFor(domain string, b *alarm.AlarmBridge) alarm.Queue {
	return &MappedQueue{Router: s.Router, Domain: domain, Bridge: b, Next: s.supervised(), Unknown: s.noteUnknown}
}

// supervised is the queue mapped events go to: s.Queue, with every event
// counted as a heartbeat of its device when there is a Supervisor.
func (s *Service) supervised() alarm.Queue {
	if s.Supervisor != nil {
		return s.Supervisor.Observe(s.Queue)
	}
	return s.Queue
}

// Heartbeat records a heartbeat message (SCAIP PI) from the device that ev
// identifies, after authenticating it like an alarm. It queues nothing
// unless the device was offline (then the online event).
func (s *Service) Heartbeat(ctx context.Context, domain string, b *alarm.AlarmBridge, ev alarm.Event) error {
	if err := s.Router.Map(domain, b, &ev); err != nil {
		return err
	}
	if s.Supervisor == nil {
		return nil
	}
	return s.Supervisor.Beat(ctx, domain, b.ID, ev.DeviceKey)
}

// Raise maps and queues one event that no receiver heard (protocol
// voicecall: the call itself is the alarm; api: an event posted over REST),
// exactly as a received one: the device must be provisioned (else the
// unknown-account report and ErrUnknownDevice), supervision counts it as a
// heartbeat. It returns the event as queued.
func (s *Service) Raise(ctx context.Context, domain string, b *alarm.AlarmBridge, ev alarm.Event) (alarm.Event, error) {
	var queued alarm.Event
	next := s.supervised()
	q := &MappedQueue{Router: s.Router, Domain: domain, Bridge: b, Unknown: s.noteUnknown, Next: alarm.QueueFunc(func(ctx context.Context, ev alarm.Event) error {
		if err := next.Enqueue(ctx, ev); err != nil {
			return err
		}
		queued = ev
		return nil
	})}
	if err := q.Enqueue(ctx, ev); err != nil {
		return alarm.Event{}, err
	}
	return queued, nil
}

// VoiceOf is where a mapped event asks its call to be bridged: its voice
// destination when alarmHandling calls one, else "" (clear down).
func VoiceOf(ev alarm.Event) string {
	if ev.Handling == alarm.HandlingCallEmergencyCenter || ev.Handling == alarm.HandlingUsePredefinedDestination {
		return ev.VoiceDestination
	}
	return ""
}

// Run receives the alarm call on ch for bridge b.
func (s *Service) Run(ctx context.Context, ch alarm.Channel, call alarm.Call, b *alarm.AlarmBridge) (CallResult, error) {
	log := s.Log
	if log == nil {
		log = slog.Default()
	}
	var res CallResult
	r, err := s.NewReceiver(*b)
	if err != nil {
		return res, err
	}
	var mu sync.Mutex
	// Each event is mapped, queued, then kept for the result: between the
	// unit's last key and its acknowledgement there is nothing but the
	// mapping and the one durable write (the heartbeat it also is comes
	// after the call, below).
	q := &MappedQueue{Router: s.Router, Domain: call.Domain, Bridge: b, Unknown: s.noteUnknown, Next: alarm.QueueFunc(func(ctx context.Context, ev alarm.Event) error {
		if err := s.Queue.Enqueue(ctx, ev); err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		for i := range res.Events {
			if res.Events[i].ID == ev.ID {
				return nil // a repeat
			}
		}
		res.Events = append(res.Events, ev)
		return nil
	})}
	out, err := r.Receive(ctx, ch, call, q)
	res.Outcome = out
	if s.Supervisor != nil {
		// Each queued event is its device's heartbeat: recorded now that
		// the unit has its acknowledgement (a second write before it would
		// delay it, with a second fsync).
		for _, ev := range res.Events {
			s.Supervisor.Observed(context.WithoutCancel(ctx), ev)
		}
	}
	if err != nil {
		return res, fmt.Errorf("alarm: call %s on alarmbridge %s: %w", call.ID, b.ID, err)
	}
	for _, ev := range res.Events {
		if ev.VoiceDestination != "" && (ev.Handling == alarm.HandlingCallEmergencyCenter || ev.Handling == alarm.HandlingUsePredefinedDestination || (out.ListenIn && ev.ContactID != nil && ev.ContactID.Code == "606")) {
			res.Voice = ev.VoiceDestination
		}
	}
	if res.Voice == "" && len(res.Events) > 0 && out.Reason != alarm.ReasonHangup {
		// No voice call follows: the unit is cleared down with its
		// protocol's signal (TT92 ##) by receivers that leave it to us.
		if c, ok := r.(alarm.Clearer); ok {
			if err := c.Clear(ctx, ch); err != nil {
				log.Info("alarm: clear-down", "call", call.ID, "err", err)
			}
		}
	}
	if len(res.Events) == 0 && call.Caller == "" {
		// "in case an incoming alarm event can't be decoded and there is
		// no calling party phone number" (provisioning schema: unknownAlarmEventVoiceDestination)
		res.Voice = s.Router.UnknownEventDestination(call.Domain, b)
	}
	log.Info("alarm: call done", "call", call.ID, "bridge", b.ID, "events", len(res.Events), "reason", out.Reason, "voice", res.Voice)
	return res, nil
}
