package media_test

import (
	"github.com/edgebridge/edgebridge/alarm"
	"github.com/edgebridge/edgebridge/engine/media"
)

// The RTP session is an alarm Channel without importing alarm (the layering rule).
var _ alarm.Channel = (*media.Session)(nil)
