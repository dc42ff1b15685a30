package agent

import "golang.org/x/sys/windows"

// diskState reports the free bytes of dir's volume. A read-only volume
// shows as a failed write probe instead.
func diskState(dir string) (free uint64, readOnly bool, err error) {
	p, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return 0, false, err
	}
	var avail, total, totalFree uint64
	if err := windows.GetDiskFreeSpaceEx(p, &avail, &total, &totalFree); err != nil {
		return 0, false, err
	}
	return avail, false, nil
}
