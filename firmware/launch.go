package firmware

import (
	"errors"
	"fmt"
	"io"
	"syscall"
)

// RootEnv tells a daemon started by Launch where its slots are, so it can
// confirm itself once healthy.
const RootEnv = "EDGEBRIDGE_FIRMWARE_ROOT"

// Launch is the boot loader of a folder-slot system, run by the init system
// on every start: Boot (count a trial start, return to the old slot once a
// trial has used its starts), then exec of the chosen slot's binary with
// args, under the same PID so systemd and procd supervise the daemon itself.
// With no image installed, or no bootable slot, it runs self (the installed
// binary): a gateway without alarm service is the worst outcome.
// It returns only if exec fails.
func Launch(s *Slots, self string, args, env []string, log io.Writer) error {
	bin := self
	d, err := s.Boot()
	switch {
	case errors.Is(err, ErrNoImage):
		fmt.Fprintf(log, "firmware: no image in %s; running %s\n", s.Root, self)
	case err != nil:
		fmt.Fprintf(log, "firmware: %v; running %s\n", err, self)
	default:
		bin = d.Binary
		if d.Reverted != "" {
			fmt.Fprintf(log, "firmware: %s did not confirm itself; back on slot %s (%s)\n", d.Reverted, d.Slot, d.Manifest.Version)
		}
	}
	env = append(env, RootEnv+"="+s.Root)
	return syscall.Exec(bin, append([]string{bin}, args...), env)
}
