package web_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/csv"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"stationsync/internal/gen"
	"stationsync/internal/hlc"
	"stationsync/internal/idcard"
	"stationsync/internal/records"
	"stationsync/internal/testsupport"
	"stationsync/server"
	"stationsync/server/web"
	"stationsync/syncproto"
)

var quiet = slog.New(slog.DiscardHandler)

const (
	county = "340123"
	townA  = "340123101"
	townB  = "340123102"
	villA  = "340123101201"
	villB  = "340123102201"
	pw     = "correct horse battery"
)

// fixture is a county with two townships, one station each, records in
// both, and one account of every role.
type fixture struct {
	t     *testing.T
	store *server.CountyStore
	http  *httptest.Server
	now   atomic.Int64
	// per village: person ids and names, application ids
	persons map[string][]string
	names   map[string][]string
	ids     map[string][]string // ID numbers
	apps    map[string][]string
	discs   map[string]string
	visits  map[string][]string
}

func newFixture(t *testing.T) *fixture { t.Helper(); return newFixtureLogged(t, quiet) }

// newFixtureLogged is newFixture with the pages logging to logger.
func newFixtureLogged(t *testing.T, logger *slog.Logger) *fixture {
	t.Helper()
	ctx := context.Background()
	st := testsupport.OpenCountyStore(t, county)
	f := &fixture{t: t, store: st, persons: map[string][]string{}, names: map[string][]string{}, ids: map[string][]string{}, apps: map[string][]string{}, discs: map[string]string{}, visits: map[string][]string{}}
	f.now.Store(time.Now().UnixMilli())
	st.SetClock(func() time.Time { return time.UnixMilli(f.now.Load()) })
	srv := server.New(st, logger)
	h := web.New(st, logger)
	h.Now = func() time.Time { return time.UnixMilli(f.now.Load()) }
	srv.Web = h
	f.http = httptest.NewServer(srv.NewHandler())
	t.Cleanup(func() { f.http.Close(); st.Close() })
	for _, u := range []server.NewUser{
		{Username: "admin", DisplayName: "管理员", Role: server.RoleAdmin, Password: pw, FullNumbers: true},
		{Username: "county", DisplayName: "县民政局张三", Role: server.RoleCounty, Password: pw},
		{Username: "towna", DisplayName: "甲镇李四", Role: server.RoleTownship, Township: townA, Password: pw},
		{Username: "townb", DisplayName: "乙镇王五", Role: server.RoleTownship, Township: townB, Password: pw},
	} {
		if _, err := st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	f.seed(villA, 1)
	f.seed(villB, 2)
	return f
}

func (f *fixture) seed(village string, seed int64) {
	t := f.t
	ctx := context.Background()
	code, err := f.store.CreateCode(ctx, village, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pub, _, _ := ed25519.GenerateKey(nil)
	stn, err := f.store.Enroll(ctx, code, pub, "pc-"+village, "test")
	if err != nil {
		t.Fatal(err)
	}
	g := gen.New(seed)
	b := &syncproto.Batch{Version: syncproto.Version, Station: stn.ID, Epoch: "e1", Village: village}
	seq := uint64(0)
	h := hlc.FromTime(time.Now().Add(-time.Hour))
	add := func(kind records.Kind, id string, op records.Op, fields map[string]any) {
		seq++
		h++
		fs := map[string]json.RawMessage{}
		for k, v := range fields {
			raw, _ := json.Marshal(v)
			fs[k] = raw
		}
		b.Changes = append(b.Changes, syncproto.Change{Seq: seq, HLC: uint64(h), Kind: string(kind), ID: id, Op: string(op), Fields: fs, By: "村干部"})
	}
	for i := range 4 {
		p := g.Person(village)
		p["phone"] = "13812345678"
		id := village + "_p" + string(rune('a'+i)) + "xxxxxx"
		add(records.Person, id, records.OpUpsert, p)
		f.persons[village] = append(f.persons[village], id)
		f.names[village] = append(f.names[village], p["name"].(string))
		f.ids[village] = append(f.ids[village], p["id_number"].(string))
		vid := village + "_v" + string(rune('a'+i)) + "xxxxxx"
		v := g.Visit(id, time.Now().AddDate(0, 0, -200))
		if i == 0 {
			v["risk"] = "紧急"
		}
		add(records.Visit, vid, records.OpUpsert, v)
		f.visits[village] = append(f.visits[village], vid)
		if i < 3 {
			aid := village + "_a" + string(rune('a'+i)) + "xxxxxx"
			a := g.Application(id, p)
			a["type"] = "最低生活保障"
			if i == 2 {
				a["type"] = "临时救助" // paid once: the pages must not say 每月
			}
			add(records.Application, aid, records.OpUpsert, a)
			add(records.Application, aid, records.OpSubmit, nil)
			f.apps[village] = append(f.apps[village], aid)
		}
	}
	did := village + "_dxxxxxxxx"
	today := time.Now()
	add(records.Disclosure, did, records.OpUpsert, map[string]any{
		"category": "财务公开", "title": "财务公开" + village, "body": "本月支出。联系人电话13912345678，身份证" + f.ids[village][0],
		"publish_from": today.AddDate(0, 0, -1).Format("2006-01-02"), "publish_until": today.AddDate(0, 0, 6).Format("2006-01-02"), "status": "published",
	})
	f.discs[village] = did
	res, err := f.store.Push(ctx, stn, b)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Results {
		if r.Status != syncproto.Applied {
			t.Fatalf("seed change %d: %s %s", r.Seq, r.Code, r.Reason)
		}
	}
}

// client is a browser with its own cookies.
type client struct {
	t *testing.T
	f *fixture
	c *http.Client
}

func (f *fixture) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: f.t, f: f, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (f *fixture) login(user string) *client {
	c := f.client()
	resp := c.post("/login", url.Values{"username": {user}, "password": {pw}})
	if resp.StatusCode != http.StatusSeeOther {
		f.t.Fatalf("login %s: %d %s", user, resp.StatusCode, resp.body)
	}
	return c
}

type response struct {
	StatusCode int
	Header     http.Header
	body       string
}

func (c *client) do(req *http.Request) response {
	c.t.Helper()
	resp, err := c.c.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{StatusCode: resp.StatusCode, Header: resp.Header, body: string(b)}
}

func (c *client) get(path string) response {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.f.http.URL+path, nil)
	return c.do(req)
}

func (c *client) post(path string, form url.Values) response {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.f.http.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

func TestEveryPageAnswers(t *testing.T) {
	f := newFixture(t)
	for _, user := range []string{"admin", "county", "towna"} {
		c := f.login(user)
		pages := []string{"/stations", "/records/person", "/records/visit", "/records/application", "/records/disclosure",
			"/applications", "/applications?status=accepted", "/followup?k=overdue", "/followup?k=urgent", "/followup?k=review", "/conflicts", "/reports",
			"/reports/visits.svg", "/reports/coverage.svg", "/reports/applications.svg", "/reports/applications-months.svg",
			"/records/person?q=" + url.QueryEscape("张") + "&category=" + url.QueryEscape("低保对象"), "/records/visit?risk=" + url.QueryEscape("紧急") + "&from=2000-01-01&to=2099-01-01",
			"/records/person/" + f.persons[villA][0], "/records/application/" + f.apps[villA][0], "/records/visit/" + f.visits[villA][0],
			"/api/records/person", "/api/records/application/" + f.apps[villA][0],
		}
		if user == "admin" {
			pages = append(pages, "/users", "/audit", "/settings", "/reports/health.svg", "/audit?action=login&user=admin")
		}
		for _, p := range pages {
			r := c.get(p)
			if r.StatusCode != http.StatusOK {
				t.Errorf("%s GET %s: %d %.300s", user, p, r.StatusCode, r.body)
			}
			if r.Header.Get("Server-Timing") == "" {
				t.Errorf("%s GET %s: no Server-Timing", user, p)
			}
		}
	}
	// The public portal needs no login.
	anon := f.client()
	for _, p := range []string{"/public/", "/public/v/" + villA, "/public/d/" + f.discs[villA]} {
		if r := anon.get(p); r.StatusCode != http.StatusOK {
			t.Errorf("anonymous GET %s: %d", p, r.StatusCode)
		}
	}
}

func TestLoginRequired(t *testing.T) {
	f := newFixture(t)
	anon := f.client()
	for _, p := range []string{"/stations", "/records/person", "/records/person/" + f.persons[villA][0], "/applications", "/reports/visits.svg", "/users"} {
		r := anon.get(p)
		if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login") {
			t.Errorf("anonymous GET %s: %d %s", p, r.StatusCode, r.Header.Get("Location"))
		}
	}
	for _, p := range []string{"/export/person.csv", "/api/records/person", "/api/records/person/" + f.persons[villA][0]} {
		r := anon.get(p)
		if r.StatusCode != http.StatusUnauthorized || strings.Contains(r.body, f.names[villA][0]) {
			t.Errorf("anonymous GET %s: %d", p, r.StatusCode)
		}
	}
	r := anon.post("/applications/decide", url.Values{"id": {f.apps[villA][0]}, "op": {"accept"}})
	if r.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous decide: %d", r.StatusCode)
	}
	// A public page shows no staff data.
	r = anon.get("/public/")
	for _, n := range append(f.names[villA], f.names[villB]...) {
		if strings.Contains(r.body, n) {
			t.Errorf("public portal shows person %s", n)
		}
	}
}

