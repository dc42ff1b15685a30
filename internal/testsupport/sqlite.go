package testsupport

import (
	"database/sql"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3" // the driver the checks open files with
)

// OpenDB opens a SQLite file of a stopped or running process for reading.
// Read-only opening needs the -shm file of a live writer; a killed one's
// database is opened read-write, which replays its WAL exactly as the next
// start of the process would.
func OpenDB(t testing.TB, path string, readOnly bool) *sql.DB {
	t.Helper()
	dsn := "file:" + path + "?_busy_timeout=10000"
	if readOnly {
		dsn += "&mode=ro"
	}
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	db.SetMaxOpenConns(1)
	return db
}

// CheckIntegrity runs PRAGMA integrity_check and foreign_key_check on
// databases whose processes have stopped, failing the test unless both
// find nothing.
func CheckIntegrity(t testing.TB, paths ...string) {
	t.Helper()
	for _, path := range paths {
		db := OpenDB(t, path, false)
		var res string
		if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&res); err != nil {
			t.Errorf("integrity_check %s: %v", path, err)
		} else if res != "ok" {
			t.Errorf("integrity_check %s: %s", path, res)
		}
		rows, err := db.Query(`PRAGMA foreign_key_check`)
		if err != nil {
			t.Errorf("foreign_key_check %s: %v", path, err)
		} else {
			if rows.Next() {
				t.Errorf("foreign_key_check %s: violations found", filepath.Base(path))
			}
			rows.Close()
		}
		db.Close()
	}
}

// Seed returns the seed of a test: $env if set (to replay a failure),
// otherwise the clock. It is logged either way.
func Seed(t testing.TB, env string) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(env); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s: %v", env, err)
		}
		seed = n
	}
	t.Logf("seed %d (replay with %s=%d)", seed, env, seed)
	return seed
}
