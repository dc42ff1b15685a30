package web_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"stationsync/agent"
	"stationsync/agent/web"
	"stationsync/server"
)

var quiet = slog.New(slog.DiscardHandler)

// clock is a settable time for session expiry tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type station struct {
	t     *testing.T
	a     *agent.Agent
	srv   *httptest.Server
	c     *http.Client
	clock *clock
	dir   string
}

func newStation(t *testing.T) *station { t.Helper(); return newStationLogged(t, quiet) }

// newStationLogged is newStation with the agent and its pages logging to
// logger.
func newStationLogged(t *testing.T, logger *slog.Logger) *station {
	t.Helper()
	dir := t.TempDir()
	a, err := agent.Open(context.Background(), agent.Config{DataDir: dir, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	ck := &clock{t: time.Now()}
	ws, err := web.New(a, web.Options{Now: ck.Now, Logger: logger, SyncTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ws.Handler())
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	s := &station{t: t, a: a, srv: srv, c: c, clock: ck, dir: dir}
	t.Cleanup(func() {
		srv.Close()
		if err := a.Store.DB().IntegrityCheck(context.Background()); err != nil {
			t.Errorf("integrity: %v", err)
		}
		a.Close()
	})
	return s
}

// resp is an answer with its body read.
type resp struct {
	Status   int
	Body     string
	Location string
}

func (s *station) do(method, path string, form url.Values) resp {
	s.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, s.srv.URL+path, body)
	if err != nil {
		s.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		// What a browser sends with a form posted from the page itself.
		req.Header.Set("Origin", s.srv.URL)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	r, err := s.c.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return resp{Status: r.StatusCode, Body: string(b), Location: r.Header.Get("Location")}
}

func (s *station) get(path string) resp { s.t.Helper(); return s.do("GET", path, nil) }

func (s *station) post(path string, form url.Values) resp {
	s.t.Helper()
	return s.do("POST", path, form)
}

// follow GETs a redirect target.
func (s *station) follow(r resp) resp {
	s.t.Helper()
	if r.Status != http.StatusSeeOther {
		s.t.Fatalf("want 303, got %d: %s", r.Status, snippet(r.Body))
	}
	return s.get(r.Location)
}

func snippet(b string) string {
	if i := strings.Index(b, `<main>`); i >= 0 {
		b = b[i:]
	}
	if len(b) > 3000 {
		b = b[:3000]
	}
	return b
}

// setup makes the first account and logs it in.
func (s *station) setup(name string) {
	s.t.Helper()
	r := s.post("/setup", url.Values{"name": {name}, "pin": {"246810"}, "pin2": {"246810"}})
	if r.Status != http.StatusSeeOther {
		s.t.Fatalf("setup: %d %s", r.Status, snippet(r.Body))
	}
}

var idRe = regexp.MustCompile(`^/(persons|applications|disclosures|visits)/([0-9a-f-]{36})$`)

// created returns the id a POST/redirect named.
func created(t *testing.T, r resp) string {
	t.Helper()
	if r.Status != http.StatusSeeOther {
		t.Fatalf("want 303 after save, got %d: %s", r.Status, snippet(r.Body))
	}
	m := idRe.FindStringSubmatch(r.Location)
	if m == nil {
		t.Fatalf("redirect to %q names no record", r.Location)
	}
	return m[2]
}

func must(t *testing.T, r resp, status int, contains ...string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, snippet(r.Body))
	}
	for _, c := range contains {
		if !strings.Contains(r.Body, c) {
			t.Fatalf("page lacks %q: %s", c, snippet(r.Body))
		}
	}
}

func mustNot(t *testing.T, r resp, absent ...string) {
	t.Helper()
	for _, c := range absent {
		if strings.Contains(r.Body, c) {
			t.Fatalf("page shows %q: %s", c, snippet(r.Body))
		}
	}
}

// county is an in-process county server.
type county struct {
	store *server.CountyStore
	srv   *httptest.Server
}

func newCounty(t *testing.T) *county {
	t.Helper()
	st, err := server.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "county.db"), "340123")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(server.New(st, quiet).NewHandler())
	t.Cleanup(func() { srv.Close(); st.Close() })
	return &county{store: st, srv: srv}
}

func (c *county) code(t *testing.T, village string) string {
	t.Helper()
	code, err := c.store.CreateCode(context.Background(), village, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

const village = "340123101201"

// A valid ID number (check character computed) and a wrong one.
const (
	goodID   = "340123195003070022"
	badID    = "340123195003070021"
	memberID = "340123198005151233"
)

func personForm(name, id string) url.Values {
	return url.Values{"name": {name}, "id_number": {id}, "categories": {"农村留守老年人", "空巢老人"}, "phone": {"13905510456"},
		"address": {"安徽省合肥市长丰县"}, "health": {"高血压"}, "fa_name_0": {"王强"}, "fa_relation_0": {"儿子"}, "fa_location_0": {"上海"}, "fa_phone_0": {"13800001111"}}
}
