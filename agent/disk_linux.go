//go:build linux

package agent

import "golang.org/x/sys/unix"

// diskState reports the free bytes of dir's filesystem and whether it is
// mounted read-only.
func diskState(dir string) (free uint64, readOnly bool, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, false, err
	}
	return uint64(st.Bavail) * uint64(st.Bsize), st.Flags&unix.ST_RDONLY != 0, nil
}
