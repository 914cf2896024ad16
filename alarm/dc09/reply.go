package dc09

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Oddities ParseReply reports: harmless deviations seen in replies of
// receivers that ARCs run. A client logs each kind once.
const (
	OddLowerHex    = "lower-case hex in the CRC or length"
	OddReceiver    = "receiver field is not R and hex (e.g. None)"
	OddNoAccount   = "reply carries no account"
	OddCRC         = "reply CRC does not match its content"
	OddLength      = "reply length field does not match its content"
	OddJunk        = "unexpected text between the sequence and the data"
	OddPlainAck    = "plain ACK to an encrypted message"
	OddUndecrypted = "encrypted reply content does not decrypt"
	OddContent     = "reply content after the data is malformed"
)

// ParseReply reads a receiver's reply to a message. Real receivers deviate
// from §5.5 in harmless ways, and a client that refused such a reply would
// resend the event until the receiver holds it several times. A reply is
// identified by its type (ACK, NAK, DUH, with or without '*'), its sequence
// number and its account; everything else is information. So:
//
//   - a frame Parse accepts is taken as it is (lower-case hex included);
//   - otherwise, when the frame still shows `"ID"` and four digits of
//     sequence, the account after '#' is read if there is one, and the
//     receiver and line fields, the CRC, the length, the timestamp and the
//     encrypted content are taken on trust or ignored:
//     `"ACK"0001NoneL0#4321[]` (one widely used open-source receiver's answer
//     to a message without an R field) is an ACK of 0001 for account 4321.
//
// odd lists what deviated (the Odd* constants). Only ACK, NAK and DUH are
// read leniently; any other id, or a frame without type and sequence, fails.
func ParseReply(frame []byte, key func(account string) []byte) (m Message, odd []string, err error) {
	f := bytes.TrimRight(trimToLF(frame), "\r\n\x00 ")
	f = bytes.TrimLeft(f, "\n")
	if len(f) >= 8 && bytes.ContainsAny(f[:8], "abcdef") && isHex(string(f[:8]), 8, 8) {
		odd = append(odd, OddLowerHex)
	}
	m, err = Parse(f, key)
	if err == nil {
		if m.ID != IDAck && m.ID != IDNak && m.ID != IDDuh {
			return Message{}, odd, fmt.Errorf("%w: %q is not a reply (ACK, NAK or DUH)", ErrFormat, m.ID)
		}
		if m.Account == "" && m.ID != IDNak {
			odd = append(odd, OddNoAccount)
		}
		return m, odd, nil
	}
	strictErr := err
	q := bytes.IndexByte(f, '"')
	if q < 0 {
		return Message{}, odd, strictErr
	}
	if q == 8 {
		// The header is there: say what of it was wrong.
		n, errN := strconv.ParseUint(string(f[4:8]), 16, 16)
		crc, errC := strconv.ParseUint(string(f[:4]), 16, 16)
		switch {
		case errN != nil || int(n) != len(f)-8:
			odd = append(odd, OddLength)
		case errC != nil || uint16(crc) != CRC(f[8:]):
			odd = append(odd, OddCRC)
		}
	} else {
		odd = append(odd, OddLength)
	}
	s := string(f[q+1:])
	end := strings.IndexByte(s, '"')
	if end < 0 {
		return Message{}, odd, strictErr
	}
	m = Message{ID: s[:end]}
	s = s[end+1:]
	if strings.HasPrefix(m.ID, "*") {
		m.Encrypted, m.ID = true, m.ID[1:]
	}
	if m.ID != IDAck && m.ID != IDNak && m.ID != IDDuh {
		return Message{}, odd, strictErr
	}
	if len(s) < 4 || !isDigits(s[:4]) {
		return Message{}, odd, strictErr
	}
	m.Seq, _ = strconv.Atoi(s[:4])
	s = s[4:]
	head, content, found := strings.Cut(s, "[")
	if !found {
		// "ACK"0001R0L0#1234 with the brackets lost: still an answer.
		head, content = s, ""
		odd = append(odd, OddContent)
	}
	if i := strings.IndexByte(head, '#'); i >= 0 {
		m.Account, _ = hexRun(head[i+1:])
		head = head[:i]
	} else {
		odd = append(odd, OddNoAccount)
	}
	if strings.HasPrefix(head, "R") {
		if r, rest := hexRun(head[1:]); r != "" {
			m.Receiver, head = r, rest
		}
	}
	if i := strings.LastIndexByte(head, 'L'); i >= 0 {
		if l, rest := hexRun(head[i+1:]); l != "" && rest == "" {
			m.Line, head = l, head[:i]
			if head != "" {
				odd = append(odd, OddReceiver) // text where R would be
				head = ""
			}
		}
	}
	if head != "" {
		odd = append(odd, OddJunk)
	}
	if content != "" {
		if m.Encrypted {
			var k []byte
			if key != nil {
				k = key(m.Account)
			}
			plain, err := decrypt(strings.TrimRight(content, "]"), k)
			if err != nil {
				odd = append(odd, OddUndecrypted)
				return m, odd, nil
			}
			content = plain
		}
		var c Message
		if c.parseContent(content) == nil {
			m.Data, m.Ext, m.Time = c.Data, c.Ext, c.Time
		} else {
			odd = append(odd, OddContent)
		}
	}
	return m, odd, nil
}

// answers reports whether reply r answers message m: a NAK answers anything
// (it carries sequence 0000, §5.5.2); ACK and DUH must echo m's sequence and,
// when they carry one, its account. A stray reply to an earlier message
// answers nothing.
func answers(r, m Message) error {
	switch r.ID {
	case IDNak:
		return nil
	case IDAck, IDDuh:
	default:
		return fmt.Errorf("%w: reply %q is not ACK, NAK or DUH", ErrFormat, r.ID)
	}
	if r.Seq != m.Seq {
		return errStray
	}
	if r.Account != "" && !strings.EqualFold(strings.TrimLeft(r.Account, "0"), strings.TrimLeft(m.Account, "0")) {
		return errStray
	}
	return nil
}

var errStray = errors.New("dc09: reply to another message")
