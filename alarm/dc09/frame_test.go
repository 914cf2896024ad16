package dc09

import (
	"bytes"
	"crypto/aes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCRCVectors(t *testing.T) {
	// CRC-16/ARC check value from the CRC catalogue (reveng): "123456789" -> 0xBB3D.
	cases := []struct {
		in   string
		want uint16
	}{
		{"123456789", 0xBB3D},
		{"", 0x0000},
		{"A", 0x30C0},
	}
	for _, c := range cases {
		if got := CRC([]byte(c.in)); got != c.want {
			t.Errorf("CRC(%q) = %04X, want %04X", c.in, got, c.want)
		}
	}
}

// Frames captured from real panels (PROSEC, HIKVISION) as published in an
// open-source receiver's notes; their CRC and length were written by the panels.
var realFrames = []struct {
	frame   string
	id      string
	seq     int
	rcvr    string
	line    string
	account string
	data    string
	at      time.Time
}{
	{`B0970029"NULL"0000L000#0809[]_21:00:01,02-20-2024`, IDNull, 0, "", "000", "0809", "", time.Date(2024, 2, 20, 21, 0, 1, 0, time.UTC)},
	{`F68B003B"ADM-CID"0028L0#9757[#9757|1602 00 000]_20:59:45,02-20-2024`, IDADMCID, 28, "", "0", "9757", "#9757|1602 00 000", time.Date(2024, 2, 20, 20, 59, 45, 0, time.UTC)},
	{`B4330036"SIA-DCS"0442L000#36214[36214|NRP]_00:00:00,02-21-2024`, IDSIADCS, 442, "", "000", "36214", "36214|NRP", time.Date(2024, 2, 21, 0, 0, 0, 0, time.UTC)},
	{`3F60003C"SIA-DCS"0001L0#51449[#51449|Nri0000/LR]_21:26:19,12-20-2023`, IDSIADCS, 1, "", "0", "51449", "#51449|Nri0000/LR", time.Date(2023, 12, 20, 21, 26, 19, 0, time.UTC)},
	{`99820040"ADM-CID"1937R15L1#21401[#21401|1602 00 000]_20:59:59,02-20-2024`, IDADMCID, 1937, "15", "1", "21401", "#21401|1602 00 000", time.Date(2024, 2, 20, 20, 59, 59, 0, time.UTC)},
	{"\n9EC40027\"ADM-CID\"0001L0#1002[#1002|1602 00 001]\r", IDADMCID, 1, "", "0", "1002", "#1002|1602 00 001", time.Time{}},
}

func TestParseRealFrames(t *testing.T) {
	for _, c := range realFrames {
		m, err := Parse([]byte(c.frame), nil)
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.frame, err)
		}
		if m.ID != c.id || m.Seq != c.seq || m.Receiver != c.rcvr || m.Line != c.line || m.Account != c.account || m.Data != c.data || !m.Time.Equal(c.at) {
			t.Errorf("Parse(%q) = %+v", c.frame, m)
		}
		// Encoding what we parsed gives the panel's frame back, byte for byte.
		out, err := Encode(nil, m, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := "\n" + strings.Trim(c.frame, "\r\n") + "\r"
		if string(out) != want {
			t.Errorf("Encode = %q, want %q", out, want)
		}
	}
}

