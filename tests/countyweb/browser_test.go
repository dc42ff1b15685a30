package countyweb

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/xuri/excelize/v2"

	"stationsync/internal/gen"
	"stationsync/internal/idcard"
	"stationsync/internal/records"
	"stationsync/internal/testsupport"
)

// TestBrowserReviewConflictExportPortal drives the county's pages in real
// headless Chromium: log in, accept and approve an application a station
// submitted (the station's next sync sees the decision), create the
// 救助对象公示, resolve a conflict (it syncs down), export to Excel and
// read the file back, and open the public portal.
func TestBrowserReviewConflictExportPortal(t *testing.T) {
	ctx := context.Background()
	c := newCounty(t)
	bctx := c.browser(t, 1400, 1000, 2*time.Minute)
	c.store.SetPlaceName(ctx, village, "张庄村")
	c.store.SetPlaceName(ctx, village[:9], "三河镇")
	a := c.station(t, village)
	g := gen.New(11)
	p := g.Person(village)
	pid, _ := a.Store.Save(ctx, records.Person, "", testsupport.Fields(p), "村干部")
	app := g.Application(pid, p)
	app["type"] = "特困人员救助供养"
	aid, _ := a.Store.Save(ctx, records.Application, "", testsupport.Fields(app), "村干部")
	if err := a.Store.Intent(ctx, aid, records.OpSubmit, "", "村干部"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		a.Store.Save(ctx, records.Visit, "", testsupport.Fields(g.Visit(pid, time.Now().AddDate(0, 0, -3))), "村干部")
	}
	a.MustSync(t)
	shot := func(name string) { t.Helper(); shoot(t, bctx, name) }
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text %s: %v", sel, err)
		}
		return s
	}
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	// Log in; the review queue shows the station's application.
	must("login", chromedp.Do(bctx,
		chromedp.Navigate(c.url+"/login"),
		chromedp.WaitVisible(chromedp.CSS("#login")),
	))
	shot("01-login")
	must("login", chromedp.Do(bctx,
		chromedp.SendKeys(chromedp.CSS("#username"), "county"),
		chromedp.SendKeys(chromedp.CSS("#password"), pw),
		chromedp.Click(chromedp.CSS("#login-btn")),
		chromedp.WaitVisible(chromedp.CSS("#attention")),
	))
	// Staff land on what waits: the new submission is counted.
	if body := text("#attention"); !strings.Contains(body, "1 份新提交的申请") {
		t.Errorf("home page: %s", body)
	}
	shot("02-home")
	must("narrow", chromedp.Do(bctx, chromedp.EmulateViewport(390, 844)))
	shot("02-home-390")
	must("queue", chromedp.Do(bctx,
		chromedp.EmulateViewport(1280, 1000),
		chromedp.Navigate(c.url+"/applications"),
		chromedp.WaitVisible(chromedp.CSS("#bulk")),
	))
	if body := text("#list"); !strings.Contains(body, p["name"].(string)) {
		t.Fatalf("queue lacks %s: %s", p["name"], body)
	}
	shot("02-queue")

	// Open it, accept, then approve with amount and month.
	must("accept", chromedp.Do(bctx,
		chromedp.Click(chromedp.CSS(`#list a[href="/records/application/`+aid+`"]`)),
		chromedp.WaitVisible(chromedp.CSS("#decide")),
		chromedp.Click(chromedp.CSS("#decide-btn")),
		chromedp.WaitVisible(chromedp.CSS(".msg")),
	))
	must("approve", chromedp.Do(bctx,
		chromedp.Click(chromedp.CSS("#op-approve")),
		chromedp.SendKeys(chromedp.CSS("#amount"), "980"),
		chromedp.SendKeys(chromedp.CSS("#from"), "2026-03"),
	))
	shot("03-application")
	// The record page on a phone: the people tables and the decision form
	// must fit 390 px.
	must("narrow", chromedp.Do(bctx, chromedp.EmulateViewport(390, 844)))
	shot("03-application-390")
	must("wide", chromedp.Do(bctx, chromedp.EmulateViewport(1280, 1000)))
	must("approve", chromedp.Do(bctx,
		chromedp.Click(chromedp.CSS("#decide-btn")),
		chromedp.WaitVisible(chromedp.CSS("#disc-form")),
	))
	shot("04-disclosure-offer")
	if body := text("#disc-form"); strings.Contains(body, p["id_number"].(string)) {
		t.Error("the disclosure draft shows a full ID number")
	}
	must("disclosure", chromedp.Do(bctx,
		chromedp.Click(chromedp.CSS("#disc-btn")),
		chromedp.WaitVisible(chromedp.CSS("#fields")),
	))

	// The station's next sync brings the decision down.
	a.MustSync(t)
	l, err := a.Store.Get(ctx, records.Application, aid)
	must("station application", err)
	if st := records.TextValue(l.Fields, "status"); st != records.StatusApproved || string(l.Fields["approved_amount_fen"]) != "98000" {
		t.Fatalf("station sees %s %s", st, l.Fields["approved_amount_fen"])
	}
	discs, _ := a.Store.List(ctx, records.Disclosure)
	if len(discs) != 1 || records.TextValue(discs[0].Fields, "category") != "救助对象公示" {
		t.Fatalf("station has %d disclosures, want the 救助对象公示", len(discs))
	}

	// A conflict on 联系电话, resolved in the page with the station's value.
	if err := c.store.CountyEdit(ctx, records.Person, pid, records.Fields{"phone": records.JSONText("13700000001")}, "县民政局"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Store.Save(ctx, records.Person, pid, records.Fields{"phone": records.JSONText("13700000002")}, "村干部"); err != nil {
		t.Fatal(err)
	}
	a.MustSync(t)
	must("conflicts", chromedp.Do(bctx,
		chromedp.Navigate(c.url+"/conflicts"),
		chromedp.WaitVisible(chromedp.CSS("#conflicts")),
	))
	if body := text("#conflicts"); !strings.Contains(body, idcard.MaskPhone("13700000001")) || !strings.Contains(body, idcard.MaskPhone("13700000002")) {
		t.Fatalf("conflicts page lacks the two values: %s", body)
	}
	shot("05-conflicts")
	must("narrow", chromedp.Do(bctx, chromedp.EmulateViewport(390, 844)))
	shot("05-conflicts-390")
	must("wide", chromedp.Do(bctx, chromedp.EmulateViewport(1280, 1000)))
	must("resolve", chromedp.Do(bctx,
		chromedp.Click(chromedp.CSS(`form.resolve input[value="loser"]`)),
		chromedp.Click(chromedp.CSS(`form.resolve button`)),
		chromedp.WaitVisible(chromedp.CSS(".msg")),
	))
	open, _, _ := c.store.OpenConflicts(ctx, "", 10, 0)
	if len(open) != 0 {
		t.Fatalf("%d conflicts open after resolving", len(open))
	}
	rec, _ := c.store.Record(ctx, records.Person, pid, "")
	want := records.TextValue(rec.Record.Fields, "phone")
	a.MustSync(t)
	lp, _ := a.Store.Get(ctx, records.Person, pid)
	if got := records.TextValue(lp.Fields, "phone"); got != want {
		t.Fatalf("station phone %s, county %s", got, want)
	}

	// Export the applications to Excel and read the file.
	dl := t.TempDir()
	must("download", chromedp.Do(bctx,
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dl})
			return err
		}),
		chromedp.Navigate(c.url+"/records/application"),
		chromedp.WaitVisible(chromedp.CSS("#export-xlsx")),
	))
	shot("06-applications")
	must("download", chromedp.Do(bctx, chromedp.Click(chromedp.CSS("#export-xlsx"))))
	var file string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && file == ""; time.Sleep(200 * time.Millisecond) {
		list, _ := filepath.Glob(filepath.Join(dl, "*.xlsx"))
		if len(list) == 1 {
			file = list[0]
		}
	}
	if file == "" {
		t.Fatal("the Excel export did not arrive")
	}
	x, err := excelize.OpenFile(file)
	must("open xlsx", err)
	rows, err := x.GetRows(x.GetSheetName(0))
	must("rows", err)
	if len(rows) != 2 || rows[1][0] != aid || rows[1][4] != "已批准" || rows[1][6] != "980.00" {
		t.Fatalf("xlsx rows: %v", rows)
	}
	x.Close()

	// Reports render (SVG, drawn by the server).
	must("reports", chromedp.Do(bctx, chromedp.Navigate(c.url+"/reports"), chromedp.WaitVisible(chromedp.CSS(".chart-svg svg")), chromedp.Sleep(500*time.Millisecond)))
	shot("07-reports")
	must("stations", chromedp.Do(bctx, chromedp.Navigate(c.url+"/stations"), chromedp.WaitVisible(chromedp.CSS("#stations"))))
	shot("08-stations")

	// The public portal, without logging in.
	pctx := c.browser(t, 1400, 1000, time.Minute)
	must("portal", chromedp.Do(pctx,
		chromedp.Navigate(c.url+"/public/"),
		chromedp.WaitVisible(chromedp.CSS("#villages a")),
		chromedp.Click(chromedp.CSS("#villages a")),
		chromedp.WaitVisible(chromedp.CSS("#items a")),
		chromedp.Click(chromedp.CSS("#items a")),
		chromedp.WaitVisible(chromedp.CSS("#notice")),
	))
	notice, err := chromedp.Run(pctx, chromedp.Text(chromedp.CSS("#notice")))
	must("notice", err)
	if !strings.Contains(notice, idcard.Mask(p["id_number"].(string))) || strings.Contains(notice, p["id_number"].(string)) {
		t.Fatalf("public notice: %s", notice)
	}
	shoot(t, pctx, "09-public-portal")
	// Staff pages stay closed to the portal's visitor.
	must("portal visitor", chromedp.Do(pctx, chromedp.Navigate(c.url+"/records/person")))
	if l, _ := chromedp.Run(pctx, chromedp.Location()); !strings.Contains(l, "/login") {
		t.Errorf("anonymous visitor reached %s", l)
	}
}
