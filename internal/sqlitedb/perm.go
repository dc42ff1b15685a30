package sqlitedb

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"stationsync/internal/fileperm"
)

// createPrivate makes the database file, if new, private before SQLite
// opens it. SQLite would make it 0644 (less the umask) and gives the -wal
// and -shm files it creates later the database file's mode, so all three
// would be readable by every account on the PC: the register with its ID
// numbers, in the county's case a whole county's.
func createPrivate(path string) error {
	if err := fileperm.Create(path); err != nil && !errors.Is(err, fs.ErrPermission) {
		return err
	}
	return restrictFiles(path)
}

// restrictFiles makes the database's files private: the database, its
// -wal, -shm and -journal, and the copies kept before migrations. Files of
// an older release were made 0644; they are closed here on the first open.
// A file another account owns (os.ErrPermission) is left for the doctor to
// report: the open itself does not fail for it.
func restrictFiles(path string) error {
	files := []string{path, path + "-wal", path + "-shm", path + "-journal"}
	if ents, err := os.ReadDir(filepath.Dir(path)); err == nil {
		base := filepath.Base(path) + ".before-"
		for _, e := range ents {
			if n := e.Name(); strings.HasPrefix(n, base) && strings.HasSuffix(n, ".bak") {
				files = append(files, filepath.Join(filepath.Dir(path), n))
			}
		}
	}
	var errs []error
	for _, f := range files {
		if err := fileperm.Restrict(f); err != nil && !errors.Is(err, fs.ErrPermission) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
