// Package fileperm keeps the data files of both sides readable by their
// owner only. The station's and the county's databases hold the register
// (names, ID numbers, health notes), the keys and the logs; another
// account on the same PC must not read them, whatever its umask or the
// ACL of the folder they were put in.
//
// On Unix a file is 0600 and a folder 0700, owner unchanged. On Windows a
// protected DACL grants full control to SYSTEM, Administrators and the
// account of the running process (the service, or whoever runs the
// command line), and nothing is inherited from the parent folder
// (ProgramData lets Users read).
package fileperm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Create makes path as an empty private file if it does not exist, and
// makes an existing one private. SQLite creates a database with 0644
// (less the umask) and gives its -wal and -shm files the database file's
// mode, so a database file made here first keeps all three private.
func Create(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	return Restrict(path)
}

// Restrict makes an existing file private; a missing one is no error. A
// file this account does not own and cannot change (os.ErrPermission) is
// reported as such, for the caller to decide.
func Restrict(path string) error {
	err := restrict(path, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("permissions of %s: %w", path, err)
	}
	return nil
}

// Dir creates dir if needed and makes it, and everything already in it,
// private: a data folder left by an older release, made with the umask's
// 0755 and 0644, is closed on the next start.
func Dir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	if err := restrict(dir, true); err != nil {
		return fmt.Errorf("permissions of %s: %w", dir, err)
	}
	var errs []error
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
			return nil
		}
		if p == dir || d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		if err := restrict(p, d.IsDir()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("permissions of %s: %w", p, err))
		}
		return nil
	})
	return errors.Join(errs...)
}

// Private reports whether path is private: on Unix no group or other
// bits; on Windows no allow entry for anyone but SYSTEM, Administrators
// and the owner.
func Private(path string) (bool, error) { return private(path) }
