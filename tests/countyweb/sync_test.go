// Package countyweb tests the county's pages together with real stations:
// in-process over HTTPS with the county's own CA (sync_test.go), and in
// headless Chromium (browser_test.go).
package countyweb

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"stationsync/agent"
	"stationsync/internal/gen"
	"stationsync/internal/records"
	"stationsync/internal/testsupport"
	"stationsync/server"
	"stationsync/server/web"
	"stationsync/syncproto"
)

var quiet = testsupport.Quiet

const (
	countyCode = testsupport.CountyCode
	village    = "340123101201"
	pw         = "correct horse battery"
)

// county is a county server over HTTPS with its own CA and its staff
// pages, and one account, county (县民政局张三). Stations enrol with a
// code that carries the CA's pin (code, station). testsupport's county
// speaks plain HTTP: pinning and the browser's trust of the county's key
// are what this suite tests. When the test ends the server is closed and
// the database passes integrity_check.
type county struct {
	store  *server.CountyStore
	tlsDir string
	certs  *server.CertSource
	url    string
	addr   string
	web    *web.Handler
	pin    string // full CA fingerprint
}

func newCounty(t *testing.T) *county {
	t.Helper()
	ctx := context.Background()
	// On PostgreSQL when the run asks for it (STATIONSYNC_TEST_STORE).
	st := testsupport.OpenCountyStore(t, countyCode)
	dir := st.DataDir()
	var err error
	c := &county{store: st, tlsDir: filepath.Join(dir, "tls")}
	os.MkdirAll(c.tlsDir, 0o700)
	if c.pin, err = server.OwnCA(c.tlsDir, []string{"127.0.0.1"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if c.certs, err = server.NewCertSource(filepath.Join(c.tlsDir, "server.pem"), filepath.Join(c.tlsDir, "server.key")); err != nil {
		t.Fatal(err)
	}
	if c.certs.Pin != c.pin {
		t.Fatalf("pin %s, CA %s", c.certs.Pin, c.pin)
	}
	srv := server.New(st, quiet)
	c.web = web.New(st, quiet)
	c.web.Pin = syncproto.ShortPin(c.pin)
	srv.Web = c.web
	// Not httptest's StartTLS: it adds its own certificate, which would
	// be served instead of the county's.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv.NewHandler(), TLSConfig: c.certs.TLSConfig(), ErrorLog: log.New(io.Discard, "", 0)}
	go hs.ServeTLS(ln, "", "")
	c.url = "https://" + ln.Addr().String()
	c.addr = ln.Addr().String()
	c.web.ServerURL = c.url
	t.Cleanup(func() {
		hs.Close()
		if err := st.DB().IntegrityCheck(context.Background()); err != nil {
			t.Errorf("county: %v", err)
		}
	})
	if _, err := st.CreateUser(ctx, server.NewUser{Username: "county", DisplayName: "县民政局张三", Role: server.RoleCounty, Password: pw}); err != nil {
		t.Fatal(err)
	}
	return c
}

// code is an enrolment code for v as the stations page shows it: the
// one-time code and the CA's pin.
func (c *county) code(t *testing.T, v string) string {
	t.Helper()
	code, err := c.store.CreateCode(context.Background(), v, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return code + "-" + syncproto.ShortPin(c.pin)
}

// station is a fresh station enrolled for v with a pinned code
// (testsupport: shut and integrity-checked when the test ends).
func (c *county) station(t *testing.T, v string) *testsupport.Station {
	t.Helper()
	s := testsupport.OpenStation(t, "", agent.Config{})
	s.MustEnroll(t, c.url, c.code(t, v), v)
	return s
}

// staff is a logged-in browser that trusts the county's CA by its pin.
type staff struct {
	t    *testing.T
	base string
	c    *http.Client
}

func (c *county) login(t *testing.T) *staff {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	tr := &http.Transport{TLSClientConfig: syncproto.PinnedTLS(c.pin, nil)}
	s := &staff{t: t, base: c.url, c: &http.Client{Jar: jar, Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	if r := s.post("/login", url.Values{"username": {"county"}, "password": {pw}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", r.StatusCode)
	}
	return s
}

func (s *staff) post(path string, form url.Values) *http.Response {
	s.t.Helper()
	resp, err := s.c.PostForm(s.base+path, form)
	if err != nil {
		s.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func (s *staff) get(path string) (int, string) {
	s.t.Helper()
	resp, err := s.c.Get(s.base + path)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestPinnedEnrollmentDecisionConflictRenewal: a station enrols over HTTPS
// with a code that carries the county CA's pin; an application it submits
// is approved in the county's pages and the decision reaches it; a
// conflict resolved in the pages syncs down; the server's certificate is
// renewed and the station keeps syncing.
func TestPinnedEnrollmentDecisionConflictRenewal(t *testing.T) {
	ctx := context.Background()
	c := newCounty(t)
	a := testsupport.OpenStation(t, "", agent.Config{})

	// Without the pin the station does not trust the county's CA.
	code, _ := c.store.CreateCode(ctx, village, time.Hour)
	if _, err := a.Enroll(ctx, c.url, code); err == nil {
		t.Fatal("enrolled over TLS with an untrusted CA and no pin")
	}
	// A pin of another CA is refused, clearly.
	other := t.TempDir()
	otherPin, _ := server.OwnCA(other, []string{"127.0.0.1"}, time.Now())
	code2, _ := c.store.CreateCode(ctx, village, time.Hour)
	if _, err := a.Enroll(ctx, c.url, code2+"-"+syncproto.ShortPin(otherPin)); !errors.Is(err, agent.ErrPinMismatch) {
		t.Fatalf("enrol with a wrong pin: %v", err)
	}
	// A pinned code over plain HTTP off loopback is refused.
	if _, err := a.Enroll(ctx, "http://county.example:8870", c.code(t, village)); err == nil || !strings.Contains(err.Error(), "https://") {
		t.Fatalf("pinned code over http: %v", err)
	}
	a.MustEnroll(t, c.url, c.code(t, village), village)
	if got := a.Store.Meta(ctx, "tls_pin"); got != c.pin {
		t.Fatalf("kept pin %q, want the CA's full fingerprint %q", got, c.pin)
	}

	g := gen.New(7)
	p := g.Person(village)
	pid, err := a.Store.Save(ctx, records.Person, "", testsupport.Fields(p), "村干部")
	if err != nil {
		t.Fatal(err)
	}
	app := g.Application(pid, p)
	app["type"] = "最低生活保障"
	aid, err := a.Store.Save(ctx, records.Application, "", testsupport.Fields(app), "村干部")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Store.Intent(ctx, aid, records.OpSubmit, "", "村干部"); err != nil {
		t.Fatal(err)
	}
	a.MustSync(t)

	s := c.login(t)
	if code, body := s.get("/applications"); code != 200 || !strings.Contains(body, aid) {
		t.Fatalf("review queue lacks the station's application (%d)", code)
	}
	for _, step := range []url.Values{
		{"id": {aid}, "op": {"accept"}},
		{"id": {aid}, "op": {"approve"}, "amount": {"700"}, "from": {"2026-02"}, "comment": {"同意"}},
	} {
		if r := s.post("/applications/decide", step); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("decide %v: %d", step, r.StatusCode)
		}
	}
	a.MustSync(t)
	l, err := a.Store.Get(ctx, records.Application, aid)
	if err != nil {
		t.Fatal(err)
	}
	if st := records.TextValue(l.Fields, "status"); st != records.StatusApproved || string(l.Fields["approved_amount_fen"]) != "70000" {
		t.Fatalf("station sees status %q amount %s, want approved 70000", st, l.Fields["approved_amount_fen"])
	}

	// A conflict: the station and the county change 健康状况 at once.
	if r := s.post("/records/person/"+pid, url.Values{"health": {"县里核实：行动不便"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("county edit: %d", r.StatusCode)
	}
	if _, err := a.Store.Save(ctx, records.Person, pid, records.Fields{"health": records.JSONText("村里：已住院")}, "村干部"); err != nil {
		t.Fatal(err)
	}
	a.MustSync(t)
	open, _, err := c.store.OpenConflicts(ctx, "", 10, 0)
	if err != nil || len(open) != 1 {
		t.Fatalf("open conflicts: %d %v", len(open), err)
	}
	_, body := s.get("/conflicts")
	if !strings.Contains(body, "县里核实：行动不便") || !strings.Contains(body, "村里：已住院") {
		t.Fatal("conflicts page does not show both values")
	}
	// Staff settle it with a value of their own.
	if r := s.post("/conflicts/"+open[0].ID, url.Values{"choice": {"edit"}, "value": {"已住院，行动不便"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("resolve: %d", r.StatusCode)
	}
	a.MustSync(t)
	l, _ = a.Store.Get(ctx, records.Person, pid)
	if got := records.TextValue(l.Fields, "health"); got != "已住院，行动不便" {
		t.Fatalf("station health %q after resolution", got)
	}
	if open, _, _ := c.store.OpenConflicts(ctx, "", 10, 0); len(open) != 0 {
		t.Fatalf("%d conflicts left open", len(open))
	}
	if n, _ := a.Store.ConflictCount(ctx); n != 0 {
		t.Errorf("station still shows %d conflicts", n)
	}

	// Renewal: a new server certificate from the same CA.
	before := servedLeaf(t, c)
	if err := server.RenewNow(c.tlsDir, []string{"127.0.0.1"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := c.certs.Reload(); err != nil {
		t.Fatal(err)
	}
	a.Close()
	a2 := testsupport.OpenStation(t, a.Dir, agent.Config{})
	if after := servedLeaf(t, c); after == before {
		t.Fatal("certificate not renewed")
	}
	if _, err := a2.Store.Save(ctx, records.Person, "", testsupport.Fields(g.Person(village)), "村干部"); err != nil {
		t.Fatal(err)
	}
	a2.MustSync(t)
}

func servedLeaf(t *testing.T, c *county) string {
	t.Helper()
	conn, err := tls.Dial("tcp", c.addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return syncproto.Fingerprint(conn.ConnectionState().PeerCertificates[0].Raw)
}
