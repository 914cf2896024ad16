package dc09

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Message IDs (SIA DC-09 §5.4.2). A leading '*' on the wire marks an
// encrypted message; here that is Message.Encrypted.
const (
	IDSIADCS = "SIA-DCS" // SIA DC-03 event data
	IDADMCID = "ADM-CID" // Ademco Contact ID (SIA DC-05) event data
	IDNull   = "NULL"    // link test (supervision)
	IDAck    = "ACK"     // positive acknowledgement
	IDNak    = "NAK"     // rejected: timestamp outside the window, or damaged frame
	IDDuh    = "DUH"     // receiver cannot process this message
)

// TimeLayout shows the DC-09 timestamp after the '_', always UTC (§5.4.9).
const TimeLayout = "HH:MM:SS,MM-DD-YYYY"

// MaxSeq is the last sequence number; the next one after it is 1 (§5.4.3).
const MaxSeq = 9999

// Errors Parse returns, wrapped with detail; test them with errors.Is.
var (
	ErrFormat  = errors.New("dc09: bad frame")
	ErrCRC     = errors.New("dc09: crc mismatch")
	ErrLength  = errors.New("dc09: length mismatch")
	ErrNoKey   = errors.New("dc09: encrypted message but no key for the account")
	ErrDecrypt = errors.New("dc09: cannot decrypt")
)

// Message is one DC-09 message, event or reply.
type Message struct {
	ID        string    // IDSIADCS, IDADMCID, IDNull, IDAck, IDNak, IDDuh
	Encrypted bool      // '*' before the ID: data, extensions and timestamp are AES-CBC encrypted
	Seq       int       // 0..9999; replies echo the message's
	Receiver  string    // receiver number, hex, "" when absent
	Line      string    // account prefix (line), hex, "" when absent
	Account   string    // account, hex; "" is written "A0" as in a NAK
	Data      string    // between '[' and the first ']', e.g. "#1234|1130 01 015"
	Ext       []string  // extended data fields without brackets, e.g. "X010E57.5698"
	Time      time.Time // zero when the message carries no timestamp
}

// Encode appends the wire form of m, LF to CR, to dst. key must be nil, or
// 16, 24 or 32 bytes when m.Encrypted (AES-128/192/256).
func Encode(dst []byte, m Message, key []byte) ([]byte, error) {
	if err := m.validate(); err != nil {
		return dst, err
	}
	var b strings.Builder
	b.WriteByte('"')
	if m.Encrypted {
		b.WriteByte('*')
	}
	b.WriteString(m.ID)
	b.WriteByte('"')
	fmt.Fprintf(&b, "%04d", m.Seq)
	if m.Receiver != "" {
		b.WriteString("R" + m.Receiver)
	}
	if m.Line != "" {
		b.WriteString("L" + m.Line)
	}
	if m.Account == "" {
		b.WriteString("A0")
	} else {
		b.WriteString("#" + m.Account)
	}
	b.WriteByte('[')
	var rest strings.Builder
	rest.WriteString(m.Data)
	rest.WriteByte(']')
	for _, e := range m.Ext {
		rest.WriteString("[" + e + "]")
	}
	if !m.Time.IsZero() {
		rest.WriteString("_" + FormatTime(m.Time))
	}
	if m.Encrypted {
		ct, err := encrypt(rest.String(), key)
		if err != nil {
			return dst, err
		}
		b.WriteString(strings.ToUpper(hex.EncodeToString(ct)))
	} else {
		b.WriteString(rest.String())
	}
	body := b.String()
	if len(body) > 0xFFF {
		return dst, fmt.Errorf("%w: message of %d bytes is longer than the 0LLL length field allows", ErrFormat, len(body))
	}
	dst = append(dst, '\n')
	dst = fmt.Appendf(dst, "%04X0%03X", CRC([]byte(body)), len(body))
	dst = append(dst, body...)
	return append(dst, '\r'), nil
}

