package chaos

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"stationsync/agent"
	"stationsync/internal/testproc"
	"stationsync/server"
)

// ---- an in-process county ----

type inCounty struct {
	store *server.SQLiteStore
	http  *httptest.Server
	path  string

	mu   sync.Mutex
	idle map[net.Conn]bool // connections between requests
}

func newInCounty(t *testing.T) *inCounty {
	t.Helper()
	path := filepath.Join(t.TempDir(), "county.db")
	st, err := server.OpenSQLite(context.Background(), path, "340123")
	if err != nil {
		t.Fatal(err)
	}
	c := &inCounty{store: st, path: path, idle: map[net.Conn]bool{}}
	c.http = httptest.NewUnstartedServer(server.New(st, quiet).Handler())
	c.http.Config.ConnState = func(conn net.Conn, cs http.ConnState) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if cs == http.StateIdle {
			c.idle[conn] = true
		} else {
			delete(c.idle, conn)
		}
	}
	c.http.Start()
	t.Cleanup(func() {
		c.http.Close()
		c.store.Close()
	})
	return c
}

func (c *inCounty) addr() string { return c.http.Listener.Addr().String() }

// closeIdle closes the keep-alive connections that sit between requests,
// as a server's idle timeout or a NAT would, and says how many: through a
// slow-closing link the station learns of it only when the FIN arrives,
// and may send its next request into the dead connection first.
func (c *inCounty) closeIdle() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for conn := range c.idle {
		conn.Close()
		delete(c.idle, conn)
		n++
	}
	return n
}

func (c *inCounty) code(t *testing.T, village string) string {
	t.Helper()
	code, err := c.store.CreateCode(context.Background(), village, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// ---- a county-server process ----

type procCounty struct {
	t    *testing.T
	data string
	addr string
	log  string
	p    *testproc.Proc
	env  []string
}

func newProcCounty(t *testing.T) *procCounty {
	dir := t.TempDir()
	return &procCounty{t: t, data: filepath.Join(dir, "county"), addr: freeAddr(t), log: filepath.Join(dir, "county-server.log")}
}

func (c *procCounty) dbPath() string { return filepath.Join(c.data, "county.db") }

// codes makes enrolment codes directly in the county's database, which
// the server process may have open.
func (c *procCounty) codes(t *testing.T, villages []string) []string {
	t.Helper()
	if err := os.MkdirAll(c.data, 0o700); err != nil {
		t.Fatal(err)
	}
	st, err := server.OpenSQLite(context.Background(), c.dbPath(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	out := make([]string, len(villages))
	for i, v := range villages {
		if out[i], err = st.CreateCode(context.Background(), v, 24*time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// start starts the server (with extra environment, e.g. failpoints) and
// waits until it answers.
func (c *procCounty) start(env ...string) {
	c.t.Helper()
	for attempt := 0; attempt < 50; attempt++ {
		c.p = start(c.t, c.log, env, bin.server, "serve", "--data", c.data, "--listen", c.addr)
		if c.p.WaitHealthy("http://"+c.addr, 15*time.Second) == nil {
			return
		}
		c.p.Kill()
		time.Sleep(100 * time.Millisecond) // the port of the killed one
	}
	c.t.Fatalf("county server did not come up\n%s", tail(c.log, 20))
}

// open opens the county's database in this process, for checks, once the
// server has stopped.
func (c *procCounty) open(t *testing.T) *server.SQLiteStore {
	t.Helper()
	st, err := server.OpenSQLite(context.Background(), c.dbPath(), "")
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// settleAndVerify lets the station finish syncing, stops the county and
// checks both sides against the oracle and SQLite's integrity check; the
// station is closed afterwards.
func (c *procCounty) settleAndVerify(t *testing.T, s *station, o *oracle, timeout time.Duration) tally {
	t.Helper()
	settle(t, []*station{s}, timeout)
	c.p.Stop()
	cs := c.open(t)
	defer cs.Close()
	tl := verify(t, cs, []*agent.Agent{s.Agent}, o)
	s.Close()
	checkIntegrity(t, filepath.Join(s.dir, "station.db"), c.dbPath())
	return tl
}

// ---- in-process stations ----

type station struct {
	*agent.Agent
	dir     string
	village string
	cancel  context.CancelFunc
	done    chan struct{}
}

func openStation(t *testing.T, dir string, cfg agent.Config) *station {
	t.Helper()
	cfg.DataDir = dir
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	a, err := agent.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &station{Agent: a, dir: dir}
}

// fastCfg is an agent that retries within a second and notices a dead
// link within two: a test's minutes stand for a station's days.
func fastCfg() agent.Config {
	return agent.Config{SyncInterval: 300 * time.Millisecond, RetryCap: time.Second, IdleTimeout: 2 * time.Second}
}

// run starts the agent's own sync loop.
func (s *station) run() {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan struct{})
	go func() { defer close(s.done); s.Run(ctx) }()
}

func (s *station) halt() {
	if s.cancel != nil {
		s.cancel()
		<-s.done
		s.cancel = nil
	}
}

// store adapts a Store to the driver's saver.
type store struct{ *agent.Store }

// settle syncs every station until each round ends clean twice in a row
// over all stations (so that decisions pulled by one round are seen), or
// fails the test after timeout.
func settle(t *testing.T, stations []*station, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	clean := 0
	said := ""
	for clean < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("sync did not settle in %s", timeout)
		}
		ok := true
		var mu sync.Mutex
		var wg sync.WaitGroup
		sem := make(chan struct{}, 8)
		var lastErr error
		for _, s := range stations {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				_, err := s.SyncOnce(ctx)
				if err != nil {
					mu.Lock()
					ok, lastErr = false, err
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if ok {
			clean++
		} else {
			clean = 0
			if msg := lastErr.Error(); msg != said {
				t.Logf("settling: %v", lastErr)
				said = msg
			}
			time.Sleep(300 * time.Millisecond)
		}
	}
}

func agentsOf(ss []*station) []*agent.Agent {
	out := make([]*agent.Agent, len(ss))
	for i, s := range ss {
		out[i] = s.Agent
	}
	return out
}

// integrity runs PRAGMA integrity_check on a SQLite file no process is
// writing, and returns an error unless it says ok.
func integrity(path string) error {
	db, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=10000")
	if err != nil {
		return err
	}
	defer db.Close()
	var res string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&res); err != nil {
		return err
	}
	if res != "ok" {
		return errors.New(path + ": " + res)
	}
	return nil
}

func checkIntegrity(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if err := integrity(p); err != nil {
			t.Errorf("integrity_check: %v", err)
		}
	}
}
