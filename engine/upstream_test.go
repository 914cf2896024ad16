package engine

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgebridge/edgebridge/internal/testkit"
	"github.com/emiago/sipgo/sip"
)

// kamailio is a Kamailio upstream (testdata/kamailio/upstream.cfg) run by
// the test on loopback, never as a service.
type kamailio struct {
	port int
	log  testkit.Buffer
}

func (k *kamailio) Write(p []byte) (int, error) { return k.log.Write(p) }

// lines are the EB lines Kamailio logged so far whose text has prefix.
func (k *kamailio) lines(prefix string) []string {
	var out []string
	for _, l := range strings.Split(k.log.String(), "\n") {
		if i := strings.Index(l, prefix+" "); i >= 0 {
			out = append(out, l[i:])
		}
	}
	return out
}

func startKamailio(t *testing.T, uas string) *kamailio {
	t.Helper()
	bin := testkit.NeedTool(t, "kamailio")
	port, _ := testkit.PortRange(t, 1) // Kamailio listens on UDP and TCP
	k := &kamailio{port: port}
	dir := t.TempDir()
	cfg, err := os.ReadFile(filepath.Join("..", "testdata", "kamailio", "upstream.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	cfg = []byte(strings.NewReplacer("@PORT@", strconv.Itoa(k.port), "@UAS@", uas).Replace(string(cfg)))
	path := filepath.Join(dir, "upstream.cfg")
	if err := os.WriteFile(path, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-f", path, "-DD", "-E", "-m", "32", "-M", "4", "-Y", dir)
	cmd.Stdout, cmd.Stderr = k, k
	// Kamailio forks its workers: they share the process group, which the
	// cleanup ends by the leader's id.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			t.Logf("kamailio log:\n%s", k.log.String())
		}
	})
	// Ready once it answers an OPTIONS.
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	to := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: k.port}
	probe := strings.ReplaceAll("OPTIONS sip:127.0.0.1:"+strconv.Itoa(k.port)+" SIP/2.0\nVia: SIP/2.0/UDP "+c.LocalAddr().String()+
		";branch=z9hG4bKprobe\nFrom: <sip:probe@127.0.0.1>;tag=p\nTo: <sip:127.0.0.1>\nCall-ID: probe\nCSeq: 1 OPTIONS\nMax-Forwards: 70\nContent-Length: 0\n\n", "\n", "\r\n")
	buf := make([]byte, 4096)
	for end := time.Now().Add(10 * time.Second); ; {
		select {
		case <-done:
			t.Fatalf("kamailio exited:\n%s", k.log.String())
		default:
		}
		c.WriteTo([]byte(probe), to)
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if n, _, err := c.ReadFrom(buf); err == nil && strings.HasPrefix(string(buf[:n]), "SIP/2.0 200") {
			return k
		}
		if time.Now().After(end) {
			t.Fatalf("kamailio not answering on %d:\n%s", k.port, k.log.String())
		}
	}
}

var ebField = regexp.MustCompile(`(\w+)=(\S*)`)

// fields reads the name=value pairs of an EB line.
func fields(line string) map[string]string {
	m := map[string]string{}
	for _, f := range ebField.FindAllStringSubmatch(line, -1) {
		m[f[1]] = f[2]
	}
	return m
}

