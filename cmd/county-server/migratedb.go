package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"hash"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"stationsync/internal/cli"
	"stationsync/internal/pgdb"
	"stationsync/server"
)

// `county-server migrate-db` moves a county that has run on SQLite onto
// PostgreSQL, so that it can grow to several servers: every table as it
// is — records and their versions, the change feed's positions, stations
// and their sequence marks, accounts with their password hashes, the
// audit log — and meta's feed_epoch, hlc and feed_seq, so that stations go
// on pulling from their cursors instead of starting over. It writes only
// into a database with no county data, in one transaction, and checks
// every table's row count and content hash against the source before it
// commits: the target ends up either a copy of the county or untouched.

const migrateUsage = `
Moving a county from SQLite to PostgreSQL (stop the county server first):
  county-server migrate-db --from sqlite:/var/lib/stationsync/county/county.db --to postgres://USER:PASSWORD@HOST:5432/NAME
      copies every table into an empty PostgreSQL database in one transaction and compares
      each table's rows and content hash (sha256) on both sides; exit 1 if any differs.
      --to defaults to $STATIONSYNC_DB. The SQLite file is only read.
`

// runMigrateDB is `county-server migrate-db`.
func (e *env) runMigrateDB(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("migrate-db", flag.ContinueOnError)
	fs.SetOutput(e.Stderr)
	from := fs.String("from", "", "the county's SQLite database: sqlite:PATH (PATH may be the data directory)")
	// Not $STATIONSYNC_DB as the shown default: it may hold a password.
	to := fs.String("to", "", "the empty PostgreSQL database: postgres://… (default $"+envDB+")")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if *to == "" {
		*to = os.Getenv(envDB)
	}
	if !pgdb.IsURL(*to) {
		return errors.New("--to 应为空的 PostgreSQL 数据库地址，例如 postgres://stationsync:密码@127.0.0.1:5432/stationsync（建库见 README）")
	}
	path, err := sqliteSource(*from)
	if err != nil {
		return err
	}
	src, err := openSourceCounty(ctx, path)
	if err != nil {
		return err
	}
	defer src.Close()
	start := time.Now()
	res, err := migrateCounty(ctx, src, *to)
	if res != nil && res.checked {
		res.print(e.Stdout)
	}
	if err != nil {
		return err
	}
	rows := 0
	for _, t := range res.tables {
		rows += t.srcRows
	}
	fmt.Fprintf(e.Stdout, "\n已把 %s 迁移到 %s：%d 张表，%d 行，全部一致，用时 %.1f 秒。\n",
		path, pgdb.Redact(*to), len(res.tables), rows, time.Since(start).Seconds())
	fmt.Fprintf(e.Stdout, "下一步：各台服务器用 county-server serve --db 这个地址 --data 共享数据目录 启动；"+
		"原数据目录中的附件（files/）、证书（tls/）和密钥要放到共享数据目录里。%s 保持原样，可留作备份。\n", filepath.Base(path))
	return nil
}

