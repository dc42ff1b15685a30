package testsupport

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"stationsync/agent"
	"stationsync/internal/gen"
	"stationsync/internal/linkem"
	"stationsync/internal/pgdb/pgtest"
	"stationsync/internal/records"
	"stationsync/server"
)

// Quiet is a logger that drops everything.
var Quiet = slog.New(slog.DiscardHandler)

// CountyCode is the county of the in-process county.
const CountyCode = "340123"

// County is a county server in this process over real HTTP on 127.0.0.1
// and a real SQLite file. Stations reach it through Link, which a test can
// cut or slow down. When the test ends, the link and server are closed and
// the database passes integrity_check.
type County struct {
	Store *server.CountyStore
	Path  string // the database file
	// PG is the PostgreSQL database the county runs on instead, when the
	// run asks for it (pgtest.StoreEnv); Path is then unused.
	PG   string
	HTTP *httptest.Server // the server itself, without the link
	Link *linkem.Proxy    // what stations reach it through

	handler atomic.Pointer[http.Handler]
	closed  bool
	mu      sync.Mutex
	idle    map[net.Conn]bool // connections between requests
}

// NewCounty starts a county with a fresh database.
func NewCounty(t testing.TB) *County {
	t.Helper()
	c := &County{Path: filepath.Join(t.TempDir(), "county.db"), idle: map[net.Conn]bool{}}
	if pgtest.Postgres() {
		c.PG = pgtest.NewSchema(t)
	}
	c.open(t)
	c.HTTP = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*c.handler.Load()).ServeHTTP(w, r)
	}))
	c.HTTP.Config.ConnState = func(conn net.Conn, cs http.ConnState) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if cs == http.StateIdle {
			c.idle[conn] = true
		} else {
			delete(c.idle, conn)
		}
	}
	c.HTTP.Start()
	link, err := linkem.New(c.HTTP.Listener.Addr().String(), linkem.Options{})
	if err != nil {
		c.HTTP.Close()
		c.Store.Close()
		t.Fatal(err)
	}
	c.Link = link
	t.Cleanup(func() {
		link.Close()
		c.HTTP.Close()
		if c.closed {
			return
		}
		if err := c.Store.DB().IntegrityCheck(context.Background()); err != nil {
			t.Errorf("county: %v", err)
		}
		c.Store.Close()
	})
	return c
}

func (c *County) open(t testing.TB) {
	t.Helper()
	target := c.Path
	if c.PG != "" {
		target = c.PG
	}
	st, err := server.Open(context.Background(), target, filepath.Dir(c.Path), CountyCode)
	if err != nil {
		t.Fatal(err)
	}
	h := server.New(st, Quiet).NewHandler()
	c.Store = st
	c.handler.Store(&h)
}

// URL is the county's address through the link: what stations use.
func (c *County) URL() string { return c.Link.URL() }

// Handler is the handler serving requests now.
func (c *County) Handler() http.Handler { return *c.handler.Load() }

// SetHandler serves requests with h from now on (a county answering like
// an older build, a slow front, a counter).
func (c *County) SetHandler(h http.Handler) { c.handler.Store(&h) }

// Restart closes the county's database, lets fn do what it will with the
// file (nil: nothing), and opens it again behind the same address.
func (c *County) Restart(t testing.TB, fn func(path string)) {
	t.Helper()
	if fn != nil && c.PG != "" {
		t.Fatal("Restart with a change to the SQLite file, but the county is on PostgreSQL")
	}
	c.Store.Close()
	if fn != nil {
		fn(c.Path)
	}
	c.open(t)
}

