//go:build !linux

package store

// ReleaseMapped does nothing where the gateway does not run.
func (db *DB) ReleaseMapped() error { return nil }
