package testkit

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// debianPackage names the package that brings a tool, for the failure
// message (make deps installs them all).
var debianPackage = map[string]string{
	"sipp":      "sip-tester",
	"tshark":    "tshark",
	"espeak-ng": "espeak-ng",
	"baresip":   "baresip",
	"kamailio":  "kamailio",
	"chromium":  "chromium",
	"sox":       "sox",
	"sngrep":    "sngrep",
	"svwar":     "sipvicious",
	"svcrack":   "sipvicious",
}

// NeedTool returns the path of an external program a test drives. When it
// is missing the test fails loudly (CI installs every tool with make deps);
// only under go test -short, a developer's quick loop, it is skipped.
func NeedTool(t testing.TB, name string) string {
	t.Helper()
	if testing.Short() {
		t.Skipf("-short: skipping a test that runs %s", name)
	}
	p, err := exec.LookPath(name)
	for _, dir := range []string{"/usr/sbin/", "/sbin/"} { // daemons (kamailio) outside a user's PATH
		if err != nil {
			p, err = exec.LookPath(dir + name)
		}
	}
	if err != nil {
		pkg := debianPackage[name]
		if pkg == "" {
			pkg = name
		}
		t.Fatalf("%s not found: install the Debian package %s (make deps)", name, pkg)
	}
	return p
}

// TsharkCmd is tshark with args, made to recognise SIP by its content on
// any port. tshark picks the dissector of a UDP or TCP payload by a
// registered port before it tries SIP's heuristic, and hundreds of the
// ports tests bind are registered to something else, so a call whose port
// happened to be one read as another protocol. RTP is still found through
// the SDP that set it up, which tshark tries before either.
func TsharkCmd(t testing.TB, args ...string) *exec.Cmd {
	t.Helper()
	return exec.Command(NeedTool(t, "tshark"), append([]string{"-o", "udp.try_heuristic_first:TRUE", "-o", "tcp.try_heuristic_first:TRUE"}, args...)...)
}

// SngrepMessages is how many SIP messages sngrep reads from the pcap at
// path: sngrep has no batch report, so it writes the packets of the dialogs
// it parsed (-I file -N -q -O out) and tshark counts them.
func SngrepMessages(t testing.TB, path string) int {
	t.Helper()
	out := filepath.Join(t.TempDir(), "sngrep.pcap")
	cmd := exec.Command(NeedTool(t, "sngrep"), "-I", path, "-N", "-q", "-O", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sngrep: %v\n%s", err, b)
	}
	b, err := TsharkCmd(t, "-r", out, "-Y", "sip", "-T", "fields", "-e", "frame.number").Output()
	if err != nil {
		t.Fatalf("tshark on sngrep's output: %v", err)
	}
	return len(strings.Fields(string(b)))
}
