package sqlitedb

import (
	"io/fs"
	"path"
)

// MigrationsThrough is migrations (*.sql at its root) up to and including
// the file last: the schema of an older release, for upgrade tests, which
// open a database with it, fill it as that release would, then open it
// with every migration.
func MigrationsThrough(migrations fs.FS, last string) fs.FS {
	return throughFS{migrations, last}
}

type throughFS struct {
	fs.FS
	last string
}

func (t throughFS) later(name string) bool { return path.Ext(name) == ".sql" && name > t.last }

func (t throughFS) Open(name string) (fs.File, error) {
	if t.later(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return t.FS.Open(name)
}

func (t throughFS) Glob(pattern string) ([]string, error) {
	names, err := fs.Glob(t.FS, pattern)
	out := names[:0]
	for _, n := range names {
		if !t.later(n) {
			out = append(out, n)
		}
	}
	return out, err
}