func (m Message) validate() error {
	switch {
	case m.ID == "" || strings.ContainsAny(m.ID, "\"*"):
		return fmt.Errorf("%w: id %q", ErrFormat, m.ID)
	case m.Seq < 0 || m.Seq > MaxSeq:
		return fmt.Errorf("%w: sequence %d outside 0..%d", ErrFormat, m.Seq, MaxSeq)
	case !isHex(m.Receiver, 0, 6):
		return fmt.Errorf("%w: receiver %q: want 1 to 6 hex digits", ErrFormat, m.Receiver)
	case !isHex(m.Line, 0, 6):
		return fmt.Errorf("%w: line %q: want 1 to 6 hex digits", ErrFormat, m.Line)
	case !isHex(m.Account, 0, 16):
		return fmt.Errorf("%w: account %q: want 3 to 16 hex digits", ErrFormat, m.Account)
	case strings.ContainsAny(m.Data, "[]\r\n"):
		return fmt.Errorf("%w: data %q holds a bracket or line end", ErrFormat, m.Data)
	case m.Encrypted && m.ID == IDNak:
		return fmt.Errorf("%w: NAK is never encrypted (§5.5.2)", ErrFormat)
	}
	for _, e := range m.Ext {
		if e == "" || strings.ContainsAny(e, "[]\r\n") {
			return fmt.Errorf("%w: extended data %q", ErrFormat, e)
		}
	}
	return nil
}

