package metrics

import (
	"runtime"
	"time"
)

// The gateway's metrics are read at scrape time through these small
// interfaces, which cmd/edgebridge satisfies by adapting each component's
// Stats() (the Func types below make that a one-liner). A nil source is
// left out of the scrape, so a build without a component still serves the
// rest.

// CallSource reports calls in progress (SIP legs and the FXS line).
type CallSource interface{ ActiveCalls() int }

// RegistrationSource reports devices currently registered to the registrar.
type RegistrationSource interface{ Registrations() int }

// TrunkSource reports the upstream SIP trunks.
type TrunkSource interface{ Trunks() []TrunkState }

// TrunkState is one upstream trunk's registration.
type TrunkState struct {
	Name string
	Up   bool
}

// AlarmSource reports the alarm pipeline's counters.
type AlarmSource interface{ Alarms() AlarmCounts }

// AlarmCounts are cumulative since start, except Queued (now).
type AlarmCounts struct {
	Received, Delivered, Failed uint64
	Queued                      int
	UnknownAccount              uint64 // events refused: no provisioned device matches their account
}

// RTPSource reports media quality summed over RTP sessions since start.
type RTPSource interface{ RTP() RTPCounts }

// RTPCounts are packet counts (RFC 3550 A.3) and the current worst jitter.
type RTPCounts struct {
	Received, Lost uint64
	Jitter         time.Duration // max interarrival jitter of active sessions (A.8)
}

// DSPSource reports 20 ms frames run through detectors and generators.
type DSPSource interface{ DSPFrames() uint64 }

// SIPEdgeSource reports what the SIP edge refused or survived.
type SIPEdgeSource interface{ SIPEdge() SIPEdgeCounts }

// SIPEdgeCounts are cumulative since start.
type SIPEdgeCounts struct {
	Malformed      uint64 // messages that did not parse or lacked/repeated a mandatory header
	Panics         uint64 // requests a handler panicked on (answered 500)
	StrayResponses uint64 // responses matching no transaction
	AuthFailures   uint64 // digest responses that did not match
	AuthBlocked    uint64 // requests refused while their source or user waits after digest failures
	// Load shedding: new INVITEs refused 503 because the gateway was
	// saturated (cumulative), calls in setup now, and the queue delay the
	// engine measures now (how late its probe goroutine wakes).
	Shed       uint64
	Setups     int
	QueueDelay time.Duration
}

// StoreSource reports the store file size; *store.DB satisfies it.
type StoreSource interface{ Size() int64 }

// Func adapters, for wiring a component's Stats() without a named type.
type (
	CallsFunc         func() int
	RegistrationsFunc func() int
	TrunksFunc        func() []TrunkState
	AlarmsFunc        func() AlarmCounts
	RTPFunc           func() RTPCounts
	DSPFramesFunc     func() uint64
	SIPEdgeFunc       func() SIPEdgeCounts
)

func (f CallsFunc) ActiveCalls() int           { return f() }
func (f RegistrationsFunc) Registrations() int { return f() }
func (f TrunksFunc) Trunks() []TrunkState      { return f() }
func (f AlarmsFunc) Alarms() AlarmCounts       { return f() }
func (f RTPFunc) RTP() RTPCounts               { return f() }
func (f DSPFramesFunc) DSPFrames() uint64      { return f() }
func (f SIPEdgeFunc) SIPEdge() SIPEdgeCounts   { return f() }

// Sources are what the gateway's /metrics reads; any may be nil.
type Sources struct {
	// Version is reported as edgebridge_build_info{version=...} 1.
	Version       string
	Calls         CallSource
	Registrations RegistrationSource
	Trunks        TrunkSource
	Alarms        AlarmSource
	RTP           RTPSource
	DSP           DSPSource
	SIPEdge       SIPEdgeSource
	Store         StoreSource
}

// DeliveryBuckets are the upper bounds (seconds) of the delivery latency
// histogram: an ARC expects an alarm within seconds (EN 50136-1 ATS
// categories go down to 10 s), so the buckets are dense below 10 s.
var DeliveryBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300}

// Gateway is edgebridge's /metrics: the registry with the collectors for
// Sources and the metrics fed directly (delivery latency).
type Gateway struct {
	*Registry
	// DeliveryLatency is observed by alarm delivery from the event's
	// receipt to the ARC's acknowledgement.
	DeliveryLatency *Histogram
	started         time.Time
}

