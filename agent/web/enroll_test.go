package web_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"stationsync/agent"
	"stationsync/internal/records"
)

// notEnrolled fails the test if the station holds any enrolment, and
// checks that code is still unused at the county.
func notEnrolled(t *testing.T, s *station, c *county, code string) {
	t.Helper()
	ctx := context.Background()
	if s.a.Enrolled(ctx) || s.a.Store.Meta(ctx, "station_id") != "" || s.a.Store.Meta(ctx, "server_url") != "" {
		t.Fatalf("station enrolled: %q", s.a.Store.Meta(ctx, "station_id"))
	}
	var used int
	c.store.DB().R.QueryRow(`SELECT count(*) FROM enrol_codes WHERE used_at IS NOT NULL`).Scan(&used)
	if used != 0 {
		t.Fatalf("%d codes used at the county", used)
	}
}

// Enrollment needs a cadre who is logged in: before any account exists,
// after logging out, with a forged cookie, and under every spelling of
// the paths, a posted county address and code change nothing.
func TestEnrollRequiresLogin(t *testing.T) {
	c := newCounty(t)
	s := newStation(t)
	code := c.code(t, village)
	form := url.Values{"server": {c.srv.URL}, "code": {code}}
	spellings := []string{"/enroll", "/enroll/", "/ENROLL", "/Enroll", "//enroll", "/./enroll", "/x/../enroll", "/%65nroll", "/enroll?next=/",
		"/enroll/confirm", "/enroll/cancel", "/enroll/confirm/", "/enroll%2Fconfirm", "/setup/../enroll"}
	anon := func(phase string) {
		t.Helper()
		for _, p := range spellings {
			for _, method := range []string{"POST", "PUT", "GET"} {
				var f url.Values
				if method != "GET" {
					f = form
				}
				r := s.do(method, p, f)
				if r.Status < 300 && r.Status != http.StatusNotFound && strings.Contains(r.Body, "注册成功") {
					t.Errorf("%s: %s %s: %d answered as if enrolled", phase, method, p, r.Status)
				}
				if strings.Contains(r.Body, code) {
					t.Errorf("%s: %s %s: the code is echoed into the page", phase, method, p)
				}
			}
			notEnrolled(t, s, c, code)
		}
	}
	// Install day, no account yet: the setup page, not the enrolment.
	if r := s.get("/enroll"); r.Status != http.StatusSeeOther || r.Location != "/setup" {
		t.Fatalf("GET /enroll before setup: %d %q", r.Status, r.Location)
	}
	if r := s.post("/enroll", form); r.Status != http.StatusSeeOther || r.Location != "/setup" {
		t.Fatalf("POST /enroll before setup: %d %q", r.Status, r.Location)
	}
	anon("no account")

	// The first run: account, logged in, then enrolment.
	r := s.post("/setup", url.Values{"name": {"李明"}, "pin": {"246810"}, "pin2": {"246810"}})
	if r.Status != http.StatusSeeOther || r.Location != "/enroll" {
		t.Fatalf("setup: %d %q %s", r.Status, r.Location, snippet(r.Body))
	}
	must(t, s.get("/enroll"), 200, "站点注册", `id="enroll"`)
	must(t, s.post("/logout", url.Values{}), http.StatusSeeOther)
	r = s.post("/enroll", form)
	if r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Location, "/login") {
		t.Fatalf("POST /enroll logged out: %d %q", r.Status, r.Location)
	}
	anon("logged out")
	// A made-up session cookie is no session.
	u, _ := url.Parse(s.srv.URL)
	s.c.Jar.SetCookies(u, []*http.Cookie{{Name: "stationsync_session", Value: strings.Repeat("ab", 32)}})
	anon("forged cookie")

	// Logged in, it enrols.
	accs, _ := s.a.Store.Accounts(context.Background())
	must(t, s.post("/login", url.Values{"account": {itoa(accs[0].ID)}, "pin": {"246810"}}), http.StatusSeeOther)
	r = s.post("/enroll", form)
	if r.Status != http.StatusSeeOther || r.Location != "/" {
		t.Fatalf("enrol logged in: %d %q %s", r.Status, r.Location, snippet(r.Body))
	}
	if !s.a.Enrolled(context.Background()) {
		t.Fatal("not enrolled")
	}
}

