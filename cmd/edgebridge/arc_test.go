package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/alarm/dc09"
	"github.com/edgebridge/edgebridge/internal/testkit"
)

func TestArcPrintsWhatPanelsSend(t *testing.T) {
	key := "000102030405060708090a0b0c0d0e0f"
	var out, errb testkit.Buffer
	rc := make(chan int, 1)
	go func() { rc <- runArc([]string{"--listen", "127.0.0.1:0", "--key", key, "--count", "2"}, &out, &errb) }()
	var addr string
	if !testkit.Eventually(5*time.Second, func() bool {
		if s := errb.String(); strings.Contains(s, "listening on ") {
			addr = strings.Fields(strings.SplitN(s, "listening on ", 2)[1])[0]
		}
		return addr != ""
	}) {
		t.Fatalf("arc did not start: %s", errb.String())
	}
	k, _ := dc09.ParseKey(key)
	for _, c := range []*dc09.Client{
		{Network: "tcp", Addr: addr, Account: "1234", Line: "0", Timeout: 2 * time.Second},
		{Network: "udp", Addr: addr, Account: "1234", Line: "0", Key: k, Timeout: 2 * time.Second},
	} {
		if _, err := c.Send(context.Background(), dc09.IDADMCID, "#1234|1130 01 015", nil); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	select {
	case code := <-rc:
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("arc did not exit after --count 2")
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("output %q", out.String())
	}
	var a, b arcLine
	json.Unmarshal([]byte(lines[0]), &a)
	json.Unmarshal([]byte(lines[1]), &b)
	if a.Transport != "tcp" || a.Encrypted || a.Data != "#1234|1130 01 015" || a.Account != "1234" || a.ID != "ADM-CID" {
		t.Errorf("tcp line %+v", a)
	}
	if b.Transport != "udp" || !b.Encrypted || b.Data != "#1234|1130 01 015" || b.Time == "" {
		t.Errorf("udp line %+v", b)
	}
	if code := runArc([]string{"--key", "xyz"}, &out, &errb); code != 2 {
		t.Errorf("bad key: exit %d, want 2", code)
	}
}
