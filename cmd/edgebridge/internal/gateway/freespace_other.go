//go:build !linux

package gateway

import "errors"

// freeBytes: only the store file's budget is watched off Linux.
func freeBytes(string) (int64, error) { return 0, errors.New("free space: not known on this system") }