// sqliteSource is the SQLite file --from names: sqlite:PATH, or a plain
// path; a data directory stands for its county.db.
func sqliteSource(from string) (string, error) {
	if pgdb.IsURL(from) {
		return "", errors.New("--from 应为原来的 SQLite 数据库，例如 sqlite:/var/lib/stationsync/county/county.db；PostgreSQL 之间的迁移请用 pg_dump")
	}
	path := strings.TrimPrefix(from, "sqlite:")
	if path == "" {
		return "", errors.New("--from 应为原来的 SQLite 数据库，例如 sqlite:/var/lib/stationsync/county/county.db")
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		path = filepath.Join(path, "county.db")
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("--from：找不到 %s（%v）", path, err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("--from：%s 不是文件", path)
	}
	return path, nil
}

// openSourceCounty opens the county's SQLite database read-only and
// checks that it is one, at this build's schema: the copy matches tables
// and columns by name, and a database an older release left would lack
// columns the PostgreSQL schema has.
func openSourceCounty(ctx context.Context, path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		return nil, fmt.Errorf("--from：无法打开 %s：%w", path, err)
	}
	rows, err := db.QueryContext(ctx, `SELECT name FROM schema_migrations`)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("--from：%s 不是村站通县级服务器的数据库（%v）", path, err)
	}
	var applied []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			db.Close()
			return nil, fmt.Errorf("--from：无法读取 %s：%w", path, err)
		}
		applied = append(applied, n)
	}
	rows.Close()
	known := server.SchemaMigrations()
	var missing, unknown []string
	for _, n := range known {
		if !slices.Contains(applied, n) {
			missing = append(missing, n)
		}
	}
	for _, n := range applied {
		if !slices.Contains(known, n) {
			unknown = append(unknown, n)
		}
	}
	switch {
	case len(unknown) > 0:
		db.Close()
		return nil, fmt.Errorf("--from：%s 已由更新版本的服务器升级（%s），请用那个版本迁移", path, strings.Join(unknown, "、"))
	case len(missing) > 0:
		db.Close()
		return nil, fmt.Errorf("--from：%s 还没有升级到这个版本（缺 %s）：先用这个版本运行一次 county-server station list --data %s（升级前自动备份），再迁移",
			path, strings.Join(missing, "、"), filepath.Dir(path))
	}
	return db, nil
}

// tableCopy is one table's copy and its check.
type tableCopy struct {
	name     string
	cols     []column
	key      []string // primary key, the order rows are hashed in
	identity []string // identity columns: their sequences go on after the copied ids
	triggers bool     // has triggers of its own (record versions, record files)

	srcRows, dstRows int
	srcHash, dstHash string
}

type column struct{ name, typ string }

func (t *tableCopy) ok() bool { return t.srcRows == t.dstRows && t.srcHash == t.dstHash }

type migration struct {
	tables  []*tableCopy
	checked bool // every table copied and compared
}

func (m *migration) print(w io.Writer) {
	// The heading's Chinese takes two columns a character on a terminal.
	fmt.Fprintf(w, "%s %s %s  %s  %s\n", pad("表", 22), padLeft("SQLite 行数", 11), padLeft("PG 行数", 10), pad("内容 sha256", 16), "核对")
	for _, t := range m.tables {
		mark, h := "✔", t.srcHash
		if len(h) > 16 {
			h = h[:16]
		}
		if !t.ok() {
			mark = fmt.Sprintf("✘ 不一致（PostgreSQL %.16s）", t.dstHash)
		}
		fmt.Fprintf(w, "%-22s %11d %10d  %-16s  %s\n", t.name, t.srcRows, t.dstRows, h, mark)
	}
}

// width is s's width on a terminal: CJK characters take two columns.
func width(s string) int {
	n := 0
	for _, r := range s {
		n++
		if r >= 0x1100 {
			n++
		}
	}
	return n
}

func pad(s string, w int) string     { return s + strings.Repeat(" ", max(0, w-width(s))) }
func padLeft(s string, w int) string { return strings.Repeat(" ", max(0, w-width(s))) + s }

