package contactid

// Reassembler rebuilds a message from damaged repeats of it. On a VoIP path
// a lost or late 20 ms frame, concealed by repeating the frame before it,
// can wipe out one 50-60 ms digit; the panel then repeats the message
// (DC-05 §2.3), usually losing a different digit or none. Two attempts that
// each lack one digit pin the message down: the candidates made by putting
// back one digit into a 15-digit attempt are few (the checksum fixes the
// value at each position, the message type rules out most positions), and
// only the true message also contains the other attempt. This is not in
// DC-05; it is accepted only when exactly one candidate fits every attempt.
//
// Attempts are kept as heard, in DTMF keys, up to reassembleKeep of them.
type Reassembler struct {
	att  [reassembleKeep][MessageDigits]byte
	n    [reassembleKeep]int
	next int
	held int
	out  [MessageDigits]byte
}

const reassembleKeep = 4

// contactIDKeys are the DTMF keys that carry Contact ID digits.
var contactIDKeys = []byte("1234567890*#ABC")

// Reset forgets the attempts (a message was acknowledged).
func (r *Reassembler) Reset() { r.held, r.next = 0, 0 }

// Add records a damaged attempt of 14 or 15 keys and returns the rebuilt
// message's keys when the attempts now determine it.
func (r *Reassembler) Add(keys []byte) ([]byte, bool) {
	if len(keys) < MessageDigits-2 || len(keys) >= MessageDigits {
		return nil, false
	}
	i := r.next
	r.n[i] = copy(r.att[i][:], keys)
	r.next = (r.next + 1) % reassembleKeep
	r.held = min(r.held+1, reassembleKeep)
	if r.held < 2 {
		return nil, false
	}
	var found [MessageDigits]byte
	nfound := 0
	var cand [MessageDigits]byte
	for s := range r.held {
		if r.n[s] != MessageDigits-1 {
			continue
		}
		src := r.att[s][:r.n[s]]
		for pos := 0; pos <= len(src); pos++ {
			for _, k := range contactIDKeys {
				copy(cand[:pos], src[:pos])
				cand[pos] = k
				copy(cand[pos+1:], src[pos:])
				if !validKeys(cand[:]) || !r.fitsAll(cand[:], s) {
					continue
				}
				if nfound > 0 && cand == found {
					continue
				}
				found = cand
				nfound++
				if nfound > 1 {
					return nil, false // ambiguous: wait for another repeat
				}
			}
		}
	}
	if nfound != 1 {
		return nil, false
	}
	r.out = found
	return r.out[:], true
}

// fitsAll reports whether every held attempt is cand with digits missing,
// and at least one besides src is a different attempt (two copies of the
// same damage prove nothing).
func (r *Reassembler) fitsAll(cand []byte, src int) bool {
	other := false
	for s := range r.held {
		a := r.att[s][:r.n[s]]
		if !subsequence(a, cand) {
			return false
		}
		if s != src && string(a) != string(r.att[src][:r.n[src]]) {
			other = true
		}
	}
	return other
}

func subsequence(a, b []byte) bool {
	j := 0
	for i := 0; i < len(b) && j < len(a); i++ {
		if a[j] == b[i] {
			j++
		}
	}
	return j == len(a)
}

// validKeys: 16 keys that carry hex digits, a good checksum and message
// type 18 or 98 (DC-05 §2.1).
func validKeys(keys []byte) bool {
	sum := 0
	for _, k := range keys {
		h, ok := HexFromKey(k)
		if !ok {
			return false
		}
		sum += value(h)
	}
	return sum%15 == 0 && (keys[4] == '1' || keys[4] == '9') && keys[5] == '8'
}
