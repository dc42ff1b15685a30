package sqlitedb_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"stationsync/internal/sqlitedb"
)

// With background checkpoints the writer's commits leave the WAL alone and
// the checkpointer copies it into the database file by itself.
func TestBackgroundCheckpoints(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "county.db")
	db, err := sqlitedb.Open(ctx, path, fstest.MapFS{"0001_t.sql": {Data: []byte(`CREATE TABLE t (v TEXT NOT NULL) STRICT;`)}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.BackgroundCheckpoints(); err != nil {
		t.Fatal(err)
	}
	var auto int
	if err := db.W.QueryRow(`PRAGMA wal_autocheckpoint`).Scan(&auto); err != nil || auto != 0 {
		t.Fatalf("writer's wal_autocheckpoint = %d (%v), want 0", auto, err)
	}
	before := fileSize(t, path)
	// 8 MiB: far past the 1,000 pages at which SQLite would have
	// checkpointed inside the commit.
	row := strings.Repeat("村", 1365)
	for range 2 {
		err := db.Tx(ctx, func(tx *sql.Tx) error {
			for range 1000 {
				if _, err := tx.Exec(`INSERT INTO t (v) VALUES (?)`, row); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for fileSize(t, path) < before+7<<20 {
		if time.Now().After(deadline) {
			t.Fatalf("database file is %d bytes 10 s after the commits: the WAL was never checkpointed", fileSize(t, path))
		}
		time.Sleep(20 * time.Millisecond)
	}
	var n int
	if err := db.R.QueryRow(`SELECT count(*) FROM t`).Scan(&n); err != nil || n != 2000 {
		t.Fatalf("reader sees %d rows (%v), want 2000", n, err)
	}
	if err := db.IntegrityCheck(ctx); err != nil {
		t.Fatal(err)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
