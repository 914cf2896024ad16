//go:build !race

package media

import "testing"

func skipUnderRace(*testing.T) {}
