package engine

import (
	"context"
	"math/rand/v2"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/edgebridge/edgebridge/internal/testkit"
)

// TestAnswerRetransmittedUntilLateAck: a caller whose ACK comes only after
// the INVITE transaction is gone (Timer L, and sipgo's own retransmission
// after it) still gets its 200 retransmitted, and the ACK keeps the call up
// (RFC 3261 §13.3.1.4: 64*T1 for the ACK).
func TestAnswerRetransmittedUntilLateAck(t *testing.T) {
	answered := make(chan error, 1)
	e := startEngine(t, WithDirectory(trustedLoopback(t)), routeAll("ms/lateack", "2833", CallHandlerFunc(func(ctx context.Context, c *Call) {
		answered <- c.Answer()
		<-ctx.Done()
	})))
	p := newPeer(t, e)
	p.invite("5560", "lateack1", "")
	ok := p.recv(false)
	if ok.StatusCode != 200 {
		t.Fatalf("answered %d, want 200", ok.StatusCode)
	}
	// Listen, without ACKing, past Timer L and sipgo's retransmission after
	// it (T1 + T2 = 4.5 s), which finds the transaction gone.
	copies := 0
	buf := make([]byte, 65535)
	for end := time.Now().Add(max(absorbInviteCopies, sip.T1+sip.T2) + 1500*time.Millisecond); time.Now().Before(end); {
		p.conn.SetReadDeadline(end)
		n, _, err := p.conn.ReadFrom(buf)
		if err != nil {
			break
		}
		if m, err := sip.ParseMessage(buf[:n]); err == nil {
			if r, isRes := m.(*sip.Response); isRes && r.StatusCode == 200 {
				copies++
			} else if !isRes {
				t.Fatalf("the engine sent %s before the ACK", m.(*sip.Request).StartLine())
			}
		}
	}
	// 0.5 s (sipgo, or the engine once the transaction is gone), then the
	// engine's: at least 2 more in 6 s.
	if copies < 3 {
		t.Fatalf("the 200 was retransmitted %d times in 6 s without an ACK, want >= 3", copies)
	}
	p.ackOK(ok, "5560")
	select {
	case err := <-answered:
		if err != nil {
			t.Fatalf("Answer: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Answer did not return after the ACK")
	}
	if n := e.Calls(); n != 1 {
		t.Fatalf("%d calls up after the late ACK, want 1", n)
	}
}

// TestAnswerCopyAfterTimerMIsAcked: the callee's 200 retransmitted after
// the INVITE transaction ended (Timer M), as when our ACK was lost, is
// ACKed again by the call (RFC 3261 §13.2.2.4).
func TestAnswerCopyAfterTimerMIsAcked(t *testing.T) {
	e := startEngine(t, WithDirectory(trustedLoopback(t)))
	p := udpPeerAt(t, e, "127.0.0.2")
	calls := make(chan *Call, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := e.Dial(ctx, DialOptions{To: "sip:900@" + p.addr()})
		if err != nil {
			t.Errorf("Dial: %v", err)
		}
		calls <- c
	}()
	inv := p.recvRequest("INVITE", 3*time.Second)
	// One 200, sent twice: answerWith would give each a To tag of its own.
	ok := sip.NewResponseFromRequest(inv, 200, "OK", []byte(strings.ReplaceAll(testSDP, "\n", "\r\n")))
	ok.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "b", Host: "127.0.0.2", Port: p.conn.LocalAddr().(*net.UDPAddr).Port}})
	ok.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	answer := []byte(ok.String())
	p.conn.WriteTo(answer, p.to)
	first := p.recvRequest("ACK", 3*time.Second)
	c := <-calls
	if c == nil {
		return
	}
	defer func() {
		go c.Hangup()
		p.okTo(p.recvRequest("BYE", 3*time.Second))
	}()
	stray := e.Stats().StrayResponses
	// Past Timer M the copy matches no transaction.
	time.Sleep(3 * absorbAnswerCopies)
	p.conn.WriteTo(answer, p.to)
	again := p.recvRequest("ACK", 3*time.Second)
	if again.CSeq().SeqNo != first.CSeq().SeqNo || again.CallID().Value() != first.CallID().Value() {
		t.Fatalf("re-ACK %s / %s, want the first ACK's CSeq and Call-ID (%s / %s)",
			again.CSeq().Value(), again.CallID().Value(), first.CSeq().Value(), first.CallID().Value())
	}
	if got := e.Stats().StrayResponses; got != stray+1 {
		t.Fatalf("stray responses %d, want %d: the copy still met its transaction", got, stray+1)
	}
}

