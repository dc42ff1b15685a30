package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"stationsync/internal/gen"
	"stationsync/internal/hlc"
	"stationsync/internal/pgdb/pgtest"
	"stationsync/internal/records"
	"stationsync/server"
	"stationsync/syncproto"
)

const (
	migVillage = "340123101202"
	migPass    = "correct horse battery"
	migPerson  = "0123456789abcdef"
	migVisit   = "1123456789abcdef"
	migPhoto   = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

// countyView is what the county's users and stations see of a store: the
// merged records, stations, accounts, audit log, refused changes and
// conflicts. Two stores that show the same view hold the same county.
type countyView struct {
	Records   map[records.Kind][]syncproto.Record
	Stations  []server.Station
	Users     []server.User
	Audit     []server.AuditEntry
	Rejected  []server.Rejection
	Conflicts []syncproto.Conflict
}

func viewOf(t *testing.T, st *server.CountyStore) countyView {
	t.Helper()
	ctx := context.Background()
	v := countyView{Records: map[records.Kind][]syncproto.Record{}}
	var err error
	for _, k := range records.Kinds {
		if v.Records[k], err = st.Records(ctx, k, ""); err != nil {
			t.Fatalf("records %s: %v", k, err)
		}
	}
	if v.Stations, err = st.Stations(ctx); err != nil {
		t.Fatal(err)
	}
	if v.Users, err = st.Users(ctx); err != nil {
		t.Fatal(err)
	}
	if v.Audit, _, err = st.AuditLog(ctx, server.AuditFilter{Limit: 1000}); err != nil {
		t.Fatal(err)
	}
	if v.Rejected, err = st.Rejected(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if v.Conflicts, err = st.Conflicts(ctx, ""); err != nil {
		t.Fatal(err)
	}
	return v
}

// sqliteCounty is a county that has worked on SQLite for a while: a
// station enrolled and pushed people, visits (one with a photo, whose
// file the county holds) and an application, edited a person (a second
// version), sent a change the merge refused; the county decided on the
// application; an admin account logged in. The station pulled what the
// county had; its cursor and feed epoch are returned with the view.
func sqliteCounty(t *testing.T) (dir string, stn *server.Station, cursor int64, epoch string, view countyView) {
	t.Helper()
	ctx := context.Background()
	st, stn, dir := countyWithStation(t, migVillage)
	g := gen.New(7)
	p := g.Person(migVillage)
	visit := g.Visit(migPerson, time.Now().AddDate(0, 0, -3))
	visit["photos"] = []string{migPhoto}
	h := hlc.FromTime(time.Now().Add(-time.Hour))
	seq := uint64(0)
	push := func(changes ...syncproto.Change) *syncproto.PushResult {
		t.Helper()
		for i := range changes {
			seq++
			h++
			changes[i].Seq, changes[i].HLC, changes[i].By = seq, uint64(h), "李明"
		}
		res, err := st.Push(ctx, stn, &syncproto.Batch{Version: syncproto.Version, Station: stn.ID, Epoch: "e1", Village: migVillage, Changes: changes})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	res := push(
		syncproto.Change{Kind: "person", ID: migPerson, Op: string(records.OpUpsert), Fields: fieldsOf(p)},
		syncproto.Change{Kind: "visit", ID: migVisit, Op: string(records.OpUpsert), Fields: fieldsOf(visit)},
		syncproto.Change{Kind: "application", ID: "a1", Op: string(records.OpUpsert), Fields: fieldsOf(g.Application(migPerson, p))},
		syncproto.Change{Kind: "application", ID: "a1", Op: string(records.OpSubmit)},
	)
	for _, r := range res.Results {
		if r.Status != syncproto.Applied {
			t.Fatalf("push: %+v", res.Results)
		}
	}
	res = push(
		syncproto.Change{Kind: "person", ID: migPerson, Op: string(records.OpUpsert), Fields: fieldsOf(map[string]any{"phone": "13800000000"})},
		syncproto.Change{Kind: "application", ID: "a1", Op: string(records.OpApprove)}, // the county's to decide
	)
	if res.Results[0].Status != syncproto.Applied || res.Results[1].Status != syncproto.Rejected {
		t.Fatalf("second push: %+v", res.Results)
	}
	if _, err := st.DB().W.ExecContext(ctx, `INSERT INTO files (hash, size, type, station, received_at) VALUES (?, 3, 'image/jpeg', ?, ?)`,
		migPhoto, stn.ID, time.Now().UnixMilli()); err != nil {
		t.Fatal(err)
	}
	if err := st.Decide(ctx, server.Decision{ApplicationID: "a1", Op: records.OpAccept, By: "张华", Comment: "材料齐全"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateUser(ctx, server.NewUser{Username: "admin", DisplayName: "管理员", Role: server.RoleAdmin, Password: migPass}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.Login(ctx, server.LoginRequest{Username: "admin", Password: migPass, Remote: "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	for _, a := range [][2]string{{server.AuditUserCreate, "admin"}, {server.AuditLogin, ""}, {server.AuditExport, "persons"}} {
		if err := st.Audit(ctx, "admin", a[0], a[1], "", "127.0.0.1"); err != nil {
			t.Fatal(err)
		}
	}
	page, err := st.Pull(ctx, stn, 0, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Records) == 0 || page.More {
		t.Fatalf("station's pull on SQLite: %d records, more %v", len(page.Records), page.More)
	}
	view = viewOf(t, st)
	if len(view.Users) != 1 || len(view.Audit) < 3 || len(view.Rejected) != 1 {
		t.Fatalf("fixture: %d users, %d audit rows, %d refused changes", len(view.Users), len(view.Audit), len(view.Rejected))
	}
	for _, table := range []string{"record_versions", "record_files", "application_history", "sessions", "change_ids"} {
		if n := countRows(t, st.DB().R, table); n == 0 {
			t.Fatalf("fixture has no %s rows", table)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, stn, page.Next, page.FeedEpoch, view
}

func countRows(t *testing.T, db *sql.DB, table string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

func jsonOf(v any) string {
	b, _ := json.MarshalIndent(v, "", " ")
	return string(b)
}

// migrate-db moves a SQLite county into PostgreSQL whole: the view users
// and stations see is the same afterwards, the migrated password logs in,
// no trigger doubled a version or a file link, new rows get new ids, and
// the station's next pull goes on from its cursor in the same feed epoch,
// with only the change made since.
func TestMigrateDBMovesTheCounty(t *testing.T) {
	ctx := context.Background()
	dir, stn, cursor, epoch, want := sqliteCounty(t)
	src, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "county.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()

	url := withPassword(pgtest.NewDatabase(t), "s3cret-pw")
	// A server started on the new database once, before anyone thought of
	// migrating: its tables are there, and a feed epoch of its own, which
	// the county's must replace.
	pre, err := server.OpenPostgres(ctx, url, dir, "340123")
	if err != nil {
		t.Fatal(err)
	}
	pre.Close()

	out, errb, code := runMain(ctx, "", "migrate-db", "--from", "sqlite:"+filepath.Join(dir, "county.db"), "--to", url)
	if code != 0 {
		t.Fatalf("migrate-db: exit %d\n%s\n%s", code, out, errb)
	}
	if strings.Contains(out+errb, "s3cret-pw") {
		t.Errorf("migrate-db printed the password:\n%s%s", out, errb)
	}
	for _, table := range []string{"audit_log", "users", "meta", "persons", "record_versions", "files"} {
		if !strings.Contains(out, table) {
			t.Errorf("migrate-db's table lacks %s:\n%s", table, out)
		}
	}
	if strings.Contains(out, "✘") {
		t.Errorf("migrate-db reports a difference:\n%s", out)
	}

	pg, err := server.OpenPostgres(ctx, url, dir, "340123")
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	if got := viewOf(t, pg); jsonOf(got) != jsonOf(want) {
		t.Errorf("the county on PostgreSQL shows\n%s\nwant, as on SQLite,\n%s", jsonOf(got), jsonOf(want))
	}
	for _, table := range []string{"record_versions", "record_files", "change_ids", "station_epochs", "sessions", "application_history", "files", "meta"} {
		if s, p := countRows(t, src, table), countRows(t, pg.DB().R, table); s != p {
			t.Errorf("%s: %d rows on SQLite, %d on PostgreSQL", table, s, p)
		}
	}
	for _, key := range []string{"feed_epoch", "feed_seq", "hlc"} {
		var s, p string
		src.QueryRow(`SELECT value FROM meta WHERE key = ?`, key).Scan(&s)
		pg.DB().R.QueryRow(`SELECT value FROM meta WHERE key = ?`, key).Scan(&p)
		if s == "" || s != p {
			t.Errorf("meta %s: %q on SQLite, %q on PostgreSQL", key, s, p)
		}
	}

	var phc string
	if err := pg.DB().R.QueryRow(`SELECT password_hash FROM users WHERE username = 'admin'`).Scan(&phc); err != nil || !server.CheckPassword(phc, migPass) {
		t.Errorf("the migrated password hash does not check (%v)", err)
	}
	if _, token, err := pg.Login(ctx, server.LoginRequest{Username: "admin", Password: migPass, Remote: "127.0.0.1"}); err != nil || token == "" {
		t.Errorf("login with the migrated password: %v", err)
	}
	if _, _, err := pg.Login(ctx, server.LoginRequest{Username: "admin", Password: "wrong password!", Remote: "127.0.0.1"}); err == nil {
		t.Error("a wrong password logged in")
	}
	// Identity columns go on after the copied ids.
	if err := pg.Audit(ctx, "admin", server.AuditExport, "visits", "", "127.0.0.1"); err != nil {
		t.Errorf("audit row after the migration: %v", err)
	}

	if err := pg.Decide(ctx, server.Decision{ApplicationID: "a1", Op: records.OpReview, By: "张华"}); err != nil {
		t.Fatal(err)
	}
	pst, err := pg.Station(ctx, stn.ID)
	if err != nil {
		t.Fatal(err)
	}
	page, err := pg.Pull(ctx, pst, cursor, epoch, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if page.Reset || page.FeedEpoch != epoch {
		t.Errorf("pull after the migration: reset %v, feed epoch %q; want %q going on", page.Reset, page.FeedEpoch, epoch)
	}
	if len(page.Records) != 1 || page.Records[0].ID != "a1" || page.Next <= cursor {
		t.Errorf("pull after the migration from %d: %d records (%s), next %d; want only a1's review", cursor, len(page.Records), jsonOf(page.Records), page.Next)
	}
}

// A target with any county row is refused with nothing written to it.
func TestMigrateDBRefusesANonEmptyTarget(t *testing.T) {
	ctx := context.Background()
	dir, _, _, _, _ := sqliteCounty(t)
	url := pgtest.NewDatabase(t)
	if _, errb, code := runMain(ctx, "", "station", "add", "--db", url, "--data", t.TempDir(), "--village", "340123101201"); code != 0 {
		t.Fatalf("station add --db: exit %d %s", code, errb)
	}
	before := tableCounts(t, url)
	out, errb, code := runMain(ctx, "", "migrate-db", "--from", "sqlite:"+filepath.Join(dir, "county.db"), "--to", url)
	if code == 0 {
		t.Fatalf("migrate-db into a database in use: exit 0\n%s", out)
	}
	if !strings.Contains(errb, "不是空的") || !strings.Contains(errb, "enrol_codes") {
		t.Errorf("refusal: %q; want it to say the target is not empty and where", errb)
	}
	if after := tableCounts(t, url); jsonOf(after) != jsonOf(before) {
		t.Errorf("refused migration wrote: before %v, after %v", before, after)
	}
}

// tableCounts is each county table's row count in the PostgreSQL
// database at url.
func tableCounts(t *testing.T, url string) map[string]int {
	t.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	out := map[string]int{}
	for _, n := range tables {
		out[n] = countRows(t, db, `"`+n+`"`)
	}
	return out
}

// A --from that is not a county's SQLite database is refused before the
// target is touched.
func TestMigrateDBRefusesABadSource(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.txt")
	os.WriteFile(text, []byte("not a database\n"), 0o600)
	other := filepath.Join(dir, "other.db")
	odb, err := sql.Open("sqlite3", other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := odb.Exec(`CREATE TABLE things (id INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	odb.Close()
	for _, from := range []string{
		"sqlite:" + filepath.Join(dir, "missing.db"),
		"sqlite:" + text,
		"sqlite:" + other,
		url,
		"",
	} {
		out, errb, code := runMain(ctx, "", "migrate-db", "--from", from, "--to", url)
		if code == 0 || !strings.Contains(errb, "错误") || !strings.Contains(errb, "--from") {
			t.Errorf("--from %q: exit %d, %q %q; want a refusal naming --from", from, code, out, errb)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "missing.db")); !os.IsNotExist(err) {
		t.Errorf("migrate-db made the missing source (stat: %v)", err)
	}
	if counts := tableCounts(t, url); len(counts) != 0 {
		t.Errorf("a refused migration made tables in the target: %v", counts)
	}
	// And a --to that is not PostgreSQL.
	if _, errb, code := runMain(ctx, "", "migrate-db", "--from", "sqlite:"+other, "--to", filepath.Join(dir, "x.db")); code == 0 || !strings.Contains(errb, "--to") {
		t.Errorf("--to a file: exit %d %q", code, errb)
	}
}

// The content hash tells NULL, the empty string and 0 apart, and rows apart from their
// neighbours' values: a copy that turned one into another would match
// otherwise.
func TestMigrateDBHashTellsValuesApart(t *testing.T) {
	rows := [][]any{
		{nil}, {""}, {int64(0)}, {"0"}, {[]byte{}}, {[]byte("0")},
		{"a", "b"}, {"ab", ""}, {"a\x1fb"}, {int64(12), int64(3)}, {int64(1), int64(23)},
	}
	seen := map[string]int{}
	for i, r := range rows {
		h := sha256.New()
		hashRow(h, r)
		s := hex.EncodeToString(h.Sum(nil))
		if j, ok := seen[s]; ok {
			t.Errorf("rows %v and %v hash alike", rows[j], r)
		}
		seen[s] = i
	}
}

// BenchmarkMigrateDB times migrate-db on a county of MIGRATE_BENCH_N
// (default 100,000) people, as many visits (each with a photo, so as many
// record_files rows) and as many audit rows, copied by SQL from one real
// person and visit: `go test ./cmd/county-server -run - -bench MigrateDB
// -benchtime 1x`.
func BenchmarkMigrateDB(b *testing.B) {
	ctx := context.Background()
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("MIGRATE_BENCH_N")); err == nil && v > 0 {
		n = v
	}
	dir := b.TempDir()
	st, err := server.OpenSQLite(ctx, filepath.Join(dir, "county.db"), "340123")
	if err != nil {
		b.Fatal(err)
	}
	code, err := st.CreateCode(ctx, migVillage, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	stn, err := st.Enroll(ctx, code, make([]byte, 32), "pc-1", "test")
	if err != nil {
		b.Fatal(err)
	}
	g := gen.New(7)
	p := g.Person(migVillage)
	visit := g.Visit(migPerson, time.Now().AddDate(0, 0, -3))
	visit["photos"] = []string{migPhoto}
	h := uint64(hlc.FromTime(time.Now().Add(-time.Hour)))
	res, err := st.Push(ctx, stn, &syncproto.Batch{Version: syncproto.Version, Station: stn.ID, Epoch: "e1", Village: migVillage, Changes: []syncproto.Change{
		{Seq: 1, HLC: h + 1, Kind: "person", ID: migPerson, Op: string(records.OpUpsert), Fields: fieldsOf(p), By: "李明"},
		{Seq: 2, HLC: h + 2, Kind: "visit", ID: migVisit, Op: string(records.OpUpsert), Fields: fieldsOf(visit), By: "李明"},
	}})
	if err != nil || res.Results[1].Status != syncproto.Applied {
		b.Fatalf("push: %v %+v", err, res)
	}
	db := st.DB().W
	copies := func(table, id string) {
		cols, err := queryStrings(ctx, db, `SELECT name FROM pragma_table_info(?) ORDER BY cid`, table)
		if err != nil {
			b.Fatal(err)
		}
		sel := make([]string, len(cols))
		for i, c := range cols {
			sel[i] = c
			switch c {
			case "id":
				sel[i] = `printf('%016x', x)`
			case "feed_seq":
				sel[i] = `feed_seq + x`
			}
		}
		q := `WITH RECURSIVE c(x) AS (SELECT 1000 UNION ALL SELECT x + 1 FROM c WHERE x < 999 + ?)
			INSERT INTO ` + table + ` SELECT ` + strings.Join(sel, ", ") + ` FROM ` + table + `, c WHERE id = ?`
		if _, err := db.ExecContext(ctx, q, n-1, id); err != nil {
			b.Fatal(err)
		}
	}
	copies("persons", migPerson)
	copies("visits", migVisit)
	if _, err := db.ExecContext(ctx, `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?)
		INSERT INTO audit_log (at, username, action, target, detail, remote) SELECT 1700000000000 + x, 'admin', 'export', 'persons', '', '127.0.0.1' FROM c`, n); err != nil {
		b.Fatal(err)
	}
	// Move the feed counter past the copies, as merges would have.
	if _, err := db.ExecContext(ctx, `UPDATE meta SET value = (SELECT max(feed_seq) FROM visits) WHERE key = 'feed_seq'`); err != nil {
		b.Fatal(err)
	}
	total := 0
	tables, _ := sqliteTables(ctx, db)
	for _, t := range tables {
		var c int
		db.QueryRowContext(ctx, `SELECT count(*) FROM `+quoteIdent(t)).Scan(&c)
		total += c
	}
	st.Close()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		url := pgtest.NewDatabase(b)
		b.StartTimer()
		out, errb, code := runMain(ctx, "", "migrate-db", "--from", "sqlite:"+filepath.Join(dir, "county.db"), "--to", url)
		if code != 0 {
			b.Fatalf("migrate-db: exit %d\n%s\n%s", code, out, errb)
		}
	}
	b.ReportMetric(float64(total), "rows")
	b.ReportMetric(float64(total)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// A server already running on the (empty) target holds its own feed
// epoch in memory and would hand it to stations after the migration, so
// that every station started its pull over: migrate-db refuses while
// anything else is connected, and goes ahead once it has stopped.
func TestMigrateDBRefusesATargetInUse(t *testing.T) {
	ctx := context.Background()
	dir, _, _, epoch, _ := sqliteCounty(t)
	url := pgtest.NewDatabase(t)
	running, err := server.OpenPostgres(ctx, url, t.TempDir(), "340123")
	if err != nil {
		t.Fatal(err)
	}
	from := "sqlite:" + filepath.Join(dir, "county.db")
	out, errb, code := runMain(ctx, "", "migrate-db", "--from", from, "--to", url)
	if code == 0 || !strings.Contains(errb, "正在被") {
		t.Errorf("migrate-db beside a running server: exit %d %q %q; want a refusal", code, out, errb)
	}
	if n := tableCounts(t, url)["audit_log"]; n != 0 {
		t.Errorf("refused migration wrote %d audit rows", n)
	}
	running.Close()
	if out, errb, code := runMain(ctx, "", "migrate-db", "--from", from, "--to", url); code != 0 {
		t.Fatalf("migrate-db after the server stopped: exit %d\n%s\n%s", code, out, errb)
	}
	pg, err := server.OpenPostgres(ctx, url, t.TempDir(), "340123")
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	var got string
	pg.DB().R.QueryRow(`SELECT value FROM meta WHERE key = 'feed_epoch'`).Scan(&got)
	if got != epoch {
		t.Errorf("feed epoch after the migration %q, want the county's %q", got, epoch)
	}
}

// A copy that differs from the source in one value is caught by the
// check, shown in the table, and committed not at all.
func TestMigrateDBCheckCatchesADifference(t *testing.T) {
	ctx := context.Background()
	dir, _, _, _, _ := sqliteCounty(t)
	url := pgtest.NewDatabase(t)
	migrateAfterCopy = func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE audit_log SET detail = 'x' WHERE id = (SELECT min(id) FROM audit_log)`)
		return err
	}
	defer func() { migrateAfterCopy = nil }()
	out, errb, code := runMain(ctx, "", "migrate-db", "--from", "sqlite:"+filepath.Join(dir, "county.db"), "--to", url)
	if code == 0 {
		t.Fatalf("migrate-db with a changed row: exit 0\n%s", out)
	}
	var bad []string
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "✘") {
			bad = append(bad, strings.Fields(line)[0])
		}
	}
	if len(bad) != 1 || bad[0] != "audit_log" || !strings.Contains(errb, "不一致") {
		t.Errorf("tables marked different: %v; stderr %q\n%s", bad, errb, out)
	}
	for table, n := range tableCounts(t, url) {
		if n != 0 && table != "meta" && table != "schema_migrations" {
			t.Errorf("a migration that failed its check left %d rows in %s", n, table)
		}
	}
}
