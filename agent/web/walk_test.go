package web_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"stationsync/internal/gen"
	"stationsync/internal/records"
	"stationsync/internal/testlog"
	"stationsync/server"
)

var (
	dataPageRe = regexp.MustCompile(`<body[^>]* data-page="([a-z_]+)"`)
	hrefRe     = regexp.MustCompile(`href="(/[^"]*)"`)
)

func genFields(m map[string]any) records.Fields {
	out := records.Fields{}
	for k, v := range m {
		b, _ := json.Marshal(v)
		out[k] = b
	}
	return out
}

// TestEveryPageEveryState renders every page of the station with realistic
// records in every state a cadre meets: persons on the register and
// exited, normal, watched and urgent visits, applications in each status
// (decided by a real county and synced down), disclosures drafted,
// published and withdrawn, a refused change and a lost conflict. Each page
// must answer in full, none may log an error, and every template must be
// drawn by some page.
func TestEveryPageEveryState(t *testing.T) {
	log := &testlog.Errors{}
	c := newCounty(t)
	s := newStationLogged(t, slog.New(log))
	rendered := map[string]bool{}
	check := func(path string, r resp, want int) {
		t.Helper()
		if r.Status != want {
			t.Errorf("GET %s: %d, want %d: %s", path, r.Status, want, snippet(r.Body))
		}
		if !strings.HasSuffix(strings.TrimSpace(r.Body), "</html>") {
			i := max(0, len(r.Body)-300)
			t.Errorf("GET %s: page cut short: …%s", path, r.Body[i:])
		}
		if m := dataPageRe.FindStringSubmatch(r.Body); m != nil {
			rendered[m[1]] = true
		} else {
			t.Errorf("GET %s: no data-page", path)
		}
		for _, l := range log.Take() {
			t.Errorf("GET %s logged an error: %s", path, l)
		}
	}
	check("/setup", s.get("/setup"), http.StatusOK)
	s.setup("李明")
	anon := &station{t: t, a: s.a, srv: s.srv, c: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	check("/login", anon.get("/login"), http.StatusOK)
	if r := s.post("/enroll", url.Values{"server": {c.srv.URL}, "code": {c.code(t, village)}}); r.Status != http.StatusSeeOther {
		t.Fatalf("enrol: %d %s", r.Status, snippet(r.Body))
	}
	ctx := context.Background()
	st := s.a.Store
	g := gen.New(7)
	save := func(kind records.Kind, f records.Fields) string {
		t.Helper()
		id, err := st.Save(ctx, kind, "", f, "李明")
		if err != nil {
			t.Fatalf("save %s: %v", kind, err)
		}
		return id
	}
	var persons, visits, apps, discs []string
	pmaps := []map[string]any{}
	for i := range 8 {
		p := g.Person(village)
		pid := save(records.Person, genFields(p))
		persons, pmaps = append(persons, pid), append(pmaps, p)
		v := g.Visit(pid, time.Now().AddDate(0, 0, -10-100*(i%2)))
		switch i % 3 {
		case 1:
			v["risk"], v["measures"] = "紧急", "已联系村医上门，通知家属尽快回家。"
		case 2:
			v["risk"] = "关注"
		}
		visits = append(visits, save(records.Visit, genFields(v)))
	}
	s.follow(s.post("/persons/"+persons[7]+"/exit", url.Values{"exit_preset": {"迁出本村"}, "exit_reason": {"随子女去上海"}}))
	statuses := []string{records.StatusDraft, records.StatusSubmitted, records.StatusWithdrawn, records.StatusAccepted, records.StatusReviewing,
		records.StatusApproved, records.StatusRejected, records.StatusReturned}
	for i, want := range statuses {
		a := g.Application(persons[i], pmaps[i])
		a["type"] = "最低生活保障"
		delete(a, "status")
		id := save(records.Application, genFields(a))
		apps = append(apps, id)
		if want != records.StatusDraft {
			s.follow(s.post("/applications/"+id+"/submit", url.Values{"comment": {"材料已齐"}}))
		}
		if want == records.StatusWithdrawn {
			s.follow(s.post("/applications/"+id+"/withdraw", url.Values{"comment": {"本人不再申请"}}))
		}
	}
	for _, want := range []string{"draft", "published", "withdrawn"} {
		d := g.Disclosure("")
		delete(d, "status")
		d["publish_from"], d["publish_until"] = time.Now().AddDate(0, 0, -1).Format(time.DateOnly), time.Now().AddDate(0, 0, 6).Format(time.DateOnly)
		id := save(records.Disclosure, genFields(d))
		discs = append(discs, id)
		if want != "draft" {
			s.follow(s.post("/disclosures/"+id+"/publish", url.Values{}))
		}
		if want == "withdrawn" {
			s.follow(s.post("/disclosures/"+id+"/withdraw", url.Values{}))
		}
	}
	s.follow(s.post("/sync", url.Values{}))
	by := "县民政局 张华"
	for _, d := range []server.Decision{
		{ApplicationID: apps[3], Op: records.OpAccept, By: by},
		{ApplicationID: apps[4], Op: records.OpReview, By: by, Comment: "需入户核查收入"},
		{ApplicationID: apps[5], Op: records.OpAccept, By: by},
		{ApplicationID: apps[5], Op: records.OpApprove, By: by, AmountFen: 65000, FromMonth: "2026-12", Comment: "符合条件，予以批准"},
		{ApplicationID: apps[6], Op: records.OpAccept, By: by},
		{ApplicationID: apps[6], Op: records.OpReject, By: by, Comment: "家庭人均收入高于当地低保标准"},
		{ApplicationID: apps[7], Op: records.OpReturn, By: by, Comment: "请补充户口簿复印件"},
	} {
		if err := c.store.Decide(ctx, d); err != nil {
			t.Fatalf("decide %+v: %v", d, err)
		}
	}
	s.follow(s.post("/sync", url.Values{}))
	for i, want := range statuses {
		l, err := st.Get(ctx, records.Application, apps[i])
		if err != nil || records.TextValue(l.Fields, "status") != want {
			t.Fatalf("application %d: status %q, want %s (%v)", i, records.TextValue(l.Fields, "status"), want, err)
		}
	}
	// A refused change and a lost conflict, as the agent stores them.
	db := st.DB().W
	if _, err := db.Exec(`INSERT INTO rejected (epoch, seq, kind, record_id, op, fields, code, reason, at) VALUES ('e', 9, 'person', ?, 'upsert', '{"phone":"x"}', 'invalid', '联系电话：电话号码只能包含数字', ?)`, persons[0], time.Now().UnixMilli()); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO conflicts (id, kind, record_id, field, winner, winner_hlc, winner_origin, loser, loser_hlc, loser_origin, at) VALUES ('c1', 'person', ?, 'health', '"高血压，按时服药"', 2, 'county', '"高血压"', 1, 'st_x', ?)`, persons[1], time.Now().UnixMilli()); err != nil {
		t.Fatal(err)
	}
	log.Take() // the setup above may log; the walk may not

	pages := []string{"/", "/accounts", "/enroll", "/persons", "/persons?status=" + url.QueryEscape("已退出"), "/persons/new", "/visits", "/visits/overdue",
		"/visits?risk=" + url.QueryEscape("紧急"), "/applications", "/disclosures", "/disclosures/new", "/sync", "/settings"}
	for _, st := range statuses {
		pages = append(pages, "/applications?status="+st)
	}
	for _, id := range persons {
		pages = append(pages, "/persons/"+id, "/persons/"+id+"/edit", "/persons/"+id+"/visits/new", "/applications/new?person="+id)
	}
	for _, id := range visits {
		pages = append(pages, "/visits/"+id)
	}
	for _, id := range apps {
		pages = append(pages, "/applications/"+id)
	}
	pages = append(pages, "/applications/"+apps[0]+"/edit", "/applications/"+apps[7]+"/edit")
	for _, id := range discs {
		pages = append(pages, "/disclosures/"+id, "/disclosures/"+id+"/print")
	}
	pages = append(pages, "/disclosures/"+discs[0]+"/edit")
	seen := map[string]bool{}
	for _, p := range pages {
		seen[p] = true
	}
	for _, p := range pages {
		r := s.get(p)
		check(p, r, http.StatusOK)
		// Every page a page links to answers too (pagers, tabs, records).
		for _, m := range hrefRe.FindAllStringSubmatch(r.Body, -1) {
			u := strings.ReplaceAll(m[1], "&amp;", "&")
			if seen[u] || strings.HasPrefix(u, "/static/") {
				continue
			}
			seen[u] = true
			lr := s.get(u)
			if lr.Status == http.StatusSeeOther { // e.g. editing a submitted application
				continue
			}
			check(u, lr, http.StatusOK)
		}
	}
	// A form posted after the session ended: log in again, the text kept.
	check("POST /persons/new without a session", anon.post("/persons/new", personForm("王秀英", goodID)), http.StatusOK)
	accs, err := st.Accounts(ctx)
	if err != nil || len(accs) == 0 {
		t.Fatalf("accounts: %v", err)
	}
	check("POST /login with the kept form", anon.post("/login", url.Values{"account": {strconv.FormatInt(accs[0].ID, 10)}, "pin": {"246810"},
		"next": {"/persons/new"}, "replay": {personForm("王秀英", goodID).Encode()}}), http.StatusOK)
	check("/persons/no-such-person", s.get("/persons/no-such-person"), http.StatusNotFound)
	check("/no/such/page", s.get("/no/such/page"), http.StatusNotFound)
	entries, err := os.ReadDir("templates")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".html")
		if name != "layout" && !rendered[name] {
			t.Errorf("template %s was not drawn by any page of the walk", name)
		}
	}
	t.Logf("%d pages, %d templates", len(seen), len(rendered))
}