// TestTrunkAtKamailio: a trunk registers at Kamailio over UDP and TCP with
// one Call-ID and a growing CSeq, is challenged once and refreshes with the
// same challenge and the next nc; a call out through it with Request-URI
// parameters answers Kamailio's 407 with a digest uri equal to the
// Request-URI and reaches the callee behind it.
func TestTrunkAtKamailio(t *testing.T) {
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			wd := t.TempDir()
			uas := testkit.StartSIPp(t, wd, true, "-sf", testkit.SIPpScenario(t, wd, "uas_answer.xml"), "-m", "1")
			k := startKamailio(t, "127.0.0.1:"+strconv.Itoa(uas.Port))
			dir := NewStaticDirectory()
			dir.SetTrunks(testDomain, []Trunk{{
				TrunkID: "upstream", DestinationTarget: "127.0.0.1:" + strconv.Itoa(k.port), DestinationTransport: transport,
				DestinationMatch: "^9", UserName: "gw", Password: "trunk-secret",
				AddTerminatingURIParameters: "user=phone", TrunkGroupID: "tg1",
			}})
			e := startEngine(t, WithDirectory(dir))
			// Kamailio grants 3 s: refreshes come every 2.4 s.
			testkit.WaitFor(t, "three REGISTERs", 15*time.Second, func() bool { return len(k.lines("EB REGISTER")) >= 4 })
			regs := k.lines("EB REGISTER")
			if ch := k.lines("EBCHALLENGE REGISTER"); len(ch) != 1 {
				t.Fatalf("%d REGISTER challenges, want 1 (refreshes reuse it):\n%s", len(ch), strings.Join(regs, "\n"))
			}
			first := fields(regs[0])
			last := 0
			for i, l := range regs {
				f := fields(l)
				cs, _ := strconv.Atoi(f["cs"])
				if f["ci"] != first["ci"] || cs <= last {
					t.Fatalf("REGISTER %d: Call-ID %s CSeq %d after %d; want one Call-ID, CSeq growing:\n%s", i, f["ci"], cs, last, strings.Join(regs, "\n"))
				}
				last = cs
				if i >= 2 {
					// The refreshes answer the first challenge again.
					if nc, _ := strconv.ParseInt(f["nc"], 16, 32); int(nc) != i {
						t.Fatalf("REGISTER %d: nc %q, want %08x:\n%s", i, f["nc"], i, strings.Join(regs, "\n"))
					}
				}
			}
			if bad := k.lines("EBBADURI"); len(bad) > 0 {
				t.Fatalf("Kamailio refused the digest uri: %v", bad)
			}

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := e.Dial(ctx, DialOptions{To: "9123"})
			if err != nil {
				t.Fatalf("call through Kamailio: %v\n%s", err, strings.Join(k.lines("EB"), "\n"))
			}
			// Kamailio's log reaches the test through a pipe: the answered
			// call does not mean the retry's line has been read yet.
			testkit.WaitFor(t, "the INVITE and its retry in Kamailio's log", 5*time.Second, func() bool { return len(k.lines("EB INVITE")) >= 2 })
			inv := k.lines("EB INVITE")
			if len(inv) != 2 || !strings.Contains(inv[1], ";user=phone") || !strings.Contains(inv[1], "tgrp=tg1") ||
				fields(inv[1])["adu"] != fields(inv[1])["ru"] {
				t.Fatalf("INVITEs at Kamailio (want a 407 answered with uri = Request-URI, parameters included):\n%s", strings.Join(inv, "\n"))
			}
			if transport == "tcp" && !strings.Contains(inv[1], "transport=tcp") {
				t.Fatalf("TCP trunk INVITE without transport=tcp: %s", inv[1])
			}
			c.Hangup()
			if err := uas.Wait(10 * time.Second); err != nil {
				t.Fatalf("the callee behind Kamailio did not see the whole call: %v\n%s", err, uas.Report())
			}
			// Shutting down unregisters in the same registration, the
			// challenge answered once more, with no new 401.
			e.Close()
			// Kamailio's log reaches the test through a pipe: wait for the
			// Expires 0 line (a loaded machine may also have refreshed once
			// more before the shutdown).
			testkit.Eventually(5*time.Second, func() bool {
				r := k.lines("EB REGISTER")
				return fields(r[len(r)-1])["exp"] == "0"
			})
			regs = k.lines("EB REGISTER")
			end := fields(regs[len(regs)-1])
			prev, _ := strconv.Atoi(fields(regs[len(regs)-2])["cs"])
			if cs, _ := strconv.Atoi(end["cs"]); end["exp"] != "0" || end["ci"] != first["ci"] || cs != prev+1 || end["nc"] == "" {
				t.Fatalf("unregister %v, want Expires 0 in Call-ID %s with CSeq %d and the last challenge:\n%s", end, first["ci"], prev+1, strings.Join(regs, "\n"))
			}
			if ch := k.lines("EBCHALLENGE REGISTER"); len(ch) != 1 {
				t.Fatalf("%d REGISTER challenges by the end, want 1", len(ch))
			}
		})
	}
}

// A trunk whose registration refresh is still unanswered when the engine
// closes unregisters all the same: the cut refresh says nothing about the
// registrar, whose binding lives until it expires. (The Kamailio test's
// shutdown could fall on a refresh.)
func TestTrunkUnregistersWhenCloseCutsARefresh(t *testing.T) {
	reg, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	dir := NewStaticDirectory()
	dir.SetTrunks(testDomain, []Trunk{{TrunkID: "up", DestinationTarget: reg.LocalAddr().String(), DestinationTransport: "udp",
		DestinationMatch: "^9", UserName: "gw", Password: "pw"}})
	e := startEngine(t, WithDirectory(dir))
	// next reads the next REGISTER (retransmissions of one already read
	// are skipped by CSeq).
	buf := make([]byte, 65535)
	lastCSeq := uint32(0)
	next := func(within time.Duration) (*sip.Request, net.Addr) {
		t.Helper()
		for end := time.Now().Add(within); ; {
			reg.SetReadDeadline(end)
			n, from, err := reg.ReadFrom(buf)
			if err != nil {
				t.Fatalf("no further REGISTER: %v", err)
			}
			if m, err := sip.ParseMessage(buf[:n]); err == nil {
				if r, ok := m.(*sip.Request); ok && r.Method == sip.REGISTER && r.CSeq().SeqNo > lastCSeq {
					lastCSeq = r.CSeq().SeqNo
					return r, from
				}
			}
		}
	}
	first, from := next(10 * time.Second)
	// Granted 1 s: the refresh comes a second later.
	ok := sip.NewResponseFromRequest(first, 200, "OK", nil)
	ok.AppendHeader(sip.NewHeader("Expires", "1"))
	if _, err := reg.WriteTo([]byte(ok.String()), from); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, "the trunk registered", 5*time.Second, func() bool {
		st := e.TrunkStatus()
		return len(st) == 1 && st[0].Registered
	})
	if refresh, _ := next(10 * time.Second); refresh.GetHeader("Expires").Value() == "0" {
		t.Fatal("the refresh unregisters")
	}
	// The refresh is left unanswered while the engine closes.
	closed := make(chan struct{})
	go func() { e.Close(); close(closed) }()
	unreg, _ := next(5 * time.Second)
	if exp := unreg.GetHeader("Expires"); exp == nil || exp.Value() != "0" {
		t.Fatalf("after the cut refresh the trunk sent %v, want the unregister (Expires: 0)", unreg.GetHeader("Expires"))
	}
	<-closed
}
