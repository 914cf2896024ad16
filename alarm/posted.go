package alarm

import (
	"strings"
	"time"
)

// PostedEvent is an alarm event posted through the REST API to an
// alarmbridge of protocol api (POST /alarmbridge/{domain}/{alarmBridgeId}/event):
// the identity and event fields of the provisioning schema's
// overrideInAlarmEvent, which the device's own overrides and the event
// mapper then rewrite as for a received event.
type PostedEvent struct {
	ControllerID    string `json:"controllerId"`
	DeviceID        string `json:"deviceId,omitempty"`
	StatusCode      string `json:"statusCode"`
	DeviceType      string `json:"deviceType,omitempty"`
	DeviceComponent string `json:"deviceComponent,omitempty"`
	SystemConfig    string `json:"systemConfig,omitempty"`
	Location        string `json:"location,omitempty"`
	Priority        int    `json:"priority,omitempty"`
}

// maxPostedField bounds each text field of a posted event: it travels in
// DC-09 and SCAIP messages of bounded size.
const maxPostedField = 64

// Validate is the one check of a posted event (the REST API runs it; the
// gateway takes nothing else). The error is a *FieldError.
func (p *PostedEvent) Validate() error {
	if p.ControllerID == "" {
		return &FieldError{"controllerId", "required: it names the provisioned device (with deviceId) that raised the event"}
	}
	if p.StatusCode == "" {
		return &FieldError{"statusCode", "required: the event code delivered to the ARC"}
	}
	for _, f := range []struct{ name, v string }{
		{"controllerId", p.ControllerID}, {"deviceId", p.DeviceID}, {"statusCode", p.StatusCode},
		{"deviceType", p.DeviceType}, {"deviceComponent", p.DeviceComponent}, {"systemConfig", p.SystemConfig}, {"location", p.Location},
	} {
		if len(f.v) > maxPostedField {
			return &FieldError{f.name, "at most 64 characters"}
		}
		if strings.ContainsFunc(f.v, func(r rune) bool { return r < 0x20 || r == 0x7f || r > 0x7e }) {
			return &FieldError{f.name, "printable ASCII only: it travels in DC-09 and SCAIP messages"}
		}
	}
	if p.Priority < 0 || p.Priority > 99 {
		return &FieldError{"priority", "0 to 99"}
	}
	return nil
}

// Event is the posted event as received on domain at now; nonce makes its
// id unique (each post is one event).
func (p *PostedEvent) Event(domain, nonce string, now time.Time) Event {
	raw := "api " + p.ControllerID + " " + p.DeviceID + " " + p.StatusCode
	return Event{
		ID:              EventID(domain, "api-"+nonce, ProtoAPI, raw),
		Protocol:        ProtoAPI,
		Received:        now,
		Raw:             raw,
		ControllerID:    p.ControllerID,
		DeviceID:        p.DeviceID,
		StatusCode:      p.StatusCode,
		DeviceType:      p.DeviceType,
		DeviceComponent: p.DeviceComponent,
		SystemConfig:    p.SystemConfig,
		Location:        p.Location,
		Priority:        p.Priority,
		CallID:          "api-" + nonce,
	}
}
