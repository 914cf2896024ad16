package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/edgebridge/edgebridge/firmware"
)

func init() {
	register("firmware", "build, sign, verify and install signed A/B firmware images", runFirmware)
}

const firmwareUsage = `usage: edgebridge firmware <command> [flags]

commands:
  keygen   --out PREFIX                      write PREFIX.key (secret) and PREFIX.pub
  build    --arch arm|arm64|amd64 --key KEY --out FILE [--bin PATH] [--version V]
  sign     --key KEY --in FILE --out FILE
  verify   --pub PUB --in FILE [--arch A]
  apply    --root DIR [--pub PUB] --in FILE [--arch A]
  status   --root DIR
  boot     --root DIR                        the start-up step: count, roll back, print slot
  confirm  --root DIR
  rollback --root DIR
  run      --root DIR -- serve [FLAGS]       the launcher: boot step, then exec the chosen slot
`

// firmwareCommands are the subcommands of `edgebridge firmware`, each with
// its own flags.
var firmwareCommands = map[string]func(c *fwCmd) int{
	"keygen":   fwKeygen,
	"build":    fwBuild,
	"sign":     fwSign,
	"verify":   fwVerify,
	"apply":    fwApply,
	"run":      fwRun,
	"status":   fwSlots,
	"boot":     fwSlots,
	"confirm":  fwSlots,
	"rollback": fwSlots,
}

