package testkit

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// SIPp is one SIPp process (Debian sip-tester) run in its own directory
// with the scenarios of testdata/sipp. Port is its SIP port on 127.0.0.1.
type SIPp struct {
	Port int

	cmd  *exec.Cmd
	dir  string
	out  bytes.Buffer
	done chan error
}

// ModuleRoot is the folder holding go.mod, found upwards from the test's
// working directory (its package folder).
func ModuleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		up := filepath.Dir(dir)
		if up == dir {
			t.Fatal("testkit: no go.mod above the working directory")
		}
		dir = up
	}
}

// SIPpScenario copies testdata/sipp/name into dir with the replacements
// (old, new pairs as strings.NewReplacer takes them).
func SIPpScenario(t testing.TB, dir, name string, repl ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(ModuleRoot(t), "testdata", "sipp", name))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, name)
	if err := os.WriteFile(out, []byte(strings.NewReplacer(repl...).Replace(string(b))), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// StartSIPp runs sipp on 127.0.0.1 and, when it plays a server (no remote
// host in args), waits until it listens. Its SIP port and its media ports
// (audio and video RTP with their RTCP: four from -mp on) come from one
// PortRange, outside the ephemeral ports other tests bind with port 0. A
// missing sipp fails the test (NeedTool).
func StartSIPp(t testing.TB, dir string, server bool, args ...string) *SIPp {
	t.Helper()
	bin := NeedTool(t, "sipp")
	lo, _ := PortRange(t, 6)
	s := &SIPp{dir: dir, done: make(chan error, 1), Port: lo}
	full := append([]string{"-i", "127.0.0.1", "-p", strconv.Itoa(s.Port), "-mp", strconv.Itoa(lo + 2),
		"-nostdin", "-timeout", "30s", "-timeout_error", "-trace_err", "-trace_msg", "-max_socket", "100"}, args...)
	s.cmd = exec.Command(bin, full...)
	s.cmd.Dir = dir
	s.cmd.Stdout, s.cmd.Stderr = &s.out, &s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})
	if server {
		deadline := time.Now().Add(5 * time.Second)
		for {
			c, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(s.Port))
			if err != nil {
				break // SIPp holds it
			}
			c.Close()
			if time.Now().After(deadline) {
				t.Fatalf("sipp did not listen on %d:\n%s", s.Port, s.Report())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return s
}

// Wait waits for SIPp to end (its scenario done or failed) for at most d.
func (s *SIPp) Wait(d time.Duration) error {
	select {
	case err := <-s.done:
		s.done <- err
		return err
	case <-time.After(d):
		_ = s.cmd.Process.Kill()
		return fmt.Errorf("sipp still running after %v", d)
	}
}

// Logs is the text of SIPp's log files matching pattern.
func (s *SIPp) Logs(pattern string) string {
	files, _ := filepath.Glob(filepath.Join(s.dir, pattern))
	var b strings.Builder
	for _, f := range files {
		data, _ := os.ReadFile(f)
		b.Write(data)
	}
	return b.String()
}

// Report is SIPp's output and error log, for a failure message.
func (s *SIPp) Report() string { return s.out.String() + s.Logs("*errors.log") }

// Received returns the messages SIPp received, each as its text.
func (s *SIPp) Received() []string {
	var out []string
	for _, m := range strings.Split(s.Logs("*messages.log"), "-----------------------------------------------") {
		if strings.Contains(m, "message received") {
			out = append(out, m)
		}
	}
	return out
}
