package alarm

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"sync"
)

// The provisioning documents the alarm path reads, as the provisioning schema
// spells them (/alarmbridge, /alarmeventmapper, /device). Fields the alarm
// path does not use are left out; unknown fields are ignored on decode.

// Provisioning is the part of the stored configuration the alarm path reads.
// cmd wires it to the store's provisioning documents (working copies only).
// A missing mapper is returned as nil with a nil error.
type Provisioning interface {
	AlarmBridges(domain string) ([]AlarmBridge, error)
	EventMapper(domain, id string) (*EventMapper, error)
	Devices(domain string) ([]Device, error)
	// Device is the device stored under id (its deviceId, as POST /device
	// stores it), or nil when there is none: the lookup of an alarm's
	// device, which must not read every device before the kissoff.
	Device(domain, id string) (*Device, error)
}

// DeviceKey is the provisioned deviceId that authenticates an event with
// these identity parts: customerSiteId:controllerId:deviceId, leaving out
// what the event lacks (provisioning schema, POST /device, deviceId: "If just a
// controllerId is in the alarm event the string should be set to
// controllerId").
func DeviceKey(customerSiteID, controllerID, deviceID string) string {
	parts := make([]string, 0, 3)
	for _, p := range []string{customerSiteID, controllerID, deviceID} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, ":")
}

// AlarmBridge is an alarmbridge (event receiver): which calls it takes, in
// which protocol, and which event mapper handles what it hears.
type AlarmBridge struct {
	ID                          string          `json:"id"`
	Name                        string          `json:"name"`
	Protocol                    string          `json:"protocol"`
	ProtocolMode                string          `json:"protocolMode,omitempty"`
	FallbackAlarmProtocol       string          `json:"fallbackAlarmProtocol,omitempty"`
	DestinationMatch            string          `json:"destinationMatch"`
	AlarmEventMapperID          string          `json:"alarmEventMapperId,omitempty"`
	DefaultHeartbeatInterval    int64           `json:"defaultHeartbeatInterval,omitempty"` // ms
	CustomerSiteID              string          `json:"customerSiteId,omitempty"`
	CustomEventMap              json.RawMessage `json:"customEventMap,omitempty"`
	DefaultEmergencyDestination string          `json:"defaultEmergencyDestination,omitempty"`
	DataRequestInterval         int64           `json:"dataRequestInterval,omitempty"` // ms, bs8521
	CallbackTimeout             int64           `json:"callbackTimeout,omitempty"`     // ms
	AlarmbridgeCallbackEndpoint string          `json:"alarmbridgeCallbackEndpoint,omitempty"`
	CallbackBaseURL             string          `json:"callbackBaseUrl,omitempty"`
	ToneSettings                *ToneSettings   `json:"toneSettings,omitempty"`
	ControlCommandsEnabled      *bool           `json:"controlCommandsEnabled,omitempty"`
	ArcDisconnectClearsCall     *bool           `json:"arcDisconnectClearsCall,omitempty"`
}

// Validate is the one check of an alarmbridge's fields beyond their JSON
// types: the REST API runs it before storing one and the alarm service's
// loader before routing a call to it. The error is a *FieldError.
func (b *AlarmBridge) Validate() error {
	if _, err := CompileMatch(b.DestinationMatch); err != nil {
		return &FieldError{"destinationMatch", matchRule(err)}
	}
	if why, ok := RefusedProtocols[b.Protocol]; ok {
		return &FieldError{"protocol", "protocol " + b.Protocol + " is not served by this gateway: " + why}
	}
	if b.ProtocolMode == "sdmf" {
		switch b.Protocol {
		case "tt92", "ttnew", "multiprotocol":
		default:
			return &FieldError{"protocolMode", "sdmf (single tones) applies to tt92, ttnew and multiprotocol, not " + b.Protocol}
		}
	}
	if b.FallbackAlarmProtocol == string(ProtoSCAIP) && b.Protocol == "multiprotocol" {
		return &FieldError{"fallbackAlarmProtocol", "scaip units send SIP MESSAGE, not tones: a multiprotocol call cannot fall back to it (use bs8521, tt92 or ttnew)"}
	}
	return nil
}

