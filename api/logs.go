package api

import (
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/edgebridge/edgebridge/engine"
	"github.com/edgebridge/edgebridge/engine/pcap"
	"github.com/edgebridge/edgebridge/store"
)

// SIP logs (from the store's SIP log), the per-call pcap export and the
// call statistics (from the store's call records).

func (s *Server) sipLogs(c *call) error {
	f, err := c.object()
	if err != nil {
		return err
	}
	q := store.SIPQuery{Limit: 100}
	q.Pattern, _ = f["filterPattern"].(string)
	if n, ok := num64(f["limit"]); ok && n > 0 {
		q.Limit = int(n)
	}
	if n, ok := num64(f["startTime"]); ok && n > 0 {
		q.From = time.UnixMilli(n)
	}
	if n, ok := num64(f["endTime"]); ok && n > 0 {
		q.To = time.UnixMilli(n)
	}
	if !q.From.IsZero() && !q.To.IsZero() && q.To.Before(q.From) {
		return ferr("endTime", "must not be before startTime")
	}
	if s.cfg.SIPLog != nil {
		s.cfg.SIPLog.FlushSIPLog()
	}
	msgs, err := s.db.QuerySIP(c.domain, q)
	if err != nil {
		return err
	}
	items := make([]any, 0, len(msgs))
	for _, m := range msgs {
		items = append(items, logItem(m))
	}
	return c.ok(map[string]any{"logItems": items})
}

func num64(v any) (int64, bool) {
	switch n := v.(type) {
	case interface{ Int64() (int64, error) }:
		x, err := n.Int64()
		return x, err == nil
	case float64:
		return int64(n), true
	}
	return 0, false
}

// logItem turns a raw SIP message into the provisioning schema's logItems entry.
func logItem(m store.SIPMessage) map[string]any {
	head, body, _ := strings.Cut(m.Raw, "\r\n\r\n")
	lines := strings.Split(head, "\r\n")
	if len(lines) == 1 && strings.Contains(head, "\n") { // tolerate bare LF
		head, body, _ = strings.Cut(m.Raw, "\n\n")
		lines = strings.Split(head, "\n")
	}
	it := map[string]any{"timeStamp": m.Time.UnixMilli(), "transport": m.Transport, "body": body}
	srcIP, srcPort := splitHostPort(m.Src)
	dstIP, dstPort := splitHostPort(m.Dst)
	it["srcIp"], it["srcPort"], it["dstIp"], it["dstPort"] = srcIP, srcPort, dstIP, dstPort
	start := strings.TrimSpace(lines[0])
	if rest, ok := strings.CutPrefix(start, "SIP/2.0 "); ok {
		code, reason, _ := strings.Cut(rest, " ")
		it["type"], it["statusCode"], it["reason"] = "response", code, reason
	} else {
		f := strings.Fields(start)
		it["type"] = "request"
		if len(f) >= 2 {
			it["method"], it["requestUri"] = f[0], f[1]
		}
	}
	hdrs := map[string]any{}
	for _, l := range lines[1:] {
		name, val, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		name, val = strings.TrimSpace(name), strings.TrimSpace(val)
		switch old := hdrs[name].(type) {
		case nil:
			hdrs[name] = val
		case string:
			hdrs[name] = []string{old, val}
		case []string:
			hdrs[name] = append(old, val)
		}
	}
	it["sipHeaders"] = hdrs
	return it
}

func splitHostPort(a string) (string, int) {
	ap, err := netip.ParseAddrPort(a)
	if err != nil {
		return a, 0
	}
	return ap.Addr().String(), int(ap.Port())
}

// callPcap exports the SIP messages of one call as a pcap file, with its
// RTP capture when the engine kept one (notificationsettings
// callCaptureRtpSeconds) and, for a bridged call, its other leg's, written by engine.WriteCallCapture (the one export
// the engine uses too).
func (s *Server) callPcap(c *call) error {
	callID := c.r.PathValue("callId")
	var rtp []*pcap.Capture
	var msgs []store.SIPMessage
	var err error
	if cc, ok := s.cfg.SIPLog.(engine.CallCapturer); ok {
		msgs, rtp, err = cc.CallCapture(c.domain, callID)
	} else {
		msgs, err = engine.CallSIPLog(s.db, s.cfg.SIPLog, c.domain, callID)
	}
	if err != nil {
		return err
	}
	if len(msgs) == 0 {
		return notFound("SIP messages of call", callID)
	}
	c.w.Header().Set("Content-Type", "application/vnd.tcpdump.pcap")
	c.w.Header().Set("Content-Disposition", `attachment; filename="`+sanitizeFile(callID)+`.pcap"`)
	c.w.WriteHeader(http.StatusOK)
	skipped, err := engine.WriteCallCapture(c.w, msgs, rtp...)
	if skipped > 0 {
		s.log.Warn("pcap export: messages with addresses a pcap cannot hold left out", "call", callID, "n", skipped)
	}
	return err
}

func sanitizeFile(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == '.' || r == '_' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') {
			return r
		}
		return '_'
	}, s)
}

// statistics aggregates call durations (answer to end, in seconds) in time
// buckets (UTC): hour, day or month. Type cdr_siprec counts siprec calls as
// the provisioning schema says; the gateway extension "cdr" counts every call.
func (s *Server) statistics(c *call) error {
	typ, bucket := c.r.PathValue("type"), c.r.PathValue("bucketsize")
	if typ != "cdr_siprec" && typ != "cdr" {
		return ferr("type", "must be one of cdr_siprec, cdr")
	}
	var format string
	switch bucket {
	case "hour":
		format = "2006-01-02T15:00Z"
	case "day":
		format = "2006-01-02"
	case "month":
		format = "2006-01"
	default:
		return ferr("bucketsize", "must be one of hour, day, month")
	}
	type agg struct {
		name          string
		n             int
		min, max, sum float64
	}
	var order []*agg
	by := map[string]*agg{}
	err := s.db.Calls(c.domain, time.Time{}, time.Time{}, func(r store.CallRecord) bool {
		if typ == "cdr_siprec" && r.Kind != "siprec" {
			return true
		}
		if r.End.IsZero() {
			return true // still up: counted when it ends
		}
		name := r.Start.UTC().Format(format)
		a := by[name]
		if a == nil {
			a = &agg{name: name, min: math.Inf(1)}
			by[name] = a
			order = append(order, a)
		}
		d := r.Duration().Seconds()
		a.n++
		a.sum += d
		a.min, a.max = math.Min(a.min, d), math.Max(a.max, d)
		return true
	})
	if err != nil {
		return err
	}
	stats := make([]any, 0, len(order))
	for _, a := range order {
		stats = append(stats, map[string]any{
			"name": a.name, "num_calls": a.n, "min_duration": round3(a.min), "max_duration": round3(a.max),
			"sum_duration": round3(a.sum), "average_duration": round3(a.sum / float64(a.n)),
		})
	}
	return c.ok(map[string]any{"statistics": stats})
}

func round3(f float64) float64 {
	v, _ := strconv.ParseFloat(fmt.Sprintf("%.3f", f), 64)
	return v
}
