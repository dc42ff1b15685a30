package browser

import (
	"context"
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"stationsync/internal/gen"
	"stationsync/internal/records"
	"stationsync/internal/testsupport"
	"stationsync/internal/testsupport/layout"
	"stationsync/server"
)

// The widths and the walk are internal/testsupport/layout's, shared with
// the other side's pages.
type (
	viewport   = layout.Viewport
	narrowWalk = layout.Walk
)

var phone, oldPC, a4, a4Body = layout.Phone, layout.OldPC, layout.A4, layout.A4Body

// TestNarrowStationPages: every station page, with realistic records
// (persons on the register and exited, normal, watched, urgent and voided
// visits, applications in each state the county decided, disclosures
// drafted, published and withdrawn, a refused change and a conflict), at
// 390×844 and 1024×768: nothing makes the page scroll sideways, no text is
// cut or squeezed a character a line, every button and field is within
// reach; the print view of a disclosure fits A4. Screenshots:
// artifacts/screenshots/narrow-*-station-*.png.
func TestNarrowStationPages(t *testing.T) {
	ctx := browser(t)
	co := testsupport.NewCounty(t)
	a, base := newStation(t)
	c := &cadre{t: t, ctx: ctx, base: base, prefix: "narrow"}
	c.firstRun()
	c.enroll(co.URL(), co.Code(t, village), "注册成功")

	bg := context.Background()
	st := a.Store
	g := gen.New(31)
	save := func(kind records.Kind, id string, m map[string]any) string {
		t.Helper()
		f := records.Fields{}
		for k, v := range m {
			f[k], _ = json.Marshal(v)
		}
		id, err := st.Save(bg, kind, id, f, "李明")
		if err != nil {
			t.Fatalf("save %s: %v", kind, err)
		}
		return id
	}
	var persons, visits []string
	var pmaps []map[string]any
	urgent := ""
	for i := range 8 {
		p := g.Person(village)
		pid := save(records.Person, "", p)
		persons, pmaps = append(persons, pid), append(pmaps, p)
		for k, ago := range []int{150 + 10*i, 5 + i} {
			if k == 1 && i%4 == 3 {
				break // not visited since: overdue
			}
			v := g.Visit(pid, time.Now().AddDate(0, 0, -ago))
			if k == 1 {
				switch i % 3 {
				case 0:
					v["risk"], v["measures"] = "紧急", "已联系村医上门，通知在外务工的儿子尽快回家，村干部每天去看一次。"
				case 1:
					v["risk"] = "关注"
				}
			}
			id := save(records.Visit, "", v)
			visits = append(visits, id)
			if v["risk"] == "紧急" && urgent == "" {
				urgent = id
			}
		}
	}
	save(records.Person, persons[7], map[string]any{"status": "已退出", "exit_reason": "随子女迁往上海市浦东新区居住"})
	save(records.Visit, visits[2], map[string]any{"void_reason": "录错了对象，应为同户的另一位老人"})
	statuses := []string{records.StatusDraft, records.StatusSubmitted, records.StatusWithdrawn, records.StatusAccepted,
		records.StatusApproved, records.StatusRejected, records.StatusReturned}
	apps := map[string]string{}
	for i, s := range statuses {
		ap := g.Application(persons[i], pmaps[i])
		ap["type"] = []string{"最低生活保障", "特困人员救助供养", "临时救助"}[i%3]
		delete(ap, "status")
		id := save(records.Application, "", ap)
		apps[s] = id
		if s != records.StatusDraft {
			if err := st.Intent(bg, id, records.OpSubmit, "材料已齐，请县里审核", "李明"); err != nil {
				t.Fatal(err)
			}
		}
		if s == records.StatusWithdrawn {
			if err := st.Intent(bg, id, records.OpWithdraw, "本人不再申请", "李明"); err != nil {
				t.Fatal(err)
			}
		}
	}
	discs := map[string]string{}
	for _, s := range []string{"draft", "published", "withdrawn"} {
		d := g.Disclosure("")
		d["publish_from"], d["publish_until"] = time.Now().AddDate(0, 0, -1).Format(time.DateOnly), time.Now().AddDate(0, 0, 20).Format(time.DateOnly)
		d["status"], d["reviewer"] = s, "陈德明"
		if s == "published" {
			// A finance notice with a long web address, which must still
			// fit the sheet.
			d["category"], d["title"] = "财务公开", "2026年第四季度村级财务收支情况公开"
			d["body"] = d["body"].(string) + "\n明细可在县政府网站查询：http://www.feixi.gov.cn/content/column/6795961?type=6&tag=cwgk2026q4&village=" + village + "\n监督电话：0551-68812345"
		}
		discs[s] = save(records.Disclosure, "", d)
	}
	if _, err := a.SyncOnce(bg); err != nil {
		t.Fatal(err)
	}
	by := "县民政局 张华"
	for _, d := range []server.Decision{
		{ApplicationID: apps[records.StatusAccepted], Op: records.OpAccept, By: by},
		{ApplicationID: apps[records.StatusApproved], Op: records.OpAccept, By: by},
		{ApplicationID: apps[records.StatusApproved], Op: records.OpApprove, By: by, AmountFen: 65000, FromMonth: "2026-12", Comment: "符合条件，予以批准"},
		{ApplicationID: apps[records.StatusRejected], Op: records.OpAccept, By: by},
		{ApplicationID: apps[records.StatusRejected], Op: records.OpReject, By: by, Comment: "家庭人均收入高于当地最低生活保障标准，不符合条件"},
		{ApplicationID: apps[records.StatusReturned], Op: records.OpReturn, By: by, Comment: "请补充户口簿复印件和残疾证复印件，并写明赡养人收入"},
	} {
		if err := co.Store.Decide(bg, d); err != nil {
			t.Fatalf("decide %+v: %v", d, err)
		}
	}
	// A conflict: the county and the station changed one person's health.
	if err := co.Store.CountyEdit(bg, records.Person, persons[1], records.Fields{"health": json.RawMessage(`"高血压、糖尿病，需每月复查，已申请家庭医生签约服务"`)}, "县民政局张三"); err != nil {
		t.Fatal(err)
	}
	save(records.Person, persons[1], map[string]any{"health": "高血压，行动不便，独自居住"})
	if _, err := a.SyncOnce(bg); err != nil {
		t.Fatal(err)
	}
	// A change the county refused, as the agent keeps it.
	if _, err := st.DB().W.Exec(`INSERT INTO rejected (epoch, seq, kind, record_id, op, fields, code, reason, at) VALUES ('e', 9, 'person', ?, 'upsert', '{"phone":"x"}', 'invalid', '联系电话：电话号码只能包含数字', ?)`, persons[0], time.Now().UnixMilli()); err != nil {
		t.Fatal(err)
	}

	n := &narrowWalk{T: t, Ctx: c.ctx, Base: c.base, Dir: shotDir(t), Side: "station"}
	const bar = "#sync-now"
	n.Page("home", "/", "#decisions", bar+", .actions .btn")
	n.Page("persons", "/persons", "#persons", bar+", #new-person, #search, #persons a.btn")
	n.Page("persons-exited", "/persons?status="+url.QueryEscape("已退出"), "main", bar+", #search")
	n.Page("person", "/persons/"+persons[1], "#visits", bar+", #new-visit, #new-app")
	n.Page("person-form", "/persons/new", "#save", bar+", #save")
	n.Page("person-edit", "/persons/"+persons[0]+"/edit", "#save", bar+", #save")
	n.Page("visit-form", "/persons/"+persons[0]+"/visits/new", "#save", bar+", #save")
	n.Page("visits", "/visits", "#visits", bar+", .filters .btn.on")
	n.Page("visits-urgent", "/visits?risk="+url.QueryEscape("紧急"), "#visits", bar+", .filters .btn.on")
	n.Page("overdue", "/visits/overdue", "main", bar)
	n.Page("visit", "/visits/"+urgent, "#edit", bar+", #edit")
	n.Page("visit-voided", "/visits/"+visits[2], "main", bar)
	n.Page("visit-edit", "/visits/"+urgent+"/edit", "#save", bar+", #save")
	n.Page("applications", "/applications", "#applications", bar+", .filters .btn.on")
	n.Page("applications-returned", "/applications?status=returned", "#applications", bar+", .filters .btn.on")
	n.Page("application-form", "/applications/new?person="+persons[0], "#save", bar+", #save")
	n.Page("application-draft", "/applications/"+apps[records.StatusDraft], "#submit-app", bar+", #submit-app")
	n.Page("application-edit", "/applications/"+apps[records.StatusDraft]+"/edit", "#save", bar+", #save")
	n.Page("application-approved", "/applications/"+apps[records.StatusApproved], "#history", bar)
	n.Page("application-returned", "/applications/"+apps[records.StatusReturned], "#history", bar)
	n.Page("disclosures", "/disclosures", "#disclosures", bar+", #new-disc, .filters .btn.on")
	n.Page("disclosure-form", "/disclosures/new", "#save", bar+", #save")
	n.Page("disclosure", "/disclosures/"+discs["published"], "#print", bar+", #print")
	n.Page("disclosure-draft", "/disclosures/"+discs["draft"], "#publish", bar+", #publish")
	n.Page("disclosure-edit", "/disclosures/"+discs["draft"]+"/edit", "#save", bar+", #save")
	n.Page("print", "/disclosures/"+discs["published"]+"/print", "#print-body", "", phone, oldPC, a4, a4Body)
	n.Page("print-draft", "/disclosures/"+discs["draft"]+"/print", "#print-body", "", phone, a4Body)
	n.Page("sync", "/sync", "#rejected", bar)
	n.Page("settings", "/settings", "#save", bar+", #save")
	n.Page("accounts", "/accounts", "#accounts", bar)
	n.Page("enroll", "/enroll", "main", bar)
	n.Page("not-found", "/no/such/page", "main", bar)
	c.submit(`form[action="/logout"] button`, "谁在使用")
	n.Check("login", "#login")
	if len(n.Failed) > 0 {
		t.Logf("page×width pairs with a problem: %d", len(n.Failed))
	}
}
