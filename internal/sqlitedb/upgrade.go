package sqlitedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"stationsync/internal/atomicfile"
)

// ErrNewerSchema says the database was migrated by a newer version of the
// program than the one opening it: running on would let old code write a
// schema it does not know.
var ErrNewerSchema = errors.New("sqlitedb: database made by a newer version")

// keepBackups is how many pre-migration copies stay beside the database.
const keepBackups = 2

// upgrade applies the pending migrations of an existing database with a
// safety copy: before the first pending migration runs, the whole database
// is copied (VACUUM INTO: a consistent copy, WAL included) to
// PATH.before-NNNN_name.sql.bak. If any migration fails, w is closed and the
// copy is put back, so the database is exactly what the previous version
// left and that version keeps working with it. A database with nothing
// applied yet (a new station) needs no copy.
func upgrade(ctx context.Context, w *sql.DB, path string, migrations fs.FS) error {
	todo, applied, err := pendingMigrations(ctx, w, migrations)
	if err != nil {
		return err
	}
	if len(todo) == 0 || applied == 0 {
		return migrate(ctx, w, migrations)
	}
	backup := path + ".before-" + todo[0] + ".bak"
	// A copy left by an earlier failed attempt is replaced: the database is
	// unchanged since.
	if err := copyBefore(ctx, w, backup); err != nil {
		return err
	}
	if err := migrate(ctx, w, migrations); err != nil {
		w.Close()
		if rerr := restore(backup, path); rerr != nil {
			return fmt.Errorf("%w; restoring the copy %s failed too: %v", err, backup, rerr)
		}
		return fmt.Errorf("%w (database restored from %s, as the previous version left it)", err, filepath.Base(backup))
	}
	pruneBackups(path)
	return nil
}

// pendingMigrations lists the migrations not applied yet, in order, and
// counts those applied. It fails with ErrNewerSchema if the database has a
// migration this program does not carry.
func pendingMigrations(ctx context.Context, db *sql.DB, migrations fs.FS) (todo []string, applied int, err error) {
	names, err := fs.Glob(migrations, "*.sql")
	if err != nil {
		return nil, 0, fmt.Errorf("list migrations: %w", err)
	}
	sort.Strings(names)
	known := map[string]bool{}
	for _, n := range names {
		known[n] = true
	}
	done := map[string]bool{}
	var exists int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&exists); err != nil {
		return nil, 0, fmt.Errorf("read schema: %w", err)
	}
	if exists > 0 {
		rows, err := db.QueryContext(ctx, `SELECT name FROM schema_migrations ORDER BY name`)
		if err != nil {
			return nil, 0, fmt.Errorf("read schema_migrations: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				return nil, 0, err
			}
			if !known[n] {
				return nil, 0, fmt.Errorf("%w (migration %s): install that version or a newer one", ErrNewerSchema, n)
			}
			done[n] = true
		}
		if err := rows.Err(); err != nil {
			return nil, 0, err
		}
	}
	for _, n := range names {
		if !done[n] {
			todo = append(todo, n)
		}
	}
	return todo, len(done), nil
}

// restore puts the copy at backup back as the database at path, which must
// be closed. The failed attempt's -wal and -shm go first: SQLite would
// otherwise replay them onto the restored file.
func restore(backup, path string) error {
	for _, suffix := range []string{"-wal", "-shm", "-journal"} {
		if err := os.Remove(path + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	src, err := os.Open(backup)
	if err != nil {
		return err
	}
	defer src.Close()
	// The copy stays where it is, in case a technician wants it. The
	// database is put back durably: a power cut right after must not find
	// half of it, or the failed attempt's file under the name.
	return atomicfile.WriteFrom(path, src, 0o600)
}

// pruneBackups keeps the newest keepBackups pre-migration copies of path.
func pruneBackups(path string) {
	list, _ := filepath.Glob(path + ".before-*.bak")
	sort.Slice(list, func(i, j int) bool { return strings.Compare(list[i], list[j]) > 0 }) // newest migration first
	for i, p := range list {
		if i >= keepBackups {
			os.Remove(p)
		}
	}
}
