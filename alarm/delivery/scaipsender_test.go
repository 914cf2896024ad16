package delivery

import (
	"context"
	"testing"

	"github.com/edgebridge/edgebridge/alarm/scaip"
)

// noMessages is a scaip.MessageClient for tests that never send.
type noMessages struct{}

func (noMessages) SendMessage(context.Context, scaip.OutMessage) (int, error) { return 500, nil }

func TestSCAIPFactory(t *testing.T) {
	f := SCAIPFactory(noMessages{}, &scaip.Replies{}, "sip:gw@local", nil)
	s, err := f(Endpoint{Protocol: "scaip", URL: "sip:arc@x", SIPAuthUser: "u", SIPAuthPassword: "p", OverrideSIPFrom: "sip:alarm@tenant"})
	if err != nil {
		t.Fatal(err)
	}
	if st := s.(*scaip.Sender).Target; st.To != "sip:arc@x" || st.From != "sip:alarm@tenant" || st.AuthUser != "u" || st.AuthPassword != "p" {
		t.Fatalf("target %+v", st)
	}
	if _, err := f(Endpoint{Protocol: "scaip"}); err == nil {
		t.Fatal("endpoint without destAddr accepted")
	}
}
