package delivery

import (
	"fmt"
	"log/slog"

	"github.com/edgebridge/edgebridge/alarm/scaip"
)

var _ Sender = (*scaip.Sender)(nil)

// SCAIPFactory makes the delivery sender factory for protocol "scaip": each
// endpoint (targetEndpoint or backupEndpoint: destAddr, sipAuthUser,
// sipAuthPassword, overrideSipFrom) becomes a Sender on client. from is
// the gateway's own SIP URI, used when the endpoint has no overrideSipFrom.
func SCAIPFactory(client scaip.MessageClient, replies *scaip.Replies, from string, log *slog.Logger) SenderFactory {
	return func(ep Endpoint) (Sender, error) {
		if ep.URL == "" {
			return nil, fmt.Errorf("scaip: endpoint without destAddr")
		}
		t := scaip.Target{To: ep.URL, From: from, AuthUser: ep.SIPAuthUser, AuthPassword: ep.SIPAuthPassword}
		if ep.OverrideSIPFrom != "" {
			t.From = ep.OverrideSIPFrom
		}
		s := &scaip.Sender{Client: client, Replies: replies, Target: t, Log: log}
		if ep.Timeout > 0 {
			s.ReplyTimeout = ep.Timeout
		}
		return s, nil
	}
}