// NewGateway builds the registry for src.
func NewGateway(src Sources) *Gateway {
	r := NewRegistry()
	g := &Gateway{Registry: r, started: time.Now()}
	g.DeliveryLatency = r.NewHistogram("edgebridge_alarm_delivery_latency_seconds",
		"Time from receiving an alarm to the ARC acknowledging it.", DeliveryBuckets)
	r.Register(CollectorFunc(func(w *Writer) {
		single := func(name, help, typ string, v float64) {
			w.Family(name, help, typ)
			w.Sample(name, nil, v)
		}
		single("edgebridge_uptime_seconds", "Seconds since the daemon started.", "gauge", time.Since(g.started).Seconds())
		w.Family("edgebridge_build_info", "Always 1; the labels say what runs.", "gauge")
		w.Sample("edgebridge_build_info", []string{"version", src.Version, "goversion", runtime.Version(), "goarch", runtime.GOARCH}, 1)
		// A gateway has 128-512 MB: memory and goroutines are worth watching.
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		single("edgebridge_go_heap_bytes", "Bytes of allocated heap objects.", "gauge", float64(ms.HeapAlloc))
		single("edgebridge_go_sys_bytes", "Bytes of memory obtained from the OS.", "gauge", float64(ms.Sys))
		single("edgebridge_go_goroutines", "Goroutines that exist.", "gauge", float64(runtime.NumGoroutine()))
		if s := src.Calls; s != nil {
			single("edgebridge_calls_active", "Call legs in progress: SIP legs and the FXS line's.", "gauge", float64(s.ActiveCalls()))
		}
		if s := src.Registrations; s != nil {
			single("edgebridge_registrations", "Devices registered to the registrar.", "gauge", float64(s.Registrations()))
		}
		if s := src.Trunks; s != nil {
			w.Family("edgebridge_trunk_up", "1 when the upstream trunk is registered, else 0.", "gauge")
			for _, t := range s.Trunks() {
				v := 0.0
				if t.Up {
					v = 1
				}
				w.Sample("edgebridge_trunk_up", []string{"trunk", t.Name}, v)
			}
		}
		if s := src.Alarms; s != nil {
			a := s.Alarms()
			single("edgebridge_alarms_received_total", "Alarm events received from alarm units.", "counter", float64(a.Received))
			single("edgebridge_alarms_delivered_total", "Alarm events acknowledged by the ARC.", "counter", float64(a.Delivered))
			single("edgebridge_alarms_failed_total", "Alarm delivery attempts that failed.", "counter", float64(a.Failed))
			single("edgebridge_alarms_queued", "Alarm events waiting in the store-and-forward queue.", "gauge", float64(a.Queued))
			single("edgebridge_alarms_unknown_account_total", "Alarm events refused (no kissoff) because no provisioned device matches their account.", "counter", float64(a.UnknownAccount))
		}
		if s := src.RTP; s != nil {
			m := s.RTP()
			single("edgebridge_rtp_packets_received_total", "RTP packets received.", "counter", float64(m.Received))
			single("edgebridge_rtp_packets_lost_total", "RTP packets lost (RFC 3550 A.3).", "counter", float64(m.Lost))
			single("edgebridge_rtp_jitter_seconds", "Worst interarrival jitter of active RTP sessions (RFC 3550 A.8).", "gauge", m.Jitter.Seconds())
		}
		if s := src.DSP; s != nil {
			single("edgebridge_dsp_frames_total", "20 ms audio frames processed by detectors and generators.", "counter", float64(s.DSPFrames()))
		}
		if s := src.SIPEdge; s != nil {
			c := s.SIPEdge()
			single("edgebridge_sip_malformed_total", "SIP messages dropped or refused as malformed.", "counter", float64(c.Malformed))
			single("edgebridge_sip_handler_panics_total", "SIP requests a handler panicked on (answered 500, gateway kept running).", "counter", float64(c.Panics))
			single("edgebridge_sip_stray_responses_total", "SIP responses that matched no transaction.", "counter", float64(c.StrayResponses))
			single("edgebridge_sip_auth_failures_total", "SIP digest responses that did not match.", "counter", float64(c.AuthFailures))
			single("edgebridge_sip_auth_blocked_total", "SIP requests refused 403 while their source or user waits after digest failures.", "counter", float64(c.AuthBlocked))
			single("edgebridge_sip_invites_shed_total", "New INVITEs refused 503 with Retry-After because the gateway was saturated.", "counter", float64(c.Shed))
			single("edgebridge_sip_calls_in_setup", "Calls admitted and neither answered or refused yet nor heard from by the callee (the shedder refuses new ones past its maximum).", "gauge", float64(c.Setups))
			single("edgebridge_sip_queue_delay_seconds", "Scheduling delay the load shedder measures (how late a 10 ms timer fires, smoothed).", "gauge", c.QueueDelay.Seconds())
		}
		if s := src.Store; s != nil {
			single("edgebridge_store_bytes", "Size of the bbolt store file.", "gauge", float64(s.Size()))
		}
	}))
	return g
}