func runFirmware(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, firmwareUsage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	sub, args := args[0], args[1:]
	cmd, ok := firmwareCommands[sub]
	if !ok {
		fmt.Fprintf(stderr, "firmware: unknown command %q\n\n%s", sub, firmwareUsage)
		return 2
	}
	fs := flag.NewFlagSet("firmware "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return cmd(&fwCmd{name: sub, fs: fs, args: args, stdout: stdout, stderr: stderr})
}

// fwCmd is one run of a firmware subcommand: its flag set (each subcommand
// declares only its own flags), arguments and output.
type fwCmd struct {
	name           string
	fs             *flag.FlagSet
	args           []string
	stdout, stderr io.Writer
}

// parse parses the arguments and checks that the required flags are set;
// false: the usage error is printed (exit status 2).
func (c *fwCmd) parse(required ...string) bool {
	if err := c.fs.Parse(c.args); err != nil {
		return false
	}
	for _, n := range required {
		if c.fs.Lookup(n).Value.String() == "" {
			fmt.Fprintf(c.stderr, "firmware %s: --%s is required\n", c.name, n)
			return false
		}
	}
	return true
}

func (c *fwCmd) fail(err error) int {
	fmt.Fprintf(c.stderr, "firmware %s: %s\n", c.name, strings.TrimPrefix(err.Error(), "firmware: "))
	return 1
}

func (c *fwCmd) archFlag() *string {
	return c.fs.String("arch", "", "GOARCH of the image: arm (ARMv7), arm64 or amd64")
}

func fwKeygen(c *fwCmd) int {
	out := c.fs.String("out", "", "write PREFIX.key (secret) and PREFIX.pub")
	if !c.parse("out") {
		return 2
	}
	priv, pub, err := firmware.GenerateKey()
	if err != nil {
		return c.fail(err)
	}
	if err := os.WriteFile(*out+".key", priv, 0o600); err != nil {
		return c.fail(err)
	}
	if err := os.WriteFile(*out+".pub", pub, 0o644); err != nil {
		return c.fail(err)
	}
	fmt.Fprintf(c.stdout, "wrote %s.key (keep it secret) and %s.pub (put it on devices as ROOT/trusted.pub)\n", *out, *out)
	return 0
}

func fwBuild(c *fwCmd) int {
	arch := c.archFlag()
	keyPath := c.fs.String("key", "", "private key file (from keygen)")
	out := c.fs.String("out", "", "image file to write")
	bin := c.fs.String("bin", "", "package this binary instead of compiling one")
	ver := c.fs.String("version", version, "version recorded in the manifest")
	if !c.parse("arch", "key", "out") {
		return 2
	}
	key, err := readPrivateKey(*keyPath)
	if err != nil {
		return c.fail(err)
	}
	binary := *bin
	if binary == "" {
		tmp, err := os.MkdirTemp("", "edgebridge-build-")
		if err != nil {
			return c.fail(err)
		}
		defer os.RemoveAll(tmp)
		binary = filepath.Join(tmp, "edgebridge")
		if err := goBuild(binary, *arch, *ver, c.stderr); err != nil {
			return c.fail(err)
		}
	}
	data, err := os.ReadFile(binary)
	if err != nil {
		return c.fail(err)
	}
	var buf bytes.Buffer
	m, err := firmware.Build(&buf, *ver, *arch, time.Now(), []firmware.Input{
		{Name: firmware.BinaryName, Mode: 0o755, Data: data},
		{Name: "edgebridge.service", Mode: 0o644, Data: firmware.SystemdUnit},
		{Name: "edgebridge.init", Mode: 0o755, Data: firmware.ProcdInit},
	}, key)
	if err != nil {
		return c.fail(err)
	}
	if err := writeFileAtomic(*out, buf.Bytes()); err != nil {
		return c.fail(err)
	}
	fmt.Fprintf(c.stdout, "wrote %s: version %s arch %s, %d bytes, payload sha256 %s, signed\n", *out, m.Version, m.Arch, buf.Len(), m.PayloadSHA256)
	return 0
}

func fwSign(c *fwCmd) int {
	keyPath := c.fs.String("key", "", "private key file (from keygen)")
	in := c.fs.String("in", "", "image file to read")
	out := c.fs.String("out", "", "signed image file to write")
	if !c.parse("key", "in", "out") {
		return 2
	}
	key, err := readPrivateKey(*keyPath)
	if err != nil {
		return c.fail(err)
	}
	f, err := os.Open(*in)
	if err != nil {
		return c.fail(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	var buf bytes.Buffer
	if err := firmware.Sign(&buf, f, st.Size(), key); err != nil {
		return c.fail(err)
	}
	if err := writeFileAtomic(*out, buf.Bytes()); err != nil {
		return c.fail(err)
	}
	fmt.Fprintf(c.stdout, "signed %s -> %s\n", *in, *out)
	return 0
}

func fwVerify(c *fwCmd) int {
	pubPath := c.fs.String("pub", "", "public key file")
	in := c.fs.String("in", "", "image file to read")
	arch := c.archFlag()
	if !c.parse("pub", "in") {
		return 2
	}
	b, err := os.ReadFile(*pubPath)
	if err != nil {
		return c.fail(err)
	}
	pub, err := firmware.ParsePublicKey(b)
	if err != nil {
		return c.fail(err)
	}
	img, err := firmware.VerifyFile(*in, pub, *arch)
	if err != nil {
		return c.fail(err)
	}
	m := img.Manifest
	fmt.Fprintf(c.stdout, "ok %s: version %s arch %s created %s, %d files, signature good\n", *in, m.Version, m.Arch, m.Created.Format(time.RFC3339), len(m.Files))
	return 0
}

func fwApply(c *fwCmd) int {
	root := c.fs.String("root", "", "firmware root folder holding the slots")
	pubPath := c.fs.String("pub", "", "public key file; default ROOT/trusted.pub")
	in := c.fs.String("in", "", "image file to install")
	arch := c.archFlag()
	if !c.parse("root", "in") {
		return 2
	}
	s := &firmware.Slots{Root: *root, Arch: *arch}
	p := *pubPath
	if p == "" {
		p = filepath.Join(*root, "trusted.pub")
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return c.fail(fmt.Errorf("no trusted public key (give --pub or put one in %s): %w", filepath.Join(*root, "trusted.pub"), err))
	}
	if s.Pub, err = firmware.ParsePublicKey(b); err != nil {
		return c.fail(err)
	}
	m, err := s.Apply(*in, func(p firmware.Progress) { printProgress(c.stdout, p) })
	if err != nil {
		return c.fail(err)
	}
	fmt.Fprintf(c.stdout, "installed %s (%s); it starts on trial at the next start and must confirm itself healthy\n", m.Version, m.Arch)
	return 0
}

func fwRun(c *fwCmd) int {
	root := c.fs.String("root", "", "firmware root folder holding the slots")
	arch := c.archFlag()
	if !c.parse("root") {
		return 2
	}
	return firmwareRun(*root, *arch, c.fs.Args(), c.stderr)
}

// fwSlots runs status, boot, confirm and rollback: the slot operations.
func fwSlots(c *fwCmd) int {
	root := c.fs.String("root", "", "firmware root folder holding the slots")
	arch := c.archFlag()
	if !c.parse("root") {
		return 2
	}
	s := &firmware.Slots{Root: *root, Arch: *arch}
	switch c.name {
	case "boot":
		d, err := s.Boot()
		if err != nil {
			return c.fail(err)
		}
		return printJSON(c.stdout, d)
	case "confirm":
		if err := s.Confirm(); err != nil {
			return c.fail(err)
		}
		fmt.Fprintln(c.stdout, "confirmed")
		return 0
	case "rollback":
		m, err := s.Rollback()
		if err != nil {
			return c.fail(err)
		}
		fmt.Fprintf(c.stdout, "next start runs %s\n", m.Version)
		return 0
	}
	st, err := s.Status()
	if err != nil {
		return c.fail(err)
	}
	return printJSON(c.stdout, st)
}

func printProgress(w io.Writer, p firmware.Progress) {
	if p.Total > 0 {
		fmt.Fprintf(w, "%-6s %3d%% (%d/%d)\n", p.Step, p.Done*100/p.Total, p.Done, p.Total)
	} else {
		fmt.Fprintf(w, "%s\n", p.Step)
	}
}

func printJSON(w io.Writer, v any) int {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	if err := e.Encode(v); err != nil {
		return 1
	}
	return 0
}

func readPrivateKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return firmware.ParsePrivateKey(b)
}

func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// goBuild compiles this module's edgebridge for linux/arch, static: the
// same flags as `make arm`/`make arm64`.
func goBuild(out, arch, ver string, stderr io.Writer) error {
	if _, err := os.Stat("go.mod"); err != nil {
		return errors.New("build compiles the source in the current folder (the edgebridge module root); run it there or pass --bin")
	}
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version="+ver, "-o", out, "./cmd/edgebridge")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	if arch == "arm" {
		cmd.Env = append(cmd.Env, "GOARM=7")
	}
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build for %s: %w", arch, err)
	}
	return nil
}

