package sqlitedb_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"stationsync/agent"
	"stationsync/internal/sqlitedb"
)

// testdata/station-prev.db was made by the previous release (commit
// 742d830: `station-agent demo --persons 40 --seed 7`): an unenrolled
// station with 141 changes waiting in its outbox, schema 0001 only.
const prevPending = 141

func copyFixture(t *testing.T) string {
	t.Helper()
	src, err := os.Open("testdata/station-prev.db")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	p := filepath.Join(t.TempDir(), "station.db")
	dst, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	dst.Close()
	return p
}

// migrationsWith is the agent's first, shipped migration plus extra ones.
func migrationsWith(t *testing.T, extra map[string]string) fs.FS {
	t.Helper()
	init, err := os.ReadFile("../../agent/migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	m := fstest.MapFS{"0001_init.sql": {Data: init}}
	for k, v := range extra {
		m[k] = &fstest.MapFile{Data: []byte(v)}
	}
	return m
}

func count(t *testing.T, db *sqlitedb.DB, q string) int {
	t.Helper()
	var n int
	if err := db.R.QueryRow(q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func TestUpgradeKeepsOutboxAndCopy(t *testing.T) {
	ctx := context.Background()
	p := copyFixture(t)
	db, err := sqlitedb.Open(ctx, p, migrationsWith(t, map[string]string{
		"0002_probe.sql": `CREATE TABLE probe (x INTEGER) STRICT; ALTER TABLE outbox ADD COLUMN probe_note TEXT;`,
	}))
	if err != nil {
		t.Fatal(err)
	}
	if got := count(t, db, `SELECT count(*) FROM outbox`); got != prevPending {
		t.Fatalf("outbox after upgrade = %d, want %d", got, prevPending)
	}
	db.Close()
	bak := p + ".before-0002_probe.sql.bak"
	if _, err := os.Stat(bak); err != nil {
		t.Fatalf("no copy before migrating: %v", err)
	}
	// The copy is the previous state: schema 0001, same outbox.
	old, err := sqlitedb.Open(ctx, bak, migrationsWith(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if got := count(t, old, `SELECT count(*) FROM outbox`); got != prevPending {
		t.Fatalf("outbox in copy = %d", got)
	}
	if got := count(t, old, `SELECT count(*) FROM schema_migrations`); got != 1 {
		t.Fatalf("copy has %d migrations, want 1", got)
	}
}

// A later migration fails after an earlier one of the same upgrade
// committed: the database comes back exactly as the previous version left
// it, and that version (and the real current one) opens it with every
// queued change still there.
func TestFailedUpgradeRestoresPreviousDatabase(t *testing.T) {
	ctx := context.Background()
	p := copyFixture(t)
	_, err := sqlitedb.Open(ctx, p, migrationsWith(t, map[string]string{
		"0002_probe.sql":  `CREATE TABLE probe (x INTEGER) STRICT; DELETE FROM outbox WHERE id % 2 = 0;`,
		"0003_broken.sql": `CREATE TABLE half (x INTEGER); INSERT INTO no_such_table VALUES (1);`,
	}))
	if err == nil || !strings.Contains(err.Error(), "0003_broken.sql") || !strings.Contains(err.Error(), "restored") {
		t.Fatalf("err = %v, want the failed migration named and the restore said", err)
	}
	for _, s := range []string{"-wal", "-shm", ".restore.tmp"} {
		if _, err := os.Stat(p + s); err == nil {
			t.Errorf("%s left behind", s)
		}
	}
	prev, err := sqlitedb.Open(ctx, p, migrationsWith(t, nil))
	if err != nil {
		t.Fatalf("previous version cannot open the restored database: %v", err)
	}
	if got := count(t, prev, `SELECT count(*) FROM outbox`); got != prevPending {
		t.Fatalf("outbox after restore = %d, want %d", got, prevPending)
	}
	if got := count(t, prev, `SELECT count(*) FROM sqlite_master WHERE name IN ('probe', 'half')`); got != 0 {
		t.Fatalf("tables of the failed upgrade survived the restore")
	}
	if err := prev.IntegrityCheck(ctx); err != nil {
		t.Fatal(err)
	}
	prev.Close()

	// The real, current agent then upgrades it and finds every change.
	st, err := agent.OpenStore(ctx, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if n, err := st.Pending(ctx); err != nil || n != prevPending {
		t.Fatalf("pending = %d, %v; want %d", n, err, prevPending)
	}
}

func TestNewerDatabaseRefused(t *testing.T) {
	ctx := context.Background()
	p := copyFixture(t)
	db, err := sqlitedb.Open(ctx, p, migrationsWith(t, map[string]string{"0002_future.sql": `CREATE TABLE future (x INTEGER);`}))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = sqlitedb.Open(ctx, p, migrationsWith(t, nil))
	if !errors.Is(err, sqlitedb.ErrNewerSchema) {
		t.Fatalf("err = %v, want ErrNewerSchema", err)
	}
}

func TestNewDatabaseNeedsNoCopy(t *testing.T) {
	p := filepath.Join(t.TempDir(), "new.db")
	db, err := sqlitedb.Open(context.Background(), p, migrationsWith(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if list, _ := filepath.Glob(p + ".before-*"); len(list) != 0 {
		t.Fatalf("copies of a new database: %v", list)
	}
}

func TestOldCopiesPruned(t *testing.T) {
	ctx := context.Background()
	p := copyFixture(t)
	extra := map[string]string{}
	for _, name := range []string{"0002_a.sql", "0003_b.sql", "0004_c.sql"} {
		extra[name] = `CREATE TABLE t` + name[:4] + ` (x INTEGER);`
		db, err := sqlitedb.Open(ctx, p, migrationsWith(t, extra))
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
	}
	list, _ := filepath.Glob(p + ".before-*.bak")
	if len(list) != 2 || !strings.Contains(strings.Join(list, " "), "0004_c") {
		t.Fatalf("copies kept: %v", list)
	}
}
