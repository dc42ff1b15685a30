package web_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"stationsync/internal/records"
	"stationsync/server"
)

// The county's decisions that arrive are announced on the home page, with
// the county's comment, until a cadre opens the application; a later
// decision on the same application is announced again.
func TestHomeAnnouncesNewDecisionsUntilSeen(t *testing.T) {
	c := newCounty(t)
	s := newStation(t)
	s.setup("李明")
	r := s.post("/enroll", url.Values{"server": {c.srv.URL}, "code": {c.code(t, village)}})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("enrol: %d %s", r.Status, snippet(r.Body))
	}
	pid := addPerson(t, s, "王秀英", goodID)
	app := url.Values{"applicant_id": {pid}, "type": {"最低生活保障"}, "reason": {"独居，无固定收入"}, "household_income": {"420"}, "amount_requested": {"300"}}
	id := created(t, s.post("/applications/new", app))
	must(t, s.follow(s.post("/applications/"+id+"/submit", url.Values{})), 200, "已提交")
	must(t, s.follow(s.post("/sync", url.Values{})), 200, "同步成功")
	mustNot(t, s.get("/"), `id="decisions"`)

	ctx := context.Background()
	if err := c.store.Decide(ctx, server.Decision{ApplicationID: id, Op: records.OpReturn, By: "县民政局 张华", Comment: "请补充收入证明"}); err != nil {
		t.Fatal(err)
	}
	s.post("/sync", url.Values{})
	home := s.get("/")
	must(t, home, 200, `id="decisions"`, "县里的新决定（1 条未看）", "王秀英", "退回补充", "请补充收入证明", "县民政局 张华", `href="/applications/`+id+`"`)
	// Still there on the next visit to the home page: only opening the
	// application counts as seen.
	must(t, s.get("/"), 200, "请补充收入证明")
	must(t, s.get("/applications/"+id), 200, "请补充收入证明")
	mustNot(t, s.get("/"), `id="decisions"`)
	// Pulling again does not bring a seen decision back.
	s.post("/sync", url.Values{})
	mustNot(t, s.get("/"), `id="decisions"`)

	must(t, s.follow(s.post("/applications/"+id+"/submit", url.Values{})), 200, "已提交")
	s.post("/sync", url.Values{})
	for _, d := range []server.Decision{
		{ApplicationID: id, Op: records.OpAccept, By: "县民政局 张华"},
		{ApplicationID: id, Op: records.OpApprove, By: "县民政局 张华", AmountFen: 30000, FromMonth: "2026-12", Comment: "符合条件，予以批准"},
	} {
		if err := c.store.Decide(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	s.post("/sync", url.Values{})
	home = s.get("/")
	must(t, home, 200, "县里的新决定（1 条未看）", "已批准", "符合条件，予以批准")
	mustNot(t, home, "请补充收入证明")
}