func TestTownshipScope(t *testing.T) {
	f := newFixture(t)
	a := f.login("towna")
	leaks := func(what, body string) {
		t.Helper()
		for _, n := range f.names[villB] {
			if strings.Contains(body, n) {
				t.Errorf("%s shows %s of the other township", what, n)
			}
		}
		for _, id := range append(append(f.persons[villB], f.apps[villB]...), f.visits[villB]...) {
			if strings.Contains(body, id) {
				t.Errorf("%s shows record %s of the other township", what, id)
			}
		}
	}
	// Lists, exports and the API of its own scope show its township only.
	for _, p := range []string{"/records/person", "/records/visit", "/records/application", "/records/disclosure", "/applications",
		"/followup?k=overdue", "/followup?k=urgent", "/followup?k=review", "/conflicts", "/stations",
		"/export/person.csv", "/export/visit.csv", "/export/application.csv", "/export/followup.csv?k=overdue", "/api/records/person", "/api/records/application"} {
		r := a.get(p)
		if r.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", p, r.StatusCode)
		}
		leaks(p, r.body)
	}
	r := a.get("/records/person")
	if !strings.Contains(r.body, f.names[villA][0]) {
		t.Errorf("own township's person %s missing", f.names[villA][0])
	}
	// Visited 200 days ago: every person is overdue (90 days at most), the
	// 紧急 visit is not followed up.
	r = a.get("/followup?k=overdue")
	for _, n := range f.names[villA] {
		if !strings.Contains(r.body, n) {
			t.Errorf("overdue list lacks %s", n)
		}
	}
	if !strings.Contains(r.body, "共 4 条") {
		t.Errorf("overdue count wrong")
	}
	r = a.get("/followup?k=urgent")
	if !strings.Contains(r.body, "共 1 条") || !strings.Contains(r.body, f.names[villA][0]) {
		t.Errorf("urgent list wrong")
	}
	// Another township's records, by id, in pages and the API: 404.
	for _, p := range []string{"/records/person/" + f.persons[villB][0], "/records/application/" + f.apps[villB][0], "/records/visit/" + f.visits[villB][0],
		"/records/disclosure/" + f.discs[villB], "/api/records/person/" + f.persons[villB][0], "/applications/" + f.apps[villB][0] + "/disclosure"} {
		r := a.get(p)
		if r.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, r.StatusCode)
		}
		leaks(p, r.body)
	}
	// Another township as a filter, in pages, exports and the API: 403.
	for _, p := range []string{"/records/person?place=" + townB, "/records/visit?place=" + villB, "/export/person.csv?place=" + townB,
		"/export/application.xlsx?place=" + villB, "/export/followup.csv?k=overdue&place=" + townB, "/api/records/person?place=" + townB, "/followup?place=" + villB,
		"/records/person?place=" + county} {
		r := a.get(p)
		if r.StatusCode != http.StatusForbidden {
			t.Errorf("GET %s: %d, want 403", p, r.StatusCode)
		}
		leaks(p, r.body)
	}
	// Administrators' pages: 403.
	for _, p := range []string{"/users", "/audit", "/settings", "/reports/health.svg"} {
		if r := a.get(p); r.StatusCode != http.StatusForbidden {
			t.Errorf("GET %s: %d, want 403", p, r.StatusCode)
		}
	}
	for _, p := range []string{"/stations/codes", "/users", "/settings"} {
		if r := a.post(p, url.Values{"village": {villA}, "username": {"x"}}); r.StatusCode != http.StatusForbidden {
			t.Errorf("POST %s: %d, want 403", p, r.StatusCode)
		}
	}
	// Deciding another township's application, alone or slipped into a
	// bulk decision, changes nothing there.
	r = a.post("/applications/decide", url.Values{"id": {f.apps[villA][0], f.apps[villB][0]}, "op": {"accept"}})
	if r.StatusCode != http.StatusConflict || !strings.Contains(r.body, "不在您负责的范围内") {
		t.Errorf("bulk decide with a foreign id: %d %.200s", r.StatusCode, r.body)
	}
	ctx := context.Background()
	if ab, _ := f.store.Application(ctx, f.apps[villB][0], ""); ab.Status != records.StatusSubmitted {
		t.Errorf("other township's application moved to %s", ab.Status)
	}
	if ab, _ := f.store.Application(ctx, f.apps[villA][0], ""); ab.Status != records.StatusAccepted {
		t.Errorf("own application is %s, want accepted", ab.Status)
	}
	// Editing another township's record: 404, unchanged.
	r = a.post("/records/person/"+f.persons[villB][0], url.Values{"health": {"改了"}})
	if r.StatusCode != http.StatusNotFound {
		t.Errorf("edit foreign person: %d", r.StatusCode)
	}
	// The other township's staff sees its own.
	b := f.login("townb")
	if r := b.get("/records/person/" + f.persons[villB][0]); r.StatusCode != http.StatusOK {
		t.Errorf("townb own person: %d", r.StatusCode)
	}
	// The county sees both.
	c := f.login("county")
	r = c.get("/records/person")
	if !strings.Contains(r.body, f.names[villA][0]) || !strings.Contains(r.body, f.names[villB][0]) {
		t.Error("county staff does not see both townships")
	}
}