// migrateCounty copies the county in src into the PostgreSQL database at
// url, which must hold no county data. The migration is returned, with as
// much of its check as was done, also when it failed.
func migrateCounty(ctx context.Context, src *sql.DB, url string) (*migration, error) {
	// First look without writing anything: a refusal leaves the target as
	// it was, not even with the county's tables made.
	if err := checkTargetEmpty(ctx, url, src); err != nil {
		return nil, err
	}
	db, err := pgdb.Open(ctx, url, server.PostgresMigrationFS())
	if err != nil {
		return nil, err
	}
	defer db.Close()
	conn, err := db.W.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	srcTx, err := src.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	// One read transaction: every table from the same moment of the
	// county, should something still be writing it.
	defer srcTx.Rollback()
	var m *migration
	err = pgdb.Raw(conn, func(pc *pgx.Conn) error {
		tx, err := pc.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx)
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, pgdb.WriterLockKey); err != nil {
			return fmt.Errorf("writer lock: %w", err)
		}
		if m, err = plan(ctx, tx, srcTx); err != nil {
			return err
		}
		// Again under the lock: someone may have written since the look.
		names := make([]string, len(m.tables))
		for i, t := range m.tables {
			names[i] = t.name
		}
		if err := refuseNonEmpty(ctx, func(q string, args ...any) scanner { return tx.QueryRow(ctx, q, args...) }, names); err != nil {
			return err
		}
		// Only the seed rows of an empty database (feed_seq 0, and the
		// feed_epoch a server that started on it made); the county's own
		// replace them.
		if _, err := tx.Exec(ctx, `DELETE FROM meta`); err != nil {
			return err
		}
		for _, t := range m.tables {
			if err := copyTable(ctx, tx, srcTx, t); err != nil {
				return fmt.Errorf("copy %s: %w", t.name, err)
			}
		}
		if migrateAfterCopy != nil {
			if err := migrateAfterCopy(ctx, tx); err != nil {
				return err
			}
		}
		bad := 0
		for _, t := range m.tables {
			if t.dstRows, t.dstHash, err = tableHash(ctx, tx, t); err != nil {
				return fmt.Errorf("check %s: %w", t.name, err)
			}
			if !t.ok() {
				bad++
			}
		}
		m.checked = true
		if bad > 0 {
			return fmt.Errorf("迁移后核对有 %d 张表不一致，已全部撤销，目标数据库没有写入县里的数据；请联系技术支持", bad)
		}
		return tx.Commit(ctx)
	})
	if err != nil {
		return m, err
	}
	// The planner knows nothing of the rows COPY brought.
	if _, err := db.W.ExecContext(ctx, `ANALYZE`); err != nil {
		return m, fmt.Errorf("analyze: %w", err)
	}
	return m, nil
}

// migrateAfterCopy, when a test sets it, runs between the copy and the
// check, in the copy's transaction: a copy gone wrong, on purpose.
var migrateAfterCopy func(ctx context.Context, tx pgx.Tx) error

type scanner interface{ Scan(dest ...any) error }

// checkTargetEmpty refuses a target that has county rows, reading it in
// read-only transactions.
func checkTargetEmpty(ctx context.Context, url string, src *sql.DB) error {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return fmt.Errorf("--to：PostgreSQL 地址无效（%s）：%s", pgdb.Redact(url), hidePassword(err.Error(), url))
	}
	cfg.RuntimeParams["default_transaction_read_only"] = "on"
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("--to：无法连接 PostgreSQL（%s）：%s", pgdb.Redact(url), hidePassword(err.Error(), url))
	}
	if err := refuseInUse(ctx, db); err != nil {
		return err
	}
	tables, err := sqliteTables(ctx, src)
	if err != nil {
		return err
	}
	var existing []string
	for _, t := range tables {
		var reg sql.NullString
		if err := db.QueryRowContext(ctx, `SELECT CAST(to_regclass($1) AS text)`, quoteIdent(t)).Scan(&reg); err != nil {
			return err
		}
		if reg.Valid {
			existing = append(existing, t)
		}
	}
	return refuseNonEmpty(ctx, func(q string, args ...any) scanner { return db.QueryRowContext(ctx, q, args...) }, existing)
}

