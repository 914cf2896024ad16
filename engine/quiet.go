package engine

import "time"

// tidyEvery is how many 200 ms ticks of the SIP tracer pass between tidies
// of the INVITE tables: 10 s, past inviteMemory, so that a table a flood
// grew has gone (nothing in it remembered) or shrunk (a few calls still
// going) 10 to 20 s after the flood.
const tidyEvery = 50

// tidyInvites fits the socket reader's and the answered INVITE tables to
// what they still remember (inviteMemo.tidy). A flood grows both to their
// bounds (1.5 MiB together) and touches every page; without this a quiet
// gateway kept them for good.
func (e *Engine) tidyInvites(now time.Time) {
	e.offered.tidy(now)
	e.answered.tidy(now)
}