// RefusedProtocols are the values of the alarmbridge protocol enum this
// gateway refuses at provisioning, each with its reason, rather than accept
// a bridge and then answer its calls only to drop them. A call that still
// reaches such a bridge (a document stored before) is refused before it is
// answered, so the unit dials its backup number. Empty today: every value
// of the enum is served.
var RefusedProtocols = map[string]string{}

// CallProtocols are the protocols received on an audio call (SIP or FXS):
// the values a device's serviceData.alarmBridge.alarmProtocol may take for
// a deviceProvisioned alarmbridge.
var CallProtocols = []string{"contactid", "bs8521", "tt92", "ttnew", "multiprotocol"}

// ToneSettings say how DTMF is sent toward each leg ("2833" out of band,
// "inaudio" in band).
type ToneSettings struct {
	CalleeDtmfSendType string `json:"calleeDtmfSendType,omitempty"`
	CallerDtmfSendType string `json:"callerDtmfSendType,omitempty"`
	DtmfSendType       string `json:"dtmfSendType,omitempty"`
}

// Alarm handling values of an event mapper (provisioning schema: alarmHandling).
const (
	HandlingCallEmergencyCenter      = "callEmergencyCenter"
	HandlingUsePredefinedDestination = "usePredefinedDestination"
	HandlingRequestCallback          = "requestCallback"
	HandlingDrop                     = "drop"
)

// EventMapper is an alarm event mapper (event sender): where events go and
// how they are rewritten on the way.
type EventMapper struct {
	ID                                string          `json:"id"`
	Name                              string          `json:"name"`
	AlarmHandling                     string          `json:"alarmHandling"`
	TargetEndpoint                    TargetEndpoint  `json:"targetEndpoint"`
	MapDeviceIDToControllerID         bool            `json:"mapDeviceIdToControllerId,omitempty"`
	DeviceIDPadLength                 int             `json:"deviceIdPadLength,omitempty"`
	ControllerIDPadLength             int             `json:"controllerIdPadLength,omitempty"`
	UnknownAlarmEventVoiceDestination string          `json:"unknownAlarmEventVoiceDestination,omitempty"`
	FromDomain                        string          `json:"fromDomain,omitempty"`
	CallerID                          string          `json:"callerId,omitempty"`
	UseVoiceBridge                    *bool           `json:"useVoiceBridge,omitempty"`
	EnableDestinationMonitoring       bool            `json:"enableDestinationMonitoring,omitempty"`
	MaxSessionDuration                float64         `json:"maxSessionDuration,omitempty"`
	WaitForCallback                   float64         `json:"waitForCallback,omitempty"`
	MappingRules                      json.RawMessage `json:"mappingRules,omitempty"`
}

// TargetEndpoint is the ARC an event mapper delivers to.
type TargetEndpoint struct {
	Protocol                string          `json:"protocol"`
	SipAuthUser             string          `json:"sipAuthUser,omitempty"`
	SipAuthPassword         string          `json:"sipAuthPassword,omitempty"`
	DestAddr                string          `json:"destAddr,omitempty"`
	OverrideSipFrom         string          `json:"overrideSipFrom,omitempty"`
	DefaultVoiceDestination string          `json:"defaultVoiceDestination,omitempty"`
	BackupEndpoint          *BackupEndpoint `json:"backupEndpoint,omitempty"`
}

// BackupEndpoint is the ARC used when the target does not answer.
type BackupEndpoint struct {
	BackupOverrideSipFrom         string `json:"backupOverrideSipFrom,omitempty"`
	BackupSipAuthPassword         string `json:"backupSipAuthPassword,omitempty"`
	BackupDefaultVoiceDestination string `json:"backupDefaultVoiceDestination,omitempty"`
	BackupSipAuthUser             string `json:"backupSipAuthUser,omitempty"`
	BackupDestAddr                string `json:"backupDestAddr,omitempty"`
}