func TestMasking(t *testing.T) {
	f := newFixture(t)
	id := f.ids[villA][0]
	c := f.login("county")
	for _, p := range []string{"/records/person", "/records/person/" + f.persons[villA][0], "/export/person.csv", "/api/records/person", "/api/records/person/" + f.persons[villA][0]} {
		r := c.get(p)
		if strings.Contains(r.body, id) || strings.Contains(r.body, "13812345678") {
			t.Errorf("county staff without permission sees full numbers at %s", p)
		}
		if !strings.Contains(r.body, idcard.Mask(id)) {
			t.Errorf("%s: masked number missing", p)
		}
	}
	a := f.login("admin")
	if r := a.get("/records/person/" + f.persons[villA][0]); !strings.Contains(r.body, id) {
		t.Error("admin with full-number permission does not see the full number")
	}
	if r := a.get("/api/records/person/" + f.persons[villA][1]); !strings.Contains(r.body, f.ids[villA][1]) {
		t.Error("admin with full-number permission does not see the full number in the API")
	}
	// Each look at a person's full numbers is in the audit log, through
	// the page or the API.
	audit := a.get("/audit?action=view_full_numbers")
	for _, p := range f.persons[villA][:2] {
		if !strings.Contains(audit.body, "person/"+p) {
			t.Errorf("full numbers of %s seen without an audit entry", p)
		}
	}
	// The public portal masks numbers typed into a disclosure's text.
	r := f.client().get("/public/d/" + f.discs[villA])
	if strings.Contains(r.body, id) || strings.Contains(r.body, "13912345678") || !strings.Contains(r.body, idcard.Mask(id)) {
		t.Errorf("public disclosure does not mask numbers: %.500s", r.body)
	}
}

