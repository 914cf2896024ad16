package engine

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/emiago/sipgo/sip"
)

// How long a finished transaction is kept to absorb retransmissions. sipgo
// keeps each for RFC 3261's 64*T1 = 32 s, and in v1.7.2 the closure of its
// Timer L or M holds the whole transaction (request, responses, the dialog
// with its own copy of the INVITE) until the timer fires even once it is
// terminated. A call shorter than these timers is therefore kept in memory
// for them after it ends: at 2000 calls a second, every second of them costs
// tens of MB. Each timer is set to what it still has to absorb, given that
// the engine answers 100 Trying at once and itself does what the RFCs give
// the transaction user (retransmitting our 2xx, ACKing the far end's):
//
//   - Timer L (an INVITE we answered 2xx, RFC 6026 §7.1): absorbs copies of
//     the INVITE. The caller retransmits (T1, 2*T1, 4*T1 apart) only until
//     it hears anything, and our 100 Trying goes at once, so a copy after the
//     2xx means the 100 and the 2xx were lost. The engine remembers the
//     INVITEs it answered for 8 s, the caller's copies at 0.5 to 7.5 s
//     (answeredCopy), in a table of 16 bytes an INVITE instead of the
//     transaction's several KB, and drops a copy that comes after the
//     transaction; L only covers sipgo's own first 2xx retransmission, T1.
//     The 2xx retransmission and the wait for its ACK (64*T1, RFC 3261
//     §13.3.1.4) go on after it (awaitAck): an ACK reaches the dialog, not
//     the transaction.
//   - Timer M (a 2xx to our INVITE, RFC 6026 §7.2): absorbs the far end's
//     2xx retransmissions, which go on (T1 doubling to T2, for 64*T1) only
//     while our ACK has not arrived. We ACK at once; a copy later than T1
//     means the ACK was lost and matches no transaction, and reackAnswer has
//     the call ACK it again for as long as the call is up (the UAC core's
//     duty, RFC 3261 §13.2.2.4). M only has to cover the moment between the
//     2xx and the call entering the call table.
//   - Timer J (our final response to a non-INVITE, RFC 3261 §17.2.2):
//     absorbs the request's copies when our response was lost. They come T1
//     doubling to T2 apart (0.5, 1.5, 3.5, 7.5 s): 8 s absorbs four losses in
//     a row; a later copy is processed again. A BYE's transaction ends as
//     soon as it is answered (onBye): a copy is answered 200 again from the
//     same 8 s table as the INVITEs (answeredCopy). RFC 3261 §15.1.1 would
//     let it have 481, but callers such as SIPp count that as a failed call,
//     and a BYE's 200 is lost or late exactly when the gateway is busiest.
//   - Timer D (a non-2xx final to our INVITE, RFC 3261 §17.1.1.2; sipgo also
//     uses it for RFC 3261's Timer K of our non-INVITEs, T4 = 5 s there):
//     absorbs the final's retransmissions when our ACK was lost, 0.5, 1.5 and
//     3.5 s after it; the far end stops at its own Timer H and the refused
//     leg is over either way.
//   - Timer I (an INVITE we refused, once its ACK came, RFC 3261 §17.2.1;
//     T4 = 5 s): absorbs copies of the ACK, sent by the caller for copies of
//     our final that crossed its first ACK. A copy without the transaction
//     reaches onAck, finds no dialog and is dropped, which is all absorbing
//     does: 0, as sipgo has it on TCP and TLS. A flood of refused calls then
//     leaves nothing behind once each is ACKed.
//
// On TCP and TLS sipgo sets I, J and D to 0 (nothing is retransmitted); L and M
// apply to every transport, since a 2xx and its ACK go end to end and may
// cross a UDP hop.
const (
	absorbInviteCopies  = 500 * time.Millisecond // Timer L (T1)
	absorbAnswerCopies  = 500 * time.Millisecond // Timer M (T1)
	absorbRequestCopies = 8 * time.Second        // Timer J
	absorbFinalCopies   = 4 * time.Second        // Timer D
	absorbAckCopies     = 0                      // Timer I
)

func init() {
	sip.Timer_L = absorbInviteCopies
	sip.Timer_M = absorbAnswerCopies
	sip.Timer_J = absorbRequestCopies
	sip.Timer_D = absorbFinalCopies
	sip.Timer_I = absorbAckCopies
}

