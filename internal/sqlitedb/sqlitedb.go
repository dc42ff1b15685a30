// Package sqlitedb opens the SQLite files both the station and the county
// keep, with the pragmas their durability depends on, and applies embedded,
// numbered migrations.
package sqlitedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"

	"stationsync/internal/failpoint"
)

// DB is a SQLite database with one writer connection and a separate
// read-only pool.
//
// One writer with _txlock=immediate means a transaction takes the write lock
// at BEGIN, so a read-then-write transaction never fails on the lock upgrade
// (SQLITE_BUSY_SNAPSHOT cannot be retried inside the transaction; see
// mattn/go-sqlite3#274).
type DB struct {
	W    *sql.DB // the only connection that writes
	R    *sql.DB // read-only pool
	Path string
	cp   *checkpointer // nil: SQLite checkpoints in the writer's commits
}

// Open opens (creating if needed) the database at path and applies the
// migrations found in migrations (files named NNNN_name.sql).
func Open(ctx context.Context, path string, migrations fs.FS) (*DB, error) {
	// synchronous=FULL: go-sqlite3 defaults to NORMAL, with which WAL can
	// forget the last commits on power loss. A station that told a cadre
	// "saved" must not forget it, and the outbox/ack cursor must never
	// roll back (LESSONS: go-sqlite3 durability defaults).
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "FULL")
	q.Set("_fk", "1")
	q.Set("_busy_timeout", "10000")
	q.Set("_txlock", "immediate")
	if err := createPrivate(path); err != nil { // perm.go
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	w, err := sql.Open("sqlite3", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	if err := pingWriter(ctx, w); err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	// A bounded WAL: small station disks fill up if the -wal file is never
	// truncated (gotosocial#2808).
	// A page cache of 64 MiB (the default is 2 MiB): a county batch touches
	// index pages all over the visits table, and re-reading them from the
	// OS for every row costs more than the merge itself.
	if _, err := w.ExecContext(ctx, `PRAGMA cache_size = -65536`); err != nil {
		w.Close()
		return nil, fmt.Errorf("set cache_size: %w", err)
	}
	if _, err := w.ExecContext(ctx, `PRAGMA journal_size_limit = 67108864`); err != nil {
		w.Close()
		return nil, fmt.Errorf("set journal_size_limit: %w", err)
	}
	// A copy is taken before an existing database migrates, and put back
	// if a migration fails (upgrade.go).
	if err := upgrade(ctx, w, path, migrations); err != nil {
		w.Close()
		return nil, err
	}
	// The -wal and -shm now exist, and a migration may have left a copy.
	if err := restrictFiles(path); err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	rq := url.Values{}
	rq.Set("mode", "ro")
	rq.Set("_fk", "1")
	rq.Set("_busy_timeout", "10000")
	rq.Set("_journal_mode", "WAL")
	r, err := sql.Open("sqlite3", "file:"+path+"?"+rq.Encode())
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s read-only: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	return &DB{W: w, R: r, Path: path}, nil
}

// Close closes both pools.
func (db *DB) Close() error {
	var cpErr error
	if db.cp != nil {
		cpErr = db.cp.close()
	}
	return errors.Join(cpErr, db.R.Close(), db.W.Close())
}

// Tx runs fn in one write transaction and commits it. The context is used
// only to wait for the connection, never inside the transaction: cancelling
// a write transaction in go-sqlite3 interrupts it and the following
// statements run outside any transaction (mattn/go-sqlite3#769).
func (db *DB) Tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	for attempt := 0; ; attempt++ {
		err := db.tx(ctx, fn)
		if err == nil || !IsBusy(err) || attempt >= 5 {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt+1) * 20 * time.Millisecond):
		}
	}
}

func (db *DB) tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	conn, err := db.W.Conn(ctx)
	if err != nil {
		return fmt.Errorf("writer connection: %w", err)
	}
	defer conn.Close()
	tx, err := conn.BeginTx(context.Background(), nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if db.cp != nil {
		db.cp.committed()
	}
	return nil
}