func TestEncodeADMCID(t *testing.T) {
	data, err := ADMCIDData("1234", "1", "130", "01", "015")
	if err != nil {
		t.Fatal(err)
	}
	if data != "#1234|1130 01 015" {
		t.Fatalf("ADMCIDData = %q", data)
	}
	out, err := Encode(nil, Message{ID: IDADMCID, Seq: 7, Receiver: "1", Line: "0", Account: "1234", Data: data}, nil)
	if err != nil {
		t.Fatal(err)
	}
	body := `"ADM-CID"0007R1L0#1234[#1234|1130 01 015]`
	if !bytes.HasSuffix(out, []byte(body+"\r")) || out[0] != '\n' {
		t.Fatalf("frame %q does not end with %q", out, body)
	}
	if got, want := string(out[5:9]), "0029"; got != want { // 41 bytes
		t.Errorf("length field %q, want %q", got, want)
	}
	if got, want := string(out[1:5]), strings.ToUpper(hex.EncodeToString([]byte{byte(CRC([]byte(body)) >> 8), byte(CRC([]byte(body)))})); got != want {
		t.Errorf("crc field %q, want %q", got, want)
	}
	sd, err := SIADCSData("1234", "3", "130", "01", "015")
	if err != nil || sd != "#1234|Nri1/BH015" {
		t.Errorf("SIADCSData restore = %q, %v; want #1234|Nri1/BH015", sd, err)
	}
	if _, err := SIADCSData("1234", "1", "999", "01", "015"); err == nil {
		t.Error("SIADCSData accepted a code with no SIA equivalent")
	}
	if _, err := ADMCIDData("1234", "2", "130", "01", "015"); err == nil || !strings.Contains(err.Error(), "qualifier") {
		t.Errorf("bad qualifier: err %v should name the qualifier", err)
	}
}

func TestEncryptedRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 22, 7, 1, 2, 0, time.UTC)
	for _, n := range []int{16, 24, 32} {
		key := bytes.Repeat([]byte{byte(n)}, n)
		for _, data := range []string{"", "#1234|1130 01 015", "#1234|Nri1/BA015", strings.Repeat("x", 47)} {
			m := Message{ID: IDADMCID, Encrypted: true, Seq: 42, Receiver: "12", Line: "3", Account: "1234", Data: data, Ext: []string{"X010E57.5"}, Time: at}
			out, err := Encode(nil, m, key)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(out, []byte(`"*ADM-CID"0042R12L3#1234[`)) {
				t.Fatalf("AES-%d frame %q: clear header missing", n*8, out)
			}
			// The encrypted part is hex of whole blocks, and its plain text is
			// pad (no '|', '[' or ']') + '|' + data + ']' + extensions + timestamp.
			i := bytes.IndexByte(out, '[')
			ct, err := hex.DecodeString(string(out[i+1 : len(out)-1]))
			if err != nil || len(ct)%aes.BlockSize != 0 {
				t.Fatalf("AES-%d: cipher text %q is not hex of whole blocks", n*8, out[i+1:])
			}
			plain, err := decrypt(string(out[i+1:len(out)-1]), key)
			if err != nil {
				t.Fatal(err)
			}
			if want := data + "][X010E57.5]_07:01:02,11-22-2026"; plain != want {
				t.Fatalf("AES-%d plain %q, want %q", n*8, plain, want)
			}
			pad := len(ct) - len(plain) - 1
			if pad < 1 || pad > 16 {
				t.Errorf("AES-%d: pad of %d characters, want 1..16", n*8, pad)
			}
			got, err := Parse(out, func(acct string) []byte {
				if acct != "1234" {
					t.Errorf("key asked for account %q", acct)
				}
				return key
			})
			if err != nil {
				t.Fatal(err)
			}
			if got.Data != data || !got.Encrypted || !got.Time.Equal(at) || len(got.Ext) != 1 || got.Ext[0] != "X010E57.5" {
				t.Errorf("AES-%d round trip: %+v", n*8, got)
			}
			if _, err := Parse(out, nil); !errors.Is(err, ErrNoKey) {
				t.Errorf("without a key: err %v, want ErrNoKey", err)
			}
			wrong := bytes.Repeat([]byte{0xEE}, n)
			if _, err := Parse(out, func(string) []byte { return wrong }); err == nil {
				t.Errorf("AES-%d: wrong key accepted", n*8)
			}
		}
	}
}

