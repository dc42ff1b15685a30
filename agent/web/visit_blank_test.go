package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"testing"

	"stationsync/agent"
	"stationsync/internal/records"
)

var (
	inputValueRe = regexp.MustCompile(`<input id="([a-z_]+)" name="[a-z_]+"(?: type="date")? value="([^"]*)"`)
	checkedRe    = regexp.MustCompile(`<input type="radio" name="([a-z_]+)" value="([^"]+)" checked>`)
)

// Saving the visit form as it comes, prefilled but untouched, does not
// store a visit: the cadre is told to write what the visit found, and the
// person stays overdue.
func TestUntouchedVisitFormIsRefused(t *testing.T) {
	s := newStation(t)
	s.setup("李明")
	pid := addPerson(t, s, "王秀英", goodID)
	form := s.get("/persons/" + pid + "/visits/new")
	must(t, form, http.StatusOK, "基本情况（必填）")
	// Post exactly what the page holds.
	v := url.Values{}
	for _, m := range inputValueRe.FindAllStringSubmatch(form.Body, -1) {
		v.Set(m[1], m[2])
	}
	for _, m := range checkedRe.FindAllStringSubmatch(form.Body, -1) {
		v.Set(m[1], m[2])
	}
	if v.Get("visited_on") == "" || v.Get("method") == "" || v.Get("risk") == "" {
		t.Fatalf("the form's prefilled values were not found: %v", v)
	}
	r := s.post("/persons/"+pid+"/visits/new", v)
	must(t, r, http.StatusUnprocessableEntity, records.MsgVisitSituation)
	_, n, err := s.a.Store.Visits(context.Background(), agent.VisitQuery{PersonID: pid, Limit: 10})
	if err != nil || n != 0 {
		t.Fatalf("an untouched form saved %d visits (%v)", n, err)
	}
	// Spaces are no situation either; a sentence is.
	v.Set("situation", " 　\n")
	must(t, s.post("/persons/"+pid+"/visits/new", v), http.StatusUnprocessableEntity, records.MsgVisitSituation)
	v.Set("situation", "老人独自在家，血压偏高。")
	must(t, s.follow(s.post("/persons/"+pid+"/visits/new", v)), http.StatusOK, "走访记录已保存")
}