// Code makes an enrolment code for a village.
func (c *County) Code(t testing.TB, village string) string {
	t.Helper()
	code, err := c.Store.CreateCode(context.Background(), village, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// LinkDown cuts every station off the county; LinkUp restores a clean
// link.
func (c *County) LinkDown() { c.Link.Set(linkem.Options{Down: true}) }

// LinkUp restores a clean link.
func (c *County) LinkUp() { c.Link.Set(linkem.Options{}) }

// CloseIdle closes the keep-alive connections that sit between requests,
// as a server's idle timeout or a NAT would, and says how many: through a
// slow-closing link the station learns of it only when the FIN arrives,
// and may send its next request into the dead connection first.
func (c *County) CloseIdle() int {
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

// Records returns the county's records of a kind (and village, if not "").
func (c *County) Records(t testing.TB, kind records.Kind, village string) []Record {
	t.Helper()
	return CountyRecords(t, c.Store, kind, village)
}

// CountyRecords reads the records of a kind (and village, if not "") from
// a county's store, with their histories.
func CountyRecords(t testing.TB, st *server.CountyStore, kind records.Kind, village string) []Record {
	t.Helper()
	got, err := st.Records(context.Background(), kind, village)
	if err != nil {
		t.Fatalf("county records: %v", err)
	}
	out := make([]Record, len(got))
	for i, r := range got {
		out[i] = FromWire(r)
	}
	return out
}

// Station is a station agent in this process with its own SQLite file.
// When the test ends its sync loop is stopped, its database passes
// integrity_check, and it is closed.
type Station struct {
	*agent.Agent
	Dir     string
	Village string // set by MustEnroll, or by the test

	cancel context.CancelFunc
	done   chan struct{}
	closed bool
}

// FastConfig is an agent that retries within a second and notices a dead
// link within two: a test's minutes stand for a station's days.
func FastConfig() agent.Config {
	return agent.Config{SyncInterval: 300 * time.Millisecond, RetryCap: time.Second, IdleTimeout: 2 * time.Second}
}

// OpenStation opens a station in dir (a fresh one when "") with cfg
// (Logger: Quiet unless set).
func OpenStation(t testing.TB, dir string, cfg agent.Config) *Station {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	cfg.DataDir = dir
	if cfg.Logger == nil {
		cfg.Logger = Quiet
	}
	a, err := agent.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return Adopt(t, a, dir)
}

// Adopt makes a Station of an agent opened elsewhere (from goroutines
// that cannot fail the test), shut when the test ends.
func Adopt(t testing.TB, a *agent.Agent, dir string) *Station {
	s := &Station{Agent: a, Dir: dir}
	t.Cleanup(func() { s.Shut(t) })
	return s
}

// NewStation opens a station in a fresh folder and enrols it for village
// at the in-process county.
func NewStation(t testing.TB, c *County, village string, cfg agent.Config) *Station {
	t.Helper()
	s := OpenStation(t, "", cfg)
	s.MustEnroll(t, c.URL(), c.Code(t, village), village)
	return s
}

// MustEnroll enrols the station at serverURL with code for village, and
// confirms the county for records made before, as the cadre does on the
// pages.
func (s *Station) MustEnroll(t testing.TB, serverURL, code, village string) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.Enroll(ctx, serverURL, code); err != nil {
		t.Fatalf("enroll: %v", err)
	}
	if err := s.ConfirmEnrollment(ctx); err != nil && !errors.Is(err, agent.ErrNothingToConfirm) {
		t.Fatalf("confirm enrolment: %v", err)
	}
	s.Village = village
}

// Start runs the agent's own sync loop until Halt.
func (s *Station) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan struct{})
	go func() { defer close(s.done); s.Run(ctx) }()
}

// Halt stops the sync loop Start began and waits for it.
func (s *Station) Halt() {
	if s.cancel != nil {
		s.cancel()
		<-s.done
		s.cancel = nil
	}
}

// Shut stops the station now (a power cut, a restore, the end of a
// test): it halts the loop, checks the database's integrity and closes
// it; later calls do nothing.
func (s *Station) Shut(t testing.TB) {
	if s.closed {
		return
	}
	s.Halt()
	if err := s.Store.DB().IntegrityCheck(context.Background()); err != nil {
		t.Errorf("station %s: %v", s.Dir, err)
	}
	s.Close()
}

// Close halts the sync loop and closes the agent, once; the cleanup then
// leaves the station alone.
func (s *Station) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	s.Halt()
	return s.Agent.Close()
}

