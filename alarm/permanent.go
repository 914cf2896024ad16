package alarm

import "errors"

// A sender marks an error Permanent when the far end will never take the
// event (retrying cannot help): delivery then moves it to the dead letters.
// The mark lives in the kit so that protocol packages (dc09, scaip) can set
// it without importing delivery.

type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// Permanent marks err as final for this event: retrying cannot help.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanent{err}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p permanent
	return errors.As(err, &p)
}
