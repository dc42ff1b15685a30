//go:build !windows

package fileperm_test

import (
	"context"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"stationsync/agent"
	"stationsync/internal/fileperm"
	"stationsync/internal/logging"
	"stationsync/internal/records"
	"stationsync/internal/sqlitedb"
	"stationsync/server"
)

var quiet = slog.New(slog.DiscardHandler)

// checkPrivate fails for every file or folder under dir that a group or
// other account could read: the whole data folder, not a list of known
// names, so that a new file nobody thought of is caught too.
func checkPrivate(t *testing.T, dir string) (files int) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Error(err)
			return nil
		}
		st, _ := os.Lstat(p)
		perm := st.Mode().Perm()
		if perm&0o077 != 0 || d.IsDir() && perm != 0o700 {
			rel, _ := filepath.Rel(dir, p)
			t.Errorf("%s: mode %o", rel, perm)
		}
		if !d.IsDir() {
			files++
		}
		return nil
	})
	return files
}

// hasFiles fails unless dir holds a file of each suffix: the test must
// have made what it claims to check.
func hasFiles(t *testing.T, dir string, suffixes ...string) {
	t.Helper()
	var names []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, _ error) error {
		names = append(names, d.Name())
		return nil
	})
	all := strings.Join(names, " ")
	for _, s := range suffixes {
		if !strings.Contains(all, s) {
			t.Errorf("no %s in %s", s, all)
		}
	}
}

func rotatedLog(t *testing.T, path string) {
	t.Helper()
	l, err := logging.OpenRotating(path, 256, 3)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		l.Write([]byte("level=INFO msg=\"first account created\" name=李明\n"))
	}
	l.Close()
}

// Each side's data folder, after a fresh start, writes, a checkpoint, an
// upgrade that keeps a copy of the database, keys, config and rotated
// logs, holds nothing another account can read, under the common umask
// 022 that made SQLite's files 0644.
func TestDataFoldersPrivate(t *testing.T) {
	defer syscall.Umask(syscall.Umask(0o022))
	ctx := context.Background()

	t.Run("station", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "station")
		os.MkdirAll(dir, 0o700)
		// The previous schema, so that opening keeps a copy before migrating.
		old, err := sqlitedb.Open(ctx, filepath.Join(dir, "station.db"), sqlitedb.MigrationsThrough(os.DirFS("../../agent/migrations"), "0001_init.sql"))
		if err != nil {
			t.Fatal(err)
		}
		old.Close()
		a, err := agent.Open(ctx, agent.Config{DataDir: dir, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		if _, err := a.Store.Save(ctx, records.Person, "", records.Fields{"name": []byte(`"王秀英"`), "id_number": []byte(`"11010519491231002X"`), "categories": []byte(`["农村留守老年人"]`)}, "李明"); err != nil {
			t.Fatal(err)
		}
		if err := a.EnrollLater(ctx, "http://county.example:8870", "ABCDE-FGHJK"); err != nil { // writes station.key
			t.Fatal(err)
		}
		if err := agent.WriteConfigFile(filepath.Join(dir, agent.ConfigFileName), agent.DefaultConfig()); err != nil {
			t.Fatal(err)
		}
		rotatedLog(t, filepath.Join(dir, "station-agent.log"))
		if _, err := a.Store.Save(ctx, records.Person, "", records.Fields{"name": []byte(`"张三"`), "id_number": []byte(`"340123198005151233"`), "categories": []byte(`["空巢老人"]`)}, "李明"); err != nil {
			t.Fatal(err)
		}
		if err := a.Store.DB().Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
		hasFiles(t, dir, "station.db-wal", "station.db-shm", ".bak", "station.key", "config.json", "station-agent.log.1")
		if n := checkPrivate(t, dir); n < 8 {
			t.Errorf("only %d files checked", n)
		}
	})

	t.Run("county", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "county")
		os.MkdirAll(dir, 0o700)
		old, err := sqlitedb.Open(ctx, filepath.Join(dir, "county.db"), sqlitedb.MigrationsThrough(os.DirFS("../../server/migrations"), "0001_init.sql"))
		if err != nil {
			t.Fatal(err)
		}
		old.Close()
		st, err := server.OpenSQLite(ctx, filepath.Join(dir, "county.db"), "")
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if _, err := st.CreateCode(ctx, "340123101201", time.Hour); err != nil {
			t.Fatal(err)
		}
		if err := st.Audit(ctx, "admin", server.AuditLogin, "", "", "127.0.0.1"); err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Join(dir, "tls"), 0o700) // as county-server serve does
		if _, err := server.OwnCA(filepath.Join(dir, "tls"), []string{"127.0.0.1"}, time.Now()); err != nil {
			t.Fatal(err)
		}
		rotatedLog(t, filepath.Join(dir, "county-server.log"))
		if err := st.DB().Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
		hasFiles(t, dir, "county.db-wal", "county.db-shm", ".bak", "server.key", "server.pem", "county-server.log.1")
		if n := checkPrivate(t, dir); n < 8 {
			t.Errorf("only %d files checked", n)
		}
	})
}

// A data folder an older release left open (0755, files 0644) is closed
// when the station starts: the folder, the database and its WAL, the key,
// the config, the logs.
func TestOlderInstallClosedOnStart(t *testing.T) {
	defer syscall.Umask(syscall.Umask(0o022))
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "station")
	a, err := agent.Open(ctx, agent.Config{DataDir: dir, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.EnrollLater(ctx, "http://county.example:8870", "ABCDE-FGHJK"); err != nil {
		t.Fatal(err)
	}
	a.Close()
	agent.WriteConfigFile(filepath.Join(dir, agent.ConfigFileName), agent.DefaultConfig())
	rotatedLog(t, filepath.Join(dir, "station-agent.log"))
	os.Mkdir(filepath.Join(dir, "exports"), 0o755)
	os.WriteFile(filepath.Join(dir, "exports", "persons.csv"), []byte("王秀英,11010519491231002X\n"), 0o644)
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, _ error) error {
		if d.IsDir() {
			return os.Chmod(p, 0o755)
		}
		return os.Chmod(p, 0o644)
	})
	a, err = agent.Open(ctx, agent.Config{DataDir: dir, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	hasFiles(t, dir, "station.db-wal", "station.key", "config.json", "station-agent.log.1", "persons.csv")
	checkPrivate(t, dir)
	if err := fileperm.Dir(dir); err != nil {
		t.Fatal(err)
	}
}
