//go:build race

package media

import "testing"

// The race detector allocates on its own; allocation budgets are checked
// in normal builds (make test).
func skipUnderRace(t *testing.T) { t.Skip("allocation counts are meaningless under -race") }