// MustSave saves a record as 测试员 and returns its id.
func (s *Station) MustSave(t testing.TB, kind records.Kind, id string, f records.Fields) string {
	t.Helper()
	id, err := s.Store.Save(context.Background(), kind, id, f, "测试员")
	if err != nil {
		t.Fatalf("save %s: %v", kind, err)
	}
	return id
}

// AddPeople records n persons of village with two visits each; it
// returns the ids.
func (s *Station) AddPeople(t testing.TB, g *gen.Generator, village string, n int) (persons, visits []string) {
	t.Helper()
	for range n {
		pid := s.MustSave(t, records.Person, "", Fields(g.Person(village)))
		persons = append(persons, pid)
		for j := range 2 {
			visits = append(visits, s.MustSave(t, records.Visit, "", Fields(g.Visit(pid, time.Now().AddDate(0, 0, -j)))))
		}
	}
	return persons, visits
}

// MustSync runs one sync round and fails the test if it fails.
func (s *Station) MustSync(t testing.TB) agent.SyncResult {
	t.Helper()
	res, err := s.SyncOnce(context.Background())
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	return res
}

// Pending is the number of changes in the outbox.
func (s *Station) Pending(t testing.TB) int {
	t.Helper()
	n, err := s.Store.Pending(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Records returns the station's records of a kind, with histories.
func (s *Station) Records(t testing.TB, kind records.Kind) []Record {
	t.Helper()
	return StationRecords(t, s.Agent, kind)
}

// StationRecords reads the records of a kind from a station in this
// process, with the applications' histories.
func StationRecords(t testing.TB, a *agent.Agent, kind records.Kind) []Record {
	t.Helper()
	ctx := context.Background()
	local, err := a.Store.List(ctx, kind)
	if err != nil {
		t.Fatalf("station list: %v", err)
	}
	out := make([]Record, len(local))
	for i, l := range local {
		out[i] = Record{Kind: l.Kind, ID: l.ID, Village: l.Village, CreatedBy: l.CreatedBy, Rev: l.ServerRev, Fields: l.Fields}
		if kind == records.Application {
			h, err := a.Store.History(ctx, l.ID)
			if err != nil {
				t.Fatalf("station history: %v", err)
			}
			for _, e := range h {
				out[i].History = append(out[i].History, e.Op)
			}
		}
	}
	return out
}

// Settle syncs every station until a round ends clean twice in a row over
// all of them (so that decisions pulled by one round are seen), or fails
// the test after timeout.
func Settle(t testing.TB, stations []*Station, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	clean := 0
	said := ""
	for clean < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("sync did not settle in %s", timeout)
		}
		var mu sync.Mutex
		var lastErr error
		var wg sync.WaitGroup
		sem := make(chan struct{}, 8)
		for _, s := range stations {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				if _, err := s.SyncOnce(ctx); err != nil {
					mu.Lock()
					lastErr = err
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if lastErr == nil {
			clean++
			continue
		}
		clean = 0
		if msg := lastErr.Error(); msg != said {
			t.Logf("settling: %v", lastErr)
			said = msg
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// NewLink starts a link emulator in front of target (host:port), closed
// when the test ends.
func NewLink(t testing.TB, target string, opts linkem.Options) *linkem.Proxy {
	t.Helper()
	px, err := linkem.New(target, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { px.Close() })
	return px
}

// DBPath is the station's database file.
func (s *Station) DBPath() string { return filepath.Join(s.Dir, "station.db") }

// AssertConverged fails the test now unless the station holds exactly the
// county's records of village, every kind, field for field
// (CompareStation).
func AssertConverged(t testing.TB, c *County, s *Station, village string) {
	t.Helper()
	var diffs []string
	for _, k := range records.Kinds {
		diffs = append(diffs, CompareStation(village, c.Records(t, k, village), s.Records(t, k))...)
	}
	if len(diffs) > 0 {
		Report(t, diffs)
		t.FailNow()
	}
}