// awaitAck goes on retransmitting our 2xx to an INVITE once its transaction
// is gone (Timer L; sipgo's WriteResponse then returns), until the ACK
// confirms the dialog (onAck) or 64*T1 from the first copy (RFC 3261
// §13.3.1.4), T1 doubling to T2 apart. It says whether the ACK came; err is
// what WriteResponse returned, sent when the 2xx first went.
func (c *Call) awaitAck(res *sip.Response, sent time.Time, err error) bool {
	if !errors.Is(err, sip.ErrTransactionTerminated) || c.sdlg.LoadState() != sip.DialogStateEstablished {
		return false
	}
	acked := make(chan struct{}, 1)
	c.sdlg.OnState(func(s sip.DialogState) {
		select {
		case acked <- struct{}{}:
		default:
		}
	})
	wait := sip.T1
	for {
		switch c.sdlg.LoadState() {
		case sip.DialogStateConfirmed:
			return true
		case sip.DialogStateEnded:
			return false
		}
		if time.Since(sent) >= 64*sip.T1 {
			return false
		}
		if err := c.e.srv.WriteResponse(res); err != nil {
			return false
		}
		wait = min(2*wait, sip.T2)
		t := time.NewTimer(wait)
		select {
		case <-acked:
		case <-t.C:
		case <-c.done:
			t.Stop()
			return false
		}
		t.Stop()
	}
}

// reackAnswer ACKs again a 2xx to the INVITE of one of our outbound legs
// that came after the transaction (Timer M): our ACK was lost, and the far
// end retransmits its 2xx until one arrives (RFC 3261 §13.2.2.4).
func (e *Engine) reackAnswer(res *sip.Response) {
	cseq := res.CSeq()
	if !res.IsSuccess() || cseq == nil || cseq.MethodName != sip.INVITE {
		return
	}
	id, err := sip.DialogIDFromResponse(res)
	if err != nil {
		return
	}
	c := e.calls.get(id)
	if c == nil || c.cdlg == nil || c.cdlg.LoadState() != sip.DialogStateConfirmed {
		return // not ours, gone, or not ACKed yet (dial ACKs it)
	}
	if inv := c.cdlg.InviteRequest.CSeq(); inv == nil || inv.SeqNo != cseq.SeqNo {
		return // a re-INVITE's 2xx: reinvite ACKs its own
	}
	ctx, cancel := context.WithTimeout(c.ctx, time.Second)
	defer cancel()
	_ = c.cdlg.Ack(ctx)
}

// answeredSlots bounds the answered table (Engine.answered: the INVITEs
// answered 2xx and the BYEs answered over the last inviteMemory, the
// caller's retransmissions 0.5 to 7.5 s after it sent one, so that a copy
// come after its transaction, Timer L or the BYE's, ended once answered,
// gets what the transaction would have given it). It holds 2000 calls a
// second, an INVITE and a BYE each kept 8 s, at half its slots (1 MiB at
// that rate): with the socket reader's 32768 its buckets would be full,
// and a fifth of the copies' entries pushed out (an INVITE copy then taken
// as a new call, a BYE copy answered 481); at this size a few per cent of
// the oldest go, whose copies need three losses in a row.
const answeredSlots = 1 << 16

// inviteCopyKey identifies an INVITE (or a BYE) and its copies: the branch of its top
// Via, its Call-ID and CSeq (RFC 3261 §17.2.3), FNV-1a.
func inviteCopyKey(req *sip.Request) (uint64, bool) {
	via, id, cseq := req.Via(), req.CallID(), req.CSeq()
	if via == nil || id == nil || cseq == nil {
		return 0, false
	}
	branch, _ := via.Params.Get("branch")
	var seq [10]byte
	k := fnvLine(fnvOffset, branch)
	k = fnvLine(k, id.Value())
	return fnvLine(k, strconv.AppendUint(seq[:0], uint64(cseq.SeqNo), 10)), true
}

// markAnswered notes that req, an INVITE or a BYE, is being answered 2xx.
func (e *Engine) markAnswered(req *sip.Request) {
	if k, ok := inviteCopyKey(req); ok {
		e.answered.add(k, false, time.Now())
	}
}

// answeredCopy says whether req, a new INVITE or BYE as sipgo sees it, is a
// copy of one answered 2xx whose transaction has ended.
func (e *Engine) answeredCopy(req *sip.Request) bool {
	k, ok := inviteCopyKey(req)
	if !ok {
		return false
	}
	return e.answered.find(k, time.Now()) == invitePassed
}
