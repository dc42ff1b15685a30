//go:build !windows

package atomicfile

import "os"

func renameDurable(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }

// syncDir fsyncs a folder, which makes the entries in it (a rename, a new
// file or folder) durable. A variable so that tests can see the calls.
var syncDir = func(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
