//go:build windows

package atomicfile

import "golang.org/x/sys/windows"

// renameDurable is MoveFileEx with MOVEFILE_WRITE_THROUGH: it returns only
// once the move has been flushed to the disk. os.Rename leaves the flag
// out.
func renameDurable(oldpath, newpath string) error {
	from, err := windows.UTF16PtrFromString(oldpath)
	if err != nil {
		return err
	}
	to, err := windows.UTF16PtrFromString(newpath)
	if err != nil {
		return err
	}
	return windows.MoveFileEx(from, to, windows.MOVEFILE_REPLACE_EXISTING|windows.MOVEFILE_WRITE_THROUGH)
}

// syncDir does nothing: Go offers no folder fsync on Windows, and the
// rename's own flush is MOVEFILE_WRITE_THROUGH. A new folder's entry relies
// on NTFS's metadata log; the power-cut tests run Linux guests only, so
// that part is not tested.
var syncDir = func(dir string) error { return nil }
