package web_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"stationsync/agent"
	"stationsync/internal/zone"
)

// When the county cannot be reached, saving a 紧急 visit says so plainly
// and gives the township's number to phone now, instead of claiming the
// visit is on its way; the warning stays in the sync bar until the visit
// has gone up. A 紧急 visit's next date defaults to a week, not the
// category's month.
func TestUrgentVisitOfflineSaysPhoneTheTownship(t *testing.T) {
	c := newCounty(t)
	s := newStation(t)
	s.setup("李明")
	r := s.post("/enroll", url.Values{"server": {c.srv.URL}, "code": {c.code(t, village)}})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("enrol: %d %s", r.Status, snippet(r.Body))
	}
	must(t, s.post("/settings", url.Values{"server": {c.srv.URL}, "interval": {"60"}, "township_phone": {"电话"}}), http.StatusUnprocessableEntity, "乡镇电话")
	must(t, s.follow(s.post("/settings", url.Values{"server": {c.srv.URL}, "interval": {"60"}, "township_phone": {"0551-66661234"}})), 200, "设置已保存")
	must(t, s.get("/settings"), 200, `value="0551-66661234"`)
	pid := addPerson(t, s, "王秀英", goodID)
	must(t, s.follow(s.post("/sync", url.Values{})), 200, "同步成功")
	c.srv.Close() // the county goes away
	s.post("/sync", url.Values{})

	today := agent.Today(s.clock.Now())
	u := visitForm(today)
	u.Set("risk", "紧急")
	u.Set("situation", "老人摔倒在家，已送医。")
	u.Set("measures", "已拨打120送医")
	p := s.follow(s.post("/persons/"+pid+"/visits/new", u))
	must(t, p, 200, "县里现在连不上", "请马上打电话告诉乡镇", "0551-66661234", `id="urgent-phone"`)
	mustNot(t, p, "正在优先上传")
	// Any page keeps saying it while the visit waits.
	must(t, s.get("/persons"), 200, `id="urgent-phone"`, "0551-66661234")

	rows, _, err := s.a.Store.Visits(context.Background(), agent.VisitQuery{PersonID: pid, Limit: 5})
	if err != nil || len(rows) != 1 {
		t.Fatalf("visits %v %v", rows, err)
	}
	want := s.clock.Now().In(zone.Location()).AddDate(0, 0, 7).Format(time.DateOnly)
	if rows[0].NextDue != want {
		t.Fatalf("urgent visit's next date %q, want a week ahead %q", rows[0].NextDue, want)
	}
}

// Online, an urgent visit is said to go up at once, not to phone.
func TestUrgentVisitOnlineGoesUp(t *testing.T) {
	c := newCounty(t)
	s := newStation(t)
	s.setup("李明")
	r := s.post("/enroll", url.Values{"server": {c.srv.URL}, "code": {c.code(t, village)}})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("enrol: %d %s", r.Status, snippet(r.Body))
	}
	pid := addPerson(t, s, "王秀英", goodID)
	must(t, s.follow(s.post("/sync", url.Values{})), 200, "同步成功")
	u := visitForm(agent.Today(s.clock.Now()))
	u.Set("risk", "紧急")
	u.Set("measures", "已拨打120送医")
	u.Set("next_due", s.clock.Now().In(zone.Location()).AddDate(0, 0, 3).Format(time.DateOnly))
	p := s.follow(s.post("/persons/"+pid+"/visits/new", u))
	must(t, p, 200, "紧急走访已保存", "已开始上传到县里")
	mustNot(t, p, "请马上打电话告诉乡镇")
	rows, _, _ := s.a.Store.Visits(context.Background(), agent.VisitQuery{PersonID: pid, Limit: 5})
	if len(rows) != 1 || rows[0].NextDue != s.clock.Now().In(zone.Location()).AddDate(0, 0, 3).Format(time.DateOnly) {
		t.Fatalf("a typed next date was not kept: %+v", rows)
	}
}