// firmwareRun is what the init system starts (firmware.Launch).
func firmwareRun(root, arch string, args []string, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "firmware run: give the command to run after --, e.g. -- serve --hw linux")
		return 2
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "firmware run: %v\n", err)
		return 1
	}
	err = firmware.Launch(&firmware.Slots{Root: root, Arch: arch}, self, args, os.Environ(), stderr)
	fmt.Fprintf(stderr, "firmware run: %v\n", err)
	return 1
}

// firmwareComponent confirms an image on trial once the daemon is healthy:
// the store answers and HTTP and SIP accept connections. If that does not
// happen within confirmWithin it stops the daemon (exit status 1 through
// fail), so the service manager restarts it and the launcher's boot step
// returns to the old slot. The integrator lists it last in buildComponents
// and passes fail (e.g. a cancel of serve's context plus exit code 1).
type firmwareComponent struct {
	d             *daemon
	root          string // default $EDGEBRIDGE_FIRMWARE_ROOT; empty: not started by the launcher
	confirmWithin time.Duration
	fail          func(error)

	cancel context.CancelFunc
	done   chan struct{}
}

func (f *firmwareComponent) Name() string { return "firmware" }

func (f *firmwareComponent) Start(ctx context.Context) error {
	f.done = make(chan struct{})
	cctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	var wg sync.WaitGroup
	// Close waits on done; it closes once every goroutine started below
	// (all Adds happen before this deferred Wait starts) has ended.
	defer func() { go func() { wg.Wait(); close(f.done) }() }()

	// Listed last, so everything before has started: tell systemd
	// (Type=notify) and keep its WatchdogSec fed while healthy.
	if ok, err := firmware.Notify("READY=1"); err != nil {
		f.d.log.Warn("firmware: sd_notify", "err", err)
	} else if ok {
		wg.Add(1)
		go func() {
			defer wg.Done()
			firmware.SystemdWatchdog(cctx, func() bool { return f.d.healthy() == nil })
		}()
	}

	if f.root == "" {
		f.root = os.Getenv(firmware.RootEnv)
	}
	if f.root == "" {
		return nil
	}
	s := &firmware.Slots{Root: f.root}
	st, err := s.State()
	if err != nil || !st.Pending {
		return nil
	}
	if f.confirmWithin <= 0 {
		f.confirmWithin = 2 * time.Minute
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := firmware.ConfirmWhenHealthy(cctx, s, f.confirmWithin, time.Second, f.d.healthy)
		switch {
		case err == nil:
			f.d.log.Info("firmware: new image confirmed healthy", "slot", st.Active)
		case errors.Is(err, firmware.ErrNotConfirmed):
			f.d.log.Error("firmware: new image not healthy in time; stopping so the next start returns to the old slot", "slot", st.Active)
			if f.fail != nil {
				f.fail(err)
			}
		}
	}()
	return nil
}

func (f *firmwareComponent) Close() error {
	if f.cancel != nil {
		f.cancel()
		<-f.done
	}
	return nil
}

// firmwareRoot is where the daemon's slots are: the launcher's
// $EDGEBRIDGE_FIRMWARE_ROOT, else DATA/firmware.
func firmwareRoot(d *daemon) string {
	if r := os.Getenv(firmware.RootEnv); r != "" {
		return r
	}
	return filepath.Join(d.cfg.dataDir, "firmware")
}

// firmwareUpload is the firmware package's upload handler for POST
// /firmware and GET /firmware/status, which the API serves for the admin
// key only (api.Config.Firmware); the console reaches it through the same
// API, so `firmware status|apply` on the console are the REST operations.
//
// Images must be signed by the key in ROOT/trusted.pub, read on each upload
// so a key can be provisioned without a restart; without it uploads are
// refused.
func firmwareUpload(d *daemon) http.Handler {
	root := firmwareRoot(d)
	up := firmware.NewUploadHandler(&firmware.Slots{Root: root})
	up.TrustedKey = func() (ed25519.PublicKey, error) {
		b, err := os.ReadFile(filepath.Join(root, "trusted.pub"))
		if err != nil {
			return nil, errors.New("no trusted firmware key: put the signing public key in " + filepath.Join(root, "trusted.pub"))
		}
		return firmware.ParsePublicKey(b)
	}
	return up
}
