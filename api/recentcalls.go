package api

import (
	"cmp"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/edgebridge/edgebridge/engine"
	"github.com/edgebridge/edgebridge/store"
)

// Recent calls, a gateway extension in the shape of a CPaaS API's
// RecentCalls (snake_case fields, page/count paging, filters days, start,
// end, answered, direction), read from the store's call records. The
// account is the domain; call_sid and sip_call_id are both the SIP Call-ID
// of the leg (each leg of a bridged call is a record of its own); times are
// Unix milliseconds; sip_status is the final status (200 for an answered
// call, 487 for one the caller cancelled); termination_reason is the
// engine's cause (normal, remote-bye, rejected, cancelled, rtp-timeout,
// ...). Retention is the store's: CallHistorySegments ×
// CallHistorySegmentBytes of records per domain, the oldest dropped first.

const recentCallsExt = "gateway extension: recent calls (a CPaaS API's RecentCalls shape)"

// maxRecentCount bounds a page, as the other lists are bounded.
const maxRecentCount = 100

func recentCallsParams() []param {
	return []param{
		{name: "page", desc: "Page number, from 1 (default 1).", schema: str().pattern(`^[0-9]+$`)},
		{name: "count", desc: "Rows per page, 1 to 100 (default 25).", schema: str().pattern(`^[0-9]+$`)},
		{name: "days", desc: "Number of days back to retrieve, 1 to 30.", schema: str().pattern(`^[0-9]+$`)},
		{name: "start", desc: "Start date-time (RFC 3339).", schema: str().format("date-time")},
		{name: "end", desc: "End date-time (RFC 3339).", schema: str().format("date-time")},
		{name: "answered", desc: "Only answered (true) or unanswered (false) calls.", schema: str().enum("true", "false")},
		{name: "direction", desc: "Only inbound or outbound calls.", schema: str().enum("inbound", "outbound")},
	}
}

func recentCallSchema() *Schema {
	return obj(opt("account_sid", str()), opt("call_sid", str()), opt("from", str()), opt("to", str()), opt("answered", boolean()),
		opt("sip_call_id", str()), opt("sip_status", int32s()), opt("duration", int32s()), opt("attempted_at", num()),
		opt("answered_at", num()), opt("terminated_at", num()), opt("termination_reason", str()), opt("host", str()),
		opt("remote_host", str()), opt("direction", str().enum("inbound", "outbound")), opt("trunk", str()))
}

func (s *Server) recentCallRoutes(P string) {
	page := obj(opt("total", int32s()), opt("batch", int32s()), opt("page", int32s()), opt("data", arr(recentCallSchema())))
	s.add(&route{method: "GET", path: P + "/recentcalls/{domain}", tag: "logs", ext: recentCallsExt,
		summary: "Recent calls of the domain, newest first, filtered and paged.", query: recentCallsParams(), resp: page, h: s.recentCalls})
	s.add(&route{method: "GET", path: P + "/recentcalls/{domain}/{callId}", tag: "logs", ext: recentCallsExt,
		summary: "The SIP trace of one call: its record and its SIP messages (as the SIP log's logItems).",
		resp:    okSchema(opt("call", recentCallSchema()), opt("logItems", arr(anyObj()))), h: s.recentCallTrace})
	s.add(&route{method: "GET", path: P + "/recentcalls/{domain}/{callId}/pcap", tag: "logs", ext: recentCallsExt,
		summary: "The SIP messages of one call as a pcap file.", resp: str().format("binary"), respType: "application/vnd.tcpdump.pcap", h: s.callPcap})
}

// recentFilter is the parsed query of a recent calls list.
type recentFilter struct {
	page, count int
	from, to    time.Time
	answered    string
	direction   string
}