// Device is a provisioned device as far as the alarm path cares. Its
// DeviceID is customerSiteId:controllerId:deviceId, or shorter when the
// events carry fewer of those (provisioning schema: POST /device, deviceId).
type Device struct {
	DeviceID    string       `json:"deviceId"`
	DeviceType  string       `json:"deviceType,omitempty"`
	DeviceCLI   string       `json:"deviceCLI,omitempty"`
	ServiceData *ServiceData `json:"serviceData,omitempty"`
}

// ServiceData holds a device's per-service settings.
type ServiceData struct {
	AlarmBridge *DeviceAlarmBridge `json:"alarmBridge,omitempty"`
}

// DeviceAlarmBridge is serviceData.alarmBridge: what a device overrides.
type DeviceAlarmBridge struct {
	HeartbeatInterval        int64          `json:"heartbeatInterval,omitempty"` // ms
	AlarmProtocol            string         `json:"alarmProtocol,omitempty"`
	EmergencyDestination     string         `json:"emergencyDestination,omitempty"`
	OverrideInAlarmEvent     *EventOverride `json:"overrideInAlarmEvent,omitempty"`
	UsePredefinedDestination *bool          `json:"usePredefinedDestination,omitempty"`
}

// EventOverride is overrideInAlarmEvent: each set field replaces the
// event's own. Priority is a pointer because 0 is a valid priority.
type EventOverride struct {
	DeviceType      string `json:"deviceType,omitempty"`
	ControllerID    string `json:"controllerId,omitempty"`
	DeviceComponent string `json:"deviceComponent,omitempty"`
	SystemConfig    string `json:"systemConfig,omitempty"`
	Location        string `json:"location,omitempty"`
	Audio           string `json:"audio,omitempty"`
	Priority        *int   `json:"priority,omitempty"`
	DeviceID        string `json:"deviceId,omitempty"`
	StatusCode      string `json:"statusCode,omitempty"`
}

// CompileMatch compiles a destinationMatch. The provisioning schema writes it as "/regex/";
// the slashes are delimiters, not part of the expression. A bare expression
// is accepted too. The match is unanchored, like a JavaScript RegExp test.
//
// Routing asks for the same few expressions on every call (each INVITE
// lists the domain's alarmbridges), so each is compiled once and kept.
func CompileMatch(s string) (*regexp.Regexp, error) {
	matches.Lock()
	c, ok := matches.m[s]
	matches.Unlock()
	if ok {
		return c.re, c.err
	}
	re, err := compileMatch(s)
	matches.Lock()
	if matches.m == nil || len(matches.m) >= maxMatches {
		matches.m = make(map[string]compiledMatch) // old rules: start over
	}
	matches.m[s] = compiledMatch{re, err}
	matches.Unlock()
	return re, err
}

// matches holds the destinationMatch expressions compiled so far (a
// *regexp.Regexp is safe for concurrent use); it is bounded by maxMatches.
var matches struct {
	sync.Mutex
	m map[string]compiledMatch
}

const maxMatches = 1024

type compiledMatch struct {
	re  *regexp.Regexp
	err error
}

func compileMatch(s string) (*regexp.Regexp, error) {
	expr := s
	if len(expr) >= 2 && strings.HasPrefix(expr, "/") && strings.HasSuffix(expr, "/") {
		expr = expr[1 : len(expr)-1]
	}
	if expr == "" {
		return nil, errEmptyMatch
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, fmt.Errorf("destinationMatch %q: %w", s, err)
	}
	return re, nil
}

var errEmptyMatch = errors.New("destinationMatch: empty expression")

// matchRule is the rule a CompileMatch error breaks, without the field.
func matchRule(err error) string {
	if errors.Is(err, errEmptyMatch) {
		return "must not be empty (between the slashes)"
	}
	var se *syntax.Error
	if errors.As(err, &se) {
		return "must be a valid regular expression: " + se.Code.String() + ": `" + se.Expr + "`"
	}
	return err.Error()
}
