package gateway

import (
	"path/filepath"
	"syscall"
)

// freeBytes is the space an unprivileged writer may still use on the
// filesystem that holds path.
func freeBytes(path string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(filepath.Dir(path), &st); err != nil {
		return 0, err
	}
	return int64(uint64(st.Bavail) * uint64(st.Bsize)), nil
}
