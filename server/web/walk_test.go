package web_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"stationsync/internal/gen"
	"stationsync/internal/hlc"
	"stationsync/internal/idcard"
	"stationsync/internal/records"
	"stationsync/internal/testlog"
	"stationsync/syncproto"
)

// richVillage is a village of township A with realistic records in every
// state the pages know: persons with and without visits and versions,
// urgent, watched and blank visits, applications in each status (decided
// by the county through its own pages, so history and audit are real),
// disclosures in each status, and conflicts open and resolved.
const richVill = "340123101202"

type rich struct {
	persons, visits, discs []string
	apps                   map[string]string // status → id
	names                  []string
	phones                 []string
	blankVisit             string // a visit saved with no situation or measures
	// persons[0] (last real visit 200 days ago) and persons[1] (urgent 3
	// days ago) each have a blank visit yesterday; persons[4] (200 days
	// ago) a real one yesterday.
	blankVisits []string
}

type batcher struct {
	b   *syncproto.Batch
	seq uint64
	h   hlc.Timestamp
}

func (bt *batcher) add(kind records.Kind, id string, op records.Op, fields map[string]any) {
	bt.seq++
	bt.h++
	fs := map[string]json.RawMessage{}
	for k, v := range fields {
		raw, _ := json.Marshal(v)
		fs[k] = raw
	}
	bt.b.Changes = append(bt.b.Changes, syncproto.Change{Seq: bt.seq, HLC: uint64(bt.h), Kind: string(kind), ID: id, Op: string(op), Fields: fs, By: "村干部王芳"})
}

