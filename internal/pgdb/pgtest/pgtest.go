// Package pgtest gives each test a PostgreSQL database of its own, made
// on the server every machine of ours runs (127.0.0.1:5432, trust auth) and
// dropped when the test ends, so tests run in parallel and leave nothing
// behind. An unreachable server fails the test: a PostgreSQL half that
// skips would pass CI having tested nothing.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
)

// AdminURL is the database tests connect to in order to make their own;
// STATIONSYNC_TEST_PG overrides it.
func AdminURL() string {
	if u := os.Getenv("STATIONSYNC_TEST_PG"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// NewDatabase makes an empty database and returns its URL.
func NewDatabase(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := "stationsync_t_" + randomName()
	if err := exec(ctx, AdminURL(), `CREATE DATABASE `+name+` TEMPLATE template0 ENCODING 'UTF8'`); err != nil {
		t.Fatalf("PostgreSQL must run at %s for this test (trust auth; see README): %v", AdminURL(), err)
	}
	t.Cleanup(func() { dropLater(t, AdminURL(), `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`) })
	return withDatabase(AdminURL(), name)
}

// sharedDB holds the schemas of NewSchema: made once, kept between runs.
const sharedDB = "stationsync_tests"

// NewSchema makes an empty schema in a database the tests share and
// returns a URL whose connections use it (search_path), dropping it when
// the test ends. It costs a fraction of NewDatabase (a CREATE DATABASE
// copies and syncs a whole template), which matters for the store suite's
// hundreds of tests. What it does not isolate: advisory locks are the
// database's, so tests running at once take turns at the writer lock, and
// catalog views (pg_stat_activity, pg_stat_user_tables) show the other
// schemas — a test about either uses NewDatabase.
func NewSchema(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := sql.Open("pgx", AdminURL())
	if err != nil {
		t.Fatalf("PostgreSQL (%s): %v", AdminURL(), err)
	}
	defer admin.Close()
	var exists bool
	if err := admin.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, sharedDB).Scan(&exists); err != nil {
		t.Fatalf("PostgreSQL must run at %s for this test (trust auth; see README): %v", AdminURL(), err)
	}
	if !exists {
		// Another test process may make it at the same moment.
		if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+sharedDB+` TEMPLATE template0 ENCODING 'UTF8'`); err != nil && !strings.Contains(err.Error(), "42P04") {
			t.Fatalf("create %s: %v", sharedDB, err)
		}
	}
	u := withDatabase(AdminURL(), sharedDB)
	name := "t_" + randomName()
	if err := exec(ctx, u, `CREATE SCHEMA `+name); err != nil {
		t.Fatalf("create schema %s: %v", name, err)
	}
	t.Cleanup(func() { dropLater(t, u, `DROP SCHEMA `+name+` CASCADE`) })
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	return u + sep + "search_path=" + name
}

func randomName() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// exec runs one statement on its own connection to url.
func exec(ctx context.Context, url, stmt string) error {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, stmt)
	return err
}

// dropLater runs a test's drop statement at its end.
func dropLater(t testing.TB, url, stmt string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := exec(ctx, url, stmt); err != nil {
		t.Errorf("%s: %v", stmt, err)
	}
}

// withDatabase replaces the database name in a postgres:// URL.
func withDatabase(url, name string) string {
	q := ""
	if i := strings.IndexByte(url, '?'); i >= 0 {
		url, q = url[:i], url[i:]
	}
	if i := strings.LastIndexByte(url, '/'); i > len("postgres://") {
		url = url[:i]
	}
	return url + "/" + name + q
}

// StoreEnv names the environment variable that runs the county's store
// suite on PostgreSQL: `STATIONSYNC_TEST_STORE=postgres go test ./server/...`
// (make test runs the suite both ways).
const StoreEnv = "STATIONSYNC_TEST_STORE"

// Postgres reports whether this test run puts the county store on
// PostgreSQL. Any value other than "postgres" or "" fails loudly rather
// than quietly testing SQLite under another name.
func Postgres() bool {
	switch v := os.Getenv(StoreEnv); v {
	case "", "sqlite":
		return false
	case "postgres":
		return true
	default:
		panic(StoreEnv + " must be sqlite or postgres, not " + v)
	}
}