// TestInviteCopyAfterTimerLIsDropped: a copy of an answered INVITE that
// comes after its transaction (Timer L), as a caller that heard neither our
// 100 nor the 200 sends, is dropped, not taken as a second call.
func TestInviteCopyAfterTimerLIsDropped(t *testing.T) {
	var taken atomic.Int32
	e := startEngine(t, WithDirectory(trustedLoopback(t)), routeAll("ms/copy", "2833", CallHandlerFunc(func(ctx context.Context, c *Call) {
		taken.Add(1)
		if c.Answer() == nil {
			<-ctx.Done()
		}
	})))
	p := newPeer(t, e)
	p.answeredCall("5561", "invcopy1")
	// Past Timer L the copy matches no transaction.
	time.Sleep(absorbInviteCopies + sip.T1)
	p.invite("5561", "invcopy1", "")
	buf := make([]byte, 65535)
	p.conn.SetReadDeadline(time.Now().Add(time.Second))
	if n, _, err := p.conn.ReadFrom(buf); err == nil {
		t.Fatalf("the copy was answered:\n%s", buf[:n])
	}
	if n := taken.Load(); n != 1 {
		t.Fatalf("the route took %d calls, want 1", n)
	}
	if n := e.Calls(); n != 1 {
		t.Fatalf("%d calls up, want 1", n)
	}
}

// TestByeCopyAfterItsAnswerGets200: a copy of a BYE we answered, as a
// caller sends when our 200 was lost or late, gets 200 again, not 481
// (its transaction ended with the answer); a BYE of a dialog we never had
// still gets 481.
func TestByeCopyAfterItsAnswerGets200(t *testing.T) {
	e := startEngine(t, WithDirectory(trustedLoopback(t)), routeAll("ms/byecopy", "2833", CallHandlerFunc(func(ctx context.Context, c *Call) {
		if c.Answer() == nil {
			<-ctx.Done()
		}
	})))
	p := newPeer(t, e)
	ok := p.answeredCall("5562", "byecopy1")
	p.inDialog(ok, "BYE", 2, "", "")
	if res := p.recv(false); res.StatusCode != 200 || res.CSeq().MethodName != sip.BYE {
		t.Fatalf("the BYE got %d %s, want 200", res.StatusCode, res.CSeq().MethodName)
	}
	testkit.WaitFor(t, "the call ended", 5*time.Second, func() bool { return e.Calls() == 0 })
	p.inDialog(ok, "BYE", 2, "", "")
	if res := p.recv(false); res.StatusCode != 200 || res.CSeq().MethodName != sip.BYE {
		t.Fatalf("the BYE's copy got %d %s, want 200 again", res.StatusCode, res.CSeq().MethodName)
	}
	// Another BYE (new branch and CSeq) of the ended dialog is not a copy.
	p.inDialog(ok, "BYE", 3, "", "")
	if res := p.recv(false); res.StatusCode != 481 {
		t.Fatalf("a new BYE of the ended dialog got %d, want 481", res.StatusCode)
	}
}

// TestAnsweredTableHoldsTheTargetRate: at 2000 calls a second, an INVITE
// and a BYE each remembered 8 s, the answered table still finds almost
// every copy's entry; a table of the socket reader's size would have lost
// a fifth of them to full buckets (each one a copy taken as a new
// call or a BYE copy answered 481).
func TestAnsweredTableHoldsTheTargetRate(t *testing.T) {
	const entries = 2000 * 2 * 8
	found := func(size int) float64 {
		m := inviteMemo{limit: size}
		r := rand.New(rand.NewPCG(1, 2))
		start := time.Unix(1000, 0)
		keys := make([]uint64, entries)
		for i := range keys {
			keys[i] = r.Uint64() &^ 1
			m.add(keys[i], false, start.Add(time.Duration(i)*inviteMemory/entries))
		}
		// Asked when the table holds all 8 s of them: the oldest entry's
		// last copy (7.5 s) comes about now.
		end := start.Add(inviteMemory - time.Millisecond)
		n := 0
		for _, k := range keys {
			if m.find(k, end) == invitePassed {
				n++
			}
		}
		return float64(n) / entries
	}
	if got := found(answeredSlots); got < 0.95 {
		t.Errorf("the answered table found %.1f %% of %d entries, want 95 %% or more", 100*got, entries)
	}
	if got := found(inviteSlots); got >= 0.9 {
		t.Errorf("a table of the reader's size found %.1f %%: the test no longer shows why answeredSlots is larger", 100*got)
	}
}

// answeredCall places a call to user that the engine answers 200, ACKs
// it, and returns the 200.
func (p *peer) answeredCall(user, callID string) *sip.Response {
	p.t.Helper()
	p.invite(user, callID, "")
	ok := p.recv(false)
	if ok.StatusCode != 200 {
		p.t.Fatalf("answered %d, want 200", ok.StatusCode)
	}
	p.ackOK(ok, user)
	return ok
}