// refuseInUse refuses a target other clients are connected to. A county
// server that started on the empty database before the migration keeps
// the feed epoch it found there in memory and would hand it to stations
// afterwards, and every station would start its pull over; one that
// starts during the copy waits for the writer lock and reads the county's
// epoch, which is right. A server that was just stopped may take a moment
// to leave, so the check waits a few seconds before it refuses.
func refuseInUse(ctx context.Context, db *sql.DB) error {
	db.SetMaxOpenConns(1) // its own sessions are not others
	deadline := time.Now().Add(5 * time.Second)
	for {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'`).Scan(&n); err != nil {
			return fmt.Errorf("read pg_stat_activity: %w", err)
		}
		if n == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("--to 的数据库正在被 %d 个连接使用（可能是已经启动的县级服务器，或打开的 psql），没有写入任何内容：请先停掉所有连接它的程序，迁移完成后再启动服务器", n)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// refuseNonEmpty returns the refusal if any of tables has a row, other
// than meta's seed rows.
func refuseNonEmpty(ctx context.Context, queryRow func(q string, args ...any) scanner, tables []string) error {
	var full []string
	for _, t := range tables {
		q := `SELECT EXISTS (SELECT 1 FROM ` + quoteIdent(t) + `)`
		if t == "meta" {
			q = `SELECT EXISTS (SELECT 1 FROM meta WHERE key <> 'feed_epoch' AND NOT (key = 'feed_seq' AND value = '0'))`
		}
		var any bool
		if err := queryRow(q).Scan(&any); err != nil {
			return fmt.Errorf("read %s: %w", t, err)
		}
		if any {
			full = append(full, t)
		}
	}
	if len(full) > 0 {
		return fmt.Errorf("--to 的数据库不是空的（%s 中已有数据），没有写入任何内容：迁移只写入还没有县里数据的数据库，不合并、不覆盖。请新建一个空数据库（见 README）再迁移",
			strings.Join(full, "、"))
	}
	return nil
}

func sqliteTables(ctx context.Context, src *sql.DB) ([]string, error) {
	return queryStrings(ctx, src, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' AND name <> 'schema_migrations' ORDER BY name`)
}

func queryStrings(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func pgxStrings(ctx context.Context, tx pgx.Tx, query string, args ...any) ([]string, error) {
	rows, err := tx.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// plan reads both schemas and lists the tables in an order that keeps
// foreign keys satisfied (stations before station_epochs, users before
// sessions). The two must have the same tables with the same columns in
// the same order, as server/migrations_postgres promises; a build where
// they differ is refused rather than copied by guesswork.
func plan(ctx context.Context, tx pgx.Tx, src *sql.Tx) (*migration, error) {
	pgTables, err := pgxStrings(ctx, tx, `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name <> 'schema_migrations' ORDER BY table_name`)
	if err != nil {
		return nil, err
	}
	sqTables, err := queryStrings(ctx, src, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' AND name <> 'schema_migrations' ORDER BY name`)
	if err != nil {
		return nil, err
	}
	if !slices.Equal(pgTables, sqTables) {
		return nil, fmt.Errorf("SQLite 与 PostgreSQL 的表不一致（SQLite：%s；PostgreSQL：%s），没有迁移；请联系技术支持",
			strings.Join(sqTables, ","), strings.Join(pgTables, ","))
	}
	triggered, err := pgxStrings(ctx, tx, `SELECT DISTINCT c.relname::text FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid WHERE NOT g.tgisinternal`)
	if err != nil {
		return nil, err
	}
	byName := map[string]*tableCopy{}
	for _, name := range pgTables {
		t := &tableCopy{name: name, triggers: slices.Contains(triggered, name)}
		rows, err := tx.Query(ctx, `SELECT column_name::text, data_type::text, is_identity::text FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`, name)
		if err != nil {
			return nil, err
		}
		var names []string
		for rows.Next() {
			var c column
			var ident string
			if err := rows.Scan(&c.name, &c.typ, &ident); err != nil {
				rows.Close()
				return nil, err
			}
			t.cols = append(t.cols, c)
			names = append(names, c.name)
			if ident == "YES" {
				t.identity = append(t.identity, c.name)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		sqCols, err := queryStrings(ctx, src, `SELECT name FROM pragma_table_info(?) ORDER BY cid`, name)
		if err != nil {
			return nil, err
		}
		if !slices.Equal(names, sqCols) {
			return nil, fmt.Errorf("表 %s 的列在 SQLite（%s）与 PostgreSQL（%s）中不一致，没有迁移；请联系技术支持",
				name, strings.Join(sqCols, ","), strings.Join(names, ","))
		}
		if t.key, err = pgxStrings(ctx, tx, `SELECT a.attname::text FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
			WHERE i.indrelid = to_regclass($1) AND i.indisprimary ORDER BY array_position(CAST(i.indkey AS int2[]), a.attnum)`, quoteIdent(name)); err != nil {
			return nil, err
		}
		if len(t.key) == 0 {
			t.key = names // no key: every column, so the order is still the same on both sides
		}
		byName[name] = t
	}
	rows, err := tx.Query(ctx, `SELECT c.conrelid::regclass::text, c.confrelid::regclass::text FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE c.contype = 'f' AND n.nspname = current_schema()`)
	if err != nil {
		return nil, err
	}
	deps := map[string][]string{}
	for rows.Next() {
		var child, parent string
		if err := rows.Scan(&child, &parent); err != nil {
			rows.Close()
			return nil, err
		}
		deps[strings.Trim(child, `"`)] = append(deps[strings.Trim(child, `"`)], strings.Trim(parent, `"`))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	m := &migration{}
	done := map[string]bool{}
	var visit func(name string, depth int)
	visit = func(name string, depth int) {
		if done[name] || depth > len(pgTables) {
			return
		}
		for _, p := range deps[name] {
			if p != name {
				visit(p, depth+1)
			}
		}
		if !done[name] {
			done[name] = true
			m.tables = append(m.tables, byName[name])
		}
	}
	for _, name := range pgTables {
		visit(name, 0)
	}
	return m, nil
}

// copyTable streams one table from SQLite into PostgreSQL with COPY, its
// rows in key order, hashing them on the way.
func copyTable(ctx context.Context, tx pgx.Tx, src *sql.Tx, t *tableCopy) error {
	// The tables' own triggers (record versions on UPDATE, record_files on
	// INSERT/UPDATE/DELETE of visits, applications and disclosures) would
	// add rows the copy brings anyway: record_files' COPY would then fail
	// on duplicate keys. They are disabled for the copy, inside this
	// transaction (ALTER TABLE is transactional: a rollback re-enables
	// them, and no other session sees them off). Not session_replication_
	// role = replica: setting it needs a superuser, and the county's role
	// owns its tables but is no superuser. DISABLE TRIGGER USER leaves the
	// foreign keys' internal triggers on, so the copy is checked against
	// them too (hence plan's table order).
	if t.triggers {
		if _, err := tx.Exec(ctx, `ALTER TABLE `+quoteIdent(t.name)+` DISABLE TRIGGER USER`); err != nil {
			return err
		}
	}
	rows, err := src.QueryContext(ctx, selectOrdered(t))
	if err != nil {
		return err
	}
	defer rows.Close()
	rs := &rowSource{rows: rows, t: t, h: sha256.New(), vals: make([]any, len(t.cols)), ptrs: make([]any, len(t.cols))}
	for i := range rs.vals {
		rs.ptrs[i] = &rs.vals[i]
	}
	names := make([]string, len(t.cols))
	for i, c := range t.cols {
		names[i] = c.name
	}
	n, err := tx.CopyFrom(ctx, pgx.Identifier{t.name}, names, rs)
	if err != nil {
		return err
	}
	if rs.err != nil {
		return rs.err
	}
	t.srcRows, t.srcHash = rs.n, hex.EncodeToString(rs.h.Sum(nil))
	if int(n) != rs.n {
		return fmt.Errorf("copied %d rows of %d", n, rs.n)
	}
	if t.triggers {
		if _, err := tx.Exec(ctx, `ALTER TABLE `+quoteIdent(t.name)+` ENABLE TRIGGER USER`); err != nil {
			return err
		}
	}
	// Identity columns were given explicit ids, which do not move their
	// sequences: the next insert would take id 1 again.
	for _, c := range t.identity {
		if _, err := tx.Exec(ctx, `SELECT setval(pg_get_serial_sequence($1, $2), (SELECT max(`+quoteIdent(c)+`) FROM `+quoteIdent(t.name)+`))`,
			quoteIdent(t.name), c); err != nil {
			return fmt.Errorf("sequence of %s: %w", c, err)
		}
	}
	return nil
}

func selectOrdered(t *tableCopy) string {
	cols := make([]string, len(t.cols))
	for i, c := range t.cols {
		cols[i] = quoteIdent(c.name)
	}
	key := make([]string, len(t.key))
	for i, k := range t.key {
		key[i] = quoteIdent(k)
	}
	return `SELECT ` + strings.Join(cols, ", ") + ` FROM ` + quoteIdent(t.name) + ` ORDER BY ` + strings.Join(key, ", ")
}

// rowSource feeds SQLite's rows to pgx's CopyFrom, each value converted to
// its PostgreSQL column's type and hashed as it goes.
type rowSource struct {
	rows       *sql.Rows
	t          *tableCopy
	h          hash.Hash
	vals, ptrs []any
	out        []any
	n          int
	err        error
}

func (r *rowSource) Next() bool {
	if r.err != nil || !r.rows.Next() {
		return false
	}
	if err := r.rows.Scan(r.ptrs...); err != nil {
		r.err = err
		return false
	}
	r.out = make([]any, len(r.vals))
	for i, v := range r.vals {
		c, err := convert(v, r.t.cols[i].typ)
		if err != nil {
			r.err = fmt.Errorf("row %d, column %s: %w", r.n+1, r.t.cols[i].name, err)
			return false
		}
		r.out[i] = c
	}
	hashRow(r.h, r.out)
	r.n++
	return true
}

func (r *rowSource) Values() ([]any, error) { return r.out, nil }

func (r *rowSource) Err() error {
	if r.err != nil {
		return r.err
	}
	return r.rows.Err()
}

// convert turns a value as SQLite's driver gives it into one of the three
// the county's PostgreSQL columns hold: int64 (bigint), string (text) and
// []byte (bytea). SQLite stores what it is given, whatever the column's
// declared type; a value that does not fit its PostgreSQL column stops
// the migration rather than being guessed at.
func convert(v any, typ string) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch typ {
	case "bigint":
		switch x := v.(type) {
		case int64:
			return x, nil
		case float64:
			if x == math.Trunc(x) && math.Abs(x) < 1<<62 {
				return int64(x), nil
			}
		case string:
			if n, err := strconv.ParseInt(x, 10, 64); err == nil {
				return n, nil
			}
		case []byte:
			if n, err := strconv.ParseInt(string(x), 10, 64); err == nil {
				return n, nil
			}
		}
		return nil, fmt.Errorf("%v (%T) is not an integer", v, v)
	case "text":
		switch x := v.(type) {
		case string:
			return x, nil
		case []byte:
			return string(x), nil
		case int64:
			return strconv.FormatInt(x, 10), nil
		case float64:
			return strconv.FormatFloat(x, 'g', -1, 64), nil
		}
		return nil, fmt.Errorf("%v (%T) is not text", v, v)
	case "bytea":
		switch x := v.(type) {
		case []byte:
			return x, nil
		case string:
			return []byte(x), nil
		}
		return nil, fmt.Errorf("%T is not bytes", v)
	}
	return nil, fmt.Errorf("column type %s is not one migrate-db knows", typ)
}

// hashRow writes a row's canonical form: each value tagged with its kind
// (NULL, integer in decimal, text with its length, bytes in hex), so that
// NULL, ” and 0 differ and no two rows run together.
func hashRow(h hash.Hash, row []any) {
	var b []byte
	for _, v := range row {
		switch x := v.(type) {
		case nil:
			b = append(b, 'N')
		case int64:
			b = append(b, 'I')
			b = strconv.AppendInt(b, x, 10)
		case string:
			b = append(b, 'T')
			b = strconv.AppendInt(b, int64(len(x)), 10)
			b = append(b, ':')
			b = append(b, x...)
		case []byte:
			b = append(b, 'B')
			b = hex.AppendEncode(b, x)
		default:
			b = fmt.Appendf(b, "?%T:%v", v, v)
		}
		b = append(b, 0x1f)
	}
	b = append(b, 0x1e)
	h.Write(b)
}

// tableHash counts and hashes a table's rows on PostgreSQL, in key order,
// as copyTable hashed them on SQLite.
func tableHash(ctx context.Context, tx pgx.Tx, t *tableCopy) (int, string, error) {
	rows, err := tx.Query(ctx, selectOrdered(t))
	if err != nil {
		return 0, "", err
	}
	defer rows.Close()
	h := sha256.New()
	n := 0
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return 0, "", err
		}
		hashRow(h, vals)
		n++
	}
	if err := rows.Err(); err != nil {
		return 0, "", err
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// quoteIdent quotes a table or column name for either engine.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
