package engine

import "time"

// forgetAfter is how many quiet 200 ms ticks of the SIP tracer (no message
// sent or received) pass before the engine lets go of what a flood made it
// keep: 10 s, past inviteMemory, so nothing in it is still remembered.
const forgetAfter = 50

// forget lets go of the answered table's slots once nothing in them is
// remembered (every entry older than inviteMemory) and says whether it did.
// The table is made at its full size (1 MiB) on the first answer; a flood
// of calls touches all of its pages, which a quiet gateway then kept for
// good. The next answer makes it again.
func (a *answeredInvites) forget(now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, s := range a.m.slots {
		if s.at != 0 && now.UnixNano()-s.at < int64(inviteMemory) {
			return false
		}
	}
	a.m.slots = nil
	return true
}
