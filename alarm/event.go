package alarm

import "time"

// Protocol names an alarm protocol as the provisioning schema spells it
// (alarmbridge protocol), plus the gateway's extensions.
type Protocol string

const (
	ProtoContactID Protocol = "contactid"
	ProtoBS8521    Protocol = "bs8521"
	ProtoTT92      Protocol = "tt92"
	ProtoSCAIP     Protocol = "scaip"
	// ProtoVoiceCall: an ordinary call to a voicecall alarmbridge is the
	// alarm; the event carries the calling number.
	ProtoVoiceCall Protocol = "voicecall"
	// ProtoAPI: an event posted through the REST API to an api alarmbridge.
	ProtoAPI Protocol = "api"
	// ProtoSupervision marks events the gateway raises itself: a device
	// heartbeat lost or back, a delivery path down or up.
	ProtoSupervision Protocol = "supervision"
)

// Event is one alarm event from any protocol, as it is queued and delivered.
// The first block mirrors the provisioning schema's overrideInAlarmEvent fields.
type Event struct {
	ID string `json:"eventId"` // stable: the same message heard twice gets the same id

	DeviceType      string `json:"deviceType,omitempty"`
	ControllerID    string `json:"controllerId,omitempty"`
	DeviceComponent string `json:"deviceComponent,omitempty"`
	SystemConfig    string `json:"systemConfig,omitempty"`
	Location        string `json:"location,omitempty"`
	Audio           string `json:"audio,omitempty"`
	Priority        int    `json:"priority"`
	DeviceID        string `json:"deviceId,omitempty"`
	StatusCode      string `json:"statusCode,omitempty"`

	CustomerSiteID string    `json:"customerSiteId,omitempty"`
	Protocol       Protocol  `json:"protocol"`
	Domain         string    `json:"domain,omitempty"`
	Received       time.Time `json:"received"`
	Raw            string    `json:"raw"`
	CallerID       string    `json:"callerId,omitempty"`
	// Test marks an event the installer sent to try the path (the web
	// page's test alarm), not one an alarm unit raised.
	Test bool `json:"test,omitempty"`

	// Call and routing context, filled by the receiver and the mapping
	// (Router.Map) before the event is queued.
	CallID           string `json:"callId,omitempty"`             // SIP Call-ID or FXS call serial
	CalledNumber     string `json:"calledNumber,omitempty"`       // matched against destinationMatch
	AlarmBridgeID    string `json:"alarmBridgeId,omitempty"`      // the alarmbridge that took the call
	MapperID         string `json:"alarmEventMapperId,omitempty"` // the event mapper that sends it
	DeviceKey        string `json:"deviceKey,omitempty"`          // provisioned device id that authenticated it
	FromDomain       string `json:"fromDomain,omitempty"`         // mapper fromDomain: SIP From domain toward the ARC
	Handling         string `json:"alarmHandling,omitempty"`      // mapper alarmHandling after device overrides
	VoiceDestination string `json:"voiceDestination,omitempty"`   // where the voice call goes, if any

	ContactID   *ContactIDFields   `json:"contactId,omitempty"`
	BS8521      *BS8521Fields      `json:"bs8521,omitempty"`
	Supervision *SupervisionFields `json:"supervision,omitempty"`
}

// BS8521Fields are the parts of a BS 8521 message (C D TT GGGGGGGG RRRR EEE
// LL P SS, as DTMF keys).
type BS8521Fields struct {
	SystemType  string `json:"systemType"`
	SpeechMode  string `json:"speechMode"`
	Conformance string `json:"conformance"`
	Controller  string `json:"controller"`
	Unit        string `json:"unit"`
	Event       string `json:"event"` // 010 fixed trigger, 019 personal trigger, 021 fall, 058 periodic test
	Location    string `json:"location"`
	Priority    string `json:"priority"`
	Status      string `json:"status"`
}

// SupervisionFields describe an event the gateway raised itself.
type SupervisionFields struct {
	Kind       string    `json:"kind"`                 // "heartbeat"
	State      string    `json:"state"`                // "offline" or "online"
	Expiration time.Time `json:"expiration,omitempty"` // when the heartbeat was due
}

// ContactIDFields are the parts of a Contact ID (SIA DC-05) message.
type ContactIDFields struct {
	Account   string `json:"account"`
	Qualifier string `json:"qualifier"` // 1 new event, 3 restore, 6 still present
	Code      string `json:"code"`
	Group     string `json:"group"`
	Zone      string `json:"zone"`
}