func isHex(s string, minLen, maxLen int) bool {
	if len(s) < minLen || len(s) > maxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'F' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Parse decodes one frame. The leading LF and trailing CR are optional.
// key returns the AES key of an account for encrypted messages (nil: none).
func Parse(frame []byte, key func(account string) []byte) (Message, error) {
	var m Message
	f := frame
	if len(f) > 0 && f[0] == '\n' {
		f = f[1:]
	}
	if len(f) > 0 && f[len(f)-1] == '\r' {
		f = f[:len(f)-1]
	}
	if len(f) < 8+2 {
		return m, fmt.Errorf("%w: %d bytes is shorter than CRC, length and an id", ErrFormat, len(frame))
	}
	crc, err1 := strconv.ParseUint(string(f[:4]), 16, 16)
	n, err2 := strconv.ParseUint(string(f[4:8]), 16, 16)
	if err1 != nil || err2 != nil || f[4] != '0' {
		return m, fmt.Errorf("%w: header %q: want 4 hex digits of CRC and 0LLL length", ErrFormat, f[:8])
	}
	body := f[8:]
	if int(n) != len(body) {
		return m, fmt.Errorf("%w: frame says %d bytes, got %d", ErrLength, n, len(body))
	}
	if got := CRC(body); uint64(got) != crc {
		return m, fmt.Errorf("%w: frame says %04X, computed %04X", ErrCRC, crc, got)
	}
	s := string(body)
	// "ID" or "*ID"
	if s[0] != '"' {
		return m, fmt.Errorf("%w: id does not start with '\"'", ErrFormat)
	}
	end := strings.IndexByte(s[1:], '"')
	if end < 1 {
		return m, fmt.Errorf("%w: id not closed by '\"'", ErrFormat)
	}
	id := s[1 : 1+end]
	s = s[2+end:]
	if strings.HasPrefix(id, "*") {
		m.Encrypted, id = true, id[1:]
	}
	if id == "" {
		return m, fmt.Errorf("%w: empty id", ErrFormat)
	}
	m.ID = id
	if len(s) < 4 || !isDigits(s[:4]) {
		return m, fmt.Errorf("%w: sequence: want 4 decimal digits after the id", ErrFormat)
	}
	m.Seq, _ = strconv.Atoi(s[:4])
	s = s[4:]
	if strings.HasPrefix(s, "R") {
		m.Receiver, s = hexRun(s[1:])
		if m.Receiver == "" || len(m.Receiver) > 6 {
			return m, fmt.Errorf("%w: receiver: want 1 to 6 hex digits after R", ErrFormat)
		}
	}
	if strings.HasPrefix(s, "L") {
		m.Line, s = hexRun(s[1:])
		if m.Line == "" || len(m.Line) > 6 {
			return m, fmt.Errorf("%w: line: want 1 to 6 hex digits after L", ErrFormat)
		}
	}
	switch {
	case strings.HasPrefix(s, "#"):
		m.Account, s = hexRun(s[1:])
		if m.Account == "" || len(m.Account) > 16 {
			return m, fmt.Errorf("%w: account: want 1 to 16 hex digits after #", ErrFormat)
		}
	case strings.HasPrefix(s, "A"): // NAK form "A0": no account
		_, s = hexRun(s[1:])
	}
	if !strings.HasPrefix(s, "[") {
		return m, fmt.Errorf("%w: want '[' after the account", ErrFormat)
	}
	s = s[1:]
	if m.Encrypted {
		var k []byte
		if key != nil {
			k = key(m.Account)
		}
		if len(k) == 0 {
			return m, fmt.Errorf("%w %q", ErrNoKey, m.Account)
		}
		plain, err := decrypt(s, k)
		if err != nil {
			return m, err
		}
		s = plain
	}
	if err := m.parseContent(s); err != nil {
		return m, err
	}
	return m, nil
}

// parseContent reads `data]` `[ext]`... `_timestamp` (§5.4.6 to §5.4.9).
func (m *Message) parseContent(s string) error {
	i := strings.IndexByte(s, ']')
	if i < 0 {
		return fmt.Errorf("%w: data not closed by ']'", ErrFormat)
	}
	m.Data, s = s[:i], s[i+1:]
	if strings.ContainsAny(m.Data, "[") {
		return fmt.Errorf("%w: '[' inside data", ErrFormat)
	}
	for strings.HasPrefix(s, "[") {
		j := strings.IndexByte(s, ']')
		if j < 0 {
			return fmt.Errorf("%w: extended data not closed by ']'", ErrFormat)
		}
		e := s[1:j]
		if e == "" || strings.ContainsAny(e, "[") {
			return fmt.Errorf("%w: extended data %q", ErrFormat, e)
		}
		m.Ext = append(m.Ext, e)
		s = s[j+1:]
	}
	if s == "" {
		return nil
	}
	if s[0] != '_' || len(s) != 1+len(TimeLayout) {
		return fmt.Errorf("%w: %q after the data: want nothing or _HH:MM:SS,MM-DD-YYYY", ErrFormat, s)
	}
	t, err := ParseTime(s[1:])
	if err != nil {
		return err
	}
	m.Time = t
	return nil
}

// FormatTime writes t as a DC-09 timestamp, HH:MM:SS,MM-DD-YYYY in UTC.
func FormatTime(t time.Time) string {
	t = t.UTC()
	return fmt.Sprintf("%02d:%02d:%02d,%02d-%02d-%04d", t.Hour(), t.Minute(), t.Second(), t.Month(), t.Day(), t.Year())
}

// ParseTime reads HH:MM:SS,MM-DD-YYYY (UTC). It is done by hand because
// time.Parse takes ",0" after the seconds as a fractional second.
func ParseTime(s string) (time.Time, error) {
	bad := func(what string) (time.Time, error) {
		return time.Time{}, fmt.Errorf("%w: timestamp %q: %s (want HH:MM:SS,MM-DD-YYYY)", ErrFormat, s, what)
	}
	if len(s) != len(TimeLayout) || s[2] != ':' || s[5] != ':' || s[8] != ',' || s[11] != '-' || s[14] != '-' {
		return bad("layout")
	}
	num := func(a, b int) int {
		if !isDigits(s[a:b]) {
			return -1
		}
		n, _ := strconv.Atoi(s[a:b])
		return n
	}
	hh, mi, ss, mo, dd, yy := num(0, 2), num(3, 5), num(6, 8), num(9, 11), num(12, 14), num(15, 19)
	if hh < 0 || hh > 23 || mi < 0 || mi > 59 || ss < 0 || ss > 60 || mo < 1 || mo > 12 || dd < 1 || dd > 31 || yy < 0 {
		return bad("field out of range")
	}
	t := time.Date(yy, time.Month(mo), dd, hh, mi, ss, 0, time.UTC)
	if t.Day() != dd {
		return bad("no such day")
	}
	return t, nil
}

func hexRun(s string) (run, rest string) {
	i := 0
	for i < len(s) && isHex(s[i:i+1], 1, 1) {
		i++
	}
	return s[:i], s[i:]
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// encrypt implements §5.4.6.1: pseudo-random pad characters (never '|', '['
// or ']') in front, ended by '|', to a whole number of AES blocks; AES-CBC
// with an all-zero IV (cbcZeroIV); the result travels as upper-case hex.
func encrypt(rest string, key []byte) ([]byte, error) {
	padN := aes.BlockSize - (len(rest)+1)%aes.BlockSize // 1..16
	plain := make([]byte, padN, padN+1+len(rest))
	if _, err := rand.Read(plain); err != nil {
		return nil, err
	}
	for i, c := range plain {
		c = '0' + c%75 // '0'..'z'
		if c == '[' || c == ']' || c == '|' {
			c = 'x'
		}
		plain[i] = c
	}
	plain = append(plain, '|')
	plain = append(plain, rest...)
	return plain, cbcZeroIV(key, plain, true)
}

func decrypt(hexText string, key []byte) (string, error) {
	ct, err := hex.DecodeString(hexText)
	if err != nil || len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return "", fmt.Errorf("%w: want hex text of whole 16-byte blocks", ErrDecrypt)
	}
	if err := cbcZeroIV(key, ct, false); err != nil {
		return "", err
	}
	for _, c := range ct {
		// Pad and content are printable ASCII: anything else is a wrong
		// key (whose output could otherwise pass for a frame by chance).
		if c < 0x20 || c > 0x7E {
			return "", fmt.Errorf("%w: not text (wrong key?)", ErrDecrypt)
		}
	}
	i := strings.IndexByte(string(ct), '|')
	if i < 0 {
		return "", fmt.Errorf("%w: no '|' ends the pad (wrong key?)", ErrDecrypt)
	}
	return string(ct[i+1:]), nil
}

// cbcZeroIV encrypts (or decrypts) whole blocks in place with AES-CBC and
// an all-zero initialisation vector, as §5.4.6.1 prescribes.
func cbcZeroIV(key, blocks []byte, encrypt bool) error {
	blk, err := newCipher(key)
	if err != nil {
		return err
	}
	var iv [aes.BlockSize]byte
	if encrypt {
		cipher.NewCBCEncrypter(blk, iv[:]).CryptBlocks(blocks, blocks)
	} else {
		cipher.NewCBCDecrypter(blk, iv[:]).CryptBlocks(blocks, blocks)
	}
	return nil
}

func newCipher(key []byte) (cipher.Block, error) {
	switch len(key) {
	case 16, 24, 32:
		return aes.NewCipher(key)
	}
	return nil, fmt.Errorf("dc09: AES key of %d bytes: want 16, 24 or 32", len(key))
}

// ParseKey reads an AES key written as 32, 48 or 64 hex digits.
func ParseKey(s string) ([]byte, error) {
	k, err := hex.DecodeString(s)
	if err != nil || (len(k) != 16 && len(k) != 24 && len(k) != 32) {
		return nil, fmt.Errorf("dc09: key: want 32, 48 or 64 hex digits (AES-128/192/256)")
	}
	return k, nil
}

// NextSeq returns the sequence number after s: 1..9999, then 1 again (§5.4.3).
func NextSeq(s int) int {
	if s >= MaxSeq || s < 0 {
		return 1
	}
	return s + 1
}

// InWindow reports whether a message stamped ts is acceptable at now: at
// most 40 s old and at most 20 s ahead (the window DC-09 §5.5.2.1 gives receivers).
func InWindow(ts, now time.Time, past, future time.Duration) bool {
	d := ts.Sub(now)
	return d >= -past && d <= future
}

// Default window for InWindow.
const (
	WindowPast   = 40 * time.Second
	WindowFuture = 20 * time.Second
)

// Ack is the acknowledgement of m (§5.5.1): same sequence, receiver, line
// and account; encrypted and stamped with now when m was encrypted.
func Ack(m Message, now time.Time) Message {
	r := Message{ID: IDAck, Seq: m.Seq, Receiver: m.Receiver, Line: m.Line, Account: m.Account, Encrypted: m.Encrypted}
	if m.Encrypted {
		r.Time = now
	}
	return r
}

// Duh answers a message the receiver cannot process (§5.5.3).
func Duh(m Message) Message {
	return Message{ID: IDDuh, Seq: m.Seq, Receiver: m.Receiver, Line: m.Line, Account: m.Account}
}

// Nak rejects a message (§5.5.2). It carries the receiver's clock so the
// sender can correct its timestamps, is never encrypted and has sequence
// 0000, receiver 0, line 0 and account A0.
func Nak(now time.Time) Message {
	return Message{ID: IDNak, Seq: 0, Receiver: "0", Line: "0", Time: now}
}
