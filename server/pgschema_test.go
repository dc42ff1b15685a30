package server

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
)

// schemaTestDSN is the PostgreSQL every test machine runs (trust auth); tests
// make and drop their own databases in it.
const schemaTestDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// TestPostgresSchemaMatchesSQLite holds migrations_postgres/0001_init.sql
// to the schema the SQLite migrations end with: the server runs the same
// query text on both engines, so a table, column, column position,
// default, key, index or trigger present on one and not the other breaks
// a query on one engine only.
//
// Compared, per table: column names in order; type (INTEGER → bigint,
// TEXT → text COLLATE "C", BLOB → bytea, REAL → double precision);
// NOT NULL; defaults (PostgreSQL's ::text/::bigint casts taken off);
// primary-key columns in key order, an INTEGER PRIMARY KEY (a rowid alias
// SQLite fills in) being an identity column; UNIQUE column constraints by
// their columns, since their index names differ (sqlite_autoindex_users_1
// against users_username_key); foreign keys. Indexes made by CREATE INDEX
// by name, with uniqueness, partial or not, and key columns (an expression
// as "<expr>"); the primary-key and UNIQUE indexes are left out here,
// being covered above. Triggers by name and table. Rows a migration
// seeds (meta). Not compared: CHECK constraints (SQLite keeps them only
// in the CREATE text), the WHERE text of partial indexes and trigger
// bodies (different dialects), schema_migrations (the migration runner's)
// and sqlite_sequence (SQLite's AUTOINCREMENT bookkeeping).
func TestPostgresSchemaMatchesSQLite(t *testing.T) {
	ctx := context.Background()

	path := filepath.Join(t.TempDir(), "county.db")
	st, err := OpenSQLite(ctx, path, "")
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	lite, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()

	pg := schemaTestPostgres(t)
	ddl, err := os.ReadFile(filepath.Join("migrations_postgres", "0001_init.sql"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pg.ExecContext(ctx, string(ddl)); err != nil {
		t.Fatalf("apply migrations_postgres/0001_init.sql: %v", err)
	}

	want := schemaOfSQLite(t, lite)
	got := schemaOfPostgres(t, pg)
	if len(want.tables) == 0 {
		t.Fatal("the SQLite store has no tables: the comparison would prove nothing")
	}
	schemaCompare(t, "tables", want.tableNames(), got.tableNames())
	for name, wt := range want.tables {
		gt, ok := got.tables[name]
		if !ok {
			continue // reported above
		}
		schemaCompare(t, name+" columns", wt.columns, gt.columns)
		schemaCompare(t, name+" primary key", wt.pk, gt.pk)
		schemaCompare(t, name+" unique constraints", wt.unique, gt.unique)
		schemaCompare(t, name+" foreign keys", wt.fks, gt.fks)
		schemaCompare(t, name+" indexes", wt.indexes, gt.indexes)
		schemaCompare(t, name+" triggers", wt.triggers, gt.triggers)
		schemaCompare(t, name+" rows", wt.rows, gt.rows)
	}
}

// schemaTestPostgres makes a database of its own for the test and drops it
// afterwards. PostgreSQL is part of the test setup: when it cannot be
// reached the test fails, so a missing server is never mistaken for a
// schema that matches.
func schemaTestPostgres(t *testing.T) *sql.DB {
	t.Helper()
	ctx := context.Background()
	admin, err := sql.Open("pgx", schemaTestDSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	if err := admin.PingContext(ctx); err != nil {
		t.Fatalf("PostgreSQL is not reachable at %s (tests need it running, trust auth, user postgres): %v", schemaTestDSN, err)
	}
	var b [6]byte
	rand.Read(b[:])
	name := "pgschema_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	db, err := sql.Open("pgx", strings.Replace(schemaTestDSN, "/test?", "/"+name+"?", 1))
	if err != nil {
		t.Fatal(err)
	}
	// Registered after admin's Close, so it runs before it.
	t.Cleanup(func() {
		db.Close()
		if _, err := admin.ExecContext(context.Background(), `DROP DATABASE `+name+` WITH (FORCE)`); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	return db
}

type schemaTestTable struct {
	columns  []string // "name type [not null] [default x] [identity]", in order
	pk       []string // key columns in key order
	unique   []string // UNIQUE constraints: "col,col"
	fks      []string // "col -> table(col)"
	indexes  []string // "name [unique] [partial] (col, col)"
	triggers []string
	rows     []string // seeded rows of meta; a count elsewhere
}

type schemaTest struct{ tables map[string]*schemaTestTable }

func (s schemaTest) tableNames() []string {
	var n []string
	for k := range s.tables {
		n = append(n, k)
	}
	return n
}

func schemaCompare(t *testing.T, what string, want, got []string) {
	t.Helper()
	w, g := slices.Clone(want), slices.Clone(got)
	if !strings.HasSuffix(what, " columns") && !strings.HasSuffix(what, " primary key") {
		sort.Strings(w)
		sort.Strings(g)
	}
	if !slices.Equal(w, g) {
		t.Errorf("%s differ:\n  SQLite:     %q\n  PostgreSQL: %q", what, w, g)
	}
}

func schemaQuery(t *testing.T, db *sql.DB, q string, args ...any) [][]sql.NullString {
	t.Helper()
	rows, err := db.Query(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]sql.NullString
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out = append(out, vals)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// schemaSeedRows lists a table's rows as the migrations leave them: meta's
// key/value pairs (but feed_epoch, which OpenSQLite writes, not a
// migration), and for every other table only how many rows it has.
func schemaSeedRows(t *testing.T, db *sql.DB, table string) []string {
	if table == "meta" {
		var out []string
		for _, r := range schemaQuery(t, db, `SELECT key, value FROM meta WHERE key <> 'feed_epoch'`) {
			out = append(out, r[0].String+"="+r[1].String)
		}
		return out
	}
	r := schemaQuery(t, db, `SELECT count(*) FROM `+table)
	return []string{"count=" + r[0][0].String}
}

func schemaColumn(name, typ string, notNull bool, dflt sql.NullString, identity bool) string {
	s := name + " " + typ
	if notNull {
		s += " not null"
	}
	if dflt.Valid {
		s += " default " + dflt.String
	}
	if identity {
		s += " identity"
	}
	return s
}

func schemaOfSQLite(t *testing.T, db *sql.DB) schemaTest {
	s := schemaTest{tables: map[string]*schemaTestTable{}}
	for _, r := range schemaQuery(t, db, `SELECT name FROM sqlite_schema WHERE type = 'table'
		AND name NOT LIKE 'sqlite\_%' ESCAPE '\' AND name <> 'schema_migrations'`) {
		s.tables[r[0].String] = &schemaTestTable{}
	}
	types := map[string]string{"INTEGER": "bigint", "TEXT": "text collate C", "BLOB": "bytea", "REAL": "double precision"}
	for name, tb := range s.tables {
		cols := schemaQuery(t, db, `SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?) ORDER BY cid`, name)
		npk := 0
		for _, c := range cols {
			if c[4].String != "0" {
				npk++
			}
		}
		pk := map[string]string{}
		for _, c := range cols {
			typ, ok := types[c[1].String]
			if !ok {
				t.Fatalf("%s.%s: SQLite type %q has no PostgreSQL counterpart in this test", name, c[0].String, c[1].String)
			}
			inPK := c[4].String != "0"
			if inPK {
				pk[c[4].String] = c[0].String
			}
			// An INTEGER PRIMARY KEY is the rowid: never NULL, filled in
			// when an insert leaves it out.
			rowid := inPK && npk == 1 && c[1].String == "INTEGER"
			// A primary key column is NOT NULL on PostgreSQL; SQLite lets
			// a non-integer key hold NULL unless told, which no insert of
			// the server relies on.
			tb.columns = append(tb.columns, schemaColumn(c[0].String, typ, c[2].String == "1" || inPK, c[3], rowid))
		}
		for i := 1; i <= len(pk); i++ {
			tb.pk = append(tb.pk, pk[fmt.Sprint(i)])
		}
		for _, ix := range schemaQuery(t, db, `SELECT name, "unique", origin, partial FROM pragma_index_list(?)`, name) {
			var keys []string
			for _, k := range schemaQuery(t, db, `SELECT coalesce(name, '<expr>') FROM pragma_index_info(?) ORDER BY seqno`, ix[0].String) {
				keys = append(keys, k[0].String)
			}
			switch ix[2].String {
			case "pk":
			case "u":
				tb.unique = append(tb.unique, strings.Join(keys, ","))
			case "c":
				tb.indexes = append(tb.indexes, schemaIndex(ix[0].String, ix[1].String == "1", ix[3].String == "1", keys))
			}
		}
		for _, fk := range schemaQuery(t, db, `SELECT "from", "table", "to" FROM pragma_foreign_key_list(?) ORDER BY id, seq`, name) {
			tb.fks = append(tb.fks, fk[0].String+" -> "+fk[1].String+"("+fk[2].String+")")
		}
		for _, tr := range schemaQuery(t, db, `SELECT name FROM sqlite_schema WHERE type = 'trigger' AND tbl_name = ?`, name) {
			tb.triggers = append(tb.triggers, tr[0].String)
		}
		tb.rows = schemaSeedRows(t, db, name)
	}
	return s
}

func schemaIndex(name string, unique, partial bool, keys []string) string {
	s := name
	if unique {
		s += " unique"
	}
	if partial {
		s += " partial"
	}
	return s + " (" + strings.Join(keys, ", ") + ")"
}

// schemaPGCast matches the cast PostgreSQL adds to a stored default (a
// text default reads back with ::text after it).
var schemaPGCast = regexp.MustCompile(`::(text|bigint|integer|bytea|double precision)$`)

func schemaOfPostgres(t *testing.T, db *sql.DB) schemaTest {
	s := schemaTest{tables: map[string]*schemaTestTable{}}
	for _, r := range schemaQuery(t, db, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`) {
		s.tables[r[0].String] = &schemaTestTable{}
	}
	for name, tb := range s.tables {
		for _, c := range schemaQuery(t, db, `SELECT column_name, data_type, collation_name, is_nullable, column_default, is_identity
			FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position`, name) {
			typ := c[1].String
			if c[2].Valid {
				typ += " collate " + c[2].String
			}
			dflt := c[4]
			if dflt.Valid {
				dflt.String = schemaPGCast.ReplaceAllString(dflt.String, "")
			}
			tb.columns = append(tb.columns, schemaColumn(c[0].String, typ, c[3].String == "NO", dflt, c[5].String == "YES"))
		}
		for _, k := range schemaQuery(t, db, `SELECT a.attname FROM pg_constraint c
			CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, n)
			JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
			WHERE c.conrelid = $1::regclass AND c.contype = 'p' ORDER BY k.n`, name) {
			tb.pk = append(tb.pk, k[0].String)
		}
		for _, u := range schemaQuery(t, db, `SELECT (SELECT string_agg(a.attname, ',' ORDER BY k.n)
				FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, n)
				JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum)
			FROM pg_constraint c WHERE c.conrelid = $1::regclass AND c.contype = 'u'`, name) {
			tb.unique = append(tb.unique, u[0].String)
		}
		for _, fk := range schemaQuery(t, db, `SELECT a.attname, c.confrelid::regclass::text, fa.attname FROM pg_constraint c
			CROSS JOIN LATERAL unnest(c.conkey, c.confkey) WITH ORDINALITY AS k(attnum, fattnum, n)
			JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
			JOIN pg_attribute fa ON fa.attrelid = c.confrelid AND fa.attnum = k.fattnum
			WHERE c.conrelid = $1::regclass AND c.contype = 'f' ORDER BY c.conname, k.n`, name) {
			tb.fks = append(tb.fks, fk[0].String+" -> "+fk[1].String+"("+fk[2].String+")")
		}
		// Indexes made by CREATE INDEX: those no constraint owns.
		for _, ix := range schemaQuery(t, db, `SELECT ic.relname, i.indisunique, i.indpred IS NOT NULL,
				(SELECT string_agg(coalesce(a.attname, '<expr>'), ',' ORDER BY k.n)
				   FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
				   LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum AND k.attnum > 0)
			FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
			WHERE i.indrelid = $1::regclass
			  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid)`, name) {
			tb.indexes = append(tb.indexes, schemaIndex(ix[0].String, ix[1].String == "true", ix[2].String == "true", strings.Split(ix[3].String, ",")))
		}
		for _, tr := range schemaQuery(t, db, `SELECT tgname FROM pg_trigger WHERE tgrelid = $1::regclass AND NOT tgisinternal`, name) {
			tb.triggers = append(tb.triggers, tr[0].String)
		}
		tb.rows = schemaSeedRows(t, db, name)
	}
	return s
}
