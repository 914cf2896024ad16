package engine

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tortureDir finds RFC 4475's torture messages in sipgo's module.
func tortureDir(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/emiago/sipgo").Output()
	if err != nil {
		t.Fatalf("locating sipgo's module (for its RFC 4475 testdata): %v", err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "sip", "testdata", "torture")
}

// TestTortureMessagesDoNotStopTheUA sends every RFC 4475 torture message,
// valid and invalid, over UDP and TCP; the UA must answer OPTIONS after each.
func TestTortureMessagesDoNotStopTheUA(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(tortureDir(t), "*", "*.dat"))
	if len(files) < 40 {
		t.Fatalf("found %d torture messages, want the ~50 of RFC 4475", len(files))
	}
	e := startEngine(t, WithDirectory(trustedLoopback(t)))
	p := newPeer(t, e)
	alive := func(after string) {
		t.Helper()
		p.send("OPTIONS sip:" + e.Addr() + " SIP/2.0\nVia: SIP/2.0/UDP " + p.addr() + ";branch=z9hG4bK" + filepath.Base(after) +
			"\nFrom: <sip:probe@127.0.0.1>;tag=x\nTo: <sip:" + e.Addr() + ">\nCall-ID: alive-" + filepath.Base(after) +
			"\nCSeq: 1 OPTIONS\nMax-Forwards: 70\nContent-Length: 0\n\n")
		for {
			res := p.recv(false)
			if res.CallID().Value() == "alive-"+filepath.Base(after) {
				if res.StatusCode != 200 {
					t.Fatalf("after %s: OPTIONS answered %d", after, res.StatusCode)
				}
				return
			}
		}
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// Over UDP from the probe's own socket (answers to it are skipped by alive).
		if _, err := p.conn.WriteTo(data, p.to); err != nil {
			t.Fatal(err)
		}
		// Over TCP on a fresh connection.
		if c, err := net.Dial("tcp", e.Addr()); err == nil {
			c.Write(data)
			c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			buf := make([]byte, 4096)
			c.Read(buf)
			c.Close()
		} else {
			t.Fatalf("after %s: TCP connect: %v", f, err)
		}
		alive(f)
	}
}
