//go:build !linux

package udpstamp

import (
	"net"
	"time"
)

// Supported says whether Enable can stamp sockets on this system.
const Supported = false

// Space is the control buffer one arrival stamp needs.
var Space = 0

// Enable says no: the socket's datagrams are not stamped here.
func Enable(*net.UDPConn) bool { return false }

// Arrival finds no stamp here.
func Arrival([]byte) (time.Time, bool) { return time.Time{}, false }
