// Package dc09 speaks SIA DC-09 (alarm transmission over IP to an alarm
// receiving centre): the frame format with its CRC and length, optional
// AES-CBC encryption, timestamps and the receiver's time window, the
// ACK/NAK/DUH replies, a client that sends events and NULL supervision over
// TCP or UDP, and a small receiver used by tests and as an example ARC.
//
// Replies are read leniently (ParseReply): receivers ARCs run deviate from
// the standard in harmless ways (one widely used open-source receiver
// answers a message without R with `"ACK"0001NoneL0#4321[]`; others write
// hex in lower case or omit the timestamp of a plain ACK), and a sender that
// refused such a reply would resend the event until the receiver held it
// several times. A reply is identified by its type, sequence number and
// account; the Client logs each kind of deviation once. Receiver.Loose
// answers the way such receivers do, beside the strict default.
//
// AES: §5.4.6.1 prescribes AES-CBC with an all-zero IV; the cipher is
// checked against the NIST SP 800-38A CBC vectors (TestAESCBCKnownAnswer).
package dc09

// crcTable is CRC-16/ARC (reflected polynomial 0x8005, written 0xA001 in its
// reflected form, initial value 0, no final xor), the CRC SIA DC-09 §5.4.1
// puts in front of every frame.
var crcTable = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i)
		for range 8 {
			if c&1 != 0 {
				c = c>>1 ^ 0xA001
			} else {
				c >>= 1
			}
		}
		t[i] = c
	}
	return t
}()

// CRC returns the CRC-16/ARC of b. CRC([]byte("123456789")) is 0xBB3D.
func CRC(b []byte) uint16 {
	var c uint16
	for _, x := range b {
		c = c>>8 ^ crcTable[byte(c)^x]
	}
	return c
}
