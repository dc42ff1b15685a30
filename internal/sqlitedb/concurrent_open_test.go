package sqlitedb_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"stationsync/agent"
	"stationsync/internal/sqlitedb"
	"stationsync/server"
)

// openHelperEnv makes the test binary, run as a child, open one database
// and exit: a real second process, with its own SQLite connections, as two
// station-agent processes started at once (an installer's first run beside
// a service's first start) would be.
const openHelperEnv = "SQLITEDB_OPEN_HELPER"

// TestHelperOpenProcess is not a test: it is the child of
// TestConcurrentOpenOfNewDirectory. It waits for its stdin to close (the
// start barrier), opens the store named by the environment and exits.
func TestHelperOpenProcess(t *testing.T) {
	spec := os.Getenv(openHelperEnv)
	if spec == "" {
		t.Skip("run as a child process only")
	}
	side, path, _ := strings.Cut(spec, ":")
	io.Copy(io.Discard, os.Stdin)
	ctx := context.Background()
	var err error
	switch side {
	case "station":
		var s *agent.Store
		if s, err = agent.OpenStore(ctx, path, time.Now); err == nil {
			err = s.Close()
		}
	case "county":
		var s *server.CountyStore
		if s, err = server.OpenSQLite(ctx, path, ""); err == nil {
			err = s.Close()
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "OPENFAIL %v\n", err)
		os.Exit(3)
	}
}

// Two to eight processes opening one brand-new data directory at the same
// moment all succeed, and the schema is applied exactly once: each
// migration is checked and applied in one BEGIN IMMEDIATE transaction, so
// the second process finds it done instead of running CREATE TABLE again
// ("table meta already exists").
func TestConcurrentOpenOfNewDirectory(t *testing.T) {
	rounds := 4
	if testing.Short() {
		rounds = 1
	}
	for _, side := range []string{"station", "county"} {
		t.Run(side, func(t *testing.T) {
			var failures []string
			total := 0
			for procs := 2; procs <= 8; procs++ {
				for r := 0; r < rounds; r++ {
					total++
					dir := t.TempDir()
					path := filepath.Join(dir, side+".db")
					if errs := openAtOnce(t, side, path, procs); len(errs) > 0 {
						failures = append(failures, fmt.Sprintf("%d processes: %s", procs, strings.Join(errs, "; ")))
						continue
					}
					checkAppliedOnce(t, side, path)
				}
			}
			if len(failures) > 0 {
				t.Errorf("%d of %d rounds had a process fail to open a new database:\n%s", len(failures), total, strings.Join(failures, "\n"))
			}
		})
	}
}

// openAtOnce starts procs children on path, releases them together and
// returns the errors of those that failed.
func openAtOnce(t *testing.T, side, path string, procs int) []string {
	t.Helper()
	type child struct {
		cmd   *exec.Cmd
		stdin io.WriteCloser
		out   bytes.Buffer
	}
	kids := make([]*child, procs)
	for i := range kids {
		c := &child{cmd: exec.Command(os.Args[0], "-test.run=^TestHelperOpenProcess$", "-test.count=1")}
		c.cmd.Env = append(os.Environ(), openHelperEnv+"="+side+":"+path)
		c.cmd.Stdout, c.cmd.Stderr = &c.out, &c.out
		var err error
		if c.stdin, err = c.cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
		if err := c.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		kids[i] = c
	}
	// Let every child reach its barrier (the Go runtime and the test
	// framework start in well under a second) before releasing them all.
	time.Sleep(300 * time.Millisecond)
	for _, c := range kids {
		c.stdin.Close()
	}
	var mu sync.Mutex
	var errs []string
	var wg sync.WaitGroup
	for _, c := range kids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.cmd.Wait(); err != nil {
				msg := c.out.String()
				if i := strings.Index(msg, "OPENFAIL "); i >= 0 {
					msg = strings.TrimSpace(strings.SplitN(msg[i+len("OPENFAIL "):], "\n", 2)[0])
				}
				mu.Lock()
				errs = append(errs, msg)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errs
}

// checkAppliedOnce opens the database once more and checks that each
// migration is recorded once and the file is sound.
func checkAppliedOnce(t *testing.T, side, path string) {
	t.Helper()
	ctx := context.Background()
	dir := map[string]string{"station": "../../agent/migrations", "county": "../../server/migrations"}[side]
	db, err := sqlitedb.Open(ctx, path, os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n, distinct int
	if err := db.R.QueryRow(`SELECT count(*), count(DISTINCT name) FROM schema_migrations`).Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	if n == 0 || n != distinct {
		t.Errorf("%s: %d migration rows, %d distinct", path, n, distinct)
	}
	if err := db.IntegrityCheck(ctx); err != nil {
		t.Error(err)
	}
}