func TestParseRejects(t *testing.T) {
	good, _ := Encode(nil, Message{ID: IDSIADCS, Seq: 1, Line: "0", Account: "1234", Data: "#1234|Nri1/BA015"}, nil)
	flip := bytes.Clone(good)
	flip[20] ^= 1
	short := bytes.Clone(good)
	short = append(short[:len(short)-2], '\r')
	cases := []struct {
		name  string
		frame []byte
		want  error
	}{
		{"crc", flip, ErrCRC},
		{"length", short, ErrLength},
		{"empty", nil, ErrFormat},
		{"garbage", []byte("\nZZZZ0010\"NULL\"0000\r"), ErrFormat},
		{"no bracket", frameOf(`"NULL"0000L0#1234`), ErrFormat},
		{"bad seq", frameOf(`"NULL"00x0L0#1234[]`), ErrFormat},
		{"bad stamp", frameOf(`"NULL"0000L0#1234[]_25:00:00,01-01-2026`), ErrFormat},
		{"feb 30", frameOf(`"NULL"0000L0#1234[]_10:00:00,02-30-2026`), ErrFormat},
		{"junk after", frameOf(`"NULL"0000L0#1234[]xyz`), ErrFormat},
		{"bad hex", frameOf(`"*NULL"0000L0#1234[XYZ0`), ErrDecrypt},
	}
	key := func(string) []byte { return make([]byte, 16) }
	for _, c := range cases {
		if _, err := Parse(c.frame, key); !errors.Is(err, c.want) {
			t.Errorf("%s: err %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := Encode(nil, Message{ID: IDNull, Seq: 10000, Account: "1"}, nil); err == nil || !strings.Contains(err.Error(), "sequence") {
		t.Errorf("seq 10000: err %v should name the sequence", err)
	}
	if _, err := Encode(nil, Message{ID: IDNull, Account: "12G4"}, nil); err == nil || !strings.Contains(err.Error(), "account") {
		t.Errorf("account 12G4: err %v should name the account", err)
	}
	if _, err := Encode(nil, Message{ID: IDSIADCS, Account: "1234", Data: "a]b"}, nil); err == nil {
		t.Error("data with ']' accepted")
	}
}

// frameOf wraps a body in LF, correct CRC and length, CR.
func frameOf(body string) []byte {
	var b []byte
	b = append(b, '\n')
	b = append(b, []byte(strings.ToUpper(hex.EncodeToString([]byte{byte(CRC([]byte(body)) >> 8), byte(CRC([]byte(body)))})))...)
	b = append(b, '0')
	b = append(b, []byte(strings.ToUpper(hex.EncodeToString([]byte{byte(len(body) >> 8), byte(len(body))})))[1:]...)
	b = append(b, body...)
	return append(b, '\r')
}

func TestRepliesAndWindow(t *testing.T) {
	now := time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC)
	nak, err := Encode(nil, Nak(now), nil)
	if err != nil {
		t.Fatal(err)
	}
	// §5.5.2 NAK: sequence 0000, R0 L0 A0, empty data, receiver's timestamp.
	if !bytes.HasSuffix(nak, []byte(`"NAK"0000R0L0A0[]_07:00:00,11-22-2026`+"\r")) {
		t.Errorf("NAK frame %q", nak)
	}
	m, err := Parse(nak, nil)
	if err != nil || m.ID != IDNak || !m.Time.Equal(now) || m.Account != "" {
		t.Errorf("parse NAK: %+v %v", m, err)
	}
	ev := Message{ID: IDADMCID, Seq: 99, Receiver: "2", Line: "1", Account: "ABC", Data: "#ABC|1130 01 015"}
	ack := Ack(ev, now)
	if ack.ID != IDAck || ack.Seq != 99 || ack.Account != "ABC" || ack.Receiver != "2" || ack.Line != "1" || !ack.Time.IsZero() {
		t.Errorf("Ack of plain message = %+v", ack)
	}
	ev.Encrypted = true
	if a := Ack(ev, now); !a.Encrypted || !a.Time.Equal(now) {
		t.Errorf("Ack of encrypted message = %+v: want *ACK with timestamp", a)
	}
	for _, c := range []struct {
		d  time.Duration
		ok bool
	}{{0, true}, {-40 * time.Second, true}, {-41 * time.Second, false}, {20 * time.Second, true}, {21 * time.Second, false}} {
		if got := InWindow(now.Add(c.d), now, WindowPast, WindowFuture); got != c.ok {
			t.Errorf("InWindow(now%+v) = %v, want %v", c.d, got, c.ok)
		}
	}
	if NextSeq(9999) != 1 || NextSeq(0) != 1 || NextSeq(41) != 42 {
		t.Error("NextSeq does not wrap 9999 to 0001")
	}
}
