package main

import (
	"bytes"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/alarm/dc09"

	"github.com/edgebridge/edgebridge/alarm/alarmtest"
	"github.com/edgebridge/edgebridge/internal/testkit"
)

var sipListenRe = regexp.MustCompile(`serve: sip listening" addr=(\S+)`)

// sipAddr is the SIP address the daemon logged when it came up.
func (d *daemonProc) sipAddr(t *testing.T) string {
	t.Helper()
	m := sipListenRe.FindStringSubmatch(d.log())
	if m == nil {
		t.Fatalf("daemon did not log its SIP address:\n%s", d.log())
	}
	return m[1]
}

// freePort reserves a loopback TCP port number and frees it, so the ARC can
// come up there later (its address must be provisioned before it exists).
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestAlarmSurvivesARCOutageAndKill9 is the gateway's promise end to end, on
// the real daemon process: a panel calls over SIP and sends Contact ID while
// the ARC is down; the gateway still kisses off (the event is queued and
// fsynced), is then killed with SIGKILL, restarted, and delivers the event
// to the ARC over SIA DC-09 once the ARC comes up.
func TestAlarmSurvivesARCOutageAndKill9(t *testing.T) {
	dir := t.TempDir()
	const key = "e2e-admin-key-0123456789"
	arcAddr := freePort(t)
	d := startDaemon(t, dir, nil, "--admin-key", key, "--rtp-ports", testkit.PortRangeArg(t, 100))
	for _, r := range []struct{ path, body string }{
		{"/provisioning/device/local", `{"deviceId":"1234","domain":"local","authType":"deviceid"}`},
		{"/provisioning/alarmeventmapper/local", `{"id":"arc","name":"ARC","alarmHandling":"drop","targetEndpoint":{"protocol":"dc09","destAddr":"dc09://` + arcAddr + `?transport=tcp"}}`},
		{"/provisioning/alarmbridge/local", `{"id":"panels","name":"panels","protocol":"contactid","protocolMode":"dtmf","destinationMatch":"^5551$","alarmEventMapperId":"arc"}`},
	} {
		code, body, err := d.req(key, "POST", r.path, r.body)
		if err != nil || code != 200 {
			t.Fatalf("POST %s: %d %s %v", r.path, code, body, err)
		}
	}

	var out, errb bytes.Buffer
	code := run([]string{"simulate", "--to", "sip:5551@" + d.sipAddr(t), "--event", "1234,1,130,01,015", "--calls", "1"}, &out, &errb)
	if code != 0 {
		t.Fatalf("simulate exit %d (no kissoff with the event queued)\n%s%s\ndaemon:\n%s", code, out.String(), errb.String(), d.log())
	}
	if !strings.Contains(out.String(), "kissoff heard") {
		t.Fatalf("simulate output has no kissoff:\n%s", out.String())
	}

	// The ARC was down all along: the event exists only in the queue file.
	if err := d.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-d.exited

	arc := alarmtest.StartARC(t, arcAddr)

	startDaemon(t, dir, nil, "--admin-key", key, "--rtp-ports", testkit.PortRangeArg(t, 100))
	got := arc.Wait(1, 20*time.Second)
	if len(got) != 1 {
		t.Fatalf("ARC received %d events after the restart, want 1: %+v", len(got), got)
	}
	if m := got[0]; m.ID != dc09.IDADMCID || m.Data != "#1234|1130 01 015" {
		t.Fatalf("ARC got %s %q, want ADM-CID #1234|1130 01 015", m.ID, m.Data)
	}
}