func parseRecentFilter(q map[string][]string, now time.Time) (recentFilter, error) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	f := recentFilter{page: 1, count: 25}
	num := func(k string, lo, hi int, into *int) error {
		v := get(k)
		if v == "" {
			return nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return ferr(k, "must be an integer from %d to %d", lo, hi)
		}
		*into = n
		return nil
	}
	if err := num("page", 1, 1<<20, &f.page); err != nil {
		return f, err
	}
	if err := num("count", 1, maxRecentCount, &f.count); err != nil {
		return f, err
	}
	days := 0
	if err := num("days", 1, 30, &days); err != nil {
		return f, err
	}
	if days > 0 {
		f.from = now.Add(-time.Duration(days) * 24 * time.Hour)
	}
	for _, k := range []string{"start", "end"} {
		v := get(k)
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return f, ferr(k, "must be an RFC 3339 date-time (2026-01-02T15:04:05Z)")
		}
		if k == "start" {
			if days > 0 {
				return f, ferr("start", "cannot be combined with days")
			}
			f.from = t
		} else {
			f.to = t
		}
	}
	if !f.from.IsZero() && !f.to.IsZero() && !f.to.After(f.from) {
		return f, ferr("end", "must be after start")
	}
	switch f.answered = get("answered"); f.answered {
	case "", "true", "false":
	default:
		return f, ferr("answered", "must be true or false")
	}
	switch f.direction = get("direction"); f.direction {
	case "", "inbound", "outbound":
	default:
		return f, ferr("direction", "must be inbound or outbound")
	}
	return f, nil
}

func (f recentFilter) match(r store.CallRecord) bool {
	if f.answered != "" && (f.answered == "true") == r.Answer.IsZero() {
		return false
	}
	return f.direction == "" || f.direction == cmp.Or(r.Direction, "inbound")
}

func (s *Server) recentCalls(c *call) error {
	f, err := parseRecentFilter(c.r.URL.Query(), time.Now())
	if err != nil {
		return err
	}
	var all []store.CallRecord
	if err := s.db.Calls(c.domain, f.from, f.to, func(r store.CallRecord) bool {
		if f.match(r) {
			all = append(all, r)
		}
		return true
	}); err != nil {
		return err
	}
	slices.Reverse(all) // newest first
	lo := min((f.page-1)*f.count, len(all))
	hi := min(lo+f.count, len(all))
	data := make([]any, 0, hi-lo)
	for _, r := range all[lo:hi] {
		data = append(data, recentCall(r))
	}
	writeJSON(c.w, 200, map[string]any{"total": len(all), "batch": len(data), "page": f.page, "data": data})
	return nil
}

// recentCall is a call record in the RecentCalls shape.
func recentCall(r store.CallRecord) map[string]any {
	m := map[string]any{
		"account_sid": r.Domain, "call_sid": r.CallID, "sip_call_id": r.CallID,
		"from": r.From, "to": r.To, "answered": !r.Answer.IsZero(),
		"sip_status": sipStatus(r), "duration": int(r.Duration() / time.Second),
		"attempted_at": r.Start.UnixMilli(), "direction": cmp.Or(r.Direction, "inbound"),
		"host": r.Local, "remote_host": r.Remote, "trunk": r.Trunk,
		"termination_reason": cmp.Or(r.Cause, r.Result),
	}
	if !r.Answer.IsZero() {
		m["answered_at"] = r.Answer.UnixMilli()
	}
	if !r.End.IsZero() {
		m["terminated_at"] = r.End.UnixMilli()
	} else {
		m["terminated_at"] = 0 // still up
	}
	return m
}

// sipStatus is the final status of a call from its record's result.
func sipStatus(r store.CallRecord) int {
	if n, err := strconv.Atoi(r.Result); err == nil {
		return n
	}
	switch {
	case !r.Answer.IsZero():
		return 200
	case r.Result == string(engine.CauseCancelled):
		return 487
	case r.Result == "":
		return 0 // still ringing
	case strings.Contains(r.Result, "shutdown"):
		return 503
	}
	return 480
}

func (s *Server) recentCallTrace(c *call) error {
	callID := c.r.PathValue("callId")
	r, err := s.db.Call(c.domain, callID)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("call", callID)
	} else if err != nil {
		return err
	}
	msgs, err := engine.CallSIPLog(s.db, s.cfg.SIPLog, c.domain, callID)
	if err != nil {
		return err
	}
	items := make([]any, 0, len(msgs))
	for _, m := range msgs {
		items = append(items, logItem(m))
	}
	return c.ok(map[string]any{"call": recentCall(r), "logItems": items})
}

