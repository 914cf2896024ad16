package firmware

import (
	"context"
	"net"
	"os"
	"strconv"
	"time"
)

// Notify sends state (e.g. "READY=1", "WATCHDOG=1") to systemd over
// $NOTIFY_SOCKET (sd_notify(3)). Without the variable it does nothing and
// returns false, so the same binary runs under procd or by hand.
func Notify(state string) (bool, error) {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return false, nil
	}
	if path[0] == '@' { // abstract socket namespace
		path = "\x00" + path[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return false, err
	}
	defer c.Close()
	_, err = c.Write([]byte(state))
	return err == nil, err
}

// SystemdWatchdog sends WATCHDOG=1 at half of $WATCHDOG_USEC while healthy
// returns true, until ctx ends. It returns at once when systemd asked for
// no watchdog (WatchdogSec unset in the unit).
func SystemdWatchdog(ctx context.Context, healthy func() bool) {
	usec, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec <= 0 {
		return
	}
	t := time.NewTicker(time.Duration(usec) * time.Microsecond / 2)
	defer t.Stop()
	for {
		if healthy == nil || healthy() {
			Notify("WATCHDOG=1")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
