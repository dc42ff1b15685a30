package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"stationsync/agent"
	"stationsync/internal/records"
	"stationsync/server"
)

// A saved visit can be corrected at the station: the form comes back
// filled in, the correction is saved as a new version naming who made it,
// and the county, after a sync, holds the corrected visit and the version
// it replaced.
func TestVisitEditSyncsAsNewVersion(t *testing.T) {
	c := newCounty(t)
	s := newStation(t)
	s.setup("李明")
	r := s.post("/enroll", url.Values{"server": {c.srv.URL}, "code": {c.code(t, village)}})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("enrol: %d %s", r.Status, snippet(r.Body))
	}
	pid := addPerson(t, s, "王秀英", goodID)
	today := agent.Today(s.clock.Now())
	must(t, s.follow(s.post("/persons/"+pid+"/visits/new", visitForm(today))), 200, "走访记录已保存")
	ctx := context.Background()
	rows, _, err := s.a.Store.Visits(ctx, agent.VisitQuery{PersonID: pid, Limit: 5})
	if err != nil || len(rows) != 1 {
		t.Fatalf("visits %v %v", rows, err)
	}
	vid := rows[0].ID
	must(t, s.follow(s.post("/sync", url.Values{})), 200, "同步成功")

	// The record page offers the correction; the form is the visit's.
	must(t, s.get("/visits/"+vid), 200, `href="/visits/`+vid+`/edit"`)
	f := s.get("/visits/" + vid + "/edit")
	must(t, f, 200, "修改走访记录", `action="/visits/`+vid+`/edit"`, "老人身体尚可，独自在家。", `value="`+today+`"`, `value="李明、王芳"`)

	// A wrong correction is refused with the cadre's text kept.
	bad := visitForm(today)
	bad.Set("situation", "老人血压偏高，已联系村医。")
	bad.Set("visited_on", "2099-01-01")
	must(t, s.post("/visits/"+vid+"/edit", bad), http.StatusUnprocessableEntity, "走访日期不能晚于今天", "老人血压偏高，已联系村医。")

	fix := visitForm(today)
	fix.Set("situation", "老人血压偏高，已联系村医。")
	must(t, s.follow(s.post("/visits/"+vid+"/edit", fix)), 200, "已保存修改", "老人血压偏高，已联系村医。")
	if n, _ := s.a.Store.Pending(ctx); n != 1 {
		t.Fatalf("the correction queued %d changes, want 1", n)
	}
	must(t, s.follow(s.post("/sync", url.Values{})), 200, "同步成功")

	got, err := c.store.Record(ctx, records.Visit, vid, "")
	if err != nil {
		t.Fatal(err)
	}
	if sit := records.TextValue(got.Record.Fields, "situation"); sit != "老人血压偏高，已联系村医。" {
		t.Fatalf("county holds situation %q", sit)
	}
	vs, err := c.store.Versions(ctx, records.Visit, vid)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 2 {
		t.Fatalf("county holds %d versions, want the original and the correction", len(vs))
	}
	if sit := records.TextValue(vs[0].Fields, "situation"); !strings.Contains(sit, "老人身体尚可") {
		t.Fatalf("first version %q", sit)
	}
	if vs[1].UpdatedBy != "李明" {
		t.Fatalf("correction by %q", vs[1].UpdatedBy)
	}

	// An unknown visit answers in Chinese with a way back.
	must(t, s.get("/visits/00000000-0000-0000-0000-000000000000/edit"), http.StatusNotFound, "找不到这条记录")
}

// A visit recorded in error is voided, not deleted: the station stops
// counting it (the person is overdue again, the urgent list and figures
// drop it), the voiding goes up as a new version, and the county's
// follow-up lists stop counting it too while it keeps the history.
func TestVoidedVisitStopsCounting(t *testing.T) {
	c := newCounty(t)
	s := newStation(t)
	s.setup("李明")
	r := s.post("/enroll", url.Values{"server": {c.srv.URL}, "code": {c.code(t, village)}})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("enrol: %d %s", r.Status, snippet(r.Body))
	}
	ctx := context.Background()
	pid := addPerson(t, s, "王秀英", goodID)
	// 40 days ago, 紧急, with no next date: for 留守老年人 (30 days) the
	// person is overdue either way; a second, recent visit keeps them off
	// the overdue list until it is voided.
	old := s.clock.Now().In(time.Local).AddDate(0, 0, -40).Format(time.DateOnly)
	u := visitForm(old)
	u.Set("risk", "紧急")
	u.Set("situation", "老人摔倒在家，已送医。")
	u.Set("measures", "已拨打120送医")
	must(t, s.follow(s.post("/persons/"+pid+"/visits/new", u)), 200, "紧急走访已保存")
	today := agent.Today(s.clock.Now())
	must(t, s.follow(s.post("/persons/"+pid+"/visits/new", visitForm(today))), 200, "走访记录已保存")
	rows, _, err := s.a.Store.Visits(ctx, agent.VisitQuery{PersonID: pid, Limit: 5})
	if err != nil || len(rows) != 2 {
		t.Fatalf("visits %v %v", rows, err)
	}
	recent, urgent := rows[0].ID, rows[1].ID
	must(t, s.follow(s.post("/sync", url.Values{})), 200, "同步成功")
	mustNot(t, s.get("/visits/overdue"), "王秀英")
	urgentAtCounty := func() int {
		n, err := c.store.FollowUp(ctx, server.FollowUrgent, "", "", s.clock.Now(), 50, 0, func(server.Row) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	// The recent visit follows the urgent one up: the county lists none.
	if n := urgentAtCounty(); n != 0 {
		t.Fatalf("county lists %d urgent visits before voiding", n)
	}

	// A reason is required.
	must(t, s.post("/visits/"+recent+"/void", url.Values{"void_reason": {"  "}}), http.StatusUnprocessableEntity, "请填写作废原因")
	p := s.follow(s.post("/visits/"+recent+"/void", url.Values{"void_reason": {"重复录入"}}))
	must(t, p, 200, "已作废这条走访记录：重复录入", `id="voided"`)
	mustNot(t, p, `id="void"`)
	// The person is overdue again: the voided visit was their last.
	must(t, s.get("/visits/overdue"), 200, "王秀英")
	must(t, s.get("/persons/"+pid), 200, "已作废")
	must(t, s.follow(s.post("/sync", url.Values{})), 200, "同步成功")

	// At the county the urgent visit is no longer followed up by a real
	// visit, and the voided one is kept with its history.
	if n := urgentAtCounty(); n != 1 {
		t.Fatalf("county lists %d urgent visits after the follow-up was voided, want 1", n)
	}
	vs, err := c.store.Versions(ctx, records.Visit, recent)
	if err != nil || len(vs) != 2 || records.TextValue(vs[1].Fields, "void_reason") != "重复录入" || vs[1].UpdatedBy != "李明" {
		t.Fatalf("county versions %+v %v", vs, err)
	}

	// Voiding the urgent visit itself takes it off every urgent list.
	must(t, s.follow(s.post("/visits/"+urgent+"/void", url.Values{"void_reason": {"对象选错了"}})), 200, "已作废")
	must(t, s.get("/"), 200, "<b>0</b>紧急走访")
	cnt, err := s.a.Store.Counts(ctx, today)
	if err != nil || cnt.UrgentVisits != 0 || cnt.Visits != 0 {
		t.Fatalf("station counts %+v %v", cnt, err)
	}
	must(t, s.follow(s.post("/sync", url.Values{})), 200, "同步成功")
	if n := urgentAtCounty(); n != 0 {
		t.Fatalf("county lists %d urgent visits after voiding it", n)
	}
}
