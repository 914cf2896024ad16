package engine

import (
	"errors"
	"fmt"
	"io"
	"net/netip"

	"github.com/edgebridge/edgebridge/engine/pcap"
	"github.com/edgebridge/edgebridge/store"
)

// ErrNoMessages means the SIP log holds nothing for the call asked for.
var ErrNoMessages = errors.New("engine: no SIP messages logged for that call")

// WriteCallPcap writes the SIP messages of a call, as the store's SIP log
// holds them, as a pcap (one UDP datagram per message, also those that
// crossed TCP, so that Wireshark and sngrep show the ladder).
func (e *Engine) WriteCallPcap(w io.Writer, domain, callID string) error {
	if e.db == nil {
		return errors.New("engine: no store to read the SIP log from")
	}
	e.FlushSIPLog()
	msgs, err := e.db.QuerySIP(domain, store.SIPQuery{CallID: callID, Limit: 1000})
	if err != nil {
		return err
	}
	return WritePcap(w, msgs)
}

// WritePcap writes logged SIP messages as a pcap, oldest first.
func WritePcap(w io.Writer, msgs []store.SIPMessage) error {
	if len(msgs) == 0 {
		return ErrNoMessages
	}
	pw, err := pcap.NewWriter(w)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		src, err1 := netip.ParseAddrPort(m.Src)
		dst, err2 := netip.ParseAddrPort(m.Dst)
		if err1 != nil || err2 != nil {
			return fmt.Errorf("engine: logged message has addresses %q -> %q", m.Src, m.Dst)
		}
		raw := []byte(m.Raw)
		if len(raw) > pcap.MaxPayload {
			raw = raw[:pcap.MaxPayload]
		}
		if err := pw.WritePacket(m.Time, src, dst, raw); err != nil {
			return err
		}
	}
	return nil
}