func (f *fixture) seedRich(nPersons int) rich {
	t := f.t
	t.Helper()
	ctx := context.Background()
	code, err := f.store.CreateCode(ctx, richVill, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pub, _, _ := ed25519.GenerateKey(nil)
	stn, err := f.store.Enroll(ctx, code, pub, "pc-rich", "test")
	if err != nil {
		t.Fatal(err)
	}
	f.store.SetPlaceName(ctx, richVill, "幸福村")
	f.store.SetPlaceName(ctx, townA, "甲镇")
	g := gen.New(42)
	bt := &batcher{b: &syncproto.Batch{Version: syncproto.Version, Station: stn.ID, Epoch: "e1", Village: richVill}, h: hlc.FromTime(time.Now().Add(-2 * time.Hour))}
	var r rich
	r.apps = map[string]string{}
	pmaps := []map[string]any{}
	id := func(prefix string, i int) string {
		return richVill + "_" + prefix + strings.Repeat("0", 4-len(itoa(int64(i)))) + itoa(int64(i)) + "xx"
	}
	for i := range nPersons {
		p := g.Person(richVill)
		pid := id("p", i)
		bt.add(records.Person, pid, records.OpUpsert, p)
		r.persons = append(r.persons, pid)
		r.names = append(r.names, p["name"].(string))
		ph, _ := p["phone"].(string)
		r.phones = append(r.phones, ph)
		pmaps = append(pmaps, p)
		// Every other person visited long ago (overdue), the rest recently.
		when := time.Now().AddDate(0, 0, -3)
		if i%2 == 0 {
			when = time.Now().AddDate(0, 0, -200)
		}
		v := g.Visit(pid, when)
		switch i % 5 {
		case 1:
			v["risk"], v["measures"] = "紧急", "已联系村医上门，通知家属尽快回家。"
		case 3:
			v["risk"] = "关注"
		}
		vid := id("v", i)
		bt.add(records.Visit, vid, records.OpUpsert, v)
		r.visits = append(r.visits, vid)
	}
	// A visit saved from an untouched form by an older station: nothing
	// but the prefilled fields.
	yesterday := time.Now().AddDate(0, 0, -1)
	for i, p := range r.persons[:2] {
		vid := id("vb", i)
		bt.add(records.Visit, vid, records.OpUpsert, map[string]any{"person_id": p, "visited_on": yesterday.Format(time.DateOnly),
			"visitors": []string{"王芳"}, "method": "入户走访", "risk": "正常", "needs": []string{}, "situation": []string{"", "　 \n"}[i]})
		r.blankVisits = append(r.blankVisits, vid)
	}
	r.blankVisit = r.blankVisits[0]
	bt.add(records.Visit, id("vr", 4), records.OpUpsert, g.Visit(r.persons[4], yesterday))
	for i, st := range []string{records.StatusDraft, records.StatusSubmitted, records.StatusWithdrawn, records.StatusAccepted, records.StatusReviewing,
		records.StatusApproved, records.StatusRejected, records.StatusReturned} {
		aid := id("a", i)
		a := g.Application(r.persons[i], pmaps[i])
		a["type"] = "最低生活保障"
		bt.add(records.Application, aid, records.OpUpsert, a)
		if st != records.StatusDraft {
			bt.add(records.Application, aid, records.OpSubmit, nil)
		}
		if st == records.StatusWithdrawn {
			bt.add(records.Application, aid, records.OpWithdraw, nil)
		}
		r.apps[st] = aid
	}
	for i, st := range []string{"draft", "published", "withdrawn"} {
		d := g.Disclosure("")
		d["status"] = st
		d["publish_from"], d["publish_until"] = time.Now().AddDate(0, 0, -2).Format(time.DateOnly), time.Now().AddDate(0, 0, 5).Format(time.DateOnly)
		did := id("d", i)
		bt.add(records.Disclosure, did, records.OpUpsert, d)
		r.discs = append(r.discs, did)
	}
	res, err := f.store.Push(ctx, stn, bt.b)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range res.Results {
		if x.Status != syncproto.Applied {
			t.Fatalf("rich seed change %d: %s %s", x.Seq, x.Code, x.Reason)
		}
	}
	// The county decides through its pages.
	c := f.login("county")
	decide := func(aid string, v url.Values) {
		t.Helper()
		v.Set("id", aid)
		if resp := c.post("/applications/decide", v); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("decide %v: %d %.300s", v, resp.StatusCode, resp.body)
		}
	}
	decide(r.apps[records.StatusAccepted], url.Values{"op": {"accept"}})
	decide(r.apps[records.StatusReviewing], url.Values{"op": {"review"}, "comment": {"需入户核查收入"}})
	decide(r.apps[records.StatusApproved], url.Values{"op": {"accept"}})
	decide(r.apps[records.StatusApproved], url.Values{"op": {"approve"}, "amount": {"650"}, "from": {"2024-01"}, "comment": {"符合条件"}})
	decide(r.apps[records.StatusRejected], url.Values{"op": {"accept"}})
	decide(r.apps[records.StatusRejected], url.Values{"op": {"reject"}, "comment": {"家庭人均收入高于当地低保标准"}})
	decide(r.apps[records.StatusReturned], url.Values{"op": {"return"}, "comment": {"请补充户口簿复印件"}})
	// Versions: the county corrects a person twice.
	for _, h := range []string{"县里核实：独居，高血压", "县里核实：已有人照料"} {
		if resp := c.post("/records/person/"+r.persons[1], url.Values{"health": {h}}); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("edit: %d", resp.StatusCode)
		}
	}
	// Conflicts on a person: one open on the phone (a full number each
	// side), one resolved on the health note.
	db := f.store.DB().W
	now := time.Now().UnixMilli()
	for _, cf := range []struct {
		id, field, winner, loser string
		resolved                 any
	}{
		{"cf-phone", "phone", `"13905510456"`, `"13800001111"`, nil},
		{"cf-health", "health", `"高血压，按时服药"`, `"高血压"`, now},
	} {
		if _, err := db.Exec(`INSERT INTO conflicts (id, kind, record_id, village, field, winner, winner_hlc, winner_origin, loser, loser_hlc, loser_origin, at, resolved_at)
			VALUES (?, 'person', ?, ?, ?, ?, 2, 'county', ?, 1, ?, ?, ?)`, cf.id, r.persons[1], richVill, cf.field, cf.winner, cf.loser, stn.ID, now-3600_000, cf.resolved); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

var (
	dataPageRe = regexp.MustCompile(`<body data-page="([a-z_]+)"`)
	hrefRe     = regexp.MustCompile(`href="(/[^"]*)"`)
)

// TestEveryPageEveryState renders every staff page of the county, for every
// role, every record of every kind in every state, with conflicts and
// history, full numbers and masked, and the public portal and the error
// pages: each must answer in full (the layout's closing tag), and no page
// may log an error. Every template must have been rendered.
func TestEveryPageEveryState(t *testing.T) {
	log := &testlog.Errors{}
	f := newFixtureLogged(t, slog.New(log))
	r := f.seedRich(12)
	rendered := map[string]bool{}
	check := func(who, path string, resp response, want int) {
		t.Helper()
		if resp.StatusCode != want {
			t.Errorf("%s GET %s: %d, want %d: %.300s", who, path, resp.StatusCode, want, resp.body)
		}
		if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(ct, "text/html") {
			if !strings.HasSuffix(strings.TrimSpace(resp.body), "</html>") {
				i := max(0, len(resp.body)-300)
				t.Errorf("%s GET %s: page cut short: …%s", who, path, resp.body[i:])
			}
			if m := dataPageRe.FindStringSubmatch(resp.body); m != nil {
				rendered[m[1]] = true
			} else {
				t.Errorf("%s GET %s: no data-page", who, path)
			}
		}
		for _, l := range log.Take() {
			t.Errorf("%s GET %s logged an error: %s", who, path, l)
		}
	}
	var recordPaths []string
	for _, id := range r.persons {
		recordPaths = append(recordPaths, "/records/person/"+id)
	}
	for _, id := range append(r.visits, r.blankVisit) {
		recordPaths = append(recordPaths, "/records/visit/"+id)
	}
	for _, st := range records.AppStatuses {
		recordPaths = append(recordPaths, "/records/application/"+r.apps[st])
	}
	for _, id := range r.discs {
		recordPaths = append(recordPaths, "/records/disclosure/"+id)
	}
	for _, user := range []string{"admin", "county", "towna"} {
		c := f.login(user)
		pages := []string{"/", "/stations", "/account", "/conflicts", "/reports", "/followup", "/followup?k=overdue", "/followup?k=urgent", "/followup?k=review",
			"/followup?k=overdue&place=" + richVill, "/applications", "/applications/" + r.apps[records.StatusApproved] + "/disclosure"}
		for _, k := range records.Kinds {
			pages = append(pages, "/records/"+string(k), "/records/"+string(k)+"?place="+richVill)
		}
		for _, st := range records.AppStatuses {
			pages = append(pages, "/applications?status="+st, "/records/application?status="+st)
		}
		if user == "admin" {
			pages = append(pages, "/users", "/audit", "/audit?action=decision", "/settings")
		}
		pages = append(pages, recordPaths...)
		for _, p := range pages {
			check(user, p, c.get(p), http.StatusOK)
		}
		// Every page a list links to (next pages, tabs, summaries) answers too.
		seen := map[string]bool{}
		for _, p := range pages {
			seen[p] = true
		}
		for _, p := range pages {
			if strings.HasPrefix(p, "/records/") && strings.Count(p, "/") == 3 {
				continue
			}
			for _, m := range hrefRe.FindAllStringSubmatch(c.get(p).body, -1) {
				u := strings.ReplaceAll(m[1], "&amp;", "&")
				if seen[u] || u == "/" || strings.HasPrefix(u, "/export/") || strings.HasPrefix(u, "/static/") || strings.HasPrefix(u, "/reports/") {
					continue
				}
				seen[u] = true
				check(user, u, c.get(u), http.StatusOK)
			}
		}
		check(user, "/no/such/page", c.get("/no/such/page"), http.StatusNotFound)
		check(user, "/records/person/nosuchperson01", c.get("/records/person/nosuchperson01"), http.StatusNotFound)
	}
	// A new enrolment code is shown on the stations page.
	a := f.login("admin")
	check("admin", "POST /stations/codes", a.post("/stations/codes", url.Values{"village": {"340123101209"}, "name": {"新村"}}), http.StatusOK)
	// Anonymous: login and the public portal.
	anon := f.client()
	for _, p := range []string{"/login", "/public/", "/public/v/" + richVill, "/public/d/" + r.discs[1]} {
		check("anonymous", p, anon.get(p), http.StatusOK)
	}
	check("anonymous", "/public/d/nosuch", anon.get("/public/d/nosuch"), http.StatusNotFound)

	// Every template was rendered by some page above.
	entries, err := os.ReadDir("templates")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".html")
		if name != "layout" && !rendered[name] {
			t.Errorf("template %s was not rendered by any page of the walk", name)
		}
	}

	// What the record page of a person in conflict shows below the
	// versions: the conflicts (masked for staff without full-number
	// rights), the form for county-owned fields and the latest visits.
	c := f.login("county")
	page := c.get("/records/person/" + r.persons[1])
	for _, want := range []string{"版本历史", "冲突记录", `id="conflicts"`, "联系电话", idcard.MaskPhone("13905510456"), "已处理", "待处理", `id="edit"`, "最近走访"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("person record page lacks %q", want)
		}
	}
	for _, full := range []string{"13905510456", "13800001111"} {
		if strings.Contains(page.body, full) {
			t.Errorf("person record page shows the full number %s of a conflict to staff without the right", full)
		}
	}
	if full := f.login("admin").get("/records/person/" + r.persons[1]); !strings.Contains(full.body, "13905510456") {
		t.Error("admin with full-number rights does not see the conflict's full number")
	}
	if !slices.Contains(records.AppStatuses, records.StatusWithdrawn) {
		t.Fatal("statuses changed; extend the rich seed")
	}
}
