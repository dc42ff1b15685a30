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
	admin, err := sql.Open("pgx", AdminURL())
	if err != nil {
		t.Fatalf("PostgreSQL (%s): %v", AdminURL(), err)
	}
	defer admin.Close()
	var b [6]byte
	rand.Read(b[:])
	name := "stationsync_t_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+name+` TEMPLATE template0 ENCODING 'UTF8'`); err != nil {
		t.Fatalf("PostgreSQL must run at %s for this test (trust auth; see README): %v", AdminURL(), err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := sql.Open("pgx", AdminURL())
		if err != nil {
			t.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer admin.Close()
		if _, err := admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	return withDatabase(AdminURL(), name)
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