// countyChanges is how many of a station's changes the county applied.
func countyChanges(t *testing.T, c *county) int {
	t.Helper()
	var n int
	if err := c.store.DB().R.QueryRow(`SELECT count(*) FROM change_ids`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func countyPersons(t *testing.T, c *county) int {
	t.Helper()
	recs, err := c.store.Records(context.Background(), records.Person, village)
	if err != nil {
		t.Fatal(err)
	}
	return len(recs)
}

func nameCounty(t *testing.T, c *county, county, vill string) {
	t.Helper()
	ctx := context.Background()
	if err := c.store.SetPlaceName(ctx, village[:6], county); err != nil {
		t.Fatal(err)
	}
	if err := c.store.SetPlaceName(ctx, village, vill); err != nil {
		t.Fatal(err)
	}
}

// Records made before enrolment stay on the PC after it: the pages show
// the county's name and code, the address and how many records will go,
// and nothing is pushed (by the button, a round or the running service)
// until the cadre confirms; then each change goes up exactly once.
func TestRecordsWaitForConfirmation(t *testing.T) {
	c := newCounty(t)
	nameCounty(t, c, "长丰县民政局", "甲村")
	s := newStation(t)
	s.setup("李明")
	addPerson(t, s, "王秀英", goodID)
	addPerson(t, s, "张三", memberID)
	ctx := context.Background()
	made, _ := s.a.Store.Pending(ctx)

	r := s.post("/enroll", url.Values{"server": {c.srv.URL}, "code": {c.code(t, village)}})
	if r.Status != http.StatusSeeOther || r.Location != "/enroll" {
		t.Fatalf("enrol: %d %q", r.Status, r.Location)
	}
	must(t, s.follow(r), 200, "请核对县级服务器", "长丰县民政局", "县代码 340123", c.srv.URL, "甲村（"+village+"）",
		"确认后将上传本站注册前录入的 <b>2</b> 条记录", `id="confirm"`, `id="cancel-enrol"`)
	must(t, s.get("/"), 200, "注册待确认", `id="go-confirm"`)

	// Not by the button, not by a round, not by the running service.
	must(t, s.follow(s.post("/sync", url.Values{})), 200, "注册待确认")
	if _, err := s.a.SyncOnce(ctx); !errors.Is(err, agent.ErrUnconfirmed) {
		t.Fatalf("SyncOnce before confirmation: %v", err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.a.Run(rctx) }()
	stopRun := sync.OnceFunc(func() { stop(); <-done })
	defer stopRun()
	for range 5 {
		s.a.Nudge()
		time.Sleep(40 * time.Millisecond)
	}
	if n := countyChanges(t, c); n != 0 {
		t.Fatalf("county holds %d changes before confirmation", n)
	}
	if st, _ := s.a.Status(ctx); !st.Unconfirmed || st.Pending != made {
		t.Fatalf("status %+v, want unconfirmed with %d pending", st, made)
	}

	// Confirmed: the service sends them, once.
	must(t, s.follow(s.post("/enroll/confirm", url.Values{})), 200, "已确认", "长丰县民政局")
	deadline := time.Now().Add(20 * time.Second)
	for countyChanges(t, c) < made && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	stopRun()
	for range 2 {
		if _, err := s.a.SyncOnce(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := countyChanges(t, c); n != made {
		t.Fatalf("county applied %d changes, want %d, each once", n, made)
	}
	if n := countyPersons(t, c); n != 2 {
		t.Fatalf("county holds %d persons, want 2", n)
	}
	if n, _ := s.a.Store.Pending(ctx); n != 0 {
		t.Fatalf("%d still pending", n)
	}
	// Nothing left to confirm or cancel.
	must(t, s.follow(s.post("/enroll/cancel", url.Values{})), 200, "不能取消")
	must(t, s.get("/enroll"), 200, "本站已注册", "长丰县民政局")
}

// "Not our county": the enrolment is undone, the records stay, unsent and
// without the wrong village, and the right county gets them after its own
// enrolment is confirmed.
func TestCancelEnrollmentKeepsRecords(t *testing.T) {
	wrong, right := newCounty(t), newCounty(t)
	nameCounty(t, wrong, "别县民政局", "乙村")
	nameCounty(t, right, "长丰县民政局", "甲村")
	s := newStation(t)
	s.setup("李明")
	pid := addPerson(t, s, "王秀英", goodID)
	ctx := context.Background()

	s.post("/enroll", url.Values{"server": {wrong.srv.URL}, "code": {wrong.code(t, village)}})
	must(t, s.get("/enroll"), 200, "别县民政局")
	must(t, s.follow(s.post("/enroll/cancel", url.Values{})), 200, "已取消这次注册", `id="enroll"`)
	if s.a.Enrolled(ctx) {
		t.Fatal("still enrolled after cancelling")
	}
	if p, err := s.a.Store.Get(ctx, records.Person, pid); err != nil || p.Village != "" {
		t.Fatalf("person after cancel: %+v %v", p, err)
	}
	if n, _ := s.a.Store.Pending(ctx); n == 0 {
		t.Fatal("the outbox was emptied")
	}

	s.post("/enroll", url.Values{"server": {right.srv.URL}, "code": {right.code(t, village)}})
	must(t, s.get("/enroll"), 200, "长丰县民政局")
	must(t, s.follow(s.post("/enroll/confirm", url.Values{})), 200, "已确认")
	must(t, s.follow(s.post("/sync", url.Values{})), 200, "同步成功")
	if countyPersons(t, right) != 1 || countyChanges(t, wrong) != 0 {
		t.Fatalf("right county %d persons, wrong county %d changes", countyPersons(t, right), countyChanges(t, wrong))
	}
}

// A station enrolled with nothing made offline needs no confirmation.
func TestEnrollWithNothingWaitingSyncsAtOnce(t *testing.T) {
	c := newCounty(t)
	nameCounty(t, c, "长丰县民政局", "甲村")
	s := newStation(t)
	s.setup("李明")
	r := s.post("/enroll", url.Values{"server": {c.srv.URL}, "code": {c.code(t, village)}})
	if r.Status != http.StatusSeeOther || r.Location != "/" {
		t.Fatalf("enrol: %d %q", r.Status, r.Location)
	}
	must(t, s.follow(r), 200, "注册成功：县级服务器 长丰县民政局（340123），村 甲村（"+village+"）")
	addPerson(t, s, "王秀英", goodID)
	must(t, s.follow(s.post("/sync", url.Values{})), 200, "同步成功")
}
