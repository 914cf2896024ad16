package gateway

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/edgebridge/edgebridge/store"
)

// Healthy is the daemon's one definition of healthy, used by the hardware
// watchdog (Config.Healthy), the firmware boot confirmation with systemd's
// watchdog, and /healthz: the store answers, and the HTTP and SIP (TCP)
// listen addresses accept connections.
func Healthy(db *store.DB, httpAddr, sipAddr string) error {
	if db == nil {
		return errors.New("store not open")
	}
	if _, err := db.Schema(); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := db.Writable(); err != nil {
		return err // "store unwritable since ...: no space left on device"
	}
	for _, l := range [...]struct{ name, addr string }{{"http", httpAddr}, {"sip", sipAddr}} {
		c, err := net.DialTimeout("tcp", dialable(l.addr), time.Second)
		if err != nil {
			return fmt.Errorf("%s not listening on %s: %w", l.name, l.addr, err)
		}
		c.Close()
	}
	return nil
}

// dialable turns a listen address (":8080", "0.0.0.0:8080") into one to dial.
func dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// SIPAddr is the address SIP listens on (the port it got for port 0), once
// Start has returned.
func (g *Gateway) SIPAddr() string { return g.eng.Addr() }