// Alerts, a gateway extension in the shape of a CPaaS API's Alerts list
// (time, account_sid, alert_type, message, detail; page/count, days,
// start, end, alert_type), read from the engine's alerts in the store
// (engine.ResAlert, the newest 500 per domain), newest first. alert_type
// is no-carrier, call-limit, device-limit (the API's) or auth-failures,
// arc-path-down, unknown-alarm-account, queue-backlog, store-nearly-full,
// store-unwritable, call-queue-backlog (extensions); cleared says the
// cause is over.

func (s *Server) alertRoutes(P string) {
	q := recentCallsParams()[:5]
	q = append(q, param{name: "alert_type", desc: "Only alerts of this type.",
		schema: str().enum(engine.AlertTypes...)})
	item := obj(opt("time", str().format("date-time")), opt("account_sid", str()), opt("alert_type", str()), opt("message", str()),
		opt("detail", str()), opt("cleared", boolean()), opt("acknowledged", boolean()), opt("id", str()))
	s.add(&route{method: "GET", path: P + "/alerts/{domain}", tag: "logs", ext: "gateway extension: alerts (a CPaaS API's Alerts shape)",
		summary: "Alerts of the domain (trunk lost, call limits reached, repeated digest failures, ARC path down, alarm queue backlog, store nearly full or unwritable), newest first, filtered and paged.",
		query:   q, resp: obj(opt("total", int32s()), opt("batch", int32s()), opt("page", int32s()), opt("data", arr(item))), h: s.alerts})
	s.add(&route{method: "POST", path: P + "/alerts/{domain}/{alertId}/ack", tag: "logs", ext: "gateway extension: an installer acknowledges an alert",
		summary: "Mark an alert (its id in the list) as seen by an installer: it is listed with acknowledged true.",
		resp:    obj(opt("success", boolean())), h: s.ackAlert})
}

func (s *Server) ackAlert(c *call) error {
	id := c.r.PathValue("alertId")
	coll := c.coll(engine.ResAlert, false)
	err := s.db.Update(func(tx *store.Tx) error {
		b, err := tx.Get(coll, id)
		if err != nil {
			return err
		}
		var a engine.Alert
		if err := json.Unmarshal(b, &a); err != nil {
			return err
		}
		a.Acknowledged = true
		if b, err = json.Marshal(a); err != nil {
			return err
		}
		return tx.Put(coll, id, b)
	})
	if errors.Is(err, store.ErrNotFound) {
		return notFound("alert", id)
	}
	if err != nil {
		return err
	}
	writeJSON(c.w, 200, map[string]any{"success": true})
	return nil
}

func (s *Server) alerts(c *call) error {
	q := c.r.URL.Query()
	for _, k := range []string{"answered", "direction"} {
		if q.Has(k) {
			return ferr(k, "is not a filter of alerts")
		}
	}
	f, err := parseRecentFilter(q, time.Now())
	if err != nil {
		return err
	}
	typ := q.Get("alert_type")
	if typ != "" && !slices.Contains(engine.AlertTypes, typ) {
		return ferr("alert_type", "must be one of %s", strings.Join(engine.AlertTypes, ", "))
	}
	var all []engine.Alert
	err = s.db.View(func(tx *store.Tx) error {
		return tx.ForEach(c.coll(engine.ResAlert, false), "", func(id string, b []byte) (bool, error) {
			var a engine.Alert
			if json.Unmarshal(b, &a) != nil {
				return true, nil
			}
			a.ID = id
			if (typ == "" || a.AlertType == typ) && (f.from.IsZero() || !a.Time.Before(f.from)) && (f.to.IsZero() || a.Time.Before(f.to)) {
				all = append(all, a)
			}
			return true, nil
		})
	})
	if err != nil {
		return err
	}
	slices.Reverse(all)
	lo := min((f.page-1)*f.count, len(all))
	hi := min(lo+f.count, len(all))
	writeJSON(c.w, 200, map[string]any{"total": len(all), "batch": hi - lo, "page": f.page, "data": append([]engine.Alert{}, all[lo:hi]...)})
	return nil
}
