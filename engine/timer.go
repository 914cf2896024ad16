package engine

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// minSE is the smallest session interval accepted (RFC 4028 §4: 90 s); a
// variable only so that tests can run timers in seconds.
var minSE = 90 * time.Second

// sessionTimer reads Session-Expires and Min-SE of an INVITE (RFC 4028 §9).
// It returns the interval to use (0: no timer) and who refreshes. When the
// interval is too small it answers 422 and returns false.
func (e *Engine) sessionTimer(req *sip.Request, tx sip.ServerTransaction) (time.Duration, string, bool) {
	h := req.GetHeader("Session-Expires")
	if h == nil {
		h = req.GetHeader("x") // compact form (RFC 4028 §4)
	}
	supported := hasOption(req, "Supported", "timer")
	if h == nil {
		if !supported {
			return 0, "", true
		}
		// The UAC can do timers but asked for none: ask for ours, it refreshes.
		return e.sessionExpiry, "uac", true
	}
	val, params, _ := strings.Cut(h.Value(), ";")
	secs, err := strconv.Atoi(strings.TrimSpace(val))
	if err != nil || secs <= 0 {
		e.respond(tx, req, 400, "Bad Request", reasonHeader(400, "Session-Expires is not a number"))
		return 0, "", false
	}
	if time.Duration(secs)*time.Second < minSE {
		e.respond(tx, req, 422, "Session Interval Too Small", sip.NewHeader("Min-SE", strconv.Itoa(int(minSE/time.Second))))
		return 0, "", false
	}
	refresher := ""
	for _, p := range strings.Split(params, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(k, "refresher") {
			refresher = strings.ToLower(strings.TrimSpace(v))
		}
	}
	if refresher != "uac" && refresher != "uas" {
		// §9: the UAS picks; the UAC refreshes when it supports timers.
		refresher = "uas"
		if supported {
			refresher = "uac"
		}
	}
	return time.Duration(secs) * time.Second, refresher, true
}

func hasOption(req *sip.Request, header, opt string) bool {
	for _, h := range req.GetHeaders(header) {
		for _, o := range strings.Split(h.Value(), ",") {
			if strings.EqualFold(strings.TrimSpace(o), opt) {
				return true
			}
		}
	}
	return false
}

// timerHeaders are added to a 2xx that accepts a session timer.
func (c *Call) timerHeaders() []sip.Header {
	if c.sessExp <= 0 {
		return nil
	}
	return []sip.Header{
		sip.NewHeader("Session-Expires", fmt.Sprintf("%d;refresher=%s", int(c.sessExp/time.Second), c.refresher)),
		sip.NewHeader("Require", "timer"),
		sip.NewHeader("Supported", "timer"),
	}
}

// superviseSession runs for an answered inbound call with a session timer:
// as refresher it sends a re-INVITE at half the interval; otherwise it hangs
// up when no refresh came within the interval (RFC 4028 §10: BYE shortly
// before expiry, here at interval - min(32 s, interval/3)).
func (c *Call) superviseSession() {
	if c.sessExp <= 0 {
		return
	}
	c.lastFrame.Store(time.Now().UnixNano())
	go func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-c.done:
				return
			case <-tick.C:
			}
			since := time.Since(time.Unix(0, c.lastFrame.Load()))
			if c.refresher == "uas" {
				if since >= c.sessExp/2 {
					c.refresh()
				}
				continue
			}
			if since >= c.sessExp-min(32*time.Second, c.sessExp/3) {
				c.e.log.Info("session timer expired", "call", c.ID)
				c.end(CauseSessionExp, true)
				return
			}
		}
	}()
}

// refresh sends a re-INVITE with the current SDP (RFC 4028 §10: the offer is
// unchanged, so the o= version stays).
func (c *Call) refresh() {
	c.lastFrame.Store(time.Now().UnixNano())
	if c.sdlg == nil || c.local == nil {
		return
	}
	req := sip.NewRequest(sip.INVITE, c.req.Contact().Address)
	req.SetTransport(c.req.Transport())
	req.SetBody(c.local.Marshal())
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.AppendHeader(sip.NewHeader("Session-Expires", fmt.Sprintf("%d;refresher=uas", int(c.sessExp/time.Second))))
	req.AppendHeader(sip.NewHeader("Supported", "timer"))
	ctx, cancel := context.WithTimeout(c.ctx, 32*time.Second)
	defer cancel()
	res, err := c.sdlg.Do(ctx, req)
	if err != nil {
		c.e.log.Warn("session refresh failed", "call", c.ID, "err", err)
		return
	}
	switch {
	case res.IsSuccess():
		ack := sip.NewRequest(sip.ACK, c.req.Contact().Address)
		ack.SetTransport(c.req.Transport())
		_ = c.sdlg.WriteRequest(ack) // the dialog fills From, To, Call-ID and the re-INVITE's CSeq
	case res.StatusCode == 481 || res.StatusCode == 408:
		// §10: these end the session.
		c.end(CauseSessionExp, false)
	}
}
