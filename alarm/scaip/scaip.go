package scaip

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/edgebridge/edgebridge/alarm"
)

// ContentType is the SIP body type of SCAIP messages.
const ContentType = "application/scaip+xml"

// Namespace is the XSD namespace of SCAIP XML (SS 91100).
const Namespace = "http://www.hi.se/2012/XScaipXML"

// Message types (mty).
const (
	TypeAlarm     = "ME" // alarm
	TypeReset     = "RE" // reset of an alarm
	TypeInfo      = "IN" // update
	TypeHeartbeat = "PI" // heartbeat
)

// Status numbers of a response (snu).
const (
	SnuOK               = 0
	SnuTooLong          = 1
	SnuInvalidFormat    = 2
	SnuWrongContent     = 3
	SnuHold             = 4
	SnuNotTreated       = 5
	SnuBusy             = 6
	SnuMandatoryMissing = 7
	SnuRefMissing       = 10
	SnuUndefined        = 99
)

// Request is <mrq>. Optional fields are empty when absent.
type Request struct {
	XMLName xml.Name `xml:"mrq"`
	Xmlns   string   `xml:"xmlns,attr,omitempty"`
	Ref     string   `xml:"ref"`           // 1-16 alphanumerics, required
	Ver     string   `xml:"ver,omitempty"` // "01.00"
	Cha     string   `xml:"cha,omitempty"` // 0 normal, 1 callback
	Mty     string   `xml:"mty,omitempty"` // ME, RE, IN, PI (absent: ME)
	Cid     string   `xml:"cid"`           // caller/controller id, 1-32 digits, required
	Dty     string   `xml:"dty"`           // device type, 4 digits, required
	Did     string   `xml:"did,omitempty"` // device id
	Dco     string   `xml:"dco,omitempty"` // device component
	Dte     string   `xml:"dte,omitempty"` // device text
	Crd     string   `xml:"crd,omitempty"` // caller, e.g. sip:...
	Stc     string   `xml:"stc,omitempty"` // status code, 4 digits (absent = alarm)
	Stt     string   `xml:"stt,omitempty"` // status text
	Pri     string   `xml:"pri,omitempty"` // priority 0-9
	Lco     string   `xml:"lco,omitempty"` // location code
	Lva     string   `xml:"lva,omitempty"` // location value
	Lte     string   `xml:"lte,omitempty"` // location text
	Ico     string   `xml:"ico,omitempty"` // info code
	Ite     string   `xml:"ite,omitempty"` // info text
}

// Response is <mrs>.
type Response struct {
	XMLName xml.Name `xml:"mrs"`
	Xmlns   string   `xml:"xmlns,attr,omitempty"`
	Ref     string   `xml:"ref"`
	Snu     int      `xml:"snu"`
	Mre     *int     `xml:"mre,omitempty"` // 0 no voice, 1 duplex, 2/3 simplex
	Cre     *int     `xml:"cre,omitempty"` // callback within minutes
	Hbi     *int     `xml:"hbi,omitempty"` // heartbeat interval, minutes 1-1440
}

// FieldError is a request that breaks a rule of SS 91100; Snu is the
// status the receiver answers with.
type FieldError struct {
	Field string
	Rule  string
	Snu   int
}

func (e *FieldError) Error() string { return "scaip: " + e.Field + ": " + e.Rule }

// maxBody bounds what is parsed: SCAIP messages are a few hundred bytes.
const maxBody = 8 << 10

// ParseRequest decodes and validates an <mrq> body. On a validation error
// it still returns what it decoded (the ref is needed for the answer).
func ParseRequest(body []byte) (Request, error) {
	var r Request
	if len(body) > maxBody {
		return r, &FieldError{Field: "body", Rule: fmt.Sprintf("%d bytes, at most %d", len(body), maxBody), Snu: SnuTooLong}
	}
	if err := decodeStrict(body, &r); err != nil {
		return r, &FieldError{Field: "mrq", Rule: "not a SCAIP request: " + err.Error(), Snu: SnuInvalidFormat}
	}
	return r, r.Validate()
}

func decodeStrict(body []byte, v any) error {
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	if err := d.Decode(v); err != nil {
		return err
	}
	return nil
}

// Validate checks the request's fields (SS 91100; doc.go lists the fields).
func (r *Request) Validate() error {
	switch {
	case r.Ref == "":
		return &FieldError{"ref", "required", SnuRefMissing}
	case len(r.Ref) > 16 || !alnum(r.Ref):
		return &FieldError{"ref", "1-16 letters and digits", SnuInvalidFormat}
	case r.Cid == "":
		return &FieldError{"cid", "required", SnuMandatoryMissing}
	case len(r.Cid) > 32 || !digits(r.Cid):
		return &FieldError{"cid", "1-32 digits", SnuInvalidFormat}
	case r.Dty == "":
		return &FieldError{"dty", "required", SnuMandatoryMissing}
	case len(r.Dty) != 4 || !digits(r.Dty):
		return &FieldError{"dty", "4 digits", SnuInvalidFormat}
	case r.Mty != "" && r.Mty != TypeAlarm && r.Mty != TypeReset && r.Mty != TypeInfo && r.Mty != TypeHeartbeat:
		return &FieldError{"mty", "one of ME, RE, IN, PI", SnuWrongContent}
	case r.Cha != "" && r.Cha != "0" && r.Cha != "1":
		return &FieldError{"cha", "0 or 1", SnuWrongContent}
	case r.Stc != "" && (len(r.Stc) != 4 || !digits(r.Stc)):
		return &FieldError{"stc", "4 digits", SnuInvalidFormat}
	case r.Pri != "" && (len(r.Pri) != 1 || !digits(r.Pri)):
		return &FieldError{"pri", "one digit 0-9", SnuInvalidFormat}
	}
	return nil
}

