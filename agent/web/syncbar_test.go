package web_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"stationsync/server"
)

// The sync bar is served alone for the open page to refresh itself: when
// the county comes back, the next fetch of /sync/bar says so without the
// page being loaded again. Fetching it does not keep a login alive.
func TestSyncBarFollowsTheLink(t *testing.T) {
	c := newCounty(t)
	addr := c.srv.Listener.Addr().String()
	s := newStation(t)
	s.setup("李明")
	r := s.post("/enroll", url.Values{"server": {c.srv.URL}, "code": {c.code(t, village)}})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("enrol: %d %s", r.Status, snippet(r.Body))
	}
	must(t, s.follow(s.post("/sync", url.Values{})), 200, "同步成功")
	must(t, s.get("/"), 200, "/static/app.js")
	bar := s.get("/sync/bar?back=/persons")
	must(t, bar, 200, `id="syncbar"`, "已连上县里", `name="back" value="/persons"`)
	mustNot(t, bar, "<html", "<main")

	c.srv.Close()
	s.post("/sync", url.Values{})
	must(t, s.get("/sync/bar"), 200, "未连上县里")

	// The county comes back at the same address; the agent's next round
	// (here run by hand) succeeds, and the bar fetched again shows it.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the county's port was taken meanwhile: %v", err)
	}
	back := httptest.NewUnstartedServer(server.New(c.store, quiet).NewHandler())
	back.Listener.Close()
	back.Listener = ln
	back.Start()
	t.Cleanup(back.Close)
	if _, err := s.a.SyncOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	bar = s.get("/sync/bar")
	must(t, bar, 200, "已连上县里")

	// An unsafe back link is not echoed; no login, no bar.
	mustNot(t, s.get("/sync/bar?back=https://evil.example/"), "evil.example")
	// Idle logout is 2 hours: polls in between do not count as use.
	s.clock.Add(100 * time.Minute)
	for range 3 {
		s.get("/sync/bar")
	}
	s.clock.Add(30 * time.Minute)
	if r := s.get("/persons"); r.Status != http.StatusSeeOther || !strings.Contains(r.Location, "/login") {
		t.Fatalf("polling the bar kept the login alive: %d %s", r.Status, r.Location)
	}
	if r := s.get("/sync/bar"); r.Status != http.StatusUnauthorized {
		t.Fatalf("bar without login: %d", r.Status)
	}
}