// IsBusy reports whether err is SQLITE_BUSY or SQLITE_LOCKED, after which
// the whole transaction may be retried.
func IsBusy(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked
	}
	return false
}

// IsFull reports whether err says the disk or the database is full, or that
// the file cannot be written: the station must refuse new writes and say so.
func IsFull(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.Code == sqlite3.ErrFull || se.Code == sqlite3.ErrReadonly || se.Code == sqlite3.ErrIoErr || se.Code == sqlite3.ErrCantOpen
	}
	return false
}

// IntegrityCheck runs PRAGMA integrity_check and returns an error unless the
// answer is "ok".
func (db *DB) IntegrityCheck(ctx context.Context) error {
	var res string
	if err := db.W.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&res); err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	if res != "ok" {
		return fmt.Errorf("integrity check: %s", res)
	}
	return nil
}

// Optimize gathers the statistics the query planner picks indexes by, for
// the tables that have none or whose size has changed much since. Without
// them SQLite guesses, and with two indexes that both narrow a list (a
// village range, a date range) it can guess the one that reads twenty
// times the rows. SQLite advises it at open and then every few hours on a
// long-lived connection. The statistics are exact, not sampled: a sample
// of 1,000 rows took persons.status, the same for nearly every person, for
// a selective column, and the overdue list read a million-visit county
// through it at twice the time; a full pass over such a county takes
// about half a second, once, and again only when a table has grown
// tenfold.
func (db *DB) Optimize(ctx context.Context) error {
	if _, err := db.W.ExecContext(ctx, `PRAGMA analysis_limit = 0`); err != nil {
		return fmt.Errorf("optimize: %w", err)
	}
	if _, err := db.W.ExecContext(ctx, `PRAGMA optimize = 0x10002`); err != nil {
		return fmt.Errorf("optimize: %w", err)
	}
	return nil
}

// Checkpoint truncates the WAL when nothing reads; called when idle.
func (db *DB) Checkpoint(ctx context.Context) error {
	_, err := db.W.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	return err
}

// migrate applies, in order, each migration not yet recorded, one
// transaction each. Shipped files are never edited: the version table is the
// list of file names.
//
// The check and the apply share one transaction, and w's DSN makes it BEGIN
// IMMEDIATE: it holds the write lock from the first statement, so when two
// processes open one new directory at once the second waits, finds the
// migration recorded and skips it, instead of running CREATE TABLE a second
// time ("table meta already exists") on a check made before the first
// committed.
func migrate(ctx context.Context, db *sql.DB, migrations fs.FS) error {
	names, err := fs.Glob(migrations, "*.sql")
	if err != nil {
		return fmt.Errorf("list migrations: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		body, err := fs.ReadFile(migrations, name)
		if err != nil {
			return fmt.Errorf("read migration %s: %w", name, err)
		}
		if err := applyOnce(ctx, db, name, string(body)); err != nil {
			return err
		}
	}
	return nil
}

// applyOnce runs one migration unless schema_migrations already names it,
// deciding and applying under the same write lock.
func applyOnce(ctx context.Context, db *sql.DB, name, body string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migration %s: %w", name, err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	var n int
	if err := tx.QueryRow(`SELECT count(*) FROM schema_migrations WHERE name = ?`, name).Scan(&n); err != nil {
		return fmt.Errorf("read schema_migrations: %w", err)
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.Exec(body); err != nil {
		return fmt.Errorf("migration %s: %w", name, err)
	}
	failpoint.Inject(failpoint.MidMigration)
	if _, err := tx.Exec(`INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)`, name, time.Now().UnixMilli()); err != nil {
		return fmt.Errorf("record migration %s: %w", name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit migration %s: %w", name, err)
	}
	return nil
}

// Placeholders returns "?, ?, ?" for n values.
func Placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}
