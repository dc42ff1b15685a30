// Package atomicfile is the one way the station and the county write a
// file that must survive a power cut: a key, a config, an enrollment, a
// restored database. A cut leaves either the old content or the new, never
// a torn or empty file, and once a call returns the new content is on the
// disk.
//
// What makes it so, on Linux: write a temporary file in the same folder,
// fsync it, rename it over the target, then fsync the folder, because the
// rename lives in the folder and is lost with it otherwise. On Windows the
// rename is MoveFileEx with MOVEFILE_WRITE_THROUGH, which returns only
// once the move is flushed (folders cannot be fsynced there). tests/powercut
// checks it on a disk that loses whatever was not flushed.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Write writes data to path with perm.
func Write(path string, data []byte, perm os.FileMode) error {
	return writeWith(path, perm, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
}

// WriteFrom writes what r yields to path with perm: for copies too big to
// hold in memory (a database put back from its safety copy).
func WriteFrom(path string, r io.Reader, perm os.FileMode) error {
	return writeWith(path, perm, func(f *os.File) error {
		_, err := io.Copy(f, r)
		return err
	})
}

func writeWith(path string, perm os.FileMode, fill func(*os.File) error) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	done := false
	defer func() {
		if !done {
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := fill(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	// The content first: a rename that reaches the disk before the data
	// would leave an empty file under the real name.
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := Rename(tmp, path); err != nil {
		return err
	}
	done = true
	return nil
}

// Rename renames oldpath to newpath (replacing it) and makes the rename
// durable before returning. Both must be in the same folder or file system.
func Rename(oldpath, newpath string) error {
	if err := renameDurable(oldpath, newpath); err != nil {
		return fmt.Errorf("write %s: %w", newpath, err)
	}
	if err := syncDir(filepath.Dir(newpath)); err != nil {
		return fmt.Errorf("write %s: sync folder: %w", newpath, err)
	}
	if d := filepath.Dir(oldpath); d != filepath.Dir(newpath) {
		if err := syncDir(d); err != nil {
			return fmt.Errorf("write %s: sync folder: %w", newpath, err)
		}
	}
	return nil
}

// MkdirAll makes dir and any missing parents, as os.MkdirAll, and makes
// each new folder's entry in its parent durable: a station.db fsynced into
// a folder whose own entry was never written is lost with the folder.
func MkdirAll(dir string, perm os.FileMode) error {
	dir = filepath.Clean(dir)
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			break // let MkdirAll say what is wrong
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	if err := os.MkdirAll(dir, perm); err != nil {
		return err
	}
	// Deepest first: a child's entry is durable before its parent's is
	// made so, and every new folder's entry lives in its parent.
	for _, d := range missing {
		if err := syncDir(filepath.Dir(d)); err != nil {
			return fmt.Errorf("create %s: sync folder: %w", dir, err)
		}
	}
	return nil
}
