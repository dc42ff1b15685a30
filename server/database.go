package server

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"stationsync/internal/pgdb"
	"stationsync/internal/sqlitedb"
)

// Database is the county's database on either engine: the SQLite file in
// the data directory (the default, zero setup) or a PostgreSQL database
// several county servers share. The store's queries are written once;
// the few that differ between the engines ask the dialect methods below,
// and each engine has its own migrations (migrations/ for SQLite,
// migrations_postgres/ for PostgreSQL).
type Database struct {
	W, R *sql.DB
	// Path is the SQLite file; "" on PostgreSQL.
	Path string
	// Dir is the data directory: uploaded files, the bundle key, bundle
	// answers. Servers sharing one PostgreSQL database share it too.
	Dir    string
	sqlite *sqlitedb.DB // nil on PostgreSQL
	pg     *pgdb.DB     // nil on SQLite
}

// Postgres reports whether the database is PostgreSQL.
func (d *Database) Postgres() bool { return d.pg != nil }

// Engine names the engine, for logs and /metrics.
func (d *Database) Engine() string {
	if d.pg != nil {
		return "postgres"
	}
	return "sqlite"
}

// Tx runs fn in one write transaction, one at a time across every process
// writing this database: SQLite's single writer, or PostgreSQL's writer
// advisory lock (pgdb.DB.Tx).
func (d *Database) Tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if d.pg != nil {
		return d.pg.Tx(ctx, fn)
	}
	return d.sqlite.Tx(ctx, fn)
}

// ReadTx begins a read-only transaction that sees one snapshot for all its
// statements. SQLite's read transactions do; PostgreSQL's default (READ
// COMMITTED) takes a new snapshot per statement, so a pull's page query,
// its record loads and the village's last feed position would each see a
// different moment, and a commit between them let the cursor move past
// records the station never got (tests/multiserver
// TestFeedGapFreeAcrossServers).
func (d *Database) ReadTx(ctx context.Context) (*sql.Tx, error) {
	opts := &sql.TxOptions{ReadOnly: true}
	if d.pg != nil {
		opts.Isolation = sql.LevelRepeatableRead
	}
	return d.R.BeginTx(ctx, opts)
}

// Close closes the database.
func (d *Database) Close() error {
	if d.pg != nil {
		return d.pg.Close()
	}
	return d.sqlite.Close()
}

// IntegrityCheck runs SQLite's integrity check; PostgreSQL checks its own
// pages, so there it only proves the database answers.
func (d *Database) IntegrityCheck(ctx context.Context) error {
	if d.pg != nil {
		return d.R.PingContext(ctx)
	}
	return d.sqlite.IntegrityCheck(ctx)
}

// Optimize refreshes the query planner's statistics.
func (d *Database) Optimize(ctx context.Context) error {
	if d.pg != nil {
		_, err := d.W.ExecContext(ctx, `ANALYZE`)
		return err
	}
	return d.sqlite.Optimize(ctx)
}

// Checkpoint copies SQLite's write-ahead log into the database file;
// PostgreSQL checkpoints on its own.
func (d *Database) Checkpoint(ctx context.Context) error {
	if d.pg != nil {
		return nil
	}
	return d.sqlite.Checkpoint(ctx)
}

// IsBusy reports whether err means the whole transaction may be retried.
func (d *Database) IsBusy(err error) bool {
	if d.pg != nil {
		return pgdb.IsRetryable(err)
	}
	return sqlitedb.IsBusy(err)
}

// Describe names the database for messages, without a password.
func (d *Database) Describe() string {
	if d.pg != nil {
		return pgdb.Redact(d.pg.URL)
	}
	return d.Path
}

func openSQLiteDB(ctx context.Context, path string) (*Database, error) {
	db, err := sqlitedb.Open(ctx, path, mustSub(migrationFS, "migrations"))
	if err != nil {
		return nil, err
	}
	if err := db.BackgroundCheckpoints(); err != nil {
		db.Close()
		return nil, err
	}
	return &Database{W: db.W, R: db.R, Path: path, Dir: filepath.Dir(path), sqlite: db}, nil
}

func openPostgresDB(ctx context.Context, url, dir string) (*Database, error) {
	if dir == "" {
		return nil, errors.New("a county on PostgreSQL still needs a data directory for its files and keys")
	}
	db, err := pgdb.Open(ctx, url, mustSub(migrationFS, "migrations_postgres"))
	if err != nil {
		return nil, err
	}
	return &Database{W: db.W, R: db.R, Dir: dir, pg: db}, nil
}

// The dialect: the few SQL fragments the engines spell differently.

// greatest is the larger of its arguments: SQLite's scalar max,
// PostgreSQL's greatest.
func (d *Database) greatest(args ...string) string {
	f := "max("
	if d.pg != nil {
		f = "greatest("
	}
	return f + strings.Join(args, ", ") + ")"
}

// jsonValues is a subquery of the values of the JSON array of strings
// bound to its one parameter, as a column named value.
func (d *Database) jsonValues() string {
	if d.pg != nil {
		return `SELECT value FROM json_array_elements_text(CAST(? AS json)) AS t(value)`
	}
	return `SELECT value FROM json_each(?)`
}

// unixDay formats seconds since the epoch (an SQL expression, already
// moved into the display zone) as 2006-01-02; unixMonth as 2006-01.
func (d *Database) unixDay(secs string) string {
	if d.pg != nil {
		return `to_char(to_timestamp(` + secs + `) AT TIME ZONE 'UTC', 'YYYY-MM-DD')`
	}
	return `date(` + secs + `, 'unixepoch')`
}

func (d *Database) unixMonth(secs string) string {
	if d.pg != nil {
		return `to_char(to_timestamp(` + secs + `) AT TIME ZONE 'UTC', 'YYYY-MM')`
	}
	return `strftime('%Y-%m', ` + secs + `, 'unixepoch')`
}

// indexedBy makes SQLite use the named index where its planner would
// not; PostgreSQL has no such hint (and plans from statistics).
func (d *Database) indexedBy(index string) string {
	if d.pg != nil {
		return ""
	}
	return "INDEXED BY " + index
}

// daysBetween is the number of whole days from one 2006-01-02 date (an SQL
// expression) to another.
func (d *Database) daysBetween(from, to string) string {
	if d.pg != nil {
		return `(CAST(` + to + ` AS date) - CAST(` + from + ` AS date))`
	}
	return `CAST(julianday(` + to + `) - julianday(` + from + `) AS INTEGER)`
}

func (d *Database) String() string { return fmt.Sprintf("%s database %s", d.Engine(), d.Describe()) }
