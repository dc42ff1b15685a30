package countyweb

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

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

// TestNarrowCountyPages: every county page, with two stations' realistic
// records (persons with family away, urgent visits, applications in each
// state decided through the pages, a disclosure, open conflicts, an audit
// log, a fresh enrolment code), at 390×844 and 1024×768: nothing makes
// the page scroll sideways, no text is cut or squeezed a character a line,
// every button and field is within reach; the public notice prints on A4.
// Screenshots: artifacts/screenshots/county/narrow-*.png.
func TestNarrowCountyPages(t *testing.T) {
	const real = "340123101202" // 三河镇太华村 in the official table
	ctx := context.Background()
	c := newCounty(t)
	bctx := c.browser(t, 1280, 900, 4*time.Minute)
	if _, err := c.store.CreateUser(ctx, server.NewUser{Username: "admin", DisplayName: "县民政局管理员刘建国", Role: server.RoleAdmin, Password: pw}); err != nil {
		t.Fatal(err)
	}
	g := gen.New(21)
	var persons, urgent []string
	apps := map[string]string{}
	var main *testsupport.Station
	for i, v := range []string{real, village} {
		a := c.station(t, v)
		if i == 0 {
			main = a
		}
		for j := range 6 {
			p := g.Person(v)
			pid, err := a.Store.Save(ctx, records.Person, "", testsupport.Fields(p), "村干部王芳")
			if err != nil {
				t.Fatal(err)
			}
			persons = append(persons, pid)
			for k, ago := range []int{200, 40, 3} {
				vis := g.Visit(pid, time.Now().AddDate(0, 0, -ago))
				if k == 2 && j%2 == 0 {
					vis["risk"], vis["measures"] = "紧急", "已联系村医上门，通知在外务工的儿子尽快回家，村干部每天去看一次。"
				}
				id, err := a.Store.Save(ctx, records.Visit, "", testsupport.Fields(vis), "村干部王芳")
				if err != nil {
					t.Fatal(err)
				}
				if vis["risk"] == "紧急" {
					urgent = append(urgent, id)
				}
			}
			if i == 0 {
				ap := g.Application(pid, p)
				ap["type"] = []string{"最低生活保障", "特困人员救助供养", "临时救助"}[j%3]
				delete(ap, "status")
				id, err := a.Store.Save(ctx, records.Application, "", testsupport.Fields(ap), "村干部王芳")
				if err != nil {
					t.Fatal(err)
				}
				if err := a.Store.Intent(ctx, id, records.OpSubmit, "材料已齐，请县里审核", "村干部王芳"); err != nil {
					t.Fatal(err)
				}
				apps[[]string{"submitted", "accepted", "reviewing", "approved", "rejected", "returned"}[j]] = id
			}
		}
		a.MustSync(t)
	}
	// Decisions through the county's own pages, so the audit log and the
	// state history are real.
	s := c.login(t)
	for _, d := range []url.Values{
		{"id": {apps["accepted"]}, "op": {"accept"}},
		{"id": {apps["reviewing"]}, "op": {"accept"}},
		{"id": {apps["reviewing"]}, "op": {"review"}, "comment": {"需入户核查家庭收入和赡养人情况"}},
		{"id": {apps["approved"]}, "op": {"accept"}},
		{"id": {apps["approved"]}, "op": {"approve"}, "amount": {"650"}, "from": {"2026-12"}, "comment": {"符合条件，予以批准"}},
		{"id": {apps["rejected"]}, "op": {"accept"}},
		{"id": {apps["rejected"]}, "op": {"reject"}, "comment": {"家庭人均收入高于当地最低生活保障标准，不符合条件"}},
		{"id": {apps["returned"]}, "op": {"return"}, "comment": {"请补充户口簿复印件和残疾证复印件，并写明赡养人收入"}},
	} {
		d.Set("back", "/applications")
		if r := s.post("/applications/decide", d); r.StatusCode != 303 {
			t.Fatalf("decide %v: %d", d, r.StatusCode)
		}
	}
	// A disclosure with a long web address, as a finance notice might have.
	dz := g.Disclosure("财务公开")
	dz["body"] = dz["body"].(string) + "\n明细可在县政府网站查询：http://www.feixi.gov.cn/content/column/6795961?type=6&tag=cwgk2026q4&village=" + real + "\n监督电话：0551-68812345"
	delete(dz, "status")
	dz["publish_from"], dz["publish_until"] = time.Now().AddDate(0, 0, -1).Format(time.DateOnly), time.Now().AddDate(0, 0, 20).Format(time.DateOnly)
	dz["status"], dz["reviewer"] = "published", "陈德明"
	disc, err := main.Store.Save(ctx, records.Disclosure, "", testsupport.Fields(dz), "村干部王芳")
	if err != nil {
		t.Fatal(err)
	}
	// Two open conflicts: the county and the station changed the same
	// fields of one person.
	if err := c.store.CountyEdit(ctx, records.Person, persons[0], testsupport.Fields(map[string]any{"phone": "13700000001", "health": "高血压、糖尿病，需每月复查，已申请家庭医生签约服务"}), "县民政局张三"); err != nil {
		t.Fatal(err)
	}
	if _, err := main.Store.Save(ctx, records.Person, persons[0], testsupport.Fields(map[string]any{"phone": "13700000002", "health": "高血压，行动不便，独自居住"}), "村干部王芳"); err != nil {
		t.Fatal(err)
	}
	// Photos and a scan on one visit (files_test.go), sent in the sync.
	attach(t, main, urgent[0], "入户照片.jpg", cameraJPEG(t, 2400, 1800, 7))
	attach(t, main, urgent[0], "病历.pdf", scanPDF("Medical record"))
	main.MustSync(t)

	n := &narrowWalk{T: t, Ctx: bctx, Base: c.url, Dir: shotDir(t), Side: "county"}

	// The public portal and the log-in page, before logging in.
	n.Page("public", "/public/", "#villages", "#villages a")
	n.Page("public-village", "/public/v/"+real, "#items", "#items a")
	n.Page("public-notice", "/public/d/"+disc, "#notice", "", phone, oldPC, a4, a4Body)
	n.Page("login", "/login", "#login", "#login-btn")
	c.logIn(t, bctx, "admin")
	n.Check("home", "#attention a, button.link")
	n.Page("queue", "/applications", "#list", ".tabs a.on, #bulk-btn, #export-csv")
	n.Page("queue-returned", "/applications?status=returned", "#list", ".tabs a.on, #bulk-btn")
	for _, k := range []string{"overdue", "urgent", "review"} {
		n.Page("followup-"+k, "/followup?k="+k, "#list", ".tabs a.on, .filters button")
	}
	for _, k := range records.Kinds {
		n.Page("list-"+string(k), "/records/"+string(k), "#list", ".filters button, #export-xlsx")
	}
	n.Page("record", "/records/person/"+persons[0], "#fields", "#edit button")
	n.Page("record-visit", "/records/visit/"+urgent[0], "#fields", "")
	n.Page("record-files", "/records/visit/"+urgent[0]+"#files", "#files", "#files a")
	n.Page("record-submitted", "/records/application/"+apps["submitted"], "#decide", "#decide-btn, #amount")
	n.Page("record-reviewing", "/records/application/"+apps["reviewing"], "#decide", "#decide-btn, #amount")
	n.Page("record-approved", "/records/application/"+apps["approved"], "#history", "")
	n.Page("record-disclosure", "/records/disclosure/"+disc, "#fields", "")
	n.Page("disclosure-form", "/applications/"+apps["approved"]+"/disclosure", "#disc-form", "#disc-btn")
	n.Page("conflicts", "/conflicts", "#conflicts", "form.resolve button")
	n.Page("reports", "/reports", "main", "")
	n.Page("stations", "/stations", "#stations", "#code-btn")
	n.Do("enrolment code",
		chromedp.SendKeys(chromedp.CSS("#code-village"), "340123101203"),
		chromedp.Click(chromedp.CSS("#code-btn")),
		chromedp.WaitVisible(chromedp.CSS("#new-code")),
	)
	n.Check("stations-code", "#enrol-file")
	n.Page("account", "/account", "#account", "#account button")
	n.Page("users", "/users", "#users", "#users button, #user-form button")
	n.Page("audit", "/audit", "#audit", ".filters button")
	n.Page("settings", "/settings", "#settings", "#settings button")
	n.Page("not-found", "/no/such/page", "main", "#back")
	if len(n.Failed) > 0 {
		t.Logf("pages with a problem: %d", len(n.Failed))
	}
}
