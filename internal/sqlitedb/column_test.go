package sqlitedb_test

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"testing/fstest"

	"stationsync/internal/sqlitedb"
)

// Column returns a column in order, and a value it cannot scan is an
// error, not a list that stops short.
func TestColumn(t *testing.T) {
	ctx := context.Background()
	db, err := sqlitedb.Open(ctx, filepath.Join(t.TempDir(), "c.db"), fstest.MapFS{"0001_t.sql": {Data: []byte(
		`CREATE TABLE t (n INTEGER PRIMARY KEY, v ANY) STRICT; INSERT INTO t VALUES (1, 10), (2, 20), (3, 'not a number'), (4, 40);`)}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got, err := sqlitedb.Column[int64](ctx, db.R, `SELECT v FROM t WHERE n <> 3 ORDER BY n`)
	if err != nil || !reflect.DeepEqual(got, []int64{10, 20, 40}) {
		t.Fatalf("got %v, %v", got, err)
	}
	if got, err := sqlitedb.Column[int64](ctx, db.R, `SELECT v FROM t ORDER BY n`); err == nil {
		t.Fatalf("a text among numbers gave %v and no error", got)
	}
	if got, err := sqlitedb.Column[string](ctx, db.R, `SELECT v FROM t WHERE n > 9`); err != nil || got != nil {
		t.Fatalf("no rows gave %v, %v", got, err)
	}
}

// Placeholders is the one spelling of a VALUES list both sides build
// statements with.
func TestPlaceholders(t *testing.T) {
	for n, want := range map[int]string{0: "", 1: "?", 3: "?, ?, ?"} {
		if got := sqlitedb.Placeholders(n); got != want {
			t.Errorf("Placeholders(%d) = %q, want %q", n, got, want)
		}
	}
}
