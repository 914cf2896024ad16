package contactid

import (
	"slices"
	"strconv"

	"github.com/edgebridge/edgebridge/dsp"
)

// Collector assembles DTMF digits into 16-digit messages by their timing
// (SIA DC-05 §2.1.3: digits 50-60 ms on, 50-60 ms off). A gap longer than
// the inter-digit timeout ends a partial message. It allocates nothing.
type Collector struct {
	interDigit int64 // samples
	digits     [MessageDigits]dsp.DigitEvent
	n          int
	out        [MessageDigits]byte
}

// NewCollector returns a collector with the given inter-digit timeout in samples.
func NewCollector(interDigitSamples int64) Collector {
	return Collector{interDigit: interDigitSamples}
}

// Partial reports how many digits are held and when the last one ended.
func (c *Collector) Partial() (n int, lastEnd int64) {
	if c.n == 0 {
		return 0, 0
	}
	return c.n, c.digits[c.n-1].End
}

// Reset drops a partial message.
func (c *Collector) Reset() { c.n = 0 }

// Add takes one digit. When it completes a message, Add returns its keys
// (valid until the next call) and the sample span of the message.
func (c *Collector) Add(ev dsp.DigitEvent) (keys []byte, start, end int64, done bool) {
	if c.n > 0 && ev.Start-c.digits[c.n-1].End > c.interDigit {
		c.n = 0
	}
	c.digits[c.n] = ev
	c.n++
	if c.n < MessageDigits {
		return nil, 0, 0, false
	}
	c.n = 0
	for i, d := range c.digits {
		c.out[i] = d.Key
	}
	return c.out[:], c.digits[0].Start, ev.End, true
}

// Expire ends a partial message whose last digit ended more than the
// inter-digit timeout before now. expired reports that it did; done that
// keys are a repaired message (see repair), otherwise keys are the partial
// message's digits, for Reassembler.
func (c *Collector) Expire(now int64) (keys []byte, start, end int64, expired, done bool) {
	if c.n == 0 || now-c.digits[c.n-1].End <= c.interDigit {
		return nil, 0, 0, false, false
	}
	n := c.n
	c.n = 0
	if keys, ok := c.repair(n); ok {
		return keys, c.digits[0].Start, c.digits[n-1].End, true, true
	}
	for i, d := range c.digits[:n] {
		c.out[i] = d.Key
	}
	return c.out[:n], c.digits[0].Start, c.digits[n-1].End, true, false
}

// repair rebuilds a message that arrived one or more digits short because
// two equal digits merged into one long tone. On a VoIP path a late or lost
// frame in the 50-60 ms gap between two equal keys is concealed by repeating
// the tone before it, and no detector can then hear the gap. Such a digit
// lasts about one digit period longer per merged key, where every other
// digit lasts one on-time. This is not in DC-05; the caller must still
// check the checksum, which a wrong repair fails 14 times in 15.
func (c *Collector) repair(n int) ([]byte, bool) {
	if n < MessageDigits-2 {
		return nil, false
	}
	var durs, gaps [MessageDigits]int64
	for i := range n {
		durs[i] = c.digits[i].End - c.digits[i].Start
		if i > 0 {
			gaps[i-1] = c.digits[i].Start - c.digits[i-1].Start
		}
	}
	on := median(durs[:n])
	period := median(gaps[:n-1])
	if period <= on || on <= 0 {
		return nil, false
	}
	k := 0
	for i := range n {
		// Digits in a long tone: one, plus one per period beyond the
		// on-time, rounded; a tone stretched by one concealed frame
		// (20 ms) does not reach half a period.
		extra := (durs[i] - on + period/2) / period
		for range 1 + extra {
			if k == MessageDigits {
				return nil, false
			}
			c.out[k] = c.digits[i].Key
			k++
		}
	}
	if k != MessageDigits {
		return nil, false
	}
	return c.out[:], true
}

func median(v []int64) int64 {
	var buf [MessageDigits]int64
	s := buf[:copy(buf[:], v)]
	slices.Sort(s)
	return s[len(s)/2]
}

// String lists the held digits with their durations in ms, for logs.
func (c *Collector) String() string {
	b := make([]byte, 0, 8*c.n)
	for _, d := range c.digits[:c.n] {
		b = append(b, d.Key, ':')
		b = strconv.AppendInt(b, (d.End-d.Start)*1000/dsp.SampleRate, 10)
		b = append(b, ' ')
	}
	return string(b)
}