// Type is mty, with its default (an absent mty is an alarm).
func (r *Request) Type() string {
	if r.Mty == "" {
		return TypeAlarm
	}
	return r.Mty
}

func alnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return s != ""
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// Marshal encodes the request with the XML header and namespace.
func (r Request) Marshal() ([]byte, error) {
	r.Xmlns = Namespace
	return marshal(r)
}

// Marshal encodes the response with the XML header and namespace.
func (r Response) Marshal() ([]byte, error) {
	r.Xmlns = Namespace
	return marshal(r)
}

func marshal(v any) ([]byte, error) {
	b, err := xml.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), b...), nil
}

// ParseResponse decodes an <mrs> body.
func ParseResponse(body []byte) (Response, error) {
	var r Response
	if len(body) > maxBody {
		return r, fmt.Errorf("scaip: response of %d bytes", len(body))
	}
	if err := decodeStrict(body, &r); err != nil {
		return r, fmt.Errorf("scaip: not a SCAIP response: %w", err)
	}
	if r.Ref == "" {
		return r, errors.New("scaip: response without ref")
	}
	if r.Hbi != nil && (*r.Hbi < 1 || *r.Hbi > 1440) {
		return r, fmt.Errorf("scaip: hbi %d: must be 1-1440 minutes", *r.Hbi)
	}
	return r, nil
}

// EventFromRequest turns a valid request received on call into an Event.
// Its id depends on the domain, cid and ref, so a resent request (the unit
// missed the answer) is the same event.
func EventFromRequest(r Request, raw []byte, call alarm.Call, at time.Time) alarm.Event {
	ev := alarm.Event{
		ID:              alarm.EventID(call.Domain, r.Cid, alarm.ProtoSCAIP, r.Ref),
		Protocol:        alarm.ProtoSCAIP,
		Domain:          call.Domain,
		Received:        at,
		Raw:             string(raw),
		CallerID:        r.Crd,
		CallID:          call.ID,
		CalledNumber:    call.Called,
		ControllerID:    r.Cid,
		DeviceType:      r.Dty,
		DeviceID:        r.Did,
		DeviceComponent: r.Dco,
		StatusCode:      r.Stc,
		Location:        firstOf(r.Lte, r.Lva, r.Lco),
	}
	if ev.CallerID == "" {
		ev.CallerID = call.Caller
	}
	if p, err := strconv.Atoi(r.Pri); err == nil {
		ev.Priority = p
	}
	return ev
}

func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// RequestFromEvent builds the <mrq> that delivers ev to an ARC. The ref is
// taken from the event id, so a retried delivery carries the same ref and
// the ARC can drop the duplicate. Fields SCAIP requires but the event lacks
// get neutral values: dty 0000 (unknown device type).
func RequestFromEvent(ev alarm.Event) Request {
	r := Request{
		Ref: refOf(ev.ID),
		Ver: "01.00",
		Mty: TypeAlarm,
		Cid: cidOf(ev.ControllerID),
		Dty: ev.DeviceType,
		Did: ev.DeviceID,
		Dco: ev.DeviceComponent,
		Crd: ev.CallerID,
		Stc: ev.StatusCode,
		Lte: ev.Location,
		Pri: strconv.Itoa(min(9, max(0, ev.Priority))),
	}
	if r.Cid == "" {
		r.Cid = "0"
	}
	if len(r.Dty) != 4 || !digits(r.Dty) {
		r.Dty = "0000"
	}
	if r.Stc != "" && (len(r.Stc) != 4 || !digits(r.Stc)) {
		r.Stt, r.Stc = r.Stc, ""
	}
	switch {
	case ev.Handling == alarm.HandlingRequestCallback:
		r.Cha = "1"
	case ev.Supervision != nil:
		r.Mty = TypeInfo
		r.Stt = ev.Supervision.Kind + " " + ev.Supervision.State
	}
	if c := ev.ContactID; c != nil && r.Stt == "" {
		r.Stt = "Contact ID " + c.Qualifier + c.Code + " group " + c.Group + " zone " + c.Zone
	}
	return r
}

func refOf(id string) string {
	b := make([]byte, 0, 16)
	for i := 0; i < len(id) && len(b) < 16; i++ {
		if c := id[i]; c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
			b = append(b, c)
		}
	}
	if len(b) == 0 {
		return "0"
	}
	return string(b)
}

// cidOf makes a SCAIP cid (digits only) of a controller id. A Contact ID
// account may hold the hex digits B-F; such an account is sent as its
// decimal value (BCDE → 48350), so that accounts stay apart at the ARC
// instead of losing their letters. Anything else keeps its digits.
func cidOf(id string) string {
	if id != "" && !digits(id) {
		if v, err := strconv.ParseUint(id, 16, 64); err == nil {
			return strconv.FormatUint(v, 10)
		}
	}
	return onlyDigits(id)
}

func onlyDigits(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s) && len(b) < 32; i++ {
		if s[i] >= '0' && s[i] <= '9' {
			b = append(b, s[i])
		}
	}
	return string(b)
}

// Answer is the response to a request: snu from err (nil: 0 OK), and for
// an accepted alarm, mre (voice) and hbi (heartbeat minutes) when set.
func Answer(r Request, err error, mre, hbiMinutes int) Response {
	resp := Response{Ref: r.Ref, Snu: SnuOK}
	if err != nil {
		resp.Snu = SnuUndefined
		var fe *FieldError
		if errors.As(err, &fe) {
			resp.Snu = fe.Snu
		}
		return resp
	}
	if r.Type() == TypeAlarm {
		resp.Mre = &mre
	}
	if hbiMinutes > 0 {
		h := min(1440, hbiMinutes)
		resp.Hbi = &h
	}
	return resp
}