func TestLoginLockoutAndExpiry(t *testing.T) {
	f := newFixture(t)
	c := f.client()
	for i := range server.MaxFailedLogins {
		r := c.post("/login", url.Values{"username": {"county"}, "password": {"wrong password!"}})
		want := http.StatusUnauthorized
		if i == server.MaxFailedLogins-1 {
			want = http.StatusTooManyRequests
		}
		if r.StatusCode != want {
			t.Fatalf("failure %d: %d, want %d", i+1, r.StatusCode, want)
		}
	}
	if r := c.post("/login", url.Values{"username": {"county"}, "password": {pw}}); r.StatusCode != http.StatusTooManyRequests || !strings.Contains(r.body, "锁定") {
		t.Fatalf("locked account accepted the right password: %d", r.StatusCode)
	}
	f.now.Add(int64(server.LockoutFor/time.Millisecond) + 1000)
	f.login("county")

	// An unknown user is told the same as a wrong password.
	if r := c.post("/login", url.Values{"username": {"nobody"}, "password": {pw}}); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("unknown user: %d", r.StatusCode)
	}
	// Idle expiry.
	s := f.login("towna")
	if r := s.get("/records/person"); r.StatusCode != http.StatusOK {
		t.Fatalf("fresh session: %d", r.StatusCode)
	}
	f.now.Add(int64(server.SessionIdle/time.Millisecond) + 1000)
	if r := s.get("/records/person"); r.StatusCode != http.StatusSeeOther {
		t.Errorf("idle session still valid: %d", r.StatusCode)
	}
	// Absolute expiry, even when used all the time.
	s = f.login("towna")
	for range int(server.SessionMax / (20 * time.Minute)) {
		f.now.Add(int64(20 * time.Minute / time.Millisecond))
		s.get("/records/person")
	}
	f.now.Add(int64(20 * time.Minute / time.Millisecond))
	if r := s.get("/records/person"); r.StatusCode != http.StatusSeeOther {
		t.Errorf("session older than %v still valid: %d", server.SessionMax, r.StatusCode)
	}
	// Logout ends the session.
	s = f.login("towna")
	s.post("/logout", nil)
	if r := s.get("/records/person"); r.StatusCode != http.StatusSeeOther {
		t.Errorf("session valid after logout: %d", r.StatusCode)
	}
	// The audit log has the failures, the lock and the logins.
	a := f.login("admin")
	r := a.get("/audit?action=login_failed")
	if !strings.Contains(r.body, "账号已锁定") || !strings.Contains(r.body, "county") {
		t.Errorf("audit log lacks the failed logins")
	}
}

