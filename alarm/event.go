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
	// ProtoSupervision marks events the gateway raises itself: a device
	// heartbeat lost or back, a delivery path down or up.
	ProtoSupervision Protocol = "supervision"
)

// Event is one alarm event from any protocol, as it is queued and delivered.
// The first block mirrors the seed's overrideInAlarmEvent fields.
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

	ContactID *ContactIDFields `json:"contactId,omitempty"`
}

// ContactIDFields are the parts of a Contact ID (SIA DC-05) message.
type ContactIDFields struct {
	Account   string `json:"account"`
	Qualifier string `json:"qualifier"` // 1 new event, 3 restore, 6 still present
	Code      string `json:"code"`
	Group     string `json:"group"`
	Zone      string `json:"zone"`
}
