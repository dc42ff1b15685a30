package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"stationsync/internal/pgdb/pgtest"
	"stationsync/internal/testsupport"
	"stationsync/server"
)

// runMain runs one county-server command and returns its output, error
// output and exit code.
func runMain(ctx context.Context, stdin string, args ...string) (string, string, int) {
	var out, errb bytes.Buffer
	code := Main(ctx, args, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), code
}

// withPassword puts a password into a postgres:// URL. The test server
// trusts every local connection, so the password is ignored there; it is
// only what no output may show.
func withPassword(url, password string) string {
	return strings.Replace(url, "postgres@", "postgres:"+password+"@", 1)
}

// --db puts every command's store on PostgreSQL, $STATIONSYNC_DB is its
// default, and the data directory then holds no county.db.
func TestDBFlagPutsTheStoreOnPostgres(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	dir := t.TempDir()
	out, errb, code := runMain(ctx, "", "station", "add", "--db", url, "--data", dir, "--village", "340123101201")
	if code != 0 {
		t.Fatalf("station add --db: exit %d %s", code, errb)
	}
	if strings.TrimSpace(out) == "" {
		t.Fatal("station add printed no code")
	}
	t.Setenv("STATIONSYNC_DB", url)
	if _, errb, code := runMain(ctx, "", "station", "add", "--data", dir, "--village", "340123101202"); code != 0 {
		t.Fatalf("station add with $STATIONSYNC_DB: exit %d %s", code, errb)
	}
	if out, errb, code := runMain(ctx, "", "records", "--kind", "person", "--data", dir); code != 0 || strings.TrimSpace(out) != "[]" {
		t.Fatalf("records: exit %d %q %s", code, out, errb)
	}
	if _, err := os.Stat(filepath.Join(dir, "county.db")); !os.IsNotExist(err) {
		t.Errorf("county.db made in the data directory with --db (stat: %v)", err)
	}

	st, err := server.OpenPostgres(ctx, url, dir, "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var codes int
	if err := st.DB().R.QueryRowContext(ctx, `SELECT count(*) FROM enrol_codes`).Scan(&codes); err != nil || codes != 2 {
		t.Errorf("enrolment codes on PostgreSQL: %d, %v; want the two made", codes, err)
	}

	// An empty --db is SQLite in --data, as before, whatever the
	// environment says.
	if _, errb, code := runMain(ctx, "", "station", "list", "--db", "", "--data", dir); code != 0 {
		t.Fatalf("station list --db '': exit %d %s", code, errb)
	}
	if _, err := os.Stat(filepath.Join(dir, "county.db")); err != nil {
		t.Errorf("--db '' did not use SQLite in --data: %v", err)
	}
	// Anything else is a mistake, not a file name.
	if _, errb, code := runMain(ctx, "", "station", "list", "--db", "county.db", "--data", dir); code == 0 || !strings.Contains(errb, "postgres://") {
		t.Errorf("--db county.db: exit %d %q; want a refusal naming postgres://", code, errb)
	}
}

// The usage names --db and the environment variable.
func TestDBUsage(t *testing.T) {
	out, _, _ := runMain(context.Background(), "", "help")
	for _, s := range []string{"--db", "STATIONSYNC_DB", "migrate-db"} {
		if !strings.Contains(out, s) {
			t.Errorf("usage lacks %q", s)
		}
	}
}

// doctor on PostgreSQL names the engine and the migrations applied, never
// the password, and makes no county.db.
func TestDoctorDBOnPostgres(t *testing.T) {
	ctx := context.Background()
	url := withPassword(pgtest.NewDatabase(t), "s3cret-pw")
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	// Before the first start: no tables yet.
	out, code := runDoctor(t, "--db", url, "--data", dir, "--listen", "127.0.0.1:1")
	mustLines(t, out, "! 数据库：PostgreSQL", "还没有县里的表")
	st, err := server.OpenPostgres(ctx, url, dir, "")
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	out, code = runDoctor(t, "--db", url, "--data", dir, "--listen", "127.0.0.1:1")
	mustLines(t, out, "✔ 数据库：PostgreSQL", "已应用全部", "个迁移", "0 名关爱对象")
	if strings.Contains(out, "s3cret-pw") {
		t.Errorf("doctor printed the password:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "county.db")); !os.IsNotExist(err) {
		t.Errorf("doctor --db made county.db (stat: %v)", err)
	}
	if code == 0 {
		t.Errorf("doctor exited 0 with no server at its address:\n%s", out)
	}
}

// Two servers on one PostgreSQL database and one data directory (as on
// two machines sharing it) both serve and are ready; each writes its own
// log, logs/HOST_PORT/county-server.log — one rotated file written by two processes would lose
// lines at each rotation — and neither logs the password.
func TestServeDBTwoServersShareTheDataDirectory(t *testing.T) {
	url := withPassword(pgtest.NewDatabase(t), "s3cret-pw")
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type server struct {
		addr   string
		stderr *lockedBuffer
		served chan int
	}
	var servers []server
	for range 2 {
		s := server{addr: testsupport.FreeAddr(t), stderr: &lockedBuffer{}, served: make(chan int, 1)}
		go func(args []string) {
			s.served <- Main(ctx, args, strings.NewReader(""), io.Discard, s.stderr)
		}([]string{"serve", "--db", url, "--data", dir, "--listen", s.addr})
		waitUp(t, "http://"+s.addr+"/readyz", s.served, s.stderr)
		servers = append(servers, s)
	}
	cancel()
	for _, s := range servers {
		select {
		case code := <-s.served:
			if code != 0 {
				t.Errorf("serve exited %d: %s", code, s.stderr.String())
			}
		case <-time.After(30 * time.Second):
			t.Fatal("serve did not stop")
		}
	}
	if _, err := os.Stat(filepath.Join(dir, serviceName+".log")); !os.IsNotExist(err) {
		t.Errorf("a server on PostgreSQL logged into the shared %s.log (stat: %v)", serviceName, err)
	}
	host, _ := os.Hostname()
	for _, s := range servers {
		_, port, _ := net.SplitHostPort(s.addr)
		b, err := os.ReadFile(filepath.Join(dir, "logs", host+"_"+port, serviceName+".log"))
		if err != nil {
			t.Errorf("%s's own log: %v", host, err)
			continue
		}
		if !strings.Contains(string(b), "county server listening") || !strings.Contains(string(b), "postgres") {
			t.Errorf("%s's log lacks the start and the database:\n%s", host, b)
		}
		if strings.Contains(string(b), "s3cret-pw") {
			t.Errorf("%s's log holds the password", host)
		}
	}
}
