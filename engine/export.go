package engine

import (
	"errors"
	"io"
	"net/netip"

	"github.com/edgebridge/edgebridge/engine/pcap"
	"github.com/edgebridge/edgebridge/store"
)

// ErrNoMessages means the SIP log holds nothing for the call asked for.
var ErrNoMessages = errors.New("engine: no SIP messages logged for that call")

// CallPcapLimit is how many messages of one call an export holds at most:
// the newest ones. It bounds the memory one export takes.
const CallPcapLimit = 10000

// SIPLogFlusher hands the SIP messages seen so far to the SIP log;
// *Engine is one (FlushSIPLog).
type SIPLogFlusher interface{ FlushSIPLog() }

// CallSIPLog reads the logged SIP messages of one call, oldest first, at
// most CallPcapLimit. The engine writes its trace to the store in batches
// (every 200 ms), so f, when not nil, is flushed first: without that the
// last messages of a call that has just ended would be missing.
func CallSIPLog(db *store.DB, f SIPLogFlusher, domain, callID string) ([]store.SIPMessage, error) {
	if f != nil {
		f.FlushSIPLog()
	}
	return db.QuerySIP(domain, store.SIPQuery{CallID: callID, Limit: CallPcapLimit})
}

// WriteCallPcap writes the SIP messages of a call, as the store's SIP log
// holds them, as a pcap (see WritePcap).
func (e *Engine) WriteCallPcap(w io.Writer, domain, callID string) error {
	if e.db == nil {
		return errors.New("engine: no store to read the SIP log from")
	}
	msgs, err := CallSIPLog(e.db, e, domain, callID)
	if err != nil {
		return err
	}
	_, err = WritePcap(w, msgs)
	return err
}

// WritePcap writes logged SIP messages as a pcap, oldest first, for
// Wireshark or sngrep: one UDP datagram per message, also for those that
// crossed TCP or TLS (the content is what matters for reading a call
// flow); a message longer than one datagram is cut. A message whose
// addresses cannot be written (not ip:port, or source and destination of
// different IP families) is left out and counted in skipped, so that one odd
// log entry does not cost the whole export.
func WritePcap(w io.Writer, msgs []store.SIPMessage) (skipped int, err error) {
	if len(msgs) == 0 {
		return 0, ErrNoMessages
	}
	pw, err := pcap.NewWriter(w)
	if err != nil {
		return 0, err
	}
	for _, m := range msgs {
		src, err1 := netip.ParseAddrPort(m.Src)
		dst, err2 := netip.ParseAddrPort(m.Dst)
		if err1 != nil || err2 != nil || src.Addr().Unmap().Is4() != dst.Addr().Unmap().Is4() {
			skipped++
			continue
		}
		raw := []byte(m.Raw)
		if len(raw) > pcap.MaxPayload {
			raw = raw[:pcap.MaxPayload]
		}
		if err := pw.WritePacket(m.Time, src, dst, raw); err != nil {
			return skipped, err
		}
	}
	return skipped, nil
}
