// Package integration tests a county server and station agents together,
// in one process, over real HTTP on 127.0.0.1 and real SQLite files.
package integration

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"stationsync/agent"
	"stationsync/internal/gen"
	"stationsync/internal/linkem"
	"stationsync/internal/records"
	"stationsync/server"
	"stationsync/syncproto"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type county struct {
	store   *server.SQLiteStore
	path    string
	handler atomic.Pointer[http.Handler]
	http    *httptest.Server
	link    *linkem.Proxy // stations reach the county through this link
}

func newCounty(t *testing.T) *county {
	t.Helper()
	c := &county{path: filepath.Join(t.TempDir(), "county.db")}
	c.open(t)
	c.http = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*c.handler.Load()).ServeHTTP(w, r)
	}))
	link, err := linkem.New(c.http.Listener.Addr().String(), linkem.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c.link = link
	t.Cleanup(func() {
		link.Close()
		c.http.Close()
		if err := c.store.DB().IntegrityCheck(context.Background()); err != nil {
			t.Errorf("county: %v", err)
		}
		c.store.Close()
	})
	return c
}

func (c *county) open(t *testing.T) {
	t.Helper()
	st, err := server.OpenSQLite(context.Background(), c.path, "340123")
	if err != nil {
		t.Fatal(err)
	}
	h := server.New(st, quiet).Handler()
	c.store = st
	c.handler.Store(&h)
}

// restart closes the county's database, lets fn do what it will with the
// file (nil: nothing), and opens it again behind the same address.
func (c *county) restart(t *testing.T, fn func(path string)) {
	t.Helper()
	c.store.Close()
	if fn != nil {
		fn(c.path)
	}
	c.open(t)
}

func (c *county) code(t *testing.T, village string) string {
	t.Helper()
	code, err := c.store.CreateCode(context.Background(), village, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// linkDown cuts every station off the county; linkUp restores it.
func (c *county) linkDown() { c.link.Set(linkem.Options{Down: true}) }
func (c *county) linkUp()   { c.link.Set(linkem.Options{}) }

type station struct {
	*agent.Agent
	dir    string
	closed bool
}

// shut closes the station early (a power cut, a restore); the cleanup
// then leaves it alone.
func (s *station) shut(t *testing.T) {
	s.close(t)
	s.closed = true
}

func openStation(t *testing.T, dir string, now func() time.Time) *station {
	t.Helper()
	return openStationCfg(t, dir, agent.Config{Now: now})
}

func openStationCfg(t *testing.T, dir string, cfg agent.Config) *station {
	t.Helper()
	cfg.DataDir, cfg.Logger = dir, quiet
	a, err := agent.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &station{Agent: a, dir: dir}
}

// newStation opens a station in a fresh folder and enrols it for village.
func newStation(t *testing.T, c *county, village string, now func() time.Time) *station {
	t.Helper()
	return newStationCfg(t, c, village, agent.Config{Now: now})
}

func newStationCfg(t *testing.T, c *county, village string, cfg agent.Config) *station {
	t.Helper()
	s := openStationCfg(t, t.TempDir(), cfg)
	t.Cleanup(func() { s.close(t) })
	if _, err := s.Enroll(context.Background(), c.link.URL(), c.code(t, village)); err != nil {
		t.Fatal(err)
	}
	return s
}

// newUnenrolledStation opens a station that records before it ever
// reached the county.
func newUnenrolledStation(t *testing.T, now func() time.Time) *station {
	t.Helper()
	return newUnenrolledStationCfg(t, agent.Config{Now: now})
}

func newUnenrolledStationCfg(t *testing.T, cfg agent.Config) *station {
	t.Helper()
	s := openStationCfg(t, t.TempDir(), cfg)
	t.Cleanup(func() { s.close(t) })
	return s
}

func (s *station) enroll(t *testing.T, c *county, village string) {
	t.Helper()
	if _, err := s.Enroll(context.Background(), c.link.URL(), c.code(t, village)); err != nil {
		t.Fatal(err)
	}
	// Records made offline wait for a person to confirm the county.
	if err := s.ConfirmEnrolment(context.Background()); err != nil && !errors.Is(err, agent.ErrNothingToConfirm) {
		t.Fatal(err)
	}
}

func (s *station) close(t *testing.T) {
	if s.closed {
		return
	}
	if err := s.Store.DB().IntegrityCheck(context.Background()); err != nil {
		t.Errorf("station %s: %v", s.dir, err)
	}
	s.Close()
}

func fields(m map[string]any) records.Fields {
	out := records.Fields{}
	for k, v := range m {
		b, _ := json.Marshal(v)
		out[k] = b
	}
	return out
}

func (s *station) save(t *testing.T, kind records.Kind, id string, f records.Fields) string {
	t.Helper()
	id, err := s.Store.Save(context.Background(), kind, id, f, "测试员")
	if err != nil {
		t.Fatalf("save %s: %v", kind, err)
	}
	return id
}

// addPeople records n persons with two visits each; it returns the ids.
func (s *station) addPeople(t *testing.T, g *gen.Generator, village string, n int) (persons, visits []string) {
	t.Helper()
	for range n {
		pid := s.save(t, records.Person, "", fields(g.Person(village)))
		persons = append(persons, pid)
		for j := range 2 {
			visits = append(visits, s.save(t, records.Visit, "", fields(g.Visit(pid, time.Now().AddDate(0, 0, -j)))))
		}
	}
	return persons, visits
}

func (s *station) sync(t *testing.T) agent.SyncResult {
	t.Helper()
	res, err := s.SyncOnce(context.Background())
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	return res
}

func (s *station) pending(t *testing.T) int {
	n, err := s.Store.Pending(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// assertConverged checks that the county's records of the station's village
// equal the station's, field by field, for every kind.
func assertConverged(t *testing.T, c *county, s *station, village string) {
	t.Helper()
	ctx := context.Background()
	for _, k := range records.Kinds {
		want, err := c.store.Records(ctx, k, village)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Store.List(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: station has %d, county %d", k, len(got), len(want))
		}
		for i := range want {
			if got[i].ID != want[i].ID {
				t.Fatalf("%s[%d]: station id %s, county %s", k, i, got[i].ID, want[i].ID)
			}
			if !sameFields(got[i].Fields, want[i].Fields) {
				t.Fatalf("%s %s differs:\nstation %s\ncounty  %s", k, want[i].ID, js(got[i].Fields), js(want[i].Fields))
			}
		}
	}
}

func sameFields(a, b records.Fields) bool {
	norm := func(f records.Fields) map[string]string {
		out := map[string]string{}
		for k, v := range f {
			if c := string(records.Canonical(v)); c != "null" {
				out[k] = c
			}
		}
		return out
	}
	x, y := norm(a), norm(b)
	if len(x) != len(y) {
		return false
	}
	for k, v := range x {
		if y[k] != v {
			return false
		}
	}
	return true
}

func js(v any) string { b, _ := json.Marshal(v); return string(b) }

func countyCount(t *testing.T, c *county, k records.Kind) int {
	t.Helper()
	recs, err := c.store.Records(context.Background(), k, "")
	if err != nil {
		t.Fatal(err)
	}
	return len(recs)
}

var _ = syncproto.Version
