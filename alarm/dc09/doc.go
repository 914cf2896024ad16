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
//
// It imports nothing of ours: a client and a receiver of frames, nothing
// more. delivery adapts it to an ARC endpoint (delivery/dc09sender.go).
//
// # The facts it encodes
//
// Source: SIA DC-09 (2013 text as DC-09 implementations quote it):
//
//   - Frame: LF, CRC (4 hex), 0LLL (length, 4 hex), "ID", sequence (4
//     digits), optional R receiver (1-6 hex), L line (1-6 hex), #account,
//     [data], optional [X..] extensions, optional timestamp
//     _HH:MM:SS,MM-DD-YYYY, CR. CRC and length cover the opening quote up to
//     just before CR. The CRC is CRC-16/ARC (reflected polynomial 0xA001,
//     initial value 0), printed as 4 hex characters.
//   - IDs: SIA-DCS, ADM-CID (data like #1234|1130 01 015]), NULL (link
//     test). A leading * means the data is AES-CBC encrypted (zero IV,
//     128/192/256-bit key, hex text, padded in front up to a block boundary,
//     the pad ended by |); an encrypted message carries a timestamp, and the
//     receiver rejects one outside its window (commonly -40 s to +20 s) with
//     NAK.
//   - Replies: ACK (*ACK when encrypted), NAK (timestamp rejected; never
//     encrypted), DUH (cannot process); the sequence number is echoed. UDP
//     and TCP. Supervision: periodic NULL messages the receiver ACKs.
//   - A repeated transmission keeps its sequence number, so the receiver
//     can recognise the duplicate; a new message takes the next number
//     (0001-9999, then 0001).
//
// Observed, not from the standard: receivers' harmless deviations (None as
// the receiver number, lower-case hex, no timestamp on a plain ACK), which
// ParseReply accepts. The time window's -40/+20 s is the common choice, not
// confirmed against the standard's text.
package dc09