func TestCSRF(t *testing.T) {
	f := newFixture(t)
	c := f.login("county")
	for _, h := range []map[string]string{{"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}} {
		req, _ := http.NewRequest(http.MethodPost, f.http.URL+"/applications/decide", strings.NewReader(url.Values{"id": {f.apps[villA][0]}, "op": {"accept"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range h {
			req.Header.Set(k, v)
		}
		r := c.do(req)
		if r.StatusCode != http.StatusForbidden {
			t.Errorf("cross-origin POST with %v: %d", h, r.StatusCode)
		}
	}
	if ab, _ := f.store.Application(context.Background(), f.apps[villA][0], ""); ab.Status != records.StatusSubmitted {
		t.Errorf("cross-origin decision applied: %s", ab.Status)
	}
	// Same origin passes.
	req, _ := http.NewRequest(http.MethodPost, f.http.URL+"/applications/decide", strings.NewReader(url.Values{"id": {f.apps[villA][0]}, "op": {"accept"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if r := c.do(req); r.StatusCode != http.StatusSeeOther {
		t.Errorf("same-origin POST: %d", r.StatusCode)
	}
}

func TestDecisionsAndDisclosure(t *testing.T) {
	f := newFixture(t)
	c := f.login("county")
	ids := f.apps[villA]
	// Bulk: accept all three, then review two, then approve one.
	if r := c.post("/applications/decide", url.Values{"id": ids, "op": {"accept"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("bulk accept: %d %s", r.StatusCode, r.body)
	}
	if r := c.post("/applications/decide", url.Values{"id": ids[:2], "op": {"review"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("bulk review: %d", r.StatusCode)
	}
	// Reject and return need a reason; approve needs amount and month.
	for _, v := range []url.Values{{"id": {ids[0]}, "op": {"reject"}}, {"id": {ids[0]}, "op": {"return"}}, {"id": {ids[0]}, "op": {"approve"}, "amount": {"650"}}} {
		if r := c.post("/applications/decide", v); r.StatusCode != http.StatusBadRequest {
			t.Errorf("%v: %d, want 400", v, r.StatusCode)
		}
	}
	r := c.post("/applications/decide", url.Values{"id": {ids[0]}, "op": {"approve"}, "amount": {"650.5"}, "from": {"2026-01"}, "comment": {"符合条件"}})
	if r.StatusCode != http.StatusSeeOther || !strings.Contains(r.Header.Get("Location"), "/disclosure") {
		t.Fatalf("approve 低保: %d %s, want the disclosure offer", r.StatusCode, r.Header.Get("Location"))
	}
	// An approved application cannot be moved back.
	if r := c.post("/applications/decide", url.Values{"id": {ids[0]}, "op": {"return"}, "comment": {"x"}}); r.StatusCode != http.StatusConflict {
		t.Errorf("return after approval: %d", r.StatusCode)
	}
	form := c.get(r.Header.Get("Location"))
	if !strings.Contains(form.body, idcard.Mask(f.ids[villA][0])) || strings.Contains(form.body, f.ids[villA][0]) {
		t.Errorf("disclosure draft does not mask the ID number")
	}
	today := time.Now().Format("2006-01-02")
	r = c.post(r.Header.Get("Location"), url.Values{"title": {"低保公示"}, "body": {"张三 " + f.ids[villA][0]}, "from": {today}, "until": {time.Now().AddDate(0, 0, 7).Format("2006-01-02")}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("create disclosure: %d %s", r.StatusCode, r.body)
	}
	ctx := context.Background()
	a, _ := f.store.Application(ctx, ids[0], "")
	if a.Status != records.StatusApproved || a.ApprovedFen != 65050 || a.ApprovedFrom != "2026-01" {
		t.Errorf("application after approval: %+v", a)
	}
	// The decision and the disclosure are in the village's feed.
	pub := f.client().get("/public/v/" + villA)
	if !strings.Contains(pub.body, "低保公示") {
		t.Error("the new disclosure is not on the public portal")
	}
	d := f.client().get("/public/")
	if strings.Contains(d.body, f.ids[villA][0]) {
		t.Error("public portal shows a full ID number")
	}
	// Audit: decisions and the disclosure, by whom.
	audit := f.login("admin").get("/audit?action=decision")
	if !strings.Contains(audit.body, "批准 650.50元/月") || !strings.Contains(audit.body, "county") {
		t.Errorf("audit lacks the approval: %.300s", audit.body)
	}
}

func TestExports(t *testing.T) {
	f := newFixture(t)
	c := f.login("county")
	r := c.get("/export/person.csv")
	if r.StatusCode != http.StatusOK || !strings.HasPrefix(r.body, "\ufeff") {
		t.Fatalf("csv: %d", r.StatusCode)
	}
	rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(r.body, "\ufeff"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1+8 || rows[0][2] != "姓名" {
		t.Errorf("csv rows: %d, header %v", len(rows), rows[0])
	}
	r = c.get("/export/application.xlsx?status=submitted&place=" + townA)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("xlsx: %d", r.StatusCode)
	}
	x, err := excelize.OpenReader(bytes.NewReader([]byte(r.body)))
	if err != nil {
		t.Fatal(err)
	}
	sheet := x.GetSheetName(0)
	got, err := x.GetRows(sheet)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1+3 || got[1][1] != villA || got[1][4] != "已提交" {
		t.Errorf("xlsx rows %d: %v", len(got), got)
	}
	audit := f.login("admin").get("/audit?action=export")
	if !strings.Contains(audit.body, "xlsx") {
		t.Error("export not audited")
	}
}

func TestAccounts(t *testing.T) {
	f := newFixture(t)
	a := f.login("admin")
	if r := a.post("/users", url.Values{"username": {"townc"}, "display_name": {"丙"}, "role": {"township"}, "township": {"340123103"}, "password": {"short"}}); r.StatusCode != http.StatusBadRequest {
		t.Errorf("weak password accepted: %d", r.StatusCode)
	}
	if r := a.post("/users", url.Values{"username": {"townc"}, "display_name": {"丙"}, "role": {"township"}, "township": {"999999103"}, "password": {pw}}); r.StatusCode != http.StatusBadRequest {
		t.Errorf("township of another county accepted: %d", r.StatusCode)
	}
	if r := a.post("/users", url.Values{"username": {"townc"}, "display_name": {"丙"}, "role": {"township"}, "township": {"340123103"}, "password": {pw}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d", r.StatusCode)
	}
	c := f.login("townc")
	if r := c.get("/records/person"); strings.Contains(r.body, f.names[villA][0]) {
		t.Error("new township account sees another township")
	}
	// Moving towna to township B takes effect at once: sessions end.
	ta := f.login("towna")
	users, _ := f.store.Users(context.Background())
	var id int64
	for _, u := range users {
		if u.Username == "towna" {
			id = u.ID
		}
	}
	if r := a.post("/users/"+itoa(id), url.Values{"role": {"township"}, "township": {townB}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("update: %d %s", r.StatusCode, r.body)
	}
	if r := ta.get("/records/person"); r.StatusCode != http.StatusSeeOther {
		t.Errorf("session survived a scope change: %d", r.StatusCode)
	}
	ta = f.login("towna")
	if r := ta.get("/records/person/" + f.persons[villB][0]); r.StatusCode != http.StatusOK {
		t.Errorf("moved account cannot see its new township: %d", r.StatusCode)
	}
	// Disabled: cannot log in.
	a.post("/users/"+itoa(id), url.Values{"role": {"township"}, "township": {townB}, "disabled": {"1"}})
	if r := f.client().post("/login", url.Values{"username": {"towna"}, "password": {pw}}); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("disabled account logged in: %d", r.StatusCode)
	}
	if r := a.get("/audit?action=user_update"); !strings.Contains(r.body, "towna") {
		t.Error("account change not audited")
	}
}

func TestStationsPage(t *testing.T) {
	f := newFixture(t)
	a := f.login("admin")
	r := a.post("/stations/codes", url.Values{"village": {"340123103205"}, "name": {"新村"}, "days": {"7"}})
	if r.StatusCode != http.StatusOK || !strings.Contains(r.body, `id="code"`) || !strings.Contains(r.body, "新村") || !strings.Contains(r.body, "enrol-file") {
		t.Fatalf("code: %d", r.StatusCode)
	}
	var page response
	if r := a.post("/stations/codes", url.Values{"village": {"999999103205"}}); r.StatusCode != http.StatusBadRequest {
		t.Errorf("village of another county: %d", r.StatusCode)
	}
	sts, _ := f.store.Stations(context.Background())
	// Silent stations are highlighted.
	f.now.Add(int64(10 * 24 * time.Hour / time.Millisecond))
	a = f.login("admin")
	page = a.get("/stations")
	if !strings.Contains(page.body, `class="silent`) {
		t.Error("silent station not highlighted")
	}
	if r := a.post("/stations/"+sts[0].ID+"/revoke", nil); r.StatusCode != http.StatusSeeOther {
		t.Errorf("revoke: %d", r.StatusCode)
	}
	if st, _ := f.store.Station(context.Background(), sts[0].ID); st.RevokedAt == nil {
		t.Error("station not revoked")
	}
	// Township staff sees only its township's stations.
	b := f.login("townb")
	page = b.get("/stations")
	if strings.Contains(page.body, villA) {
		t.Error("township B sees township A's station")
	}
}

func TestEscaping(t *testing.T) {
	f := newFixture(t)
	c := f.login("admin")
	// A station typed markup into a disclosure.
	ctx := context.Background()
	id, err := f.store.CountyCreate(ctx, villA, records.Disclosure, records.Fields{
		"category": records.JSONText("村务公开"), "title": records.JSONText(`<script>alert(1)</script>`), "body": records.JSONText(`<img src=x onerror=alert(1)>`),
		"status": records.JSONText("published"),
	}, "test")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/records/disclosure", "/records/disclosure/" + id} {
		if r := c.get(p); strings.Contains(r.body, "<script>alert") || strings.Contains(r.body, "<img src=x") {
			t.Errorf("%s: markup not escaped", p)
		}
	}
	if r := f.client().get("/public/d/" + id); strings.Contains(r.body, "<script>alert") || strings.Contains(r.body, "<img src=x") || r.StatusCode != http.StatusOK {
		t.Errorf("public: markup not escaped (%d)", r.StatusCode)
	}
}

func itoa(n int64) string {
	return strings.TrimSpace(strings.Replace(string(rune(0)), "\x00", "", 1)) + fmtInt(n)
}

func fmtInt(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestRecordHistory(t *testing.T) {
	f := newFixture(t)
	c := f.login("county")
	pid := f.persons[villA][0]
	if r := c.post("/records/person/"+pid, url.Values{"health": {"县里核实：独居"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("edit: %d", r.StatusCode)
	}
	if r := c.post("/records/person/"+pid, url.Values{"health": {"县里核实：已有人照料"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("second edit: %d %s", r.StatusCode, r.body)
	}
	r := c.get("/records/person/" + pid)
	if !strings.Contains(r.body, "版本历史") || !strings.Contains(r.body, "县里核实：独居 → 县里核实：已有人照料") || !strings.Contains(r.body, "县里") {
		t.Errorf("record page lacks the versions: %.2000s", r.body[strings.Index(r.body, "<main>"):])
	}
	// Versions mask numbers like everything else.
	if strings.Contains(r.body, f.ids[villA][0]) {
		t.Error("version history shows a full ID number")
	}
	// The application's status history and versions after decisions.
	if r := c.post("/applications/decide", url.Values{"id": {f.apps[villA][1]}, "op": {"accept"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("accept: %d %s", r.StatusCode, r.body)
	}
	r = c.get("/records/application/" + f.apps[villA][1])
	if !strings.Contains(r.body, "状态变更记录") || !strings.Contains(r.body, "已受理") || !strings.Contains(r.body, "县民政局张三") {
		t.Error("application page lacks its status history")
	}
}

func TestConflictScope(t *testing.T) {
	f := newFixture(t)
	db := f.store.DB().W
	for _, v := range []string{villA, villB} {
		if _, err := db.Exec(`INSERT INTO conflicts (id, kind, record_id, village, field, winner, winner_hlc, winner_origin, loser, loser_hlc, loser_origin, at)
			VALUES (?, 'person', ?, ?, 'health', '"甲"', 2, 'county', '"乙"', 1, 'st_x', 1)`, "c-"+v, f.persons[v][0], v); err != nil {
			t.Fatal(err)
		}
	}
	a := f.login("towna")
	r := a.get("/conflicts")
	if !strings.Contains(r.body, f.persons[villA][0]) || strings.Contains(r.body, f.persons[villB][0]) {
		t.Error("township conflicts page shows the wrong township's conflicts")
	}
	if r := a.post("/conflicts/c-"+villB, url.Values{"choice": {"loser"}}); r.StatusCode != http.StatusNotFound {
		t.Errorf("resolving another township's conflict: %d", r.StatusCode)
	}
	if c, _ := f.store.ConflictByID(context.Background(), "c-"+villB); c.ResolvedAt != nil {
		t.Error("another township's conflict was resolved")
	}
	// Its own: take the other value; the record changes and the conflict closes.
	if r := a.post("/conflicts/c-"+villA, url.Values{"choice": {"loser"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("resolve: %d %s", r.StatusCode, r.body)
	}
	rec, _ := f.store.Record(context.Background(), records.Person, f.persons[villA][0], "")
	if got := records.TextValue(rec.Record.Fields, "health"); got != "乙" {
		t.Errorf("health %q after taking the other value", got)
	}
	if r := a.post("/conflicts/c-"+villA, url.Values{"choice": {"keep"}}); r.StatusCode != http.StatusConflict {
		t.Errorf("resolving twice: %d", r.StatusCode)
	}
	// A station-owned field can only be kept.
	db.Exec(`INSERT INTO conflicts (id, kind, record_id, village, field, winner, winner_hlc, winner_origin, loser, loser_hlc, loser_origin, at)
		VALUES ('c-name', 'person', ?, ?, 'name', '"张三"', 2, 'st_a', '"张叁"', 1, 'st_b', 1)`, f.persons[villA][1], villA)
	if r := a.post("/conflicts/c-name", url.Values{"choice": {"loser"}}); r.StatusCode != http.StatusConflict || !strings.Contains(r.body, "由村站维护") {
		t.Errorf("county changed a station-owned field: %d", r.StatusCode)
	}
	if r := a.post("/conflicts/c-name", url.Values{"choice": {"keep"}}); r.StatusCode != http.StatusSeeOther {
		t.Errorf("keep: %d", r.StatusCode)
	}
}

// Password spraying from one address: after 30 failures the address
// waits before each attempt (seconds, growing to a minute; login.go),
// whatever the account and password.
func TestAddressThrottle(t *testing.T) {
	f := newFixture(t)
	c := f.client()
	for i := range 30 {
		user := []string{"county", "towna", "townb", "nobody"}[i%4] + strings.Repeat("x", i/4%2)
		c.post("/login", url.Values{"username": {user}, "password": {"guess " + fmtInt(int64(i))}})
	}
	if r := c.post("/login", url.Values{"username": {"admin"}, "password": {pw}}); r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("31st attempt from the address: %d", r.StatusCode)
	}
	f.now.Add(int64(16 * time.Minute / time.Millisecond))
	f.login("admin")
}

func TestChangePassword(t *testing.T) {
	f := newFixture(t)
	c := f.login("towna")
	if r := c.get("/account"); r.StatusCode != http.StatusOK {
		t.Fatalf("account page: %d", r.StatusCode)
	}
	if r := c.post("/account", url.Values{"current": {"wrong one!!"}, "password": {"a new long password"}, "again": {"a new long password"}}); r.StatusCode != http.StatusBadRequest {
		t.Errorf("wrong current password: %d", r.StatusCode)
	}
	if r := c.post("/account", url.Values{"current": {pw}, "password": {"short"}, "again": {"short"}}); r.StatusCode != http.StatusBadRequest {
		t.Errorf("short password: %d", r.StatusCode)
	}
	if r := c.post("/account", url.Values{"current": {pw}, "password": {"a new long password"}, "again": {"a new long password"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("change: %d", r.StatusCode)
	}
	if r := c.get("/records/person"); r.StatusCode != http.StatusSeeOther {
		t.Error("session survived a password change")
	}
	if r := f.client().post("/login", url.Values{"username": {"towna"}, "password": {"a new long password"}}); r.StatusCode != http.StatusSeeOther {
		t.Errorf("new password: %d", r.StatusCode)
	}
}

// The running server gathers the query planner's statistics when it
// starts (Run), not each time a command opens the database.
func TestRunGathersPlannerStatistics(t *testing.T) {
	f := newFixture(t)
	stats := func() int {
		var n int
		q := `SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'visits'`
		if f.store.DB().Postgres() {
			// Autovacuum may analyze too; only Run's own ANALYZE is
			// sure to within the test's 10 s.
			q = `SELECT count(*) FROM pg_stat_user_tables WHERE schemaname = current_schema() AND relname = 'visits' AND (last_analyze IS NOT NULL OR last_autoanalyze IS NOT NULL)`
		}
		f.store.DB().R.QueryRow(q).Scan(&n)
		return n
	}
	if n := stats(); n != 0 {
		t.Fatalf("statistics of visits before Run: %d rows", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); web.New(f.store, quiet).Run(ctx) }()
	defer func() { cancel(); <-done }()
	for deadline := time.Now().Add(10 * time.Second); stats() == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no planner statistics for visits 10 s after Run started")
		}
	}
}
