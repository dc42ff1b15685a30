package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"stationsync/agent"
	"stationsync/internal/records"
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
